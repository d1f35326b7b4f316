//! The POSIX settings: home and GECOS templates, numbers from Graph attributes, the primary
//! group, and nested groups flattened or listed directly.

use super::*;
use config::template::check_attribute_path;
use std::collections::BTreeMap;

fn cfg() -> TenantConfig {
    TenantConfig {
        name: "contoso".into(),
        ..TenantConfig::default()
    }
}

fn user() -> User {
    User {
        id: "u1".into(),
        user_principal_name: Some("Alice.Smith@Contoso.com".into()),
        mail: Some("asmith@contoso.com".into()),
        display_name: Some("Smith, Alice".into()),
        given_name: Some("Alice".into()),
        surname: Some("Smith".into()),
        business_phones: Some(vec!["+1 425 555 0100".into()]),
        employee_id: Some(" 100500 ".into()),
        on_premises_extension_attributes: Some(BTreeMap::from([
            ("extensionAttribute1".into(), Some("100777".into())),
            ("extensionAttribute2".into(), None),
        ])),
        ..User::default()
    }
}

#[test]
fn templates_fill() {
    let mut c = cfg();
    let u = user();
    c.users.home_directory = "/home/{mail_local}/{upn}".into();
    assert_eq!(
        home_directory(&c, &u, "alice.smith"),
        "/home/asmith/alice.smith@contoso.com"
    );
    c.users.gecos = "{displayName},{department},{telephoneNumber}".into();
    // `:` would split the passwd line; a missing value is empty.
    let mut u2 = u.clone();
    u2.display_name = Some("Smith: Alice".into());
    assert_eq!(
        gecos(&c, &u2, "alice", "Smith: Alice"),
        "Smith  Alice,,+1 425 555 0100"
    );
    c.users.gecos = "{department}".into();
    assert_eq!(gecos(&c, &u, "alice", "Smith, Alice"), "Smith, Alice");
}

#[test]
fn attribute_values_by_path() {
    let mut u = user();
    u.extensions.insert(
        "extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_uidNumber".into(),
        Value::from(100123),
    );
    let s = Source::User(&u);
    assert_eq!(
        attribute_value(s, "onPremisesExtensionAttributes.extensionAttribute1"),
        Some(Value::from("100777"))
    );
    assert_eq!(
        attribute_value(s, "onpremisesextensionattributes.EXTENSIONATTRIBUTE1"),
        Some(Value::from("100777"))
    );
    assert_eq!(
        attribute_value(s, "onPremisesExtensionAttributes.extensionAttribute2"),
        None
    );
    assert_eq!(
        attribute_value(s, "employeeId"),
        Some(Value::from(" 100500 "))
    );
    assert_eq!(
        attribute_value(s, "extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_uidnumber"),
        Some(Value::from(100123))
    );
    // Through the JSON form: any other property.
    assert_eq!(attribute_value(s, "givenName"), Some(Value::from("Alice")));
    assert_eq!(attribute_value(s, "jobTitle"), None);
    let g = Group {
        id: "g1".into(),
        mail_nickname: Some("400321".into()),
        ..Group::default()
    };
    assert_eq!(
        attribute_value(Source::Group(&g), "mailNickname"),
        Some(Value::from("400321"))
    );
    assert!(check_attribute_path("onPremisesExtensionAttributes.extensionAttribute1").is_ok());
    assert!(check_attribute_path("extension_abc_uid").is_ok());
    assert!(check_attribute_path("").is_err());
    assert!(check_attribute_path("a..b").is_err());
    assert!(check_attribute_path("employee-id").is_err());
    assert!(check_attribute_path("extension_abc_uid.x").is_err());
}

#[test]
fn attribute_numbers_win_when_valid_and_unclaimed() {
    let mut users: BTreeMap<&str, User> = BTreeMap::new();
    for (id, v) in [
        ("a", Some("100500")),
        ("b", Some("100500")), // same number as a, created later: rejected
        ("c", Some("12")),     // out of range
        ("d", Some("1e5")),    // not a number
        ("e", None),           // unset: derived silently
        ("f", Some("100900")), // held by the deleted object x
    ] {
        users.insert(
            id,
            User {
                id: id.into(),
                employee_id: v.map(Into::into),
                ..User::default()
            },
        );
    }
    let mut alloc = Allocations::default();
    alloc.uid_used.insert(100_900, "x".into());
    let claims: Vec<Claim> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|id| Claim { id, created: None })
        .collect();
    let (got, notices) = numbers_from_attribute(
        &mut alloc,
        NumberSpace::Uid,
        Some("employeeId"),
        &claims,
        |id| users.get(id).map(Source::User),
        [100_000, 199_999],
    );
    assert_eq!(got, BTreeMap::from([("a".to_string(), 100_500)]));
    assert_eq!(notices.len(), 4, "{notices:?}");
    for (who, why) in [
        ("user b", "held by object a"),
        ("user c", "outside"),
        ("user d", "not a whole"),
        ("user f", "held by object x"),
    ] {
        assert!(
            notices.iter().any(|n| n.contains(who) && n.contains(why)),
            "no notice for {who} ({why}): {notices:?}"
        );
    }
    // The number is reserved for a: the allocator never hands it out, even after a's
    // attribute changes.
    assert_eq!(alloc.uid_used.get(&100_500).map(String::as_str), Some("a"));
    alloc.assign_numbers(NumberSpace::Uid, &claims, 100_500, 100_510);
    assert!(alloc.uid.values().all(|n| *n != 100_500 && *n != 100_900));
    // Next round: a keeps its number, b is still refused.
    let (again, _) = numbers_from_attribute(
        &mut alloc,
        NumberSpace::Uid,
        Some("employeeId"),
        &claims,
        |id| users.get(id).map(Source::User),
        [100_000, 199_999],
    );
    assert_eq!(again, got);
}

