# Shared by the real-client scripts in tests/clients (sourced, not run): starts `o365-ldap demo`,
# backs up the system files a script touches and restores them on exit, and counts ok/FAIL lines.
# A script sets NAME, sources this file, calls `backup FILE...` before touching anything, defines
# `on_exit` (optional) to stop its own daemons, calls `start_demo`, runs checks and ends with `finish`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=${BIN:-target/debug/o365-ldap}
[ -x "$BIN" ] || { echo "$BIN not found: run cargo build first"; exit 1; }
work=$(mktemp -d)
# Daemons that drop privileges (nslcd runs as user nslcd) must read the CA copied in here.
chmod 711 "$work"
passed=0
failed=0
backed_up=()

backup() { # backup FILE...: remember FILE (or its absence) so that lib_cleanup puts it back
  local f b
  for f in "$@"; do
    b="$work/backup.$(echo "$f" | tr / _)"
    if [ -e "$f" ]; then cp -a "$f" "$b"; else : > "$b.absent"; fi
    backed_up+=("$f")
  done
}
restore() {
  local f b
  for f in "${backed_up[@]}"; do
    b="$work/backup.$(echo "$f" | tr / _)"
    if [ -e "$b" ]; then cp -a "$b" "$f"; elif [ -e "$b.absent" ]; then rm -f "$f"; fi
  done
}
lib_cleanup() {
  if declare -F on_exit >/dev/null; then on_exit || true; fi
  if [ -n "${demo_pid:-}" ]; then kill -INT "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  restore
  rm -rf "$work"
}
trap lib_cleanup EXIT

ok() { echo "ok   - $1"; passed=$((passed+1)); }
not_ok() { echo "FAIL - $1"; failed=$((failed+1)); }
check() { # check <description> <command...>: passes when the command succeeds
  local what=$1 out; shift
  if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what"; printf '%s\n' "$out" | sed 's/^/       /'; fi
}
refute() { # refute <description> <command...>: passes when the command fails
  local what=$1 out; shift
  if out=$("$@" 2>&1); then not_ok "$what (it succeeded)"; printf '%s\n' "$out" | sed 's/^/       /'; else ok "$what"; fi
}
expect() { # expect <description> <haystack> <needle>: passes when needle is a substring
  if printf '%s\n' "$2" | grep -qF -- "$3"; then ok "$1"; else not_ok "$1: '$3' not in:"; printf '%s\n' "$2" | sed 's/^/       /'; fi
}
expect_not() { # expect_not <description> <haystack> <needle>
  if printf '%s\n' "$2" | grep -qF -- "$3"; then not_ok "$1: '$3' unexpectedly in:"; printf '%s\n' "$2" | sed 's/^/       /'; else ok "$1"; fi
}

# start_demo: runs the demo (emulated tenant + server) and sets ldaps_port, ldap_port (StartTLS),
# ca (a world-readable copy of the demo CA), bind_dn, bind_pw and base.
start_demo() {
  "$BIN" demo > "$work/demo.out" 2> "$work/demo.err" &
  demo_pid=$!
  for _ in $(seq 1 300); do grep -q "Press Ctrl-C" "$work/demo.out" && break; sleep 0.1; done
  grep -q "Press Ctrl-C" "$work/demo.out" || { echo "demo did not start"; cat "$work/demo.err"; exit 1; }
  ldaps_port=$(grep -o 'ldaps://localhost:[0-9]*' "$work/demo.out" | head -1 | cut -d: -f3)
  ldap_port=$(grep -o 'ldap://localhost:[0-9]*' "$work/demo.out" | head -1 | cut -d: -f3)
  bind_dn=$(grep '^Service account:' "$work/demo.out" | awk '{print $3}')
  bind_pw=$(grep '^Service account:' "$work/demo.out" | awk '{print $NF}')
  base=dc=contoso,dc=com
  install -m 644 "$(grep -o 'LDAPTLS_CACERT=[^ ]*' "$work/demo.out" | head -1 | cut -d= -f2)" "$work/ca.crt"
  ca=$work/ca.crt
}

# finish [LOG...]: prints the tail of each LOG when something failed, the summary line, and exits.
finish() {
  local log
  if [ "$failed" -ne 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
    for log in "$@" "$work/demo.err"; do [ -s "$log" ] && { echo "--- $log"; tail -"${LOG_LINES:-40}" "$log"; }; done
  fi
  echo "$NAME: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
