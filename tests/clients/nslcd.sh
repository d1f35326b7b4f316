#!/usr/bin/env bash
# Real nslcd (nslcd -n, no systemd) + libnss-ldapd + libpam-ldapd against `o365-ldap demo`:
# `getent -s ldap` passwd/group/initgroups (a group held only through nesting included) and pam_ldap
# authentication with pamtester. nsswitch.conf is never edited: `getent -s ldap` asks the ldap module
# directly. Needs root and Debian's nslcd libnss-ldapd libpam-ldapd pamtester (installed by .ci/run).
# Every system file it touches is backed up first and restored on exit.
NAME=nslcd
source "$(dirname "$0")/lib.sh"

on_exit() {
  if [ -n "${nslcd_pid:-}" ]; then kill "$nslcd_pid" 2>/dev/null || true; wait "$nslcd_pid" 2>/dev/null || true; fi
}
backup /etc/nslcd.conf /etc/pam.d/o365-nslcd-test
start_demo

# start_nslcd <uri> [ssl line]: writes /etc/nslcd.conf for the demo and runs nslcd in the foreground.
# The service account binds (the server refuses anonymous reads).
start_nslcd() {
  cat > /etc/nslcd.conf <<CONF
uid nslcd
gid nslcd
uri $1
base $base
binddn $bind_dn
bindpw $bind_pw
${2:-}
tls_reqcert demand
tls_cacertfile $ca
nss_nested_groups yes
# Small pages, so that enumeration exercises the paged-results control.
pagesize 10
# Microsoft 365 group names hold spaces, commas, + and quotes, which nslcd's default validnames refuses.
validnames /^[^:[:cntrl:]]+\$/
# Only members of Linux Admins (nested members included) pass pam_ldap's account check.
pam_authz_search (&(objectClass=posixAccount)(uid=\$username)(memberOf=cn=Linux Admins,ou=groups,$base))
CONF
  chown root:nslcd /etc/nslcd.conf
  chmod 640 /etc/nslcd.conf
  # The package's init script normally makes nslcd's runtime directory; CI never starts it, and
  # nslcd drops to its own user before binding the socket there.
  mkdir -p /run/nslcd
  chown nslcd:nslcd /run/nslcd
  nslcd -n -d >> "$work/nslcd.log" 2>&1 &
  nslcd_pid=$!
  for _ in $(seq 1 100); do getent -s ldap passwd alice >/dev/null 2>&1 && break; sleep 0.2; done
  # A system nslcd already running holds the lock: ours exits and the checks would test the other.
  kill -0 "$nslcd_pid" 2>/dev/null || { echo "nslcd exited (is another nslcd running?)"; tail -5 "$work/nslcd.log"; exit 1; }
}
stop_nslcd() { kill "$nslcd_pid"; wait "$nslcd_pid" 2>/dev/null || true; nslcd_pid=; }

# StartTLS on the plain port.
start_nslcd "ldap://localhost:$ldap_port" "ssl start_tls"

pw_line=$(getent -s ldap passwd alice || true)
expect "getent -s ldap passwd alice: name and gecos" "$pw_line" "alice:*:"
expect "getent -s ldap passwd alice: home and shell" "$pw_line" ":Alice Smith:/home/alice:/bin/bash"
uid_number=$(echo "$pw_line" | cut -d: -f3)
expect "getent -s ldap passwd <uidNumber> finds alice" "$(getent -s ldap passwd "$uid_number" || true)" "alice:*:$uid_number:"
check "getent -s ldap passwd of a disabled user fails" sh -c '! getent -s ldap passwd dave.disabled'
check "getent -s ldap passwd of an unknown user fails" sh -c '! getent -s ldap passwd nobody-such'

private=$(getent -s ldap group "$uid_number" || true)
expect "the user-private group (gid = uid) is alice's" "$private" "alice:*:$uid_number:alice"
vpn=$(getent -s ldap group "VPN Users" || true)
expect "getent -s ldap group 'VPN Users' lists alice" "$vpn" "alice"
expect "getent -s ldap group 'VPN Users' lists bob" "$vpn" "bob"
odd=$(getent -s ldap group 'R&D, Europe + "Special"' || true)
expect "a group whose name holds , + \" resolves with its members" "$odd" "zoe.mueller"
eng=$(getent -s ldap group Engineering || true)
expect "getent -s ldap group Engineering: nested Platform Team member alice listed" "$eng" "alice"

gid_of() { getent -s ldap group "$1" | cut -d: -f3; }
init=" $(getent -s ldap initgroups alice | awk '{$1=""; print}') "
expect "initgroups alice: primary (user-private) group" "$init" " $uid_number "
expect "initgroups alice: a direct group (Platform Team)" "$init" " $(gid_of 'Platform Team') "
expect "initgroups alice: a direct group (VPN Users)" "$init" " $(gid_of 'VPN Users') "
expect "initgroups alice: a group held only through nesting (Engineering)" "$init" " $(gid_of Engineering) "
expect "initgroups alice: two levels up (All Staff)" "$init" " $(gid_of 'All Staff') "
expect_not "initgroups alice: not in Sales" "$init" " $(gid_of Sales) "

printf 'auth required pam_ldap.so\naccount required pam_ldap.so\n' > /etc/pam.d/o365-nslcd-test
check "pam_ldap: alice authenticates with her Microsoft 365 password" \
  sh -c "echo 'Alice-Passw0rd!' | pamtester o365-nslcd-test alice authenticate acct_mgmt"
check "pam_ldap: a wrong password is refused" \
  sh -c "! echo 'wrong-password' | pamtester o365-nslcd-test alice authenticate"
check "pam_ldap: bob (not in Linux Admins) authenticates" \
  sh -c "echo 'Bob-Passw0rd!' | pamtester o365-nslcd-test bob authenticate"
check "pam_ldap: bob fails the account check (pam_authz_search on memberOf)" \
  sh -c "! echo 'Bob-Passw0rd!' | pamtester o365-nslcd-test bob authenticate acct_mgmt"
check "pam_ldap: an unknown user is refused" \
  sh -c "! echo 'Alice-Passw0rd!' | pamtester o365-nslcd-test nobody-such authenticate"

all_users=$(LDAPTLS_CACERT=$ca ldapsearch -LLL -x -H "ldaps://localhost:$ldaps_port" -D "$bind_dn" -w "$bind_pw" \
  -b "ou=people,$base" -E pr=100/noprompt "(objectClass=posixAccount)" 1.1 | grep -c '^dn:' || true)
enumerated=$(getent -s ldap passwd | wc -l)
if [ "$enumerated" -eq "$all_users" ] && [ "$all_users" -gt 10 ]; then ok "getent -s ldap passwd enumerates all $all_users users in pages of 10"
else not_ok "getent -s ldap passwd enumerates all users: $enumerated listed, $all_users in the directory"; fi
expect "getent -s ldap group enumerates VPN Users" "$(getent -s ldap group)" "VPN Users:*:"

# LDAPS, as docs/clients/nslcd.md recommends.
stop_nslcd
start_nslcd "ldaps://localhost:$ldaps_port"
expect "LDAPS: getent -s ldap passwd alice" "$(getent -s ldap passwd alice || true)" "alice:*:$uid_number:"
expect "LDAPS: initgroups alice includes the nested Engineering" " $(getent -s ldap initgroups alice | awk '{$1=""; print}') " " $(gid_of Engineering) "
check "LDAPS: pam_ldap authenticates alice" \
  sh -c "echo 'Alice-Passw0rd!' | pamtester o365-nslcd-test alice authenticate acct_mgmt"

finish "$work/nslcd.log"
