#!/bin/sh
# Full-sync time and peak memory for a generated emulator tenant, then a 100-change delta round.
# Usage: bench/sync_bench.sh [USERS] [GROUPS]   (default 100000 users, 1000 groups)
set -eu
cd "$(dirname "$0")/.."
exec cargo run --release --example sync_bench -- "${1:-100000}" "${2:-1000}"
