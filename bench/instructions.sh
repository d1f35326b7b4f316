#!/usr/bin/env bash
# Instructions the server executes per operation of one load-generator workload, counted by
# valgrind's callgrind: repeatable for the same binary and data, whatever else the machine does,
# where ops/s on a shared 2-vCPU VM moves by ±15% between runs. Use it to compare two builds.
#
#   bench/instructions.sh [WORKLOAD] [BINARY]    # after bench/compare.sh left its store
#
# WORKLOAD: uid (default), base, sssd-id, paged. BINARY: target/release/o365-ldap by default.
# The server runs under callgrind with instrumentation off until it serves; then two load-generator
# runs (2 s and 10 s) are counted separately. Each run does the same start-up work (its bind and
# the listing it picks targets from), so the difference of the two counts divided by the
# difference of their operations is the cost of one operation alone. User-space instructions
# only: the kernel's share (the socket calls) is not counted.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WL=${1:-uid}
BIN=${2:-$REPO/target/release/o365-ldap}
WORK=${WORK:-/tmp/o365-bench}
LOADGEN="$REPO/target/release/examples/loadgen"
[ -f "$WORK/o365-ldap.toml" ] || { echo "no store in $WORK: run bench/compare.sh first" >&2; exit 1; }
command -v valgrind >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind >/dev/null
[ -x "$LOADGEN" ] || (cd "$REPO" && cargo build --release --quiet --example loadgen)
LOADGEN_PASSWORD=$(cat "$WORK/service.password")
export LOADGEN_PASSWORD
SVC_DN="cn=bench,ou=services,dc=scale,dc=example"
BASE="dc=scale,dc=example"
PORT=$(sed -n 's/^ldap_listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$WORK/o365-ldap.toml")
OUT="$WORK/callgrind"
rm -f "$OUT".*
valgrind --tool=callgrind --callgrind-out-file="$OUT.%p" --instr-atstart=no \
  "$BIN" serve -c "$WORK/o365-ldap.toml" >"$WORK/callgrind-serve.log" 2>&1 &
P=$!
trap 'kill $P 2>/dev/null || true' EXIT
"$LOADGEN" --wait-ready --url "ldap://127.0.0.1:$PORT" --bind-dn "$SVC_DN" --base "$BASE" >/dev/null
# The mirror is read in the background after the start; counting starts after it.
for _ in $(seq 600); do grep -q "stored mirror loaded" "$WORK/callgrind-serve.log" && break; sleep 0.5; done
sleep 5
callgrind_control -i on "$P" >/dev/null 2>&1
run() {
  "$LOADGEN" --json --label o365-ldap --workload "$WL" --connections 16 --duration "$1" \
    --url "ldap://127.0.0.1:$PORT" --bind-dn "$SVC_DN" --base "$BASE" |
    python3 -c 'import json, sys; d = json.loads(sys.stdin.readline()); print(d["entries"] if d["workload"] == "Paged" else d["ops"])'
}
count() { callgrind_control -d "$P" >/dev/null 2>&1; sleep 1; awk '/^totals:/ {s += $2} END {printf "%d\n", s}' "$(ls -t "$OUT.$P".* | head -1)"; }
callgrind_control -z "$P" >/dev/null 2>&1
N1=$(run 2); I1=$(count)
N2=$(run 10); I2=$(count)
PER=$([ "$WL" = paged ] && echo entry || echo operation)
echo "$WL, $(basename "$BIN"): $(( (I2 - I1) / (N2 - N1) )) instructions per $PER (runs of $N1 and $N2; profile: $(ls -t "$OUT.$P".* | head -1))"
