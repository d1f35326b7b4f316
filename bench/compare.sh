#!/usr/bin/env bash
# Side-by-side benchmark: o365-ldap vs OpenLDAP slapd (mdb) on the same entries, same machine.
#
#   bench/compare.sh            # from the repository root, as root, on Debian 12
#
# Knobs (environment): USERS=100000 NGROUPS=1000 SEED=1 DURATION=10 REPS=3 CONNECTIONS=16
#   WORKLOADS="uid base sssd-id paged bind new-conn ldaps" WORK=/tmp/o365-bench
# Installs slapd and ldap-utils when missing, builds the
# release binaries, generates a scale tenant in the Graph emulator, syncs it, exports it with
# `o365-ldap export-ldif`, loads it into slapd, and runs every workload against each server in
# turn (interleaved, REPS times). Servers run on CPU 0, the load generator on CPU 1.
# Prints the table and writes $WORK/results.jsonl and $WORK/summary.md; exits non-zero unless
# every run had zero errors and both servers returned identical entry counts.
set -euo pipefail

USERS=${USERS:-100000}
NGROUPS=${NGROUPS:-1000}
SEED=${SEED:-1}
DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNECTIONS=${CONNECTIONS:-16}
WORKLOADS=${WORKLOADS:-"uid base sssd-id paged bind new-conn ldaps"}
WORK=${WORK:-/tmp/o365-bench}
EMU_PORT=18080; OUR_LDAP=13389; OUR_LDAPS=13636; SLAPD_LDAP=23389; SLAPD_LDAPS=23636
BASE="dc=scale,dc=example"
SERVICE=bench
SVC_DN="cn=$SERVICE,ou=services,$BASE"
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$REPO/bench"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
log() { printf '== %s\n' "$*" >&2; }

# --- prerequisites -----------------------------------------------------------------------
if ! command -v slapd >/dev/null || ! command -v slapadd >/dev/null || ! command -v ldapsearch >/dev/null \
   || ! command -v curl >/dev/null || ! command -v taskset >/dev/null; then
  log "installing slapd, ldap-utils, curl and util-linux"
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils curl util-linux >/dev/null
fi
mkdir -p "$WORK"
log "building release binaries"
(cd "$REPO" && cargo build --release --quiet --bin o365-ldap --example loadgen)
O365="$REPO/target/release/o365-ldap"
LOADGEN="$REPO/target/release/examples/loadgen"

rm -rf "$WORK/data" "$WORK/slapd" "$WORK/certs"
"$LOADGEN" --make-certs "$WORK/certs"
PW=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
HASH=$(printf '%s' "$PW" | "$O365" hash-password)
export LOADGEN_PASSWORD="$PW"
# For the follow-up scripts on the same store (bench/instructions.sh).
(umask 077; printf '%s' "$PW" >"$WORK/service.password")

# --- the tenant, synced ------------------------------------------------------------------
log "emulator: $USERS users, $NGROUPS groups (seed $SEED)"
taskset -c 1 "$O365" emulator --users "$USERS" --groups "$NGROUPS" --seed "$SEED" \
  --listen "127.0.0.1:$EMU_PORT" --page-size 999 >"$WORK/emulator.log" 2>&1 &
PIDS+=($!); EMU_PID=$!
for _ in $(seq 600); do grep -q "listening" "$WORK/emulator.log" && break; sleep 0.1; done
grep "listening" "$WORK/emulator.log" >&2
TENANT_ID=$(sed -n 's/.*tenant \([0-9a-f-]*\);.*/\1/p' "$WORK/emulator.log")
CLIENT_ID=$(sed -n 's/.*client_id \([0-9a-f-]*\);.*/\1/p' "$WORK/emulator.log")
SECRET=$(sed -n 's/.*secret \([^;]*\);.*/\1/p' "$WORK/emulator.log")
printf '%s' "$SECRET" >"$WORK/client.secret"

