//! Building a tenant's directory from a hand-made mirror and searching the snapshot: DNs,
//! numbers, names, memberships and index-backed searches, through the public API.

use crate::common;

use config::TenantConfig;
use directory::derive::{TenantInput, build_tenant};
use directory::dn;
use directory::ids::Allocations;
use directory::{EntryKind, Snapshot};
use ldap3_proto::proto::LdapSearchScope;
use model::Mirror;
use model::graph::{Domain, Group, MemberKind, MemberRef, User};

fn tenant_cfg() -> TenantConfig {
    toml::from_str(
        r#"
name = "contoso"
tenant_id = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90"
"#,
    )
    .expect("static test config parses")
}

fn user(id: &str, upn: &str, name: &str, created: &str) -> User {
    User {
        id: id.into(),
        user_principal_name: Some(upn.into()),
        display_name: Some(name.into()),
        mail: Some(upn.to_lowercase()),
        account_enabled: Some(true),
        user_type: Some("Member".into()),
        created_date_time: Some(created.into()),
        ..User::default()
    }
}

fn group(id: &str, name: &str, created: &str) -> Group {
    Group {
        id: id.into(),
        display_name: Some(name.into()),
        security_enabled: Some(true),
        mail_enabled: Some(false),
        group_types: Some(vec![]),
        created_date_time: Some(created.into()),
        ..Group::default()
    }
}

fn member(id: &str, kind: MemberKind) -> MemberRef {
    MemberRef {
        id: id.into(),
        kind,
    }
}

fn mirror() -> Mirror {
    let mut m = Mirror::default();
    for d in [
        ("contoso.com", true),
        ("fabrikam.com", false),
        ("contoso.onmicrosoft.com", false),
    ] {
        m.domains.push(Domain {
            id: d.0.into(),
            is_default: Some(d.1),
            is_verified: Some(true),
            is_initial: Some(d.0.ends_with("onmicrosoft.com")),
            ..Domain::default()
        });
    }
    let users = [
        user(
            "u-alice",
            "alice@contoso.com",
            "Alice Smith",
            "2020-01-01T00:00:00Z",
        ),
        user(
            "u-alice2",
            "Alice@fabrikam.com",
            "Alice Jones",
            "2021-01-01T00:00:00Z",
        ),
        user(
            "u-lee",
            "chris.lee@contoso.com",
            "Lee, Chris",
            "2020-02-01T00:00:00Z",
        ),
        user("u-bob", "bob@contoso.com", "Bob", "2020-03-01T00:00:00Z"),
    ];
    for u in users {
        m.users.insert(u.id.clone(), u.into());
    }
    let mut disabled = user("u-dave", "dave@contoso.com", "Dave", "2020-04-01T00:00:00Z");
    disabled.account_enabled = Some(false);
    m.users.insert(disabled.id.clone(), disabled.into());
    let mut guest = user(
        "u-gina",
        "gina_partner.example#EXT#@contoso.onmicrosoft.com",
        "Gina",
        "2020-05-01T00:00:00Z",
    );
    guest.user_type = Some("Guest".into());
    m.users.insert(guest.id.clone(), guest.into());

    for g in [
        group("g-eng", "Engineering", "2019-01-01T00:00:00Z"),
        group("g-plat", "Platform Team", "2019-02-01T00:00:00Z"),
        group("g-rd", "R&D, Europe + \"Special\"", "2019-03-01T00:00:00Z"),
        group("g-sales1", "Sales", "2019-04-01T00:00:00Z"),
        group("g-sales2", "Sales", "2019-05-01T00:00:00Z"),
    ] {
        m.groups.insert(g.id.clone(), g);
    }
    m.members.insert(
        "g-eng".into(),
        [
            member("g-plat", MemberKind::Group),
            member("u-bob", MemberKind::User),
            member("dev-1", MemberKind::Device),
        ]
        .into(),
    );
    m.members.insert(
        "g-plat".into(),
        [
            member("u-alice", MemberKind::User),
            member("u-dave", MemberKind::User),
        ]
        .into(),
    );
    m.members.insert(
        "g-rd".into(),
        [
            member("u-lee", MemberKind::User),
            member("u-gina", MemberKind::User),
        ]
        .into(),
    );
    m
}

