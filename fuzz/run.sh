#!/usr/bin/env bash
# Run every fuzz target for a bounded time from its seed corpus (fuzz/corpus/<target>, recorded
# from real client traffic by fuzz/seeds/record.sh). New inputs go to a temporary copy, so the
# committed corpus only changes when someone regenerates it. A crash fails the run and leaves
# the input in fuzz/artifacts/<target>/: turn it into a regression test beside the code.
#
#   bash fuzz/run.sh            # SECONDS_PER_TARGET=15 by default (CI)
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-15}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
# The project's toolchain is stable: no sanitizer (it needs nightly); libFuzzer's coverage
# guidance, debug assertions (overflow checks) and panics-as-crashes still apply.
cargo fuzz build -s none >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failed=()
for target in $(cargo fuzz list); do
  mkdir -p "$WORK/$target"
  [ -d "corpus/$target" ] && cp -r "corpus/$target/." "$WORK/$target/"
  if out=$(cargo fuzz run -s none "$target" "$WORK/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 2>&1); then
    echo "$target: $(grep -E '^Done' <<<"$out" | tail -1)"
  else
    echo "$target: FAILED"; grep -E 'panicked|SUMMARY|artifact' <<<"$out" | head -5
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then echo "fuzz targets that crashed: ${failed[*]}"; exit 1; fi
