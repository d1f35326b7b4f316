//! POSIX and Active Directory compatibility end to end: the Graph emulator serving
//! `contoso.json`, the real server after one sync round, and real clients (the `ldap3` crate,
//! OpenLDAP's `ldapsearch`). Number attributes, `users.primary_group`, `groups.nested`, and the
//! filters AD-configured appliances send.

use crate::common::clients::{connect, ldapsearch, ldif_values};
use crate::common::harness::{BASE, Env, Running, SERVICE, SERVICE_PASSWORD};
use ldap3::{Ldap, Scope, SearchEntry};
use std::collections::BTreeSet;

const ALICE_ID: &str = "a1ce0000-0000-4000-8000-000000000001";
const DAN_ID: &str = "da0aea0e-aa72-470b-9d63-d2a5d1764460";
const FRANK_ID: &str = "0ac92aa6-6161-442d-8ce6-7426dde3aa61";

fn dn_of(rdn: &str, ou: &str) -> String {
    format!("{rdn},ou={ou},{BASE}")
}

async fn start(extra: &str) -> Running {
    let env = Env::contoso().await;
    let cfg = env.config_with("", extra);
    Running::start_with(env, cfg).await
}

async fn bound(r: &Running) -> Ldap {
    let mut ldap = connect(&r.ldaps(), &r.ca(), false).await;
    ldap.simple_bind(SERVICE, SERVICE_PASSWORD)
        .await
        .expect("bind sent")
        .success()
        .expect("service binds");
    ldap
}

async fn search(ldap: &mut Ldap, base: &str, scope: Scope, filter: &str) -> Vec<SearchEntry> {
    let (entries, _) = ldap
        .search(base, scope, filter, vec!["*"])
        .await
        .expect("search sent")
        .success()
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    entries.into_iter().map(SearchEntry::construct).collect()
}

async fn one(ldap: &mut Ldap, dn: &str) -> SearchEntry {
    let mut found = search(ldap, dn, Scope::Base, "(objectClass=*)").await;
    assert_eq!(found.len(), 1, "{dn}");
    found.remove(0)
}

fn first(e: &SearchEntry, attr: &str) -> String {
    e.attrs
        .get(attr)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_else(|| panic!("{} has no {attr}: {:?}", e.dn, e.attrs))
}

fn values(e: &SearchEntry, attr: &str) -> BTreeSet<String> {
    e.attrs
        .get(attr)
        .map(|v| v.iter().map(|s| s.to_lowercase()).collect())
        .unwrap_or_default()
}