#[test]
fn rejections_are_listed_up_to_a_cap() {
    let ids: Vec<String> = (0..MAX_NOTICES + 5).map(|i| format!("u{i}")).collect();
    let users: BTreeMap<&str, User> = ids
        .iter()
        .map(|id| {
            let u = User {
                id: id.clone(),
                employee_id: Some("n/a".into()),
                ..User::default()
            };
            (id.as_str(), u)
        })
        .collect();
    let claims: Vec<Claim> = ids.iter().map(|id| Claim { id, created: None }).collect();
    let (got, notices) = numbers_from_attribute(
        &mut Allocations::default(),
        NumberSpace::Uid,
        Some("employeeId"),
        &claims,
        |id| users.get(id).map(Source::User),
        [100_000, 199_999],
    );
    assert!(got.is_empty());
    assert_eq!(notices.len(), MAX_NOTICES + 1);
    assert!(notices.last().is_some_and(|n| n.contains("and 5 more")));
}

fn gref<'a>(key: &'a str, cn: &'a str, gid: u32, dn: &'a str) -> GroupRef<'a> {
    GroupRef {
        key,
        cn,
        gid_number: gid,
        dn,
    }
}

#[test]
fn primary_group_by_name_or_id_with_fallback() {
    let mut c = cfg();
    let mut notices = Vec::new();
    let groups = || {
        [
            gref("g-1", "Staff,  All", 400_001, "cn=Staff\\,  All,ou=groups"),
            gref(
                "dir:linux",
                "linux users",
                400_002,
                "cn=linux users,ou=groups",
            ),
        ]
        .into_iter()
    };
    assert_eq!(primary_group(&c, groups(), &mut notices), None);
    c.users.primary_group = "STAFF, ALL".into();
    assert_eq!(
        primary_group(&c, groups(), &mut notices),
        Some((400_001, "cn=Staff\\,  All,ou=groups"))
    );
    c.users.primary_group = "g-1".into();
    assert_eq!(
        primary_group(&c, groups(), &mut notices).map(|p| p.0),
        Some(400_001)
    );
    assert!(notices.is_empty());
    c.users.primary_group = "wheel".into();
    assert_eq!(primary_group(&c, groups(), &mut notices), None);
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains("wheel"));
}

#[test]
fn flatten_lists_transitive_users_only_and_survives_cycles() {
    use MemberKind::{Group as G, User as U};
    let mut direct: BTreeMap<&str, BTreeSet<(&str, MemberKind)>> = BTreeMap::new();
    direct.insert("all", BTreeSet::from([("eng", G), ("ann", U)]));
    direct.insert("eng", BTreeSet::from([("rnd", G), ("bob", U)]));
    direct.insert("rnd", BTreeSet::from([("all", G), ("cat", U), ("ann", U)]));
    let get = |g: &str| direct.get(g).map(|s| s.iter().copied());
    let flat = member_list(NestedMode::Flatten, "all", get);
    assert_eq!(
        flat,
        vec![("ann", U), ("bob", U), ("cat", U)],
        "every user once, no groups"
    );
    let d = member_list(NestedMode::Direct, "all", get);
    assert_eq!(d, vec![("ann", U), ("eng", G)]);
    assert!(member_list(NestedMode::Flatten, "none", get).is_empty());
}

#[test]
fn closure_comes_from_transitive_member_of() {
    use crate::entry::{Attr, EntryKind};
    let e = |dn_s: &str, member_of: &[&str]| {
        Entry::new(
            dn_s,
            dn::normalize(dn_s).unwrap_or_default(),
            EntryKind::User,
            0,
            vec![Attr {
                name: "memberOf",
                values: member_of.iter().map(|v| (*v).into()).collect(),
            }],
            "20250101000000Z",
            "20250101000000Z",
        )
    };
    let outer = "cn=Outer\\, Ring,ou=groups,dc=x";
    let inner = "cn=Inner,ou=groups,dc=x";
    let entries = [
        e(outer, &[outer, inner]), // in a cycle: lists itself
        e(inner, &[outer, inner]),
        e(
            "uid=ann,ou=people,dc=x",
            &["CN=Inner, OU=Groups, DC=X", outer, "cn=gone,dc=x"],
        ),
    ];
    let ids: FxHashMap<String, u32> = entries
        .iter()
        .enumerate()
        .map(|(i, x)| (x.ndn().to_string(), i as u32))
        .collect();
    let c = member_closure(
        entries.iter().enumerate().map(|(i, e)| (i as u32, e)),
        |n| ids.get(n).copied(),
    );
    assert_eq!(
        c.get(&0),
        Some(&vec![1, 2]),
        "outer: inner and ann, not itself"
    );
    assert_eq!(c.get(&1), Some(&vec![0, 2]));
    assert_eq!(c.len(), 2, "unknown groups are skipped");
}
