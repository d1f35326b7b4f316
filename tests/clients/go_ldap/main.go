// go-ldap (Debian's golang-github-go-ldap-ldap-dev, github.com/go-ldap/ldap/v3) against a running
// o365-ldap, doing what Grafana and Gitea do with it:
//
//   - Grafana (pkg/services/ldap): LDAPS with the CA from root_ca_cert, bind as bind_dn, search the
//     user with search_filter "(uid=%s)" (the login escaped with ldap.EscapeFilter) asking for the
//     attributes it maps (givenName, sn, uid, memberOf, mail), re-bind on the same connection as
//     the user to check the password, then group_search_filter
//     "(&(objectClass=posixGroup)(memberUid=%s))" and the nested-group form
//     "(member:1.2.840.113556.1.4.1941:=%s)".
//   - Gitea (services/auth/source/ldap): StartTLS on the plain port, bind, user filter
//     "(&(objectClass=posixAccount)(|(uid=%[1]s)(mail=%[1]s)))", the user's bind on a new
//     connection, the admin filter checked by a base search on the user's DN, group membership
//     "(|(member=%s)(memberUid=%s))", and the "synchronize external users" listing with
//     SearchWithPaging.
//
// Run by tests/clients/go_ldap.sh, which starts `o365-ldap demo` and passes LDAPS_URI, LDAP_URI,
// CA, BIND_DN, BIND_PW, BASE. Prints ok/FAIL lines and "go-ldap: N passed, M failed"; exits 1 on
// any failure.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

var passed, failed int

func report(ok bool, what string, detail ...interface{}) {
	if ok {
		passed++
		fmt.Printf("ok   - %s\n", what)
	} else {
		failed++
		fmt.Printf("FAIL - %s", what)
		if len(detail) > 0 {
			fmt.Printf(": %v", fmt.Sprint(detail...))
		}
		fmt.Println()
	}
}

func must(err error, what string) bool {
	if err != nil {
		report(false, what, err)
		return false
	}
	return true
}

func tlsConfig(caFile, host string) *tls.Config {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Println("FAIL - reading the CA:", err)
		os.Exit(1)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
}

func values(e *ldap.Entry, attr string) []string {
	v := e.GetAttributeValues(attr)
	sort.Strings(v)
	return v
}

