#!/usr/bin/python3
"""python-ldap (Debian's python3-ldap) against a running o365-ldap: paged search with the
paged-results control, Compare (true and false), and Who-am-I after a service bind and after a
user bind by UPN. Run by tests/clients/python_ldap.sh, which starts `o365-ldap demo` and passes
its coordinates in the environment (LDAPS_URI, LDAP_URI, CA, BIND_DN, BIND_PW, BASE).
Prints ok/FAIL lines and a final "python-ldap: N passed, M failed" line; exits 1 on any failure."""
import os
import sys

import ldap
from ldap.controls import SimplePagedResultsControl

WHOAMI_OID = "1.3.6.1.4.1.4203.1.11.3"
passed = 0
failed = 0


def report(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   - {what}")
    else:
        failed += 1
        print(f"FAIL - {what}" + (f": {detail}" if detail else ""))


def connect(uri, ca):
    conn = ldap.initialize(uri)
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, ca)
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    # A new TLS context per connection, so that the CA option above applies to it.
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    return conn


def paged_search(conn, base, filt, attrs, page_size):
    """Returns (dns, pages) following the server's cookies until it returns an empty one."""
    ctrl = SimplePagedResultsControl(criticality=True, size=page_size, cookie=b"")
    dns, pages, sizes = [], 0, []
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filt, attrs, serverctrls=[ctrl])
        _, data, _, resp_ctrls = conn.result3(msgid)
        entries = [dn for dn, _ in data if dn is not None]
        dns.extend(entries)
        sizes.append(len(entries))
        pages += 1
        cookies = [c for c in resp_ctrls if c.controlType == SimplePagedResultsControl.controlType]
        if not cookies:
            raise RuntimeError("the server did not return the paged-results control")
        if not cookies[0].cookie:
            return dns, pages, sizes
        if pages > 1000:
            raise RuntimeError("no end of paging after 1000 pages")
        ctrl.cookie = cookies[0].cookie


