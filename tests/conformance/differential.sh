#!/usr/bin/env bash
# The differential conformance test (tests/conformance/README.md): o365-ldap against OpenLDAP
# slapd holding the same entries, asked the same searches by a real client.
#
#   bash tests/conformance/differential.sh [differ.py options: --verbose, --only REGEX, --markdown FILE]
#
# 1. Starts the Graph emulator on tests/fixtures/contoso.json plus tests/conformance/fixture-extra.json
#    (Unicode names: ß, values stored decomposed, dotted I), and o365-ldap on it; one full sync.
# 2. Stops the server and exports its directory with `o365-ldap export-ldif`.
# 3. Loads the export into a private slapd (Debian's slapd, mdb): `slapadd` with schema checking
#    on and without -c, so every entry must load. The schemas are slapd's core, cosine and
#    inetorgperson plus the file `o365-ldap export-ldif --schema slapd` prints. If slapd refuses an entry, that is a
#    failure; the comparison then runs on a copy loaded with `slapadd -s` so it still reports.
# 4. Restarts o365-ldap on the same store, starts slapd, and runs tests/conformance/differ.py:
#    every query of tests/conformance/corpus.txt goes to both servers through python-ldap, and
#    result codes, DN sets and values (under each attribute's matching rule) are compared.
#    Differences listed in tests/conformance/accepted.txt (each with its reason) are accepted.
#
# Exits 0 when every difference is accepted and the export loaded; 1 otherwise (the report says
# why; tests/conformance/KNOWN-FAILURES.md lists the differences known today). Needs slapd,
# ldap-utils (for nothing but slapd's own tools) and python3-ldap; runs as any user that may
# bind loopback ports. Everything lives in a temporary directory, on random free ports, and is
# removed on exit (KEEP=1 keeps it: logs, export, slapd.conf). Builds the debug binary first unless BIN is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
HERE=$REPO/tests/conformance
PY=${PY:-/usr/bin/python3}
FIXTURE=${FIXTURE:-tests/fixtures/contoso.json}

for tool in slapd slapadd; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
    echo "missing $tool: apt-get install slapd (answer 'slapd slapd/no_configuration boolean true' with debconf-set-selections first)"
    exit 2
  }
done
export PATH=$PATH:/usr/sbin
"$PY" -c 'import ldap' 2>/dev/null || { echo "missing python3-ldap: apt-get install python3-ldap"; exit 2; }

if [ -z "${BIN:-}" ]; then
  cargo build --quiet --bin o365-ldap
  BIN=target/debug/o365-ldap