fn snapshot(m: &Mirror, alloc: &mut Allocations) -> Snapshot {
    let cfg = tenant_cfg();
    let input = TenantInput {
        index: 0,
        cfg: &cfg,
        mirror: m,
        services: vec![],
        now: 1_735_689_600,
        admin_ssh_keys: &Default::default(),
    };
    let b = build_tenant(&input, alloc).expect("builds");
    Snapshot::new(1, vec![b])
}

fn search(s: &Snapshot, base: &str, f: &str) -> Vec<String> {
    let filter = common::filter::parse(f);
    let base = dn::normalize(base).expect("test base parses");
    s.search(&base, LdapSearchScope::Subtree, &filter)
        .expect("base exists")
        .into_iter()
        .map(|id| s.entry(id).dn().to_string())
        .collect()
}

#[test]
fn users_groups_and_memberships_are_built() {
    let m = mirror();
    let s = snapshot(&m, &mut Allocations::default());
    assert_eq!(s.tenants[0].base_dn, "dc=contoso,dc=com");
    let alice = search(&s, "dc=contoso,dc=com", "(uid=alice)");
    assert_eq!(alice, vec!["uid=alice,ou=people,dc=contoso,dc=com"]);
    let id = s.lookup(&dn::normalize(&alice[0]).unwrap()).unwrap();
    let e = s.entry(id);
    assert_eq!(e.first("entryUUID"), Some("u-alice"));
    // Transitive memberOf: alice is in Platform Team directly and Engineering through it.
    let member_of: Vec<&str> = e.values("memberOf").collect();
    assert!(member_of.contains(&"cn=Engineering,ou=groups,dc=contoso,dc=com"));
    assert!(member_of.contains(&"cn=Platform Team,ou=groups,dc=contoso,dc=com"));
    // Disabled and guest users are not served, and not listed as members.
    assert!(search(&s, "dc=contoso,dc=com", "(uid=dave)").is_empty());
    assert!(search(&s, "dc=contoso,dc=com", "(uid=gina*)").is_empty());
    let plat = search(&s, "dc=contoso,dc=com", "(cn=platform team)");
    let plat = s.entry(s.lookup(&dn::normalize(&plat[0]).unwrap()).unwrap());
    assert_eq!(plat.values("memberUid").len(), 1);
    assert_eq!(plat.first("memberUid"), Some("alice"));
    // The device member of Engineering is dropped; the nested group is a member DN.
    let eng = search(
        &s,
        "dc=contoso,dc=com",
        "(&(objectClass=posixGroup)(cn=Engineering))",
    );
    let eng = s.entry(s.lookup(&dn::normalize(&eng[0]).unwrap()).unwrap());
    assert_eq!(eng.values("member").len(), 2);
}

#[test]
fn special_characters_and_duplicate_names_get_distinct_escaped_dns() {
    let s = snapshot(&mirror(), &mut Allocations::default());
    let rd = search(
        &s,
        "ou=groups,dc=contoso,dc=com",
        "(cn=R&D, Europe + \"Special\")",
    );
    assert_eq!(rd.len(), 1);
    let ndn = dn::normalize(&rd[0]).expect("served DN parses");
    assert!(
        s.lookup(&ndn).is_some(),
        "a base lookup on the returned DN works"
    );
    let sales = search(&s, "ou=groups,dc=contoso,dc=com", "(cn=Sales*)");
    assert_eq!(sales.len(), 2, "{sales:?}");
    assert!(sales.contains(&"cn=Sales,ou=groups,dc=contoso,dc=com".to_string()));
    // The user with a comma in the display name.
    let lee = search(&s, "dc=contoso,dc=com", "(cn=Lee, Chris)");
    assert_eq!(lee, vec!["uid=chris.lee,ou=people,dc=contoso,dc=com"]);
}