write_config() { # $1 = automatic sync (true/false)
cat >"$WORK/o365-ldap.toml" <<TOML
[server]
ldap_listen = "127.0.0.1:$OUR_LDAP"
ldaps_listen = "127.0.0.1:$OUR_LDAPS"
tls_cert = "$WORK/certs/server.crt"
tls_key = "$WORK/certs/server.key"
data_dir = "$WORK/data"
admin_socket = "$WORK/admin.sock"
# The load generator binds over plain LDAP on loopback, as it does against slapd.
allow_plaintext_bind = true

[[service_account]]
name = "$SERVICE"
password_hash = "$HASH"

[[tenant]]
name = "scale"
tenant_id = "$TENANT_ID"
graph_url = "http://127.0.0.1:$EMU_PORT"
login_url = "http://127.0.0.1:$EMU_PORT"

  [[tenant.credential]]
  client_id = "$CLIENT_ID"
  client_secret_file = "$WORK/client.secret"

  [tenant.sync]
  automatic = $1
  interval = "24h"
TOML
}

write_config true
log "o365-ldap: first (full) sync"
taskset -c 0 "$O365" serve -c "$WORK/o365-ldap.toml" >"$WORK/serve-sync.log" 2>&1 &
SERVE_PID=$!; PIDS+=($SERVE_PID)
for _ in $(seq 3000); do grep -q "sync round committed\|sync round failed" "$WORK/serve-sync.log" && break; sleep 0.1; done
SYNC_LINE=$(sed "s/\x1b\[[0-9;]*m//g" "$WORK/serve-sync.log" | grep "sync round committed" || true)
[ -n "$SYNC_LINE" ] || { cat "$WORK/serve-sync.log" >&2; exit 1; }
SYNC_MS=$(sed -n 's/.*ms=\([0-9]*\).*/\1/p' <<<"$SYNC_LINE")
log "full sync: $SYNC_MS ms"

