#!/usr/bin/env bash
# Where the server's memory goes: a cold start from the store bench/compare.sh left in $WORK,
# under heaptrack, then the peak heap grouped by the project's call paths.
#
#   bench/heap.sh            # after bench/compare.sh (or with WORK pointing at its folder)
#
# The release binary uses mimalloc, whose allocations heaptrack cannot follow, so this builds
# one without it (the `mimalloc` feature off) and with line tables, in target/heap. Installs
# heaptrack when missing. Knobs: WORK=/tmp/o365-bench SETTLE=8 (seconds after the mirror is
# loaded, so the indexes are built) TOP=25.
set -euo pipefail

WORK=${WORK:-/tmp/o365-bench}
SETTLE=${SETTLE:-8}
TOP=${TOP:-25}
REPO=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$WORK/o365-ldap.toml" ] && [ -d "$WORK/data" ] || {
  echo "no synced store in $WORK: run bench/compare.sh first" >&2; exit 1; }
command -v heaptrack >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y heaptrack >/dev/null

echo "== building without mimalloc, with line tables (target/heap)" >&2
(cd "$REPO" && CARGO_TARGET_DIR="$REPO/target/heap" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  CARGO_PROFILE_RELEASE_STRIP=none cargo build --release --quiet --no-default-features \
  --features demo --bin o365-ldap)
BIN="$REPO/target/heap/release/o365-ldap"

OUT="$WORK/heaptrack"
rm -f "$OUT".* "$WORK/heap-serve.log"
heaptrack -o "$OUT" "$BIN" serve -c "$WORK/o365-ldap.toml" >"$WORK/heap-serve.log" 2>&1 &
for _ in $(seq 1800); do grep -q "stored mirror loaded\|sync round committed" "$WORK/heap-serve.log" && break; sleep 0.1; done
sleep "$SETTLE"
PID=$(pgrep -f "^$BIN serve" | head -1)
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
kill -TERM "$PID"
for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
sleep 2
sed "s/\x1b\[[0-9;]*m//g" "$WORK/heap-serve.log" | grep "serving the stored\|mirror loaded" >&2 || true
echo "resident memory under heaptrack (system allocator): $((RSS / 1024)) MiB" >&2
heaptrack_print -f "$OUT".* --print-flamegraph "$WORK/heap-peak.txt" --flamegraph-cost-type peak >/dev/null
python3 - "$WORK/heap-peak.txt" "$TOP" <<'PY'
# Each line: frames separated by ';', then the bytes allocated there and live at the peak.
# Group by the innermost frames that are code of this project or its data structures,
# skipping the allocator and standard-library plumbing.
import collections, re, sys
skip = re.compile(r"alloc\.rs|raw_vec|boxed|/vec/|vec/mod|option\.rs|function\.rs|iterator|futex|"
                  r"once|rt\.rs|panic|thread|lazy|sync\.rs|mem\.rs|ptr/|string\.rs|str\.rs|slice\.rs|"
                  r"spec_|cmp\.rs|clone\.rs|convert")
total, by = 0, collections.Counter()
for line in open(sys.argv[1]):
    stack, _, cost = line.rstrip().rpartition(" ")
    total += int(cost)
    frames = [f for f in stack.split(";") if f.endswith(".rs)") and not skip.search(f)]
    path = " < ".join(f.split(" (")[0][-40:] + " (" + f.split(" (")[-1] for f in reversed(frames[-5:]))
    by[path[:230]] += int(cost)
print(f"peak heap {total / 2**20:.1f} MiB; the largest consumers (innermost first):")
for path, n in by.most_common(int(sys.argv[2])):
    print(f"{n / 2**20:8.1f} MiB  {path}")
PY
