// Java's own LDAP client (JNDI, com.sun.jndi.ldap in OpenJDK 17) against a running o365-ldap,
// doing what Keycloak and Jenkins do with it:
//
//  - Keycloak (LDAP user federation, vendor "Other", edit mode READ_ONLY, org.keycloak.storage.ldap):
//    StartTLS on the plain port the way LDAPContextManager does it (an unauthenticated context,
//    StartTlsRequest.negotiate(), then the bind credentials added to the context and a lookup("")
//    that makes the bind happen), the user lookup
//    "(&(uid=alice)(objectclass=inetOrgPerson)(objectclass=organizationalPerson))" asking for the
//    mapped attributes (uid cn sn mail entryUUID createTimestamp modifyTimestamp), the lookup by
//    the UUID attribute entryUUID, the "sync all users" listing with PagedResultsControl, the group
//    mapper's "(&(objectclass=groupOfNames)(member=<user DN>))", and the password check by a bind
//    as the user's DN on a context of its own.
//  - Jenkins (LDAP plugin, Spring Security's FilterBasedLdapUserSearch and BindAuthenticator):
//    LDAPS, manager DN bind, the user search "uid={0}" (no parentheses, the argument escaped by
//    JNDI), the bind as the user and the read of the user's own entry (displayname, mail), the
//    group search "(& (cn={0}) (| (objectclass=groupOfNames) (objectclass=groupOfUniqueNames) (objectclass=posixGroup)))"
//    and the membership search "(| (member={0}) (uniqueMember={0}) (memberUid={1}))".
//
// The server's CA is in the JVM trust store given by tests/clients/jndi.sh
// (-Djavax.net.ssl.trustStore); JNDI checks the host name of LDAPS and StartTLS certificates.
// Environment: LDAPS_URI, LDAP_URI, BIND_DN, BIND_PW, BASE. Prints ok/FAIL lines and
// "jndi: N passed, M failed"; exits 1 on any failure.

import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import javax.naming.AuthenticationException;
import javax.naming.Context;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.directory.Attribute;
import javax.naming.directory.Attributes;
import javax.naming.directory.DirContext;
import javax.naming.directory.InitialDirContext;
import javax.naming.directory.SearchControls;
import javax.naming.directory.SearchResult;
import javax.naming.ldap.Control;
import javax.naming.ldap.InitialLdapContext;
import javax.naming.ldap.LdapContext;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.PagedResultsControl;
import javax.naming.ldap.PagedResultsResponseControl;
import javax.naming.ldap.StartTlsRequest;
import javax.naming.ldap.StartTlsResponse;

public class JndiCheck {
    static int passed = 0;
    static int failed = 0;

    static void report(boolean ok, String what, Object detail) {
        if (ok) {
            passed++;
            System.out.println("ok   - " + what);
        } else {
            failed++;
            System.out.println("FAIL - " + what + (detail != null ? ": " + detail : ""));
        }
    }

    static void report(boolean ok, String what) {
        report(ok, what, null);
    }

    static Hashtable<String, Object> env(String url, String dn, String pw) {
        Hashtable<String, Object> e = new Hashtable<>();
        e.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.ldap.LdapCtxFactory");
        e.put(Context.PROVIDER_URL, url);
        e.put(Context.REFERRAL, "ignore");
        e.put("com.sun.jndi.ldap.connect.timeout", "10000");
        e.put("com.sun.jndi.ldap.read.timeout", "10000");
        if (dn != null) {
            e.put(Context.SECURITY_AUTHENTICATION, "simple");
            e.put(Context.SECURITY_PRINCIPAL, dn);
            e.put(Context.SECURITY_CREDENTIALS, pw);
        } else {
            e.put(Context.SECURITY_AUTHENTICATION, "none");
        }
        return e;
    }

    static String first(Attributes attrs, String name) throws NamingException {
        Attribute a = attrs.get(name);
        return a == null ? null : String.valueOf(a.get());
    }