# --- a 100-change delta round ------------------------------------------------------------
# 25 title changes, 25 disabled accounts, 25 new users, 25 new memberships, made through the
# emulator's control plane; then `ctl sync` runs one delta round and reports its duration.
log "o365-ldap: 100-change delta round"
for _ in $(seq 300); do ldapwhoami -x -H "ldap://127.0.0.1:$OUR_LDAP" -D "$SVC_DN" -w "$PW" >/dev/null 2>&1 && break; sleep 0.1; done
mapfile -t UIDS < <(ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$OUR_LDAP" -D "$SVC_DN" -w "$PW" \
  -b "ou=people,$BASE" -z 80 "(objectClass=posixAccount)" entryUUID 2>/dev/null | sed -n 's/^entryUUID: //p' || true)
GROUP_ID=$(ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$OUR_LDAP" -D "$SVC_DN" -w "$PW" \
  -b "ou=groups,$BASE" -z 1 "(&(objectClass=posixGroup)(!(description=User private group*)))" entryUUID 2>/dev/null \
  | sed -n 's/^entryUUID: //p' | head -1 || true)
[ "${#UIDS[@]}" -ge 75 ] && [ -n "$GROUP_ID" ] || { log "could not read users/groups for the delta round"; exit 1; }
mutate() { curl -fsS -X POST -H 'content-type: application/json' --data "$1" "http://127.0.0.1:$EMU_PORT/_emulator/mutate" >/dev/null; }
for i in $(seq 0 24); do
  mutate "{\"op\":\"update_user\",\"id\":\"${UIDS[$i]}\",\"patch\":{\"jobTitle\":\"Bench title $i\"}}"
  mutate "{\"op\":\"update_user\",\"id\":\"${UIDS[$((i + 25))]}\",\"patch\":{\"accountEnabled\":false}}"
  mutate "{\"op\":\"create_user\",\"user\":{\"userPrincipalName\":\"bench.new$i@scale.example\",\"displayName\":\"Bench New $i\",\"accountEnabled\":true}}"
  mutate "{\"op\":\"add_member\",\"group\":\"$GROUP_ID\",\"member\":\"${UIDS[$((i + 50))]}\"}"
done
T2=$(date +%s%N)
"$O365" ctl -c "$WORK/o365-ldap.toml" sync --json >"$WORK/delta-round.json"
DELTA_WALL_MS=$(( ($(date +%s%N) - T2) / 1000000 ))
# The round's own figures: duration_ms (Graph reads + derivation) and mode, wherever the
# report sits in ctl's JSON.
DELTA_MS=$(python3 - "$WORK/delta-round.json" <<'PY' || echo "? ?"
import json, sys
def find(v, key):
    if isinstance(v, dict):
        if key in v:
            return v[key]
        v = list(v.values())
    if isinstance(v, list):
        for x in v:
            r = find(x, key)
            if r is not None:
                return r
    return None
r = json.load(open(sys.argv[1]))
print(find(r, "duration_ms"), "ms,", find(r, "mode"), "patched" if find(r, "patched") else "derived in full")
PY
)
log "delta round: $DELTA_MS; ctl sync wall time $DELTA_WALL_MS ms (includes the commit)"
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
kill "$EMU_PID"; wait "$EMU_PID" 2>/dev/null || true

log "export-ldif"
write_config false
"$O365" export-ldif -c "$WORK/o365-ldap.toml" >"$WORK/export.ldif"
ENTRIES=$(grep -c '^dn:' "$WORK/export.ldif")
log "$ENTRIES entries exported"

# --- cold start --------------------------------------------------------------------------
T0=$(date +%s%N)
taskset -c 0 "$O365" serve -c "$WORK/o365-ldap.toml" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!; PIDS+=($SERVE_PID)
taskset -c 1 "$LOADGEN" --wait-ready --url "ldap://127.0.0.1:$OUR_LDAP" --bind-dn "$SVC_DN" --base "$BASE" >/dev/null
COLD_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
log "cold start to first answer: $COLD_MS ms"
# After a fast start the server reads its mirror in the background (for the next sync
# round); let that finish so it does not share the core with the first workload.
for _ in $(seq 600); do grep -q "stored mirror loaded" "$WORK/serve.log" && break; sleep 0.1; done

# --- slapd -------------------------------------------------------------------------------
log "slapd: loading $ENTRIES entries"
mkdir -p "$WORK/slapd/db"
# What slapd needs beyond core, cosine and inetorgperson (RFC 2307bis, o365Object, the AD
# names), as the server itself publishes it: the same file the conformance test loads.
"$O365" export-ldif --schema slapd >"$WORK/o365-ldap.schema"
sed -e "s#@DIR@#$WORK/slapd#g" -e "s#@SCHEMA@#$WORK/o365-ldap.schema#g" \
    -e "s#@CERTS@#$WORK/certs#g" -e "s#@ROOTPW@#$(head -c 12 /dev/urandom | base64)#" \
    "$BENCH/slapd.conf.in" >"$WORK/slapd/slapd.conf"
# The same argon2id hash as our service account ({ARGON2} scheme of slapd's argon2 module);
# applicationProcess does not allow userPassword, hence slapadd -s (no schema check), which
# also accepts groupOfNames entries without member (empty groups), as we serve them.
# slapadd reads `version: 1` plus a blank line as an entry without a DN: drop that header.
awk -v dn="dn: $SVC_DN" -v pw="userPassword: {ARGON2}$HASH" \
  'NR == 1 && /^version:/ { getline; next } { print } $0 == dn { print pw }' \
  "$WORK/export.ldif" >"$WORK/slapd/data.ldif"
T1=$(date +%s)
slapadd -q -s -f "$WORK/slapd/slapd.conf" -l "$WORK/slapd/data.ldif"
log "slapadd took $(( $(date +%s) - T1 )) s"
taskset -c 0 slapd -f "$WORK/slapd/slapd.conf" -h "ldap://127.0.0.1:$SLAPD_LDAP/ ldaps://127.0.0.1:$SLAPD_LDAPS/"
for _ in $(seq 100); do [ -s "$WORK/slapd/slapd.pid" ] && break; sleep 0.1; done
SLAPD_PID=$(cat "$WORK/slapd/slapd.pid"); PIDS+=($SLAPD_PID)
taskset -c 1 "$LOADGEN" --wait-ready --url "ldap://127.0.0.1:$SLAPD_LDAP" --bind-dn "$SVC_DN" --base "$BASE" >/dev/null

# --- the runs ----------------------------------------------------------------------------
: >"$WORK/results.jsonl"
# Each server's CPU time (utime + stime, in clock ticks) around every run: on two cores the load
# generator's own core can saturate before a cheap server's does, and then ops/s compares the
# load generator with itself. CPU time per operation is each server's cost whatever bounds the
# run; cpu.jsonl keeps it beside results.jsonl.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
: >"$WORK/cpu.jsonl"
for rep in $(seq "$REPS"); do
  for wl in $WORKLOADS; do
    for srv in o365-ldap slapd; do
      if [ $srv = o365-ldap ]; then P=$OUR_LDAP; PS=$OUR_LDAPS; SP=$SERVE_PID; else P=$SLAPD_LDAP; PS=$SLAPD_LDAPS; SP=$SLAPD_PID; fi
      T0=$(cpu_ticks "$SP")
      LINE=$(taskset -c 1 "$LOADGEN" --json --label $srv --workload "$wl" --connections "$CONNECTIONS" \
        --duration "$DURATION" --url "ldap://127.0.0.1:$P" --ldaps-url "ldaps://127.0.0.1:$PS" \
        --ca "$WORK/certs/ca.crt" --bind-dn "$SVC_DN" --base "$BASE") || true
      T1=$(cpu_ticks "$SP")
      [ -n "$LINE" ] || continue
      echo "$LINE" | tee -a "$WORK/results.jsonl" >&2
      echo "$LINE" | python3 -c '
import json, sys
d = json.loads(sys.stdin.readline()); cpu = (int(sys.argv[1]) - int(sys.argv[2])) / int(sys.argv[3])
n = d["entries"] if d["workload"] == "Paged" else d["ops"]
print(json.dumps({"label": d["label"], "workload": d["workload"], "cpu_s": cpu, "seconds": d["seconds"],
  "per": "entry" if d["workload"] == "Paged" else "op", "cpu_us": cpu * 1e6 / max(n, 1)}))' "$T1" "$T0" "$TICK" >>"$WORK/cpu.jsonl"
    done
  done
done

RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$SERVE_PID/status)
SLAPD_RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$SLAPD_PID/status)
{
  echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
  echo "Tenant: $USERS users, $NGROUPS groups, seed $SEED; $ENTRIES entries; $CONNECTIONS connections, ${DURATION}s per run, $REPS repetitions (medians)"
  echo
  "$LOADGEN" --summarize "$WORK/results.jsonl" && STATUS=0 || STATUS=$?
  echo
  echo "Server CPU per operation (medians; busy = share of its core the server used during the run):"
  echo
  python3 - "$WORK/cpu.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| workload | o365-ldap µs CPU | busy | slapd µs CPU | busy | slapd ÷ o365-ldap |")