def main():
    env = os.environ
    ldaps_uri, ldap_uri, ca = env["LDAPS_URI"], env["LDAP_URI"], env["CA"]
    bind_dn, bind_pw, base = env["BIND_DN"], env["BIND_PW"], env["BASE"]
    people = f"ou=people,{base}"
    groups = f"ou=groups,{base}"

    # Service account over LDAPS.
    svc = connect(ldaps_uri, ca)
    svc.simple_bind_s(bind_dn, bind_pw)
    who = svc.whoami_s()
    report(who == f"dn:{bind_dn}", "Who-am-I after a service bind (LDAPS) names the service DN", who)

    filt = "(objectClass=posixAccount)"
    plain = [dn for dn, _ in svc.search_s(people, ldap.SCOPE_SUBTREE, filt, ["uid"]) if dn]
    report(len(plain) > 7, f"plain search finds every user ({len(plain)})")
    dns, pages, sizes = paged_search(svc, people, filt, ["uid"], 7)
    report(len(dns) == len(plain), f"paged search (7 per page) returns as many users as a plain search ({len(dns)})",
           f"{len(dns)} != {len(plain)}")
    report(sorted(dns) == sorted(plain), "paged search returns the same entries, each once",
           f"{len(set(dns))} distinct")
    report(pages == (len(plain) + 6) // 7 or pages == (len(plain) + 6) // 7 + 1 and sizes[-1] == 0,
           f"paged search takes {pages} pages of at most 7 ({sizes})")
    report(all(s <= 7 for s in sizes), "no page holds more than the page size", str(sizes))

    # RFC 2696: a page size of 0 with the cookie abandons the search; the cookie is then dead.
    first = SimplePagedResultsControl(criticality=True, size=7, cookie=b"")
    _, _, _, ctrls = svc.result3(svc.search_ext(people, ldap.SCOPE_SUBTREE, filt, ["uid"], serverctrls=[first]))
    cookie = next(c.cookie for c in ctrls if c.controlType == SimplePagedResultsControl.controlType)
    other = connect(ldaps_uri, ca)
    other.simple_bind_s(bind_dn, bind_pw)
    try:
        other.result3(other.search_ext(people, ldap.SCOPE_SUBTREE, filt, ["uid"], serverctrls=[
            SimplePagedResultsControl(criticality=True, size=7, cookie=cookie)]))
        report(False, "a paging cookie is refused on another connection", "it was accepted")
    except ldap.LDAPError:
        report(True, "a paging cookie is refused on another connection")
    other.unbind_s()
    try:
        svc.result3(svc.search_ext(people, ldap.SCOPE_SUBTREE, filt, ["uid"], serverctrls=[
            SimplePagedResultsControl(criticality=True, size=7, cookie=b"forged-cookie-0123456789")]))
        report(False, "a forged paging cookie is refused", "it was accepted")
    except ldap.LDAPError:
        report(True, "a forged paging cookie is refused")
    _, data, _, ctrls = svc.result3(svc.search_ext(people, ldap.SCOPE_SUBTREE, filt, ["uid"], serverctrls=[
        SimplePagedResultsControl(criticality=True, size=0, cookie=cookie)]))
    ended = [c for c in ctrls if c.controlType == SimplePagedResultsControl.controlType]
    report(len(data) == 0 and bool(ended) and not ended[0].cookie,
           "page size 0 with the cookie abandons the paged search (no entries, empty cookie)")
    try:
        svc.search_ext_s(people, ldap.SCOPE_SUBTREE, filt, ["uid"], sizelimit=5)
        report(False, "a client size limit of 5 ends a plain search with sizeLimitExceeded", "no error")
    except ldap.SIZELIMIT_EXCEEDED:
        report(True, "a client size limit of 5 ends a plain search with sizeLimitExceeded")

    nested = paged_search(svc, base, "(memberOf:1.2.840.113556.1.4.1941:=cn=All Staff,ou=groups,"
                          f"{base})", ["uid"], 7)[0]
    report(f"uid=alice,{people}" in nested,
           "paged in-chain memberOf search finds alice two nesting levels below All Staff")

    vpn = f"cn=VPN Users,{groups}"
    report(svc.compare_s(vpn, "member", f"uid=alice,{people}") is True,
           "Compare member of VPN Users: alice is (true)")
    report(svc.compare_s(vpn, "member", f"uid=dan.brown,{people}") is False,
           "Compare member of VPN Users: dan.brown is not (false)")
    report(svc.compare_s(f"uid=alice,{people}", "uid", "ALICE") is True,
           "Compare uid is case-insensitive (ALICE matches alice)")
    report(svc.compare_s(f"uid=alice,{people}", "memberOf", f"cn=Engineering,{groups}") is True,
           "Compare memberOf: alice is in Engineering through nesting")
    try:
        svc.compare_s(f"uid=nobody-such,{people}", "uid", "x")
        report(False, "Compare on a missing entry fails with noSuchObject", "it succeeded")
    except ldap.NO_SUCH_OBJECT:
        report(True, "Compare on a missing entry fails with noSuchObject")
    svc.unbind_s()

    # A user by UPN over StartTLS on the plain port.
    usr = connect(ldap_uri, ca)
    usr.start_tls_s()
    usr.simple_bind_s("alice@contoso.com", "Alice-Passw0rd!")
    who = usr.whoami_s()
    report(who == f"dn:uid=alice,{people}", "Who-am-I after a UPN bind (StartTLS) names alice's DN", who)
    own = usr.search_s(f"uid=alice,{people}", ldap.SCOPE_BASE, "(objectClass=*)", ["memberOf"])
    report(len(own) == 1 and f"cn=VPN Users,{groups}".encode() in own[0][1].get("memberOf", []),
           "the bound user reads her own memberOf")
    usr.unbind_s()

    bad = connect(ldap_uri, ca)
    bad.start_tls_s()
    try:
        bad.simple_bind_s("alice@contoso.com", "wrong-password")
        report(False, "a UPN bind with a wrong password fails", "it succeeded")
    except ldap.INVALID_CREDENTIALS:
        report(True, "a UPN bind with a wrong password fails with invalidCredentials")

    anon = connect(ldaps_uri, ca)
    try:
        anon.search_s(people, ldap.SCOPE_SUBTREE, "(uid=alice)", ["uid"])
        report(False, "an anonymous search under the base is refused or empty", "it returned entries")
    except ldap.LDAPError:
        report(True, "an anonymous search under the base is refused")
    root = anon.search_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["supportedControl", "supportedExtension"])
    attrs = root[0][1] if root else {}
    report(SimplePagedResultsControl.controlType.encode() in attrs.get("supportedControl", []),
           "the rootDSE lists the paged-results control")
    report(WHOAMI_OID.encode() in attrs.get("supportedExtension", []), "the rootDSE lists Who-am-I")

    print(f"python-ldap: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ldap.LDAPError, RuntimeError, KeyError) as e:
        print(f"FAIL - unexpected error: {e!r}")
        print(f"python-ldap: {passed} passed, {failed + 1} failed")
        sys.exit(1)