fi
[ -x "$BIN" ] || { echo "$BIN not found"; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

work=$(mktemp -d /tmp/o365-conformance.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -s "$work/slapd/slapd.pid" ]; then kill "$(cat "$work/slapd/slapd.pid")" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "differential: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
started=$(date +%s%N)
log() { printf '.. %s\n' "$*"; }
die() { echo "differential: $*"; for f in "$work"/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 2; }

read -r emu_port ldap_port slapd_port < <("$PY" - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)

# --- the tenant: the sample fixture plus the conformance users and groups ------------------------
"$PY" - "$FIXTURE" "$HERE/fixture-extra.json" "$work/fixture.json" "$work/app" <<'PY'
import json, sys
fx = json.load(open(sys.argv[1], encoding="utf-8"))
extra = json.load(open(sys.argv[2], encoding="utf-8"))
fx["users"].extend(extra["users"])
fx["groups"].extend(extra["groups"])
json.dump(fx, open(sys.argv[3], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
app = fx["apps"][0]
open(sys.argv[4], "w").write(f"{fx['tenant_id']} {app['client_id']} {app['secrets'][0]}\n")
PY
read -r tenant_id client_id secret < "$work/app"
printf '%s' "$secret" > "$work/client.secret"

"$BIN" emulator --fixture "$work/fixture.json" --listen "127.0.0.1:$emu_port" > "$work/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q listening "$work/emulator.log" && break; sleep 0.05; done
grep -q listening "$work/emulator.log" || die "the emulator did not start"

svc_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
svc_hash=$(printf '%s' "$svc_pw" | "$BIN" hash-password)
base=dc=contoso,dc=com
svc_dn="cn=conformance,ou=services,$base"
write_config() { # $1: automatic sync
  cat > "$work/o365-ldap.toml" <<TOML
[server]
ldap_listen = "127.0.0.1:$ldap_port"
ldaps_listen = ""
tls_cert = ""
tls_key = ""
data_dir = "$work/data"
admin_socket = "$work/admin.sock"
# Loopback only, and both servers are asked the same way: plain LDAP.
allow_plaintext_bind = true

[[service_account]]
name = "conformance"
password_hash = "$svc_hash"

[[tenant]]
name = "contoso"
tenant_id = "$tenant_id"
base_dn = "$base"
graph_url = "http://127.0.0.1:$emu_port"
login_url = "http://127.0.0.1:$emu_port"

  [[tenant.credential]]
  client_id = "$client_id"
  client_secret_file = "$work/client.secret"

  [tenant.sync]
  automatic = $1
  interval = "24h"

  [tenant.users]
  # Served locked (nsAccountLock: TRUE) rather than hidden, so the corpus can look for them.
  inactive = "lock"
  ssh_keys_attribute = "onPremisesExtensionAttributes.extensionAttribute10"
TOML
}
wait_ldap() { # wait_ldap PORT DN PW: until a bind succeeds
  "$PY" - "$@" <<'PY'
import sys, time, ldap
for _ in range(300):
    try:
        c = ldap.initialize(f"ldap://127.0.0.1:{sys.argv[1]}")
        c.set_option(ldap.OPT_NETWORK_TIMEOUT, 1)
        c.simple_bind_s(sys.argv[2], sys.argv[3])
        sys.exit(0)
    except ldap.LDAPError:
        time.sleep(0.05)
sys.exit(1)
PY
}

mkdir -p "$work/data"
write_config true
"$BIN" serve -c "$work/o365-ldap.toml" > "$work/serve-sync.log" 2>&1 &
serve_pid=$!; pids+=($serve_pid)
for _ in $(seq 600); do grep -q "sync round committed\|sync round failed" "$work/serve-sync.log" && break; sleep 0.05; done
grep -q "sync round committed" "$work/serve-sync.log" || die "the first sync did not commit"
kill -INT "$serve_pid"; wait "$serve_pid" 2>/dev/null || true

write_config false
"$BIN" export-ldif -c "$work/o365-ldap.toml" > "$work/export.ldif" 2> "$work/export.log" || die "export-ldif failed"
entries=$(grep -c '^dn:' "$work/export.ldif")
log "o365-ldap synced and exported $entries entries"
"$BIN" serve -c "$work/o365-ldap.toml" > "$work/serve.log" 2>&1 &
pids+=($!)

# --- slapd -----------------------------------------------------------------------------------------
mkdir -p "$work/slapd/db"
"$BIN" export-ldif --schema slapd > "$work/o365-ldap.schema"
slapd_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
{
  echo "include /etc/ldap/schema/core.schema"
  echo "include /etc/ldap/schema/cosine.schema"
  echo "include /etc/ldap/schema/inetorgperson.schema"
  # What the export needs beyond slapd's standard schemas (RFC 2307bis types and classes,
  # the AD names, o365Object, groupOfEntries), as o365-ldap ships it.
  echo "include $work/o365-ldap.schema"
  for f in ${CONFORMANCE_SCHEMA:-}; do echo "include $f"; done
  cat <<CONF
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile  $work/slapd/slapd.pid
argsfile $work/slapd/slapd.args
loglevel 0
# The same limit o365-ldap applies (server.size_limit default), for the rootdn too.
sizelimit 1000
database mdb
maxsize  104857600
suffix   "$base"
rootdn   "cn=admin,$base"
rootpw   $slapd_pw
directory $work/slapd/db
index objectClass eq
CONF
} > "$work/slapd/slapd.conf"
# slapadd reads `version: 1` and the blank line after it as an entry without a DN: drop them.
awk 'NR == 1 && /^version:/ { getline; next } { print }' "$work/export.ldif" > "$work/slapd/data.ldif"
if slapadd -q -f "$work/slapd/slapd.conf" -l "$work/slapd/data.ldif" > "$work/slapadd.log" 2>&1; then
  echo ok > "$work/load-status"
  log "slapadd (schema checking on, no -c) loaded all $entries entries"
else
  { echo refused; cat "$work/slapadd.log"; } > "$work/load-status"
  log "slapadd (schema checking on, no -c) REFUSED the export; loading it again with -s to compare anyway"
  rm -rf "$work/slapd/db" && mkdir -p "$work/slapd/db"
  slapadd -q -s -f "$work/slapd/slapd.conf" -l "$work/slapd/data.ldif" >> "$work/slapadd.log" 2>&1 \
    || die "slapadd -s failed too"
fi
slapd -f "$work/slapd/slapd.conf" -h "ldap://127.0.0.1:$slapd_port/" > "$work/slapd.log" 2>&1 \
  || die "slapd did not start"
wait_ldap "$slapd_port" "cn=admin,$base" "$slapd_pw" || die "slapd does not answer"
wait_ldap "$ldap_port" "$svc_dn" "$svc_pw" || die "o365-ldap does not answer"
log "both servers up after $(( ($(date +%s%N) - started) / 1000000 )) ms; sending the corpus"

rc=0
"$PY" "$HERE/differ.py" \
  --ours "ldap://127.0.0.1:$ldap_port" "$svc_dn" "$svc_pw" \
  --slapd "ldap://127.0.0.1:$slapd_port" "cn=admin,$base" "$slapd_pw" \
  --base "$base" --ldif "$work/export.ldif" --corpus "$HERE/corpus.txt" \
  --accepted "$HERE/accepted.txt" --load-status "$work/load-status" "$@" || rc=$?
if grep -q "panicked" "$work/serve.log"; then echo "o365-ldap panicked:"; grep -A3 panicked "$work/serve.log"; rc=1; fi
echo "differential: $(( ($(date +%s%N) - started) / 1000000 )) ms in all"
exit "$rc"
