#!/usr/bin/env bash
# Ruby net-ldap (Debian's ruby-net-ldap) against `o365-ldap demo`, as GitLab uses it:
# tests/clients/ruby_net_ldap.rb (LDAPS and StartTLS, service bind, omniauth-ldap's bind_as with a
# user_filter, find by uid and by email, the sync's base and paged searches, group lookups).
# Needs ruby and ruby-net-ldap (installed by .ci/run). Touches no system file.
NAME=ruby-net-ldap
source "$(dirname "$0")/lib.sh"
RUBY=${RUBY:-/usr/bin/ruby}
"$RUBY" -e 'require "net/ldap"' 2>/dev/null || { echo "net-ldap not found: apt-get install ruby ruby-net-ldap"; exit 1; }
start_demo
rc=0
LDAPS_PORT=$ldaps_port LDAP_PORT=$ldap_port CA=$ca BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base \
  "$RUBY" tests/clients/ruby_net_ldap.rb || rc=$?
if [ "$rc" -ne 0 ]; then echo "--- $work/demo.err"; tail -20 "$work/demo.err"; fi
exit "$rc"
