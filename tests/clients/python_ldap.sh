#!/usr/bin/env bash
# python-ldap (Debian's python3-ldap) against `o365-ldap demo`: runs tests/clients/python_ldap.py
# (paged search, Compare, Who-am-I). Needs python3-ldap (installed by .ci/run). Touches no system file.
NAME=python-ldap
source "$(dirname "$0")/lib.sh"
# Debian's python3-ldap lives in the system interpreter, not in a pyenv/venv one earlier on PATH.
PY=${PY:-/usr/bin/python3}
start_demo
rc=0
LDAPS_URI=ldaps://localhost:$ldaps_port LDAP_URI=ldap://localhost:$ldap_port CA=$ca \
  BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base "$PY" tests/clients/python_ldap.py || rc=$?
if [ "$rc" -ne 0 ]; then echo "--- $work/demo.err"; tail -20 "$work/demo.err"; fi
exit "$rc"
