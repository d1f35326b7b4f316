#!/usr/bin/env bash
# Real SSSD (sssd -i, no systemd) against `o365-ldap demo`: getent passwd/group, id with a group
# held only through nesting, PAM authentication with pamtester, and SSH public keys through
# sss_ssh_authorizedkeys (a key from Microsoft 365 and one added with `ctl ssh-key add`). Needs root and Debian's
# sssd-ldap sssd-tools libnss-sss libpam-sss pamtester (installed by .ci/run). Every system file
# it touches is backed up first and restored on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/debug/o365-ldap}
work=$(mktemp -d)
fail=0
passed=0
failed=0

backup() { for f in "$@"; do if [ -e "$f" ]; then cp -a "$f" "$work/backup.$(echo "$f" | tr / _)"; else echo "$f" >> "$work/absent"; fi; done; }
restore() {
  for f in /etc/nsswitch.conf /etc/sssd/sssd.conf /etc/pam.d/o365-test; do
    b="$work/backup.$(echo "$f" | tr / _)"
    if [ -e "$b" ]; then cp -a "$b" "$f"; elif grep -qx "$f" "$work/absent" 2>/dev/null; then rm -f "$f"; fi
  done
}
cleanup() {
  [ -n "${sssd_pid:-}" ] && kill "$sssd_pid" 2>/dev/null || true
  [ -n "${demo_pid:-}" ] && kill -INT "$demo_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  restore
  rm -f /var/lib/sss/db/* /var/lib/sss/mc/* 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
backup /etc/nsswitch.conf /etc/sssd/sssd.conf /etc/pam.d/o365-test

check() { # check <description> <command...>: run, report, remember failure
  local what=$1; shift
  if out=$("$@" 2>&1); then echo "ok   - $what"; passed=$((passed+1)); else echo "FAIL - $what"; echo "$out" | sed 's/^/       /'; fail=1; failed=$((failed+1)); fi
}
expect() { # expect <description> <haystack> <needle>
  if printf '%s\n' "$2" | grep -qF -- "$3"; then echo "ok   - $1"; passed=$((passed+1)); else echo "FAIL - $1: '$3' not in:"; printf '%s\n' "$2" | sed 's/^/       /'; fail=1; failed=$((failed+1)); fi
}

"$BIN" demo > "$work/demo.out" 2> "$work/demo.err" &
demo_pid=$!
for _ in $(seq 1 200); do grep -q "Press Ctrl-C" "$work/demo.out" && break; sleep 0.1; done
grep -q "Press Ctrl-C" "$work/demo.out" || { echo "demo did not start"; cat "$work/demo.err"; exit 1; }
port=$(grep -o 'ldaps://localhost:[0-9]*' "$work/demo.out" | head -1 | cut -d: -f3)
pw=$(grep '^Service account:' "$work/demo.out" | awk '{print $NF}')
config=$(grep '^Config:' "$work/demo.out" | awk '{print $NF}')
ca=$(grep -o 'LDAPTLS_CACERT=[^ ]*' "$work/demo.out" | head -1 | cut -d= -f2)

sed -i -E 's/^(passwd|group):(.*)$/\1:\2 sss/; s/ sss sss/ sss/' /etc/nsswitch.conf
mkdir -p /etc/sssd
cat > /etc/sssd/sssd.conf <<CONF
[sssd]
services = nss, pam, ssh
domains = o365

[domain/o365]
id_provider = ldap
auth_provider = ldap
ldap_uri = ldaps://localhost:$port
ldap_search_base = dc=contoso,dc=com
ldap_schema = rfc2307bis
ldap_group_member = member
ldap_user_member_of = memberOf
ldap_user_ssh_public_key = sshPublicKey
ldap_tls_cacert = $ca
ldap_tls_reqcert = demand
ldap_default_bind_dn = cn=demo,ou=services,dc=contoso,dc=com
ldap_default_authtok = $pw
cache_credentials = false
enumerate = false
CONF
chmod 600 /etc/sssd/sssd.conf
rm -f /var/lib/sss/db/* /var/lib/sss/mc/*
sssctl config-check >/dev/null
sssd -i -d 2 --logger=stderr > "$work/sssd.log" 2>&1 &
sssd_pid=$!
for _ in $(seq 1 100); do getent passwd alice >/dev/null 2>&1 && break; sleep 0.2; done

pw_line=$(getent passwd alice || true)
expect "getent passwd alice: name, home, shell" "$pw_line" "alice:*:"
expect "getent passwd alice: home directory" "$pw_line" ":/home/alice:/bin/bash"
id_line=$(id alice || true)
expect "id alice: primary group is the user-private group" "$id_line" "(alice) groups="
expect "id alice: a direct group" "$id_line" "(Platform Team)"
expect "id alice: a group held only through nesting" "$id_line" "(Engineering)"
expect "id alice: three levels up" "$id_line" "(All Staff)"
grp=$(getent group "VPN Users" || true)
expect "getent group 'VPN Users' lists members" "$grp" "alice,bob"
check "getent passwd of a disabled user fails" sh -c '! getent passwd dave.disabled'

# SSH keys: alice's comes from Microsoft 365 (the demo's users.ssh_keys_attribute); bob's is
# added by the admin now and must be served without a sync round.
alice_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqK6QsY1Y4CHzOI9SpArQUFRKlq4+gAMJ65DMvOHjrO alice@laptop"
bob_key="ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCg+ShRiQi91sncKjZO5fwZRw5t0H5Wwo1PyIjX68lVdCTpYcJdut2tAN/pV7I0CaktRimcnohETby/ebrI+cjb43X2N3vfGceK7JPvQiwrnWE7MLSoiC/QWXcB5hlndsw== bob"
keys=$(sss_ssh_authorizedkeys alice 2>&1 || true)
expect "sss_ssh_authorizedkeys alice: her key from Microsoft 365" "$keys" "$alice_key"
check "ctl ssh-key add bob" "$BIN" ctl -c "$config" ssh-key add bob "$bob_key"
keys=$(sss_ssh_authorizedkeys bob 2>&1 || true)
expect "sss_ssh_authorizedkeys bob: the key just added" "$keys" "$bob_key"
keys=$(sss_ssh_authorizedkeys chris.lee 2>/dev/null || true)
check "sss_ssh_authorizedkeys chris.lee: no keys" test -z "$keys"

if [ "${SSSD_PAM:-1}" = 1 ]; then
  printf 'auth required pam_sss.so\naccount required pam_sss.so\n' > /etc/pam.d/o365-test
  check "PAM: alice authenticates with her Microsoft 365 password" sh -c "echo 'Alice-Passw0rd!' | pamtester o365-test alice authenticate acct_mgmt"
  check "PAM: a wrong password is refused" sh -c "! echo 'wrong-password' | pamtester o365-test alice authenticate"
fi

if [ $fail -ne 0 ]; then echo "--- sssd log"; tail -50 "$work/sssd.log"; fi
echo "sssd: $passed passed, $failed failed"
exit $fail