func contains(list []string, want string) bool {
	for _, v := range list {
		if strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}

func main() {
	env := func(k string) string { return os.Getenv(k) }
	ldapsURI, ldapURI, ca := env("LDAPS_URI"), env("LDAP_URI"), env("CA")
	bindDN, bindPW, base := env("BIND_DN"), env("BIND_PW"), env("BASE")
	people, groups := "ou=people,"+base, "ou=groups,"+base
	aliceDN := "uid=alice," + people
	const alicePW = "Alice-Passw0rd!"
	u, _ := url.Parse(ldapsURI)
	cfg := tlsConfig(ca, u.Hostname())

	// ---- Grafana -------------------------------------------------------------------------
	conn, err := ldap.DialURL(ldapsURI, ldap.DialWithTLSConfig(cfg))
	if !must(err, "Grafana: LDAPS connection with the CA") {
		finish()
	}
	report(true, "Grafana: LDAPS connection with the CA")
	report(conn.Bind(bindDN, bindPW) == nil, "Grafana: bind as the service account (bind_dn)")
	login := "alice"
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		strings.Replace("(uid=%s)", "%s", ldap.EscapeFilter(login), -1),
		[]string{"dn", "givenName", "sn", "uid", "memberOf", "mail"}, nil)
	res, err := conn.Search(req)
	if must(err, "Grafana: user search (uid=alice)") {
		report(len(res.Entries) == 1 && res.Entries[0].DN == aliceDN,
			"Grafana: user search finds exactly alice", fmt.Sprint(len(res.Entries), " entries"))
		if len(res.Entries) == 1 {
			e := res.Entries[0]
			report(e.GetAttributeValue("givenName") == "Alice" && e.GetAttributeValue("sn") == "Smith" &&
				e.GetAttributeValue("mail") == "alice@contoso.com" && e.GetAttributeValue("uid") == "alice",
				"Grafana: name, surname, username and email attributes mapped")
			report(contains(values(e, "memberOf"), "cn=VPN Users,"+groups),
				"Grafana: member_of (memberOf) lists VPN Users", values(e, "memberOf"))
			report(contains(values(e, "memberOf"), "cn=All Staff,"+groups),
				"Grafana: memberOf includes All Staff, reached through nested groups")
		}
	}
	// An escaped login that is not a user finds nobody (and does not inject a filter).
	req.Filter = strings.Replace("(uid=%s)", "%s", ldap.EscapeFilter("*)(uid=*"), -1)
	res, err = conn.Search(req)
	report(err == nil && len(res.Entries) == 0, "Grafana: an escaped login with filter characters finds nobody")
	// Grafana binds as the user on the same connection.
	report(conn.Bind(aliceDN, alicePW) == nil, "Grafana: re-bind as alice on the same connection (her Microsoft 365 password)")
	err = conn.Bind(aliceDN, "wrong-password")
	report(ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials),
		"Grafana: a wrong password gets invalidCredentials", err)
	report(conn.Bind(bindDN, bindPW) == nil, "Grafana: bind as the service account again")
	greq := ldap.NewSearchRequest(groups, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		fmt.Sprintf("(&(objectClass=posixGroup)(memberUid=%s))", ldap.EscapeFilter(login)),
		[]string{"cn", "gidNumber"}, nil)
	res, err = conn.Search(greq)
	if must(err, "Grafana: group_search_filter (posixGroup, memberUid)") {
		var cns []string
		for _, e := range res.Entries {
			cns = append(cns, e.GetAttributeValue("cn"))
		}
		report(contains(cns, "VPN Users") && contains(cns, "Linux Admins") && !contains(cns, "All Staff"),
			"Grafana: posixGroup memberUid search finds alice's direct groups", cns)
	}
	greq.Filter = fmt.Sprintf("(member:1.2.840.113556.1.4.1941:=%s)", ldap.EscapeFilter(aliceDN))
	res, err = conn.Search(greq)
	if must(err, "Grafana: nested group search (member in-chain rule)") {
		var cns []string
		for _, e := range res.Entries {
			cns = append(cns, e.GetAttributeValue("cn"))
		}
		report(contains(cns, "All Staff") && contains(cns, "Engineering") && contains(cns, "VPN Users"),
			"Grafana: the in-chain rule on member finds nested groups (All Staff, Engineering)", cns)
	}
	conn.Close()

	// The server's certificate is checked: without the demo CA the TLS handshake fails.
	other := &tls.Config{RootCAs: x509.NewCertPool(), ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if c, err := ldap.DialURL(ldapsURI, ldap.DialWithTLSConfig(other)); err == nil {
		err = c.Bind(bindDN, bindPW)
		c.Close()
		report(err != nil, "Grafana: a CA pool without the demo CA is refused (the certificate is verified)")
	} else {
		report(true, "Grafana: a CA pool without the demo CA is refused (the certificate is verified)")
	}

	// ---- Gitea ---------------------------------------------------------------------------
	conn, err = ldap.DialURL(ldapURI)
	if !must(err, "Gitea: plain connection") {
		finish()
	}
	report(conn.StartTLS(cfg) == nil, "Gitea: StartTLS on the plain port")
	report(conn.Bind(bindDN, bindPW) == nil, "Gitea: bind as the service account")
	userFilter := fmt.Sprintf("(&(objectClass=posixAccount)(|(uid=%[1]s)(mail=%[1]s)))", ldap.EscapeFilter("alice@contoso.com"))
	res, err = conn.Search(ldap.NewSearchRequest(people, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		userFilter, []string{"uid", "givenName", "sn", "mail", "sshPublicKey"}, nil))
	if must(err, "Gitea: user filter by mail") {
		report(len(res.Entries) == 1 && res.Entries[0].DN == aliceDN, "Gitea: user filter finds alice by her mail address")
		if len(res.Entries) == 1 {
			report(len(res.Entries[0].GetAttributeValues("sshPublicKey")) > 0, "Gitea: alice's sshPublicKey is served (Gitea syncs SSH keys)")
		}
	}
	// Admin filter: a base search on the user's DN.
	res, err = conn.Search(ldap.NewSearchRequest(aliceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(memberOf=cn=Linux Admins,"+groups+")", []string{"dn"}, nil))
	report(err == nil && len(res.Entries) == 1, "Gitea: admin filter (memberOf=Linux Admins) matches alice", err)
	res, err = conn.Search(ldap.NewSearchRequest("uid=dan.brown,"+people, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(memberOf=cn=Linux Admins,"+groups+")", []string{"dn"}, nil))
	report(err == nil && len(res.Entries) == 0, "Gitea: admin filter does not match dan.brown", err)
	res, err = conn.Search(ldap.NewSearchRequest(groups, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		fmt.Sprintf("(|(member=%s)(memberUid=%s))", ldap.EscapeFilter(aliceDN), ldap.EscapeFilter("alice")), []string{"cn"}, nil))
	report(err == nil && len(res.Entries) >= 3, "Gitea: group membership (member or memberUid) finds alice's groups", err)
	// Synchronize external users: every user, in pages.
	all, err := conn.SearchWithPaging(ldap.NewSearchRequest(people, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=posixAccount)", []string{"uid", "mail"}, nil), 5)
	plain, err2 := conn.Search(ldap.NewSearchRequest(people, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=posixAccount)", []string{"uid"}, nil))
	if must(err, "Gitea: SearchWithPaging (page size 5)") && must(err2, "Gitea: plain search of every user") {
		seen := map[string]bool{}
		for _, e := range all.Entries {
			seen[e.DN] = true
		}
		report(len(all.Entries) == len(plain.Entries) && len(seen) == len(plain.Entries) && len(plain.Entries) > 5,
			fmt.Sprintf("Gitea: paged user sync returns every user once (%d paged, %d plain)", len(all.Entries), len(plain.Entries)))
	}
	who, err := conn.WhoAmI(nil)
	report(err == nil && who.AuthzID == "dn:"+bindDN, "Gitea: Who-am-I names the service account", err)
	conn.Close()

	// The user's bind on its own connection, as Gitea does.
	uconn, err := ldap.DialURL(ldapURI)
	if must(err, "Gitea: second plain connection") {
		report(uconn.StartTLS(cfg) == nil, "Gitea: StartTLS for the user's bind")
		report(uconn.Bind(aliceDN, alicePW) == nil, "Gitea: alice binds with her password")
		res, err = uconn.Search(ldap.NewSearchRequest(aliceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"uid", "memberOf"}, nil))
		report(err == nil && len(res.Entries) == 1, "Gitea: bound as alice, she reads her own entry", err)
		uconn.Close()
	}
	finish()
}

func finish() {
	fmt.Printf("go-ldap: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}