#[test]
fn upn_collisions_keep_the_first_holder_and_numbers_are_stable() {
    let m = mirror();
    let mut alloc = Allocations::default();
    let s1 = snapshot(&m, &mut alloc);
    let alice = search(&s1, "dc=contoso,dc=com", "(uid=alice)");
    assert_eq!(alice.len(), 1);
    let e = s1.entry(s1.lookup(&dn::normalize(&alice[0]).unwrap()).unwrap());
    assert_eq!(
        e.first("entryUUID"),
        Some("u-alice"),
        "the older account keeps 'alice'"
    );
    let other = search(
        &s1,
        "dc=contoso,dc=com",
        "(userPrincipalName=alice@fabrikam.com)",
    );
    assert_eq!(other, vec!["uid=alice-ualice2,ou=people,dc=contoso,dc=com"]);
    let uid1 = e.first("uidNumber").unwrap().to_string();

    // A second server with an empty allocation table fed the same tenant agrees.
    let s2 = snapshot(&m, &mut Allocations::default());
    let e2 = s2.entry(s2.lookup(&dn::normalize(&alice[0]).unwrap()).unwrap());
    assert_eq!(e2.first("uidNumber"), Some(uid1.as_str()));
    // Private group: gid = uid.
    assert_eq!(e.first("gidNumber"), Some(uid1.as_str()));
    let pg = search(
        &s1,
        "ou=groups,dc=contoso,dc=com",
        &format!("(gidNumber={uid1})"),
    );
    assert_eq!(pg, vec!["cn=alice,ou=groups,dc=contoso,dc=com"]);
    let pge = s1.entry(s1.lookup(&dn::normalize(&pg[0]).unwrap()).unwrap());
    assert_eq!(pge.kind, EntryKind::PrivateGroup);
}

#[test]
fn in_chain_and_unknown_attribute_filters() {
    let s = snapshot(&mirror(), &mut Allocations::default());
    let nested = search(
        &s,
        "dc=contoso,dc=com",
        "(memberOf:1.2.840.113556.1.4.1941:=cn=Engineering,ou=groups,dc=contoso,dc=com)",
    );
    assert!(nested.contains(&"uid=alice,ou=people,dc=contoso,dc=com".to_string()));
    assert!(nested.contains(&"uid=bob,ou=people,dc=contoso,dc=com".to_string()));
    // SSSD's sudo probe names attributes the schema does not know: no entries, no error.
    let sudo = search(
        &s,
        "dc=contoso,dc=com",
        "(&(objectClass=sudoRole)(|(&(!(sudoHost=*))(cn=defaults))(sudoHost=ALL)(sudoHost=+*)))",
    );
    assert!(sudo.is_empty());
    // Case rules: uid is caseIgnore.
    assert_eq!(search(&s, "dc=contoso,dc=com", "(uid=ALICE)").len(), 1);
}

#[test]
fn has_subordinates_in_filters_follows_the_tree() {
    // No service accounts: ou=services is an empty container, and filters say so, as results do.
    let s = snapshot(&mirror(), &mut Allocations::default());
    let services = format!("ou=services,{}", "dc=contoso,dc=com");
    assert_eq!(
        search(
            &s,
            "dc=contoso,dc=com",
            "(&(ou=services)(hasSubordinates=FALSE))"
        ),
        vec![services.clone()]
    );
    let id = s.lookup(&dn::normalize(&services).unwrap()).unwrap();
    assert!(!s.has_children(id));
    assert_eq!(
        search(
            &s,
            "dc=contoso,dc=com",
            "(&(ou=people)(hasSubordinates=TRUE))"
        ),
        vec!["ou=people,dc=contoso,dc=com".to_string()]
    );
}
