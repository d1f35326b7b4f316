#!/bin/sh
# Replicas on one PostgreSQL: the full sync's commit into PostgreSQL against redb, a replica's
# cold start with an empty and a filled cache, and the time from a 100-change round's commit on
# one replica until another serves it. Starts a private PostgreSQL cluster (Debian's
# postgresql package; as the postgres user when run as root) on a free loopback port, in a
# temporary folder removed at the end.
# Usage: bench/scale_out.sh [USERS] [GROUPS]   (default 100000 users, 1000 groups)
set -eu
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "install postgresql (apt-get install postgresql)"; exit 1; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg=""
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$work"; as_pg="runuser -u postgres --"; fi
cleanup() { $as_pg "$bin/pg_ctl" stop -m immediate -D "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
$as_pg "$bin/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
$as_pg "$bin/pg_ctl" start -w -D "$work/data" -l "$work/log" \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $work" >/dev/null
"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE bench"
cargo build --release --example scale_out_bench >&2
O365_LDAP_BENCH_PG_URL="postgres://postgres@127.0.0.1:$port/bench?sslmode=disable" \
  target/release/examples/scale_out_bench "${1:-100000}" "${2:-1000}"