print("|---|---:|---:|---:|---:|---:|")
for wl in dict.fromkeys(r["workload"] for r in rows):
    def med(label, key):
        v = [r[key] if key != "busy" else r["cpu_s"] / r["seconds"] for r in rows if r["workload"] == wl and r["label"] == label]
        return statistics.median(v) if v else float("nan")
    ours, theirs = med("o365-ldap", "cpu_us"), med("slapd", "cpu_us")
    per = next(r["per"] for r in rows if r["workload"] == wl)
    print(f"| {wl} (per {per}) | {ours:.1f} | {med('o365-ldap', 'busy'):.0%} | {theirs:.1f} | {med('slapd', 'busy'):.0%} | {theirs / ours:.2f}× |")
PY
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| o365-ldap resident memory after load | $((RSS_KB / 1024)) MiB ($(( RSS_KB * 1024 / USERS )) bytes per user) |"
  echo "| slapd resident memory after load | $((SLAPD_RSS_KB / 1024)) MiB |"
  echo "| cold start to first answer ($USERS users in redb) | $COLD_MS ms |"
  echo "| full sync of $USERS users from the emulator | $SYNC_MS ms |"
  echo "| 100-change delta round | $DELTA_MS (ctl sync wall time with the commit: $DELTA_WALL_MS ms) |"
  exit ${STATUS:-0}
} | tee "$WORK/summary.md"
