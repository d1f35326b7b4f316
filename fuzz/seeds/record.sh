#!/usr/bin/env bash
# Regenerate the fuzz seed corpora (fuzz/corpus/<target>/): the bytes real clients send
# (ldapsearch, ldapwhoami, ldapcompare, python-ldap: the filters and attribute lists of SSSD,
# nslcd, OpenVPN and AD-configured appliances), recorded through a proxy in front of the
# release server on a generated tenant; filters and DNs as text; Graph pages from the test
# fixture; the example config. Run from the repository root; needs ldap-utils, python3-ldap.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
OUT="$REPO/fuzz/corpus"
EMU=18280; LDAP=13589; PROXY=13590
BASE="dc=scale,dc=example"; SVC="cn=rec,ou=services,$BASE"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
(cd "$REPO" && cargo build --release --quiet --bin o365-ldap)
O365="$REPO/target/release/o365-ldap"
PW=rec-Passw0rd-for-seeds
HASH=$(printf '%s' "$PW" | "$O365" hash-password)
"$O365" emulator --users 200 --groups 10 --seed 3 --listen "127.0.0.1:$EMU" >"$WORK/emu.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do grep -q listening "$WORK/emu.log" && break; sleep 0.1; done
TENANT=$(sed -n 's/.*tenant \([0-9a-f-]*\);.*/\1/p' "$WORK/emu.log")
CLIENT=$(sed -n 's/.*client_id \([0-9a-f-]*\);.*/\1/p' "$WORK/emu.log")
sed -n 's/.*secret \([^;]*\);.*/\1/p' "$WORK/emu.log" | tr -d '\n' >"$WORK/secret"
cat >"$WORK/c.toml" <<TOML
[server]
ldap_listen = "127.0.0.1:$LDAP"
ldaps_listen = ""
tls_cert = ""
tls_key = ""
data_dir = "$WORK/data"
admin_socket = "$WORK/admin.sock"
allow_plaintext_bind = true
[[service_account]]
name = "rec"
password_hash = "$HASH"
[[tenant]]
name = "scale"
tenant_id = "$TENANT"
graph_url = "http://127.0.0.1:$EMU"
login_url = "http://127.0.0.1:$EMU"
  [[tenant.credential]]
  client_id = "$CLIENT"
  client_secret_file = "$WORK/secret"
TOML
"$O365" serve -c "$WORK/c.toml" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do grep -q "sync round committed" "$WORK/serve.log" && break; sleep 0.1; done
rm -rf "$OUT"; mkdir -p "$OUT"/{ldap_requests,ldap_frames,filter,dn,graph_json,config}
/usr/bin/python3 "$REPO/fuzz/seeds/record.py" "$PROXY" "$LDAP" "$OUT/ldap_requests" &
PIDS+=($!)
sleep 0.5
U="ldap://127.0.0.1:$PROXY"
USER=$(ldapsearch -x -LLL -H "ldap://127.0.0.1:$LDAP" -D "$SVC" -w "$PW" -b "ou=people,$BASE" -z 1 uid 2>/dev/null | sed -n 's/^uid: //p' | head -1 || true)
UDN="uid=$USER,ou=people,$BASE"
FILTERS=(
  "(objectClass=*)"
  "(&(uid=$USER)(objectClass=posixAccount)(uid=*)(&(uidNumber=*)(!(uidNumber=0))))"
  "(&(gidNumber=100001)(objectClass=posixGroup)(cn=*)(&(gidNumber=*)(!(gidNumber=0))))"
  "(&(member=$UDN)(objectClass=posixGroup)(cn=*))"
  "(&(objectClass=sudoRole)(|(&(!(sudoHost=*))(cn=defaults))(sudoHost=ALL)(sudoHost=+*)))"
  "(&(objectClass=posixAccount)(uidNumber=100002))"
  "(&(objectClass=posixGroup)(|(memberUid=$USER)(member=$UDN)))"
  "(&(uid=$USER)(objectClass=posixAccount))"
  "(|(sAMAccountName=$USER)(userPrincipalName=$USER@scale.example))"
  "(memberOf:1.2.840.113556.1.4.1941:=cn=dept-1,ou=groups,$BASE)"
  "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
  "(|(ou=*)(cn=Users))"
  "(cn=*an*der*son*)"
  "(cn=\\2a\\28\\29\\5c)"
  "(uidNumber>=100050)"
  "(&(uidNumber<=100010)(!(loginShell=/bin/false)))"
  "(cn~=anderson)"
  "(ou:dn:=people)"
  "(mail=*@scale.example)"
  "(entryUUID=*)"
  "(description=)"
)
for f in "${FILTERS[@]}"; do
  printf '%s' "$f" >"$OUT/filter/$(printf '%s' "$f" | sha1sum | cut -c1-12)"
  ldapsearch -x -H "$U" -D "$SVC" -w "$PW" -b "$BASE" "$f" uid cn memberOf "userCertificate;binary" gidNumber >/dev/null 2>&1 || true
