#!/usr/bin/env bash
# Real openvpn-auth-ldap (Debian's /usr/lib/openvpn/openvpn-auth-ldap.so) against `o365-ldap demo`,
# called as OpenVPN calls it by tests/clients/openvpn_harness.c: StartTLS on the plain port, a
# service-account search for the user, a bind as the user, and a group check by Compare on `member`.
# A member with the right password is accepted; a wrong password and a non-member are rejected.
# Needs Debian's openvpn-auth-ldap, gcc and libc6-dev (installed by .ci/run). Touches no system file.
NAME=openvpn
source "$(dirname "$0")/lib.sh"
PLUGIN=${PLUGIN:-/usr/lib/openvpn/openvpn-auth-ldap.so}
[ -f "$PLUGIN" ] || { echo "$PLUGIN not found: apt-get install openvpn-auth-ldap"; exit 1; }
gcc -Wall -Wextra -Werror -o "$work/openvpn_harness" tests/clients/openvpn_harness.c -ldl
start_demo

# auth_conf <file> <group cn> [RFC2307bis] [MemberAttribute] [UseCompareOperation]: the plugin's
# configuration, requiring membership of that group (defaults: true, member, true).
auth_conf() {
  cat > "$1" <<CONF
<LDAP>
	URL		ldap://localhost:$ldap_port
	BindDN		"$bind_dn"
	Password	"$bind_pw"
	Timeout		15
	TLSEnable	yes
	FollowReferrals	no
	TLSCACertFile	$ca
</LDAP>
<Authorization>
	BaseDN		"ou=people,$base"
	SearchFilter	"(&(uid=%u)(objectClass=posixAccount))"
	RequireGroup	true
	<Group>
		RFC2307bis	${3:-true}
		UseCompareOperation	${5:-true}
		BaseDN		"ou=groups,$base"
		SearchFilter	"(cn=$2)"
		MemberAttribute	${4:-member}
	</Group>
</Authorization>
CONF
}
auth_conf "$work/linux-admins.conf" "Linux Admins"
# The nested-group variant of docs/clients/openvpn.md: the transitive memberOf in the user search,
# no group block. alice is in Engineering only through Platform Team.
cat > "$work/nested.conf" <<CONF
<LDAP>
	URL		ldap://localhost:$ldap_port
	BindDN		"$bind_dn"
	Password	"$bind_pw"
	# Without Timeout the plugin's network timeout is 0 and every bind "times out".
	Timeout		15
	TLSEnable	yes
	TLSCACertFile	$ca
</LDAP>
<Authorization>
	BaseDN		"ou=people,$base"
	SearchFilter	"(&(uid=%u)(objectClass=posixAccount)(memberOf=cn=Engineering,ou=groups,$base))"
	RequireGroup	false
</Authorization>
CONF
auth_conf "$work/vpn-users.conf" "VPN Users"
auth_conf "$work/search.conf" "Linux Admins" true member false
auth_conf "$work/memberuid.conf" "Linux Admins" false memberUid true
# Users who type their UPN (docs/clients/openvpn.md).
sed 's/(uid=%u)/(userPrincipalName=%u)/' "$work/linux-admins.conf" > "$work/upn.conf"

login() { # login <config> <user> <password>: one OpenVPN login through the plugin; prints the verdict
  local verdict
  verdict=$(printf '%s %s\n' "$2" "$3" | "$work/openvpn_harness" "$PLUGIN" "$1" 2> "$work/last.err" || true)
  cat "$work/last.err" >> "$work/plugin.log"
  # A rejection caused by the plugin failing to reach or use the server proves nothing: print the
  # error instead of the verdict, so that the check fails.
  if grep -qE "connect failed|Timed out|Unable to bind as|TLS" "$work/last.err"; then
    echo "plugin error:"; cat "$work/last.err"
  else
    echo "$verdict"
  fi
}
admins=$work/linux-admins.conf
expect "a member of Linux Admins with the right password is accepted" "$(login "$admins" alice 'Alice-Passw0rd!')" "alice: accepted"
expect "a member with a wrong password is rejected" "$(login "$admins" alice wrong-password)" "alice: rejected"
expect "a non-member (bob) with the right password is rejected" "$(login "$admins" bob 'Bob-Passw0rd!')" "bob: rejected"
expect "an unknown user is rejected" "$(login "$admins" nobody-such 'Alice-Passw0rd!')" "nobody-such: rejected"
expect "an empty password is rejected (no unauthenticated bind)" "$(login "$admins" alice '')" "alice: rejected"
expect "bob is accepted where he is a member (VPN Users)" "$(login "$work/vpn-users.conf" bob 'Bob-Passw0rd!')" "bob: accepted"
expect "memberOf filter: alice, in Engineering through a nested group, is accepted" "$(login "$work/nested.conf" alice 'Alice-Passw0rd!')" "alice: accepted"
expect "memberOf filter: bob, not in Engineering, is rejected" "$(login "$work/nested.conf" bob 'Bob-Passw0rd!')" "bob: rejected"
expect "group check by search instead of Compare: alice accepted" "$(login "$work/search.conf" alice 'Alice-Passw0rd!')" "alice: accepted"
expect "group check by search instead of Compare: bob rejected" "$(login "$work/search.conf" bob 'Bob-Passw0rd!')" "bob: rejected"
expect "RFC 2307 memberUid group check: alice accepted" "$(login "$work/memberuid.conf" alice 'Alice-Passw0rd!')" "alice: accepted"
expect "RFC 2307 memberUid group check: bob rejected" "$(login "$work/memberuid.conf" bob 'Bob-Passw0rd!')" "bob: rejected"
expect "UPN login: alice@contoso.com accepted" "$(login "$work/upn.conf" alice@contoso.com 'Alice-Passw0rd!')" "alice@contoso.com: accepted"
expect "UPN login: bob@contoso.com (not in Linux Admins) rejected" "$(login "$work/upn.conf" bob@contoso.com 'Bob-Passw0rd!')" "bob@contoso.com: rejected"

# One plugin instance serving several logins in a row, as a running OpenVPN server does.
several=$(printf '%s\n' "alice Alice-Passw0rd!" "bob Bob-Passw0rd!" "alice nope" "alice Alice-Passw0rd!" \
  | "$work/openvpn_harness" "$PLUGIN" "$work/linux-admins.conf" 2>>"$work/plugin.log" || true)
want=$(printf 'alice: accepted\nbob: rejected\nalice: rejected\nalice: accepted')
if [ "$several" = "$want" ]; then ok "one plugin instance, four logins in a row"; else not_ok "one plugin instance, four logins in a row:"; printf '%s\n' "$several" | sed 's/^/       /'; fi

finish "$work/plugin.log"
