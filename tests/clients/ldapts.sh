#!/usr/bin/env bash
# ldapts (npm; the LDAP client of Node.js applications such as n8n) against `o365-ldap demo`:
# tests/clients/node/ldapts_check.mjs (LDAPS and StartTLS, admin bind, escaped login search, the
# user's bind on a new client, Who-am-I, paged and page-by-page user sync, group search, the
# in-chain rule, Compare). The package is pinned by tests/clients/node/package-lock.json and
# installed with `npm ci` into tests/clients/node/node_modules when missing. Needs node >= 20 and
# npm (and the npm registry, once). Touches no system file.
NAME=ldapts
source "$(dirname "$0")/lib.sh"
NODE=${NODE:-node}
command -v "$NODE" >/dev/null 2>&1 || { echo "node not found: install Node.js 20 or later"; exit 1; }
node_dir=tests/clients/node
if [ ! -f "$node_dir/node_modules/ldapts/package.json" ] \
   || [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed in $node_dir"; exit 1; }
fi
start_demo
rc=0
LDAPS_URI=ldaps://localhost:$ldaps_port LDAP_URI=ldap://localhost:$ldap_port CA=$ca \
  BIND_DN=$bind_dn BIND_PW=$bind_pw BASE=$base "$NODE" "$node_dir/ldapts_check.mjs" || rc=$?
if [ "$rc" -ne 0 ]; then echo "--- $work/demo.err"; tail -20 "$work/demo.err"; fi
exit "$rc"
