//! End to end, as an admin would check it: the Graph emulator, `serve`'s code path
//! (`cli::serve::Server`), one sync round, then real clients — OpenLDAP's `ldapsearch`,
//! `ldapwhoami`, `ldapcompare` and the `ldap3` crate — over LDAPS and StartTLS.

use crate::common;

use crate::common::clients::{connect, ldapcompare, ldapsearch, ldif_values, tool};
use crate::common::harness::{BASE, Running, SERVICE, SERVICE_PASSWORD, fixture_json};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Mod, Scope, SearchEntry};
use o365_ldap::cli::serve::Server;
use std::collections::{BTreeSet, HashSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

impl Running {
    /// `ldapsearch` as the service account over LDAPS, LDIF without wrapping.
    async fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> common::clients::Run {
        let bind = (SERVICE, SERVICE_PASSWORD);
        ldapsearch(&self.ca(), &self.ldaps(), bind, base, &[], filter, attrs).await
    }
}

fn expected_active_users() -> usize {
    let fx = fixture_json("contoso.json");
    fx["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["accountEnabled"].as_bool().unwrap_or(true))
        .filter(|u| u["userType"].as_str() != Some("Guest"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_dse_is_anonymous_and_the_rest_is_not() {
    let r = Running::contoso().await;
    let url = r.ldaps();
    let out = tool(
        &r.ca(),
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &url,
            "-b",
            "",
            "-s",
            "base",
            "(objectClass=*)",
            "+",
            "*",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(ldif_values(&out.stdout, "namingContexts"), vec![BASE]);
    let controls = ldif_values(&out.stdout, "supportedControl");
    assert!(
        controls.contains(&"1.2.840.113556.1.4.319".to_string()),
        "{controls:?}"
    );
    let ext = ldif_values(&out.stdout, "supportedExtension");
    assert!(
        ext.contains(&"1.3.6.1.4.1.4203.1.11.3".to_string()),
        "Who-am-I: {ext:?}"
    );
    assert!(
        ext.contains(&"1.3.6.1.4.1.1466.20037".to_string()),
        "StartTLS: {ext:?}"
    );

    let people = format!("ou=people,{BASE}");
    let out = tool(
        &r.ca(),
        "ldapsearch",
        &["-x", "-LLL", "-H", &url, "-b", &people, "(uid=alice)"],
    )
    .await;
    assert_eq!(out.code, 50, "anonymous must not read ou=people: {out:?}");
    assert!(!out.stdout.contains("uid=alice"), "{out:?}");
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_binds_over_ldaps_and_starttls_and_plaintext_is_refused() {
    let r = Running::contoso().await;
    let (ldaps, ldap) = (r.ldaps(), r.ldap());
    let ok = tool(
        &r.ca(),
        "ldapwhoami",
        &["-x", "-H", &ldaps, "-D", SERVICE, "-w", SERVICE_PASSWORD],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.stdout.trim(), format!("dn:{SERVICE}"));
    let tls = tool(
        &r.ca(),
        "ldapwhoami",
        &[
            "-x",
            "-ZZ",
            "-H",
            &ldap,
            "-D",
            SERVICE,
            "-w",
            SERVICE_PASSWORD,
        ],
    )
    .await;
    assert_eq!(tls.code, 0, "{tls:?}");
    let wrong = tool(
        &r.ca(),
        "ldapwhoami",
        &["-x", "-H", &ldaps, "-D", SERVICE, "-w", "not-the-password"],
    )
    .await;
    assert_eq!(wrong.code, 49, "{wrong:?}");
    let plain = tool(
        &r.ca(),
        "ldapwhoami",
        &["-x", "-H", &ldap, "-D", SERVICE, "-w", SERVICE_PASSWORD],
    )
    .await;
    assert_eq!(
        plain.code, 13,
        "a password over plaintext gets confidentialityRequired: {plain:?}"
    );
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_has_the_attributes_of_the_contract() {
    let r = Running::contoso().await;
    let out = r.search(BASE, "(uid=alice)", &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with(&format!("dn: uid=alice,ou=people,{BASE}\n")),
        "{}",
        out.stdout
    );
    for attr in [
        "uid",
        "cn",
        "sn",
        "givenName",
        "displayName",
        "mail",
        "userPrincipalName",
        "uidNumber",
        "gidNumber",
        "homeDirectory",
        "loginShell",
        "gecos",
        "memberOf",
        "entryUUID",
        "sAMAccountName",
    ] {
        assert!(
            !ldif_values(&out.stdout, attr).is_empty(),
            "alice lacks {attr}:\n{}",
            out.stdout
        );
    }
    assert_eq!(
        ldif_values(&out.stdout, "entryUUID"),
        vec!["a1ce0000-0000-4000-8000-000000000001"]
    );
    assert_eq!(
        ldif_values(&out.stdout, "homeDirectory"),
        vec!["/home/alice"]
    );
    let member_of = ldif_values(&out.stdout, "memberOf");
    // Engineering only through Platform Team.
    assert!(
        member_of.contains(&format!("cn=Engineering,ou=groups,{BASE}")),
        "{member_of:?}"
    );
    let classes = ldif_values(&out.stdout, "objectClass");
    for c in [
        "top",
        "person",
        "organizationalPerson",
        "inetOrgPerson",
        "posixAccount",
    ] {
        assert!(classes.contains(&c.to_string()), "{classes:?}");
    }
    // Operational attributes only on request.
    assert!(ldif_values(&out.stdout, "entryDN").is_empty());
    let op = r.search(BASE, "(uid=alice)", &["+"]).await;
    assert_eq!(
        ldif_values(&op.stdout, "entryDN"),
        vec![format!("uid=alice,ou=people,{BASE}")]
    );

    // Groups carry member, memberUid and gidNumber.
    let vpn = r
        .search(&format!("ou=groups,{BASE}"), "(cn=VPN Users)", &[])
        .await;
    assert_eq!(vpn.code, 0, "{vpn:?}");
    assert!(ldif_values(&vpn.stdout, "member").contains(&format!("uid=alice,ou=people,{BASE}")));
    assert!(ldif_values(&vpn.stdout, "memberUid").contains(&"alice".to_string()));
    assert_eq!(ldif_values(&vpn.stdout, "gidNumber").len(), 1);
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_search_returns_every_user_exactly_once() {
    let r = Running::contoso().await;
    let expected = expected_active_users();
    // ldapsearch's paged results control, page size 5.
    let url = r.ldaps();
    let people = format!("ou=people,{BASE}");
    let out = ldapsearch(
        &r.ca(),
        &url,
        (SERVICE, SERVICE_PASSWORD),
        &people,
        &["-E", "pr=5/noprompt"],
        "(objectClass=posixAccount)",
        &["uid"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let uids = ldif_values(&out.stdout, "uid");
    assert_eq!(uids.len(), expected, "{uids:?}");
    assert_eq!(
        uids.iter().collect::<HashSet<_>>().len(),
        expected,
        "no duplicates"
    );

    // The ldap3 crate's paged-results adapter, page size 5.
    let mut ldap = connect(&r.ldaps(), &r.ca(), false).await;
    ldap.simple_bind(SERVICE, SERVICE_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(5))];
    let mut stream = ldap
        .streaming_search_with(
            adapters,
            &people,
            Scope::OneLevel,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut n = 0;
    while let Some(e) = stream.next().await.unwrap() {
        n += 1;
        seen.insert(SearchEntry::construct(e).dn);
    }
    stream.finish().await.success().unwrap();
    assert_eq!(n, expected);
    assert_eq!(seen.len(), expected);
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_names_duplicates_compare_and_writes() {
    let r = Running::contoso().await;
    let groups = format!("ou=groups,{BASE}");
    // A group named `R&D, Europe + "Special"`: found, and its returned DN works as a base.
    let rd = r
        .search(&groups, r#"(cn=R&D, Europe + "Special")"#, &["1.1"])
        .await;
    assert_eq!(rd.code, 0, "{rd:?}");
    let dns = ldif_values(&rd.stdout, "dn");
    assert_eq!(dns.len(), 1, "{}", rd.stdout);
    let url = r.ldaps();
    let base = ldapsearch(
        &r.ca(),
        &url,
        (SERVICE, SERVICE_PASSWORD),
        &dns[0],
        &["-s", "base"],
        "(objectClass=*)",
        &["cn", "memberUid"],
    )
    .await;
    assert_eq!(base.code, 0, "{base:?}");
    assert_eq!(
        ldif_values(&base.stdout, "cn"),
        vec![r#"R&D, Europe + "Special""#]
    );
    assert!(!ldif_values(&base.stdout, "memberUid").is_empty());

    // Two groups with one display name: two entries, distinct DNs.
    let sales = r
        .search(
            &groups,
            "(&(objectClass=groupOfNames)(|(cn=Sales)(cn=Sales-*)))",
            &["cn"],
        )
        .await;
    let sales_dns: BTreeSet<String> = ldif_values(&sales.stdout, "dn").into_iter().collect();
    assert_eq!(sales_dns.len(), 2, "{}", sales.stdout);

    // Compare on member.
    let vpn = format!("cn=VPN Users,{groups}");
    let member = format!("member:uid=alice,ou=people,{BASE}");
    let cmp = ldapcompare(&r.ca(), &url, (SERVICE, SERVICE_PASSWORD), &vpn, &member).await;
    assert_eq!(cmp.code, 6, "compareTrue: {cmp:?}");
    assert_eq!(cmp.stdout.trim(), "TRUE");
    let not_member = format!("member:uid=dan.brown,ou=people,{BASE}");
    let cmp = ldapcompare(
        &r.ca(),
        &url,
        (SERVICE, SERVICE_PASSWORD),
        &vpn,
        &not_member,
    )
    .await;
    assert_eq!(cmp.code, 5, "compareFalse: {cmp:?}");

    // Writes are refused with unwillingToPerform.
    let mut ldap = connect(&r.ldaps(), &r.ca(), false).await;
    ldap.simple_bind(SERVICE, SERVICE_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    let res = ldap
        .modify(
            &format!("uid=alice,ou=people,{BASE}"),
            vec![Mod::Replace("cn", HashSet::from(["x"]))],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 53, "{res:?}");
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sssd_sudo_probe_and_nested_groups() {
    let r = Running::contoso().await;
    let sudo = r
        .search(
            BASE,
            "(&(objectClass=sudoRole)(|(&(!(sudoHost=*))(cn=defaults))(sudoHost=ALL)(sudoHost=+*)))",
            &["sudoUser", "sudoHost"],
        )
        .await;
    assert_eq!(sudo.code, 0, "{sudo:?}");
    assert!(sudo.stdout.trim().is_empty(), "{}", sudo.stdout);
    let chain = r
        .search(
            BASE,
            &format!("(memberOf:1.2.840.113556.1.4.1941:=cn=All Staff,ou=groups,{BASE})"),
            &["uid"],
        )
        .await;
    assert!(
        ldif_values(&chain.stdout, "uid").contains(&"alice".to_string()),
        "{}",
        chain.stdout
    );
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_stops_the_server_and_a_restart_without_graph_serves_the_same() {
    let r = Running::contoso().await;
    let before = r.search(BASE, "(objectClass=*)", &["*"]).await;
    assert_eq!(before.code, 0);
    // Garbage on both ports.
    for addr in [
        r.server.ldap_addr().unwrap(),
        r.server.ldaps_addr().unwrap(),
    ] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"\x30\x84\xff\xff\xff\xffGARBAGE\x00\x01\x02 not ldap at all")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    }
    let again = r.search(BASE, "(objectClass=*)", &["*"]).await;
    assert_eq!(again.stdout, before.stdout);

    let Running { mut env, server } = r;
    server.stop().await;
    env.stop_graph().await;
    let server = Server::start(env.config(), true)
        .await
        .expect("restarts without Graph");
    let url = format!("ldaps://localhost:{}", server.ldaps_addr().unwrap().port());
    let after = ldapsearch(
        &env.certs.ca_cert,
        &url,
        (SERVICE, SERVICE_PASSWORD),
        BASE,
        &[],
        "(objectClass=*)",
        &["*"],
    )
    .await;
    assert_eq!(after.code, 0, "{after:?}");
    assert_eq!(
        after.stdout, before.stdout,
        "the restarted server serves the same entries"
    );
    server.stop().await;
}