fn dns(entries: &[SearchEntry]) -> BTreeSet<String> {
    entries.iter().map(|e| e.dn.to_lowercase()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_number_attribute_takes_precedence_over_the_derived_number() {
    let r = start("  [tenant.users]\n  uid_number_attribute = \"employeeId\"\n").await;
    let mut ldap = bound(&r).await;
    let alice = one(&mut ldap, &dn_of("uid=alice", "people")).await;
    assert_eq!(first(&alice, "uidNumber"), "100231", "employeeId of alice");
    assert_eq!(
        first(&alice, "gidNumber"),
        "100231",
        "private group follows"
    );
    let private = one(&mut ldap, &dn_of("cn=alice", "groups")).await;
    assert_eq!(first(&private, "gidNumber"), "100231");
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    assert_eq!(first(&bob, "uidNumber"), "100245");
    // Fabrikam's employee ids ("F-0043") are not numbers: the derived number stays.
    let frank = one(&mut ldap, &dn_of("uid=frank.miller", "people")).await;
    let n: u32 = first(&frank, "uidNumber").parse().expect("a number");
    assert!((100_000..=399_999).contains(&n), "{n}");
    // Every number is still unique.
    let people = search(
        &mut ldap,
        &format!("ou=people,{BASE}"),
        Scope::OneLevel,
        "(objectClass=posixAccount)",
    )
    .await;
    let numbers: BTreeSet<String> = people.iter().map(|e| first(e, "uidNumber")).collect();
    assert_eq!(numbers.len(), people.len());
    // The round's report names the object and why.
    let report = r.server.engine.sync_tenant("contoso").await.expect("round");
    assert!(
        report
            .build
            .notices
            .iter()
            .any(|n| n.contains(FRANK_ID) && n.contains("not a whole number")),
        "{:?}",
        report.build.notices
    );
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_or_out_of_range_attribute_numbers_fall_back_to_derived_ones() {
    // extensionAttribute1 holds 10001 for both alice (created first) and dan.
    let r = start(
        "  [tenant.users]\n  uid_number_attribute = \"onPremisesExtensionAttributes.extensionAttribute1\"\n  uid_number_range = [10001, 19999]\n",
    )
    .await;
    let mut ldap = bound(&r).await;
    let alice = one(&mut ldap, &dn_of("uid=alice", "people")).await;
    assert_eq!(first(&alice, "uidNumber"), "10001");
    let dan = one(&mut ldap, &dn_of("uid=dan.brown", "people")).await;
    let dan_n: u32 = first(&dan, "uidNumber").parse().unwrap();
    assert_ne!(dan_n, 10001);
    assert!((10_001..=19_999).contains(&dan_n));
    let emma = one(&mut ldap, &dn_of("uid=emma.davis", "people")).await;
    assert_eq!(first(&emma, "uidNumber"), "10002");
    // carol's 10000 is below the range.
    let carol = one(&mut ldap, &dn_of("uid=carol.white", "people")).await;
    assert_ne!(first(&carol, "uidNumber"), "10000");
    let report = r.server.engine.sync_tenant("contoso").await.expect("round");
    let notices = &report.build.notices;
    assert!(
        notices
            .iter()
            .any(|n| n.contains(DAN_ID) && n.contains("held by object") && n.contains(ALICE_ID)),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.contains("10000 is outside the configured range")),
        "{notices:?}"
    );
    // Numbers survive a restart from the same data directory.
    let Running { env, server } = r;
    server.stop().await;
    let cfg = env.config_with(
        "",
        "  [tenant.users]\n  uid_number_attribute = \"onPremisesExtensionAttributes.extensionAttribute1\"\n  uid_number_range = [10001, 19999]\n",
    );
    let r = Running::start_with(env, cfg).await;
    let mut ldap = bound(&r).await;
    let dan2 = one(&mut ldap, &dn_of("uid=dan.brown", "people")).await;
    assert_eq!(first(&dan2, "uidNumber"), dan_n.to_string());
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_primary_group_replaces_private_groups() {
    let r = start("  [tenant.users]\n  primary_group = \"linux admins\"\n  gecos = \"{displayName},{department}\"\n  home_directory = \"/home/{mail_local}\"\n").await;
    let mut ldap = bound(&r).await;
    let admins = one(&mut ldap, &dn_of("cn=Linux Admins", "groups")).await;
    let gid = first(&admins, "gidNumber");
    let people = search(
        &mut ldap,
        &format!("ou=people,{BASE}"),
        Scope::OneLevel,
        "(objectClass=posixAccount)",
    )
    .await;
    assert!(people.len() > 20);
    for p in &people {
        assert_eq!(first(p, "gidNumber"), gid, "{}", p.dn);
    }
    // No user-private groups: no group is named after alice, and nobody's memberOf has one.
    let private = search(
        &mut ldap,
        &format!("ou=groups,{BASE}"),
        Scope::OneLevel,
        "(cn=alice)",
    )
    .await;
    assert!(private.is_empty(), "{:?}", dns(&private));
    let alice = one(&mut ldap, &dn_of("uid=alice", "people")).await;
    assert!(!values(&alice, "memberOf").contains(&dn_of("cn=alice", "groups")));
    assert_eq!(first(&alice, "gecos"), "Alice Smith,Engineering");
    assert_eq!(first(&alice, "homeDirectory"), "/home/alice");
    r.server.stop().await;

    // A group that is not served: private groups for this round, and the report says so.
    let r = start("  [tenant.users]\n  primary_group = \"Nobody Has This Group\"\n").await;
    let mut ldap = bound(&r).await;
    let alice = one(&mut ldap, &dn_of("uid=alice", "people")).await;
    assert_eq!(first(&alice, "gidNumber"), first(&alice, "uidNumber"));
    let private = one(&mut ldap, &dn_of("cn=alice", "groups")).await;
    assert_eq!(first(&private, "gidNumber"), first(&alice, "uidNumber"));
    let report = r.server.engine.sync_tenant("contoso").await.expect("round");
    assert!(
        report
            .build
            .notices
            .iter()
            .any(|n| n.contains("Nobody Has This Group") && n.contains("user-private")),
        "{:?}",
        report.build.notices
    );
    r.server.stop().await;
}

/// In-chain and memberOf answers that must not depend on `groups.nested`.
async fn nesting_invariants(ldap: &mut Ldap) {
    let all_staff = dn_of("cn=All Staff", "groups");
    let platform = dn_of("cn=Platform Team", "groups");
    let engineering = dn_of("cn=Engineering", "groups");
    let alice_dn = dn_of("uid=alice", "people");
    // alice ∈ Platform Team ⊂ Engineering ⊂ All Staff.
    let alice = one(ldap, &alice_dn).await;
    let member_of = values(&alice, "memberOf");
    for g in [&all_staff, &platform, &engineering] {
        assert!(member_of.contains(&g.to_lowercase()), "{g}: {member_of:?}");
    }
    let chain = search(
        ldap,
        BASE,
        Scope::Subtree,
        &format!("(memberOf:1.2.840.113556.1.4.1941:={all_staff})"),
    )
    .await;
    let chain = dns(&chain);
    assert!(chain.contains(&alice_dn.to_lowercase()), "{chain:?}");
    assert!(chain.contains(&platform.to_lowercase()), "{chain:?}");
    let containing_alice = search(
        ldap,
        BASE,
        Scope::Subtree,
        &format!("(&(objectClass=groupOfNames)(member:1.2.840.113556.1.4.1941:={alice_dn}))"),
    )
    .await;
    let containing_alice = dns(&containing_alice);
    for g in [&all_staff, &platform, &engineering] {
        assert!(
            containing_alice.contains(&g.to_lowercase()),
            "{g}: {containing_alice:?}"
        );
    }
    let containing_platform = search(
        ldap,
        BASE,
        Scope::Subtree,
        &format!("(member:1.2.840.113556.1.4.1941:={platform})"),
    )
    .await;
    assert_eq!(
        dns(&containing_platform),
        BTreeSet::from([engineering.to_lowercase(), all_staff.to_lowercase()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_direct_lists_groups_and_flatten_lists_every_user() {
    let all_staff = dn_of("cn=All Staff", "groups");
    let engineering = dn_of("cn=Engineering", "groups");
    let alice_dn = dn_of("uid=alice", "people").to_lowercase();

    let r = start("").await;
    let mut ldap = bound(&r).await;
    let staff = one(&mut ldap, &all_staff).await;
    let members = values(&staff, "member");
    assert!(members.contains(&engineering.to_lowercase()), "{members:?}");
    assert!(
        !members.contains(&alice_dn),
        "alice is only a nested member"
    );
    assert!(
        values(&staff, "memberUid").is_empty(),
        "All Staff has no direct users"
    );
    let direct_count = members.len();
    nesting_invariants(&mut ldap).await;
    r.server.stop().await;

    let r = start("  [tenant.groups]\n  nested = \"flatten\"\n").await;
    let mut ldap = bound(&r).await;
    let staff = one(&mut ldap, &all_staff).await;
    let members = values(&staff, "member");
    assert!(members.contains(&alice_dn), "{members:?}");
    assert!(
        members.iter().all(|m| m.contains(",ou=people,")),
        "no group DNs when flattened: {members:?}"
    );
    assert!(members.len() > direct_count);
    let uids = values(&staff, "memberUid");
    assert!(uids.contains("alice"), "{uids:?}");
    assert_eq!(uids.len(), members.len(), "one memberUid per member user");
    // (member=<user>) finds every group the user is in, nested or not.
    let groups = search(
        &mut ldap,
        &format!("ou=groups,{BASE}"),
        Scope::OneLevel,
        &format!("(member={})", dn_of("uid=alice", "people")),
    )
    .await;
    assert!(dns(&groups).contains(&all_staff.to_lowercase()));
    nesting_invariants(&mut ldap).await;
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_directory_style_filters_find_the_right_entries() {
    let r = start("").await;
    let mut ldap = bound(&r).await;
    let people_base = format!("ou=people,{BASE}");
    let posix_users = dns(&search(
        &mut ldap,
        BASE,
        Scope::Subtree,
        "(objectClass=posixAccount)",
    )
    .await);
    let posix_groups =
        dns(&search(&mut ldap, BASE, Scope::Subtree, "(objectClass=posixGroup)").await);
    assert!(!posix_users.is_empty() && !posix_groups.is_empty());
    for f in [
        "(objectCategory=person)",
        "(objectClass=user)",
        "(objectCategory=CN=Person,CN=Schema,CN=Configuration,DC=contoso,DC=com)",
    ] {
        let got = dns(&search(&mut ldap, BASE, Scope::Subtree, f).await);
        assert_eq!(got, posix_users, "{f}");
    }
    for f in ["(objectCategory=group)", "(objectClass=group)"] {
        let got = dns(&search(&mut ldap, BASE, Scope::Subtree, f).await);
        assert_eq!(got, posix_groups, "{f}");
    }
    let alice = search(
        &mut ldap,
        BASE,
        Scope::Subtree,
        "(&(objectCategory=person)(objectClass=user)(sAMAccountName=alice))",
    )
    .await;
    assert_eq!(
        dns(&alice),
        BTreeSet::from([dn_of("uid=alice", "people").to_lowercase()])
    );
    assert_eq!(first(&alice[0], "userPrincipalName"), "alice@contoso.com");
    let vpn = search(
        &mut ldap,
        &people_base,
        Scope::Subtree,
        &format!(
            "(&(objectClass=user)(memberOf={}))",
            dn_of("cn=VPN Users", "groups")
        ),
    )
    .await;
    let uids: BTreeSet<String> = vpn.iter().map(|e| first(e, "uid")).collect();
    assert!(uids.contains("alice") && uids.contains("bob"), "{uids:?}");
    assert_eq!(uids.len(), 4, "{uids:?}");
    // Not a category any entry has: nothing, and its negation is everything (False, not
    // Undefined).
    assert!(
        search(&mut ldap, BASE, Scope::Subtree, "(objectCategory=computer)")
            .await
            .is_empty()
    );
    let not_computer = search(
        &mut ldap,
        &people_base,
        Scope::OneLevel,
        "(!(objectCategory=computer))",
    )
    .await;
    assert_eq!(dns(&not_computer), posix_users);

    // pfSense's container browser, through ldapsearch.
    let url = r.ldaps();
    let bind = (SERVICE, SERVICE_PASSWORD);
    let out = ldapsearch(
        &r.ca(),
        &url,
        bind,
        BASE,
        &["-s", "one"],
        "(|(ou=*)(cn=Users))",
        &["ou"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let ous: BTreeSet<String> = ldif_values(&out.stdout, "ou").into_iter().collect();
    assert_eq!(
        ous,
        BTreeSet::from([
            "groups".to_string(),
            "people".to_string(),
            "services".to_string()
        ])
    );
    let out = ldapsearch(
        &r.ca(),
        &url,
        bind,
        BASE,
        &[],
        "(&(objectCategory=person)(sAMAccountName=bob))",
        &["dn"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        ldif_values(&out.stdout, "dn"),
        vec![dn_of("uid=bob", "people")]
    );
    r.server.stop().await;
}

const EXT_UID: &str = "extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_uidNumber";
const EXT_GID: &str = "extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_gidNumber";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_extensions_configured_later_are_fetched_and_win() {
    // First without number attributes: derived numbers, delta links stored.
    let env = Env::contoso().await;
    let cfg = env.config();
    let r = Running::start_with(env, cfg).await;
    let mut ldap = bound(&r).await;
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    let derived = first(&bob, "uidNumber");
    assert_ne!(derived, "123456");
    let Running { env, server } = r;
    server.stop().await;

    // Configured afterwards: the stored delta links were started without the extensions in
    // `$select`, so the next round must read in full to see them.
    let extra = format!(
        "  [tenant.users]\n  uid_number_attribute = \"{EXT_UID}\"\n  [tenant.groups]\n  gid_number_attribute = \"{EXT_GID}\"\n"
    );
    let cfg = env.config_with("", &extra);
    let r = Running::start_with(env, cfg).await;
    let mut ldap = bound(&r).await;
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    assert_eq!(first(&bob, "uidNumber"), "123456");
    let admins = one(&mut ldap, &dn_of("cn=Linux Admins", "groups")).await;
    assert_eq!(first(&admins, "gidNumber"), "400777");
    // A delta round (links now carry the extensions) keeps them.
    let report = r.server.engine.sync_tenant("contoso").await.expect("round");
    assert!(!report.full_read, "links match the configured select now");
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    assert_eq!(first(&bob, "uidNumber"), "123456");

    // The attribute removed again: bob falls back to the number derived for him at first.
    let Running { env, server } = r;
    server.stop().await;
    let cfg = env.config();
    let r = Running::start_with(env, cfg).await;
    let mut ldap = bound(&r).await;
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    assert_eq!(first(&bob, "uidNumber"), derived);
    r.server.stop().await;
}

const BOB_ID: &str = "b0b00000-0000-4000-8000-000000000002";
const ADMINS_ID: &str = "85dcd1c5-b980-4e90-a7e6-126e34b473f5";
const EXT_SSH: &str = "extension_5f1d2c3b4a5948e7b6c5d4e3f2a1b0c9_sshPublicKey";
const BOB_SSH: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqK6QsY1Y4CHzOI9SpArQUFRKlq4+gAMJ65DMvOHjrO bob@desk";

async fn mutate(r: &Running, m: emulator::Mutation) {
    r.env
        .emu
        .as_ref()
        .expect("emulated tenant")
        .mutate(m)
        .await
        .expect("mutation applies");
}

fn patch(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().expect("an object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_keys_and_number_attributes_share_the_select_and_each_forces_one_full_read() {
    use emulator::Mutation;
    // SSH keys from one directory extension only.
    let env = Env::contoso().await;
    let ssh = format!("  [tenant.users]\n  ssh_keys_attribute = \"{EXT_SSH}\"\n");
    let cfg = env.config_with("", &ssh);
    let r = Running::start_with(env, cfg).await;
    mutate(
        &r,
        Mutation::UpdateUser {
            id: BOB_ID.into(),
            patch: patch(serde_json::json!({ EXT_SSH: BOB_SSH })),
        },
    )
    .await;
    let Running { env, server } = r;
    server.stop().await;

    // Adding the uid attribute changes the user $select: one full read brings both.
    let both = format!(
        "  [tenant.users]\n  ssh_keys_attribute = \"{EXT_SSH}\"\n  uid_number_attribute = \"{EXT_UID}\"\n"
    );
    let cfg = env.config_with("", &both);
    let r = Running::start_with(env, cfg).await;
    let round = r.server.engine.sync_tenant("contoso").await.expect("round");
    assert!(!round.full_read, "the start-up round already read in full");
    let mut ldap = bound(&r).await;
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    assert_eq!(first(&bob, "uidNumber"), "123456");
    assert_eq!(
        values(&bob, "sshPublicKey"),
        BTreeSet::from([BOB_SSH.to_lowercase()])
    );
    // Both extensions arrive by delta, and one changing leaves the other in place.
    mutate(
        &r,
        Mutation::UpdateUser {
            id: BOB_ID.into(),
            patch: patch(serde_json::json!({ EXT_UID: 123457 })),
        },
    )
    .await;
    let round = r.server.engine.sync_tenant("contoso").await.expect("round");
    assert!(!round.full_read);
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    assert_eq!(first(&bob, "uidNumber"), "123457");
    assert_eq!(
        values(&bob, "sshPublicKey"),
        BTreeSet::from([BOB_SSH.to_lowercase()])
    );
    let admins = one(&mut ldap, &dn_of("cn=Linux Admins", "groups")).await;
    let derived_gid = first(&admins, "gidNumber");
    assert_ne!(derived_gid, "400777");
    let Running { env, server } = r;
    server.stop().await;

    // Only the group $select changes: that alone forces the full read.
    let all = format!("{both}  [tenant.groups]\n  gid_number_attribute = \"{EXT_GID}\"\n");
    let cfg = env.config_with("", &all);
    let server = o365_ldap::cli::serve::Server::start(cfg, false)
        .await
        .expect("restarts");
    let round = server.engine.sync_tenant("contoso").await.expect("round");
    assert!(
        round.full_read,
        "a changed group $select forces a full read"
    );
    let next = server.engine.sync_tenant("contoso").await.expect("round");
    assert!(!next.full_read, "then delta rounds resume");
    let r = Running { env, server };
    mutate(
        &r,
        Mutation::UpdateGroup {
            id: ADMINS_ID.into(),
            patch: patch(serde_json::json!({ EXT_GID: "400778" })),
        },
    )
    .await;
    let round = r.server.engine.sync_tenant("contoso").await.expect("round");
    assert!(!round.full_read);
    let mut ldap = bound(&r).await;
    let admins = one(&mut ldap, &dn_of("cn=Linux Admins", "groups")).await;
    assert_eq!(
        first(&admins, "gidNumber"),
        "400778",
        "a group extension arrives by delta"
    );
    let bob = one(&mut ldap, &dn_of("uid=bob", "people")).await;
    assert_eq!(first(&bob, "uidNumber"), "123457");
    r.server.stop().await;
}

mod pure_build {
    //! The same settings through `build_tenant` on a hand-made mirror: fast, and independent
    //! of the sync and the LDAP service.

    use config::TenantConfig;
    use directory::derive::{TenantInput, build_tenant};
    use directory::ids::Allocations;
    use directory::{Entry, EntryKind};
    use model::Mirror;
    use model::graph::{Domain, Group, MemberKind, MemberRef, User};

    fn user(id: &str, upn: &str, employee_id: Option<&str>, created: &str) -> User {
        User {
            id: id.into(),
            user_principal_name: Some(upn.into()),
            mail: Some(upn.into()),
            display_name: Some(format!("{id}, \"the\" + user")),
            account_enabled: Some(true),
            user_type: Some("Member".into()),
            employee_id: employee_id.map(Into::into),
            created_date_time: Some(created.into()),
            ..User::default()
        }
    }

    fn group(id: &str, name: &str, nick: &str) -> Group {
        Group {
            id: id.into(),
            display_name: Some(name.into()),
            mail_nickname: Some(nick.into()),
            security_enabled: Some(true),
            mail_enabled: Some(false),
            created_date_time: Some("2020-02-01T00:00:00Z".into()),
            ..Group::default()
        }
    }

    fn mirror() -> Mirror {
        let mut m = Mirror::default();
        m.domains.push(Domain {
            id: "contoso.com".into(),
            is_default: Some(true),
            is_verified: Some(true),
            ..Domain::default()
        });
        for u in [
            user(
                "u-ann",
                "ann@contoso.com",
                Some("100500"),
                "2020-01-01T00:00:00Z",
            ),
            user(
                "u-ben",
                "ben@contoso.com",
                Some("100500"),
                "2020-01-02T00:00:00Z",
            ),
            user("u-cat", "cat@contoso.com", None, "2020-01-03T00:00:00Z"),
        ] {
            m.users.insert(u.id.clone(), u.into());
        }
        // Outer ∋ Inner ∋ Outer: a cycle, which Graph allows.
        m.groups.insert(
            "g-outer".into(),
            group("g-outer", "Outer, \"Ring\"", "outer"),
        );
        m.groups
            .insert("g-inner".into(), group("g-inner", "Inner", "400100"));
        let r = |id: &str, kind| MemberRef {
            id: id.into(),
            kind,
        };
        m.members.insert(
            "g-outer".into(),
            [
                r("g-inner", MemberKind::Group),
                r("u-ann", MemberKind::User),
            ]
            .into(),
        );
        m.members.insert(
            "g-inner".into(),
            [
                r("g-outer", MemberKind::Group),
                r("u-ben", MemberKind::User),
                r("u-cat", MemberKind::User),
            ]
            .into(),
        );
        m
    }

    fn build(extra: &str) -> (Vec<Entry>, Vec<String>) {
        let c: TenantConfig = toml::from_str(&format!(
            "name = \"contoso\"\ntenant_id = \"6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90\"\n{extra}"
        ))
        .expect("test config parses");
        let m = mirror();
        let input = TenantInput {
            index: 0,
            cfg: &c,
            mirror: &m,
            services: vec![],
            now: 1_735_689_600,
            admin_ssh_keys: &Default::default(),
        };
        let b = build_tenant(&input, &mut Allocations::default()).expect("builds");
        (b.entries, b.report.notices)
    }

    fn by<'a>(entries: &'a [Entry], kind: EntryKind, attr: &str, value: &str) -> &'a Entry {
        entries
            .iter()
            .find(|e| e.kind == kind && e.first(attr) == Some(value))
            .unwrap_or_else(|| panic!("no {kind:?} with {attr}={value}"))
    }

    #[test]
    fn attributes_primary_group_and_flattening_together() {
        let (entries, notices) = build(
            "[users]\nuid_number_attribute = \"employeeId\"\nprimary_group = \"outer, \\\"ring\\\"\"\n\
             [groups]\ngid_number_attribute = \"mailNickname\"\nnested = \"flatten\"\n\
             [groups.map]\nInner = \"inner renamed\"\n",
        );
        let ann = by(&entries, EntryKind::User, "uid", "ann");
        let ben = by(&entries, EntryKind::User, "uid", "ben");
        assert_eq!(ann.first("uidNumber"), Some("100500"));
        assert_ne!(ben.first("uidNumber"), Some("100500"));
        assert!(
            notices
                .iter()
                .any(|n| n.contains("u-ben") && n.contains("held by object u-ann")),
            "{notices:?}"
        );
        // `groups.map` renamed Inner; its one Graph source still supplies the number.
        let inner = by(&entries, EntryKind::Group, "cn", "inner renamed");
        assert_eq!(inner.first("gidNumber"), Some("400100"));
        // "outer" is not a number: derived, and said so.
        let outer = by(&entries, EntryKind::Group, "cn", "Outer, \"Ring\"");
        assert!(notices.iter().any(|n| n.contains("g-outer")), "{notices:?}");
        // Primary group: everybody takes Outer's number; no private groups.
        let gid = outer.first("gidNumber").expect("gid");
        for u in entries.iter().filter(|e| e.kind == EntryKind::User) {
            assert_eq!(u.first("gidNumber"), Some(gid), "{}", u.dn());
        }
        assert!(!entries.iter().any(|e| e.kind == EntryKind::PrivateGroup));
        // Flattened through the cycle: users only, each once.
        let mut uids: Vec<&str> = outer.values("memberUid").collect();
        uids.sort();
        assert_eq!(uids, ["ann", "ben", "cat"]);
        assert_eq!(outer.values("member").len(), 3);
        assert!(outer.values("member").iter().all(|m| m.starts_with("uid=")));
        // memberOf stays transitive.
        assert_eq!(
            ben.values("memberOf").len(),
            2,
            "{:?}",
            ben.values("memberOf")
        );
    }

    #[test]
    fn defaults_keep_private_groups_and_direct_members() {
        let (entries, notices) = build("");
        assert!(notices.is_empty(), "{notices:?}");
        let ann = by(&entries, EntryKind::User, "uid", "ann");
        assert_eq!(ann.first("gidNumber"), ann.first("uidNumber"));
        assert_eq!(ann.first("gecos"), Some("u-ann, \"the\" + user"));
        assert_eq!(ann.first("homeDirectory"), Some("/home/ann"));
        let private = by(&entries, EntryKind::PrivateGroup, "cn", "ann");
        assert_eq!(private.first("gidNumber"), ann.first("uidNumber"));
        let outer = by(&entries, EntryKind::Group, "cn", "Outer, \"Ring\"");
        assert_eq!(outer.values("memberUid").len(), 1, "direct users only");
        assert!(
            outer
                .values("member")
                .iter()
                .any(|m| m.starts_with("cn=Inner,"))
        );
    }
}
