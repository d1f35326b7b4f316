#!/usr/bin/env bash
# A/B of two builds of o365-ldap (a refactor must not cost speed): both sync the same emulator
# tenant, then each workload runs against one server at a time, interleaved REPS times, servers
# on CPU 0 and the load generator on CPU 1. Prints medians with the min-max spread.
#
#   OLD=/path/to/old/o365-ldap bench/ab.sh      # NEW defaults to this checkout's release build
#
# Knobs: USERS=100000 NGROUPS=1000 REPS=3 DURATION=5 WL="uid base sssd-id paged" W=/tmp/o365-ab
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
(cd "$REPO" && cargo build --release --quiet --bin o365-ldap --example loadgen)
OLD=${OLD:?set OLD to the o365-ldap binary to compare against}
NEW=${NEW:-$REPO/target/release/o365-ldap}
LOADGEN=$REPO/target/release/examples/loadgen
W=${W:-/tmp/o365-ab}; rm -rf $W; mkdir -p $W
USERS=${USERS:-100000}; NGROUPS=${NGROUPS:-1000}; REPS=${REPS:-3}; DURATION=${DURATION:-5}
BASE="dc=scale,dc=example"; SVC_DN="cn=bench,ou=services,$BASE"
PIDS=(); trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done' EXIT
$LOADGEN --make-certs $W/certs >/dev/null
PW=$(head -c 18 /dev/urandom | base64 | tr -d '/+='); HASH=$(printf '%s' "$PW" | $NEW hash-password)
export LOADGEN_PASSWORD="$PW"
taskset -c 1 $NEW emulator --users $USERS --groups $NGROUPS --seed 1 --listen 127.0.0.1:18080 --page-size 999 > $W/emu.log 2>&1 &
PIDS+=($!); EMU=$!
for _ in $(seq 600); do grep -q listening $W/emu.log && break; sleep 0.1; done
TID=$(sed -n 's/.*tenant \([0-9a-f-]*\);.*/\1/p' $W/emu.log); CID=$(sed -n 's/.*client_id \([0-9a-f-]*\);.*/\1/p' $W/emu.log)
sed -n 's/.*secret \([^;]*\);.*/\1/p' $W/emu.log | tr -d '\n' > $W/secret
declare -A PORT=([old]=13389 [new]=17389)
for v in old new; do
  mkdir -p $W/$v
  cat > $W/$v/c.toml <<TOML
[server]
ldap_listen = "127.0.0.1:${PORT[$v]}"
ldaps_listen = "127.0.0.1:$((PORT[$v] + 1000))"
data_dir = "$W/$v/data"
admin_socket = "$W/$v/admin.sock"
allow_plaintext_bind = true
tls_cert = "$W/certs/server.crt"
tls_key = "$W/certs/server.key"
[[service_account]]
name = "bench"
password_hash = "$HASH"
[[tenant]]
name = "scale"
tenant_id = "$TID"
graph_url = "http://127.0.0.1:18080"
login_url = "http://127.0.0.1:18080"
  [[tenant.credential]]
  client_id = "$CID"
  client_secret_file = "$W/secret"
  [tenant.sync]
  interval = "24h"
TOML
  BIN=$OLD; [ $v = new ] && BIN=$NEW
  taskset -c 0 $BIN serve -c $W/$v/c.toml > $W/$v/serve.log 2>&1 &
  PIDS+=($!); eval "PID_$v=$!"
  for _ in $(seq 3000); do grep -q "sync round committed\|sync round failed" $W/$v/serve.log && break; kill -0 $(eval echo \$PID_$v) || { cat $W/$v/serve.log; exit 1; }; sleep 0.1; done
  grep -o "sync round committed.*" $W/$v/serve.log | head -1 | cut -c1-200
done
kill $EMU
: > $W/results.jsonl
for rep in $(seq $REPS); do for wl in ${WL:-uid base sssd-id paged}; do for v in old new; do
  taskset -c 1 $LOADGEN --json --label $v --workload $wl --connections 16 --duration $DURATION \
    --url ldap://127.0.0.1:${PORT[$v]} --bind-dn $SVC_DN --base $BASE >> $W/results.jsonl 2>/dev/null || true
done; done; done
echo "RSS old $(awk '/VmRSS/{print $2}' /proc/$PID_old/status) kB, new $(awk '/VmRSS/{print $2}' /proc/$PID_new/status) kB"
python3 - $W/results.jsonl <<'PY'
import json,sys,statistics as st,collections
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
    l=l.strip()
    if l.startswith('{'):
        j=json.loads(l); r[(j['workload'],j['label'])].append(j)
print("| workload | OLD entries/s | NEW entries/s | NEW/OLD | p99 OLD / NEW ms | errors |")
print("|---|---:|---:|---:|---|---|")
for wl in dict.fromkeys(k[0] for k in r):
    o=r[(wl,'old')]; n=r[(wl,'new')]
    mo=st.median(x['entries_per_sec'] for x in o); mn=st.median(x['entries_per_sec'] for x in n)
    so=f"{min(x['entries_per_sec'] for x in o):.0f}-{max(x['entries_per_sec'] for x in o):.0f}"
    sn=f"{min(x['entries_per_sec'] for x in n):.0f}-{max(x['entries_per_sec'] for x in n):.0f}"
    po=st.median(x['p99_ms'] for x in o); pn=st.median(x['p99_ms'] for x in n)
    e=sum(x['errors'] for x in o+n)
    print(f"| {wl} | {mo:,.0f} ({so}) | {mn:,.0f} ({sn}) | {mn/mo:.2f}x | {po} / {pn} | {e} |")
PY