    static List<String> all(Attributes attrs, String name) throws NamingException {
        List<String> out = new ArrayList<>();
        Attribute a = attrs.get(name);
        if (a != null) {
            NamingEnumeration<?> values = a.getAll();
            while (values.hasMore()) {
                out.add(String.valueOf(values.next()));
            }
        }
        return out;
    }

    static boolean sameDn(String a, String b) {
        try {
            return new LdapName(a).equals(new LdapName(b));
        } catch (NamingException e) {
            return false;
        }
    }

    static List<SearchResult> search(DirContext ctx, String base, String filter, Object[] args, String[] attrs)
            throws NamingException {
        SearchControls sc = new SearchControls(SearchControls.SUBTREE_SCOPE, 0, 10000, attrs, false, false);
        NamingEnumeration<SearchResult> en = args == null ? ctx.search(base, filter, sc) : ctx.search(base, filter, args, sc);
        List<SearchResult> out = new ArrayList<>();
        while (en.hasMore()) {
            out.add(en.next());
        }
        return out;
    }

    static List<String> cns(List<SearchResult> results) throws NamingException {
        List<String> out = new ArrayList<>();
        for (SearchResult r : results) {
            out.add(first(r.getAttributes(), "cn"));
        }
        return out;
    }

    public static void main(String[] argv) throws Exception {
        String ldapsUri = System.getenv("LDAPS_URI");
        String ldapUri = System.getenv("LDAP_URI");
        String bindDn = System.getenv("BIND_DN");
        String bindPw = System.getenv("BIND_PW");
        String base = System.getenv("BASE");
        String people = "ou=people," + base;
        String groups = "ou=groups," + base;
        String aliceDn = "uid=alice," + people;
        String alicePw = "Alice-Passw0rd!";

        if (System.getenv("CHECK_WRONG_CA") != null) {
            // Run by jndi.sh without the demo CA in the trust store: LDAPS must fail.
            try {
                new InitialDirContext(env(ldapsUri, bindDn, bindPw)).close();
                report(false, "LDAPS: a trust store without the demo CA is refused", "the bind succeeded");
            } catch (NamingException e) {
                report(String.valueOf(e.getRootCause()).contains("SSL") || String.valueOf(e.getRootCause()).contains("certif"),
                        "LDAPS: a trust store without the demo CA is refused (the certificate is verified)", e.getRootCause());
            }
            System.exit(failed == 0 ? 0 : 1);
        }
        try {
            keycloak(ldapUri, bindDn, bindPw, people, groups, aliceDn, alicePw);
        } catch (NamingException e) {
            report(false, "Keycloak: unexpected error", e);
        }
        try {
            jenkins(ldapsUri, bindDn, bindPw, base, people, groups, aliceDn, alicePw);
        } catch (NamingException e) {
            report(false, "Jenkins: unexpected error", e);
        }
        System.out.println("jndi: " + passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    // Keycloak's LDAPContextManager with "Use StartTLS" on.
    static LdapContext keycloakContext(String url, String dn, String pw) throws Exception {
        LdapContext ctx = new InitialLdapContext(env(url, null, null), null);
        StartTlsResponse tls = (StartTlsResponse) ctx.extendedOperation(new StartTlsRequest());
        tls.negotiate();
        ctx.addToEnvironment(Context.SECURITY_AUTHENTICATION, "simple");
        ctx.addToEnvironment(Context.SECURITY_PRINCIPAL, dn);
        ctx.addToEnvironment(Context.SECURITY_CREDENTIALS, pw);
        // Keycloak: "Send dummy operation to trigger the bind".
        ctx.lookup("");
        return ctx;
    }

    static void keycloak(String url, String bindDn, String bindPw, String people, String groups, String aliceDn,
            String alicePw) throws NamingException {
        LdapContext ctx;
        try {
            ctx = keycloakContext(url, bindDn, bindPw);
            report(true, "Keycloak: StartTLS, then bind as the bind DN (the lookup(\"\") Keycloak sends)");
        } catch (Exception e) {
            report(false, "Keycloak: StartTLS, then bind as the bind DN", e);
            return;
        }
        String[] mapped = {"uid", "cn", "sn", "mail", "entryUUID", "createTimestamp", "modifyTimestamp", "objectclass"};
        List<SearchResult> r = search(ctx, people,
                "(&(uid={0})(objectclass=inetOrgPerson)(objectclass=organizationalPerson))", new Object[] {"alice"}, mapped);
        report(r.size() == 1 && sameDn(r.get(0).getNameInNamespace(), aliceDn), "Keycloak: user lookup by username finds alice",
                r.size() + " entries");
        String uuid = null;
        if (r.size() == 1) {
            Attributes a = r.get(0).getAttributes();
            uuid = first(a, "entryUUID");
            report("alice@contoso.com".equals(first(a, "mail")) && "Alice Smith".equals(first(a, "cn"))
                    && "Smith".equals(first(a, "sn")) && uuid != null && uuid.length() == 36,
                    "Keycloak: mapped attributes (mail, cn, sn, entryUUID " + uuid + ")");
            report(first(a, "createTimestamp") != null, "Keycloak: createTimestamp is served (the creation date mapper)");
        }
        if (uuid != null) {
            r = search(ctx, people, "(&(entryUUID={0})(objectclass=inetOrgPerson)(objectclass=organizationalPerson))",
                    new Object[] {uuid}, new String[] {"uid"});
            report(r.size() == 1 && "alice".equals(first(r.get(0).getAttributes(), "uid")),
                    "Keycloak: lookup by the UUID attribute (entryUUID) finds alice");
        }
        r = search(ctx, people, "(&(mail={0})(objectclass=inetOrgPerson)(objectclass=organizationalPerson))",
                new Object[] {"alice@contoso.com"}, new String[] {"uid"});
        report(r.size() == 1, "Keycloak: lookup by email finds alice");

        // "Sync all users": pages of 5 with PagedResultsControl.
        int total = 0;
        int pages = 0;
        int biggest = 0;
        List<String> seen = new ArrayList<>();
        byte[] cookie = null;
        try {
            do {
                ctx.setRequestControls(new Control[] {new PagedResultsControl(5, cookie, Control.CRITICAL)});
                List<SearchResult> page = search(ctx, people, "(&(objectclass=inetOrgPerson)(objectclass=organizationalPerson))",
                        null, new String[] {"uid", "entryUUID"});
                pages++;
                total += page.size();
                biggest = Math.max(biggest, page.size());
                for (SearchResult s : page) {
                    seen.add(s.getNameInNamespace().toLowerCase());
                }
                cookie = null;
                Control[] response = ctx.getResponseControls();
                if (response != null) {
                    for (Control c : response) {
                        if (c instanceof PagedResultsResponseControl) {
                            cookie = ((PagedResultsResponseControl) c).getCookie();
                        }
                    }
                }
            } while (cookie != null && cookie.length > 0 && pages < 1000);
            ctx.setRequestControls(null);
            List<SearchResult> plain = search(ctx, people, "(&(objectclass=inetOrgPerson)(objectclass=organizationalPerson))",
                    null, new String[] {"uid"});
            report(total == plain.size() && seen.stream().distinct().count() == total && biggest <= 5 && total > 5,
                    "Keycloak: sync of all users in pages of 5 (" + total + " users in " + pages + " pages, each once)",
                    total + " paged vs " + plain.size() + " plain, biggest page " + biggest);
        } catch (Exception e) {
            report(false, "Keycloak: paged sync of all users", e);
            ctx.setRequestControls(null);
        }

        // Group mapper (groupOfNames, member, mode READ_ONLY): the user's groups.
        r = search(ctx, groups, "(&(objectclass=groupOfNames)(member={0}))", new Object[] {aliceDn}, new String[] {"cn"});
        List<String> names = cns(r);
        report(names.contains("VPN Users") && names.contains("Linux Admins"), "Keycloak: group mapper finds alice's groups", names);
        r = search(ctx, groups, "(&(cn={0})(objectclass=groupOfNames))", new Object[] {"R&D, Europe + \"Special\""},
                new String[] {"cn", "member"});
        report(r.size() == 1, "Keycloak: a group whose name holds , + and \" found by cn (JNDI escapes the argument)");
        ctx.close();

        // The password check: a context of its own, bound as the user.
        try {
            LdapContext user = keycloakContext(url, aliceDn, alicePw);
            report(true, "Keycloak: alice's password accepted (bind as her DN after StartTLS)");
            user.close();
        } catch (Exception e) {
            report(false, "Keycloak: alice's password accepted", e);
        }
        try {
            keycloakContext(url, aliceDn, "wrong-password").close();
            report(false, "Keycloak: a wrong password is refused", "the bind succeeded");
        } catch (AuthenticationException e) {
            report(true, "Keycloak: a wrong password is refused (AuthenticationException)");
        } catch (Exception e) {
            report(false, "Keycloak: a wrong password is refused with AuthenticationException", e);
        }
    }

    static void jenkins(String url, String bindDn, String bindPw, String base, String people, String groups,
            String aliceDn, String alicePw) throws NamingException {
        DirContext manager;
        try {
            manager = new InitialDirContext(env(url, bindDn, bindPw));
            report(true, "Jenkins: LDAPS, bind as the manager DN");
        } catch (NamingException e) {
            report(false, "Jenkins: LDAPS, bind as the manager DN", e);
            return;
        }
        List<SearchResult> r = search(manager, "ou=people," + base, "uid={0}", new Object[] {"alice"}, new String[0]);
        report(r.size() == 1 && sameDn(r.get(0).getNameInNamespace(), aliceDn),
                "Jenkins: user search \"uid={0}\" (no parentheses) finds alice", r.size() + " entries");
        r = search(manager, "ou=people," + base, "uid={0}", new Object[] {"*"}, new String[0]);
        report(r.isEmpty(), "Jenkins: a user name \"*\" is escaped by JNDI and finds nobody", r.size() + " entries");

        // BindAuthenticator: bind as the user's DN, then read the user's own entry.
        try {
            DirContext user = new InitialDirContext(env(url, aliceDn, alicePw));
            Attributes a = user.getAttributes(new LdapName(aliceDn), new String[] {"displayname", "mail", "uid"});
            report("Alice Smith".equals(first(a, "displayName")) && "alice@contoso.com".equals(first(a, "mail")),
                    "Jenkins: alice binds and reads her displayname and mail");
            user.close();
        } catch (NamingException e) {
            report(false, "Jenkins: alice binds and reads her own entry", e);
        }
        try {
            new InitialDirContext(env(url, aliceDn, "wrong-password")).close();
            report(false, "Jenkins: a wrong password is refused", "the bind succeeded");
        } catch (AuthenticationException e) {
            report(true, "Jenkins: a wrong password is refused (AuthenticationException)");
        }

        // Group search by name, and the user's groups.
        r = search(manager, groups,
                "(& (cn={0}) (| (objectclass=groupOfNames) (objectclass=groupOfUniqueNames) (objectclass=posixGroup)))",
                new Object[] {"Linux Admins"}, new String[] {"cn"});
        report(r.size() == 1, "Jenkins: group search by name (the default filter, with its spaces) finds Linux Admins",
                r.size() + " entries");
        r = search(manager, groups, "(| (member={0}) (uniqueMember={0}) (memberUid={1}))", new Object[] {aliceDn, "alice"},
                new String[] {"cn"});
        List<String> names = cns(r);
        report(names.contains("VPN Users") && names.contains("Linux Admins") && names.contains("Platform Team"),
                "Jenkins: group membership search finds alice's groups", names);
        Attributes self = manager.getAttributes(new LdapName(aliceDn), new String[] {"memberOf"});
        List<String> memberOf = all(self, "memberOf");
        boolean nested = false;
        for (String g : memberOf) {
            nested |= sameDn(g, "cn=All Staff," + groups);
        }
        report(nested, "Jenkins: memberOf read on alice's entry includes All Staff (nested groups)");
        manager.close();
    }
}