done
ldapsearch -x -H "$U" -b "" -s base "(objectClass=*)" namingContexts supportedControl supportedExtension supportedSASLMechanisms >/dev/null 2>&1 || true
ldapsearch -x -H "$U" -b "cn=subschema" -s base "(objectClass=subschema)" attributeTypes objectClasses >/dev/null 2>&1 || true
ldapsearch -x -H "$U" -D "$SVC" -w "$PW" -b "$BASE" -E pr=20/noprompt "(objectClass=posixAccount)" uid >/dev/null 2>&1 || true
ldapsearch -x -H "$U" -D "$SVC" -w "$PW" -b "$BASE" -z 3 -A "(objectClass=*)" "*" "+" >/dev/null 2>&1 || true
ldapsearch -x -H "$U" -D "$SVC" -w "$PW" -b "$UDN" -s base "(objectClass=*)" dn 1.1 "@posixAccount" >/dev/null 2>&1 || true
ldapwhoami -x -H "$U" -D "$SVC" -w "$PW" >/dev/null 2>&1 || true
ldapwhoami -x -H "$U" -D "$USER@scale.example" -w wrong >/dev/null 2>&1 || true
ldapcompare -x -H "$U" -D "$SVC" -w "$PW" "cn=dept-1,ou=groups,$BASE" "member:$UDN" >/dev/null 2>&1 || true
ldapmodify -x -H "$U" -D "$SVC" -w "$PW" >/dev/null 2>&1 <<LDIF || true
dn: $UDN
changetype: modify
replace: loginShell
loginShell: /bin/zsh
LDIF
/usr/bin/python3 - "$U" "$SVC" "$PW" "$BASE" <<'PY' || true
import sys, ldap
from ldap.controls import SimplePagedResultsControl
u, svc, pw, base = sys.argv[1:]
c = ldap.initialize(u)
c.simple_bind_s(svc, pw)
ctrl = SimplePagedResultsControl(True, size=7, cookie=b"")
msgid = c.search_ext(base, ldap.SCOPE_SUBTREE, "(objectClass=posixGroup)", ["cn", "member"], serverctrls=[ctrl])
c.result3(msgid)
c.whoami_s()
c.abandon(c.search(base, ldap.SCOPE_SUBTREE, "(uid=*)"))
c.unbind_s()
PY
sleep 1
cp "$OUT"/ldap_requests/* "$OUT/ldap_frames/"
for dn in "$BASE" "$UDN" "cn=Sales\\, EMEA,ou=groups,$BASE" "CN=Zo\\C3\\AB,OU=People,DC=Scale" \
          "cn=a+sn=b,ou=x" "uid=#04024869" "cn=\\ leading and trailing\\ ,dc=x" "" "dc=com"; do
  printf '%s' "$dn" >"$OUT/dn/$(printf '%s' "$dn" | sha1sum | cut -c1-12)"
done
/usr/bin/python3 - "$REPO/tests/fixtures/contoso.json" "$OUT/graph_json" <<'PY'
import json, sys
fx = json.load(open(sys.argv[1]))
for i, kind in enumerate(["users", "groups"]):
    for j in range(0, len(fx[kind]), 10):
        page = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#" + kind,
                "value": fx[kind][j:j + 10]}
        open(f"{sys.argv[2]}/{kind}-{j:03}.json", "w").write(json.dumps(page))
open(f"{sys.argv[2]}/removed.json", "w").write(json.dumps({"value": [
    {"id": fx["users"][0]["id"], "@removed": {"reason": "changed"}},
    {"id": fx["groups"][0]["id"], "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": fx["users"][1]["id"], "@removed": {"reason": "deleted"}}]}]}))
PY
cp "$REPO/config/o365-ldap.example.toml" "$OUT/config/example.toml"
cp "$WORK/c.toml" "$OUT/config/generated.toml"
for t in "$OUT"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
