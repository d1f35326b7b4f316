//! Unit tests, one module per control, over a small hand-made tenant; then combinations.

use super::*;
use model::DeletedUser;
use model::graph::{Domain, Group, MemberKind, MemberRef};

const NOW: i64 = 1_700_000_000;

fn cfg(extra: &str) -> TenantConfig {
    let text = format!(
        "name = \"contoso\"\ntenant_id = \"6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90\"\n{extra}"
    );
    match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => panic!("test config does not parse: {e}\n{text}"),
    }
}

fn user(id: &str, upn: &str) -> User {
    User {
        id: id.into(),
        user_principal_name: Some(upn.into()),
        mail: Some(upn.to_lowercase()),
        display_name: Some(id.into()),
        account_enabled: Some(true),
        user_type: Some("Member".into()),
        created_date_time: Some("2020-01-01T00:00:00Z".into()),
        ..User::default()
    }
}

fn group(id: &str, name: &str, kind: &str) -> Group {
    let (types, mail_enabled, security, mail): (Vec<&str>, bool, bool, Option<&str>) = match kind {
        "security" => (vec![], false, true, None),
        "dynamic" => (vec!["DynamicMembership"], false, true, None),
        "m365" => (vec!["Unified"], true, false, Some("sales@contoso.com")),
        "distribution" => (vec![], true, false, Some("news@contoso.com")),
        "mes" => (vec![], true, true, Some("fin@contoso.com")),
        other => panic!("unknown kind {other}"),
    };
    Group {
        id: id.into(),
        display_name: Some(name.into()),
        group_types: Some(types.into_iter().map(String::from).collect()),
        mail_enabled: Some(mail_enabled),
        security_enabled: Some(security),
        mail: mail.map(String::from),
        created_date_time: Some("2020-02-01T00:00:00Z".into()),
        ..Group::default()
    }
}

fn add_members(m: &mut Mirror, g: &str, users: &[&str], groups: &[&str]) {
    let set = m.members.entry(g.into()).or_default();
    for u in users {
        set.insert(MemberRef {
            id: (*u).into(),
            kind: MemberKind::User,
        });
    }
    for x in groups {
        set.insert(MemberRef {
            id: (*x).into(),
            kind: MemberKind::Group,
        });
    }
}

/// A small tenant with the awkward cases: a disabled user, a guest, a subdomain, a second
/// verified domain, an unverified domain, a mail-less service account with an SMTP alias,
/// nested groups, two groups named "Sales", a dynamic group, a name with `,+"`.
fn mirror() -> Mirror {
    let mut m = Mirror::default();
    for (d, verified) in [
        ("contoso.com", true),
        ("eu.contoso.com", true),
        ("fabrikam.com", true),
        ("contoso.onmicrosoft.com", true),
        ("unverified.net", false),
    ] {
        m.domains.push(Domain {
            id: d.into(),
            is_verified: Some(verified),
            is_default: Some(d == "contoso.com"),
            ..Domain::default()
        });
    }
    let mut alice = user("alice", "Alice@Contoso.com");
    alice.proxy_addresses = Some(vec![
        "SMTP:alice@contoso.com".into(),
        "smtp:a.smith@legacy.contoso.com".into(),
        "X500:/o=ExchangeLabs/cn=svc".into(),
    ]);
    let mut bob = user("bob", "bob@contoso.com");
    bob.account_enabled = Some(false);
    let carol = user("carol", "carol@eu.contoso.com");
    let dan = user("dan", "dan@fabrikam.com");
    let eve = user("eve", "eve@unverified.net");
    let mut gina = user("gina", "gina_partner.example#EXT#@contoso.onmicrosoft.com");
    gina.mail = Some("Gina@Partner.example".into());
    gina.user_type = Some("Guest".into());
    let mut svc = user("svc", "svc-backup@contoso.com");
    svc.mail = None;
    svc.proxy_addresses = Some(vec!["smtp:svc-backup@SVC.contoso.com".into()]);
    for u in [alice, bob, carol, dan, eve, gina, svc] {
        m.users.insert(u.id.clone(), u.into());
    }
    for g in [
        group("g-eng", "Engineering", "security"),
        group("g-plat", "Platform, Team + \"Core\"", "security"),
        group("g-m365", "Sales", "m365"),
        group("g-sales", "sales ", "security"),
        group("g-news", "Newsletter", "distribution"),
        group("g-fin", "Finance Approvers", "mes"),
        group("g-fab", "Fabrikam Staff", "dynamic"),
    ] {
        m.groups.insert(g.id.clone(), g);
    }
    add_members(&mut m, "g-eng", &["alice"], &["g-plat"]);
    add_members(&mut m, "g-plat", &["carol"], &["g-eng"]); // a cycle
    add_members(&mut m, "g-m365", &["dan", "gina"], &[]);
    add_members(&mut m, "g-sales", &["alice", "bob"], &[]);
    add_members(&mut m, "g-fab", &["dan"], &[]);
    add_members(&mut m, "g-fin", &["svc"], &[]);
    m
}

fn run(extra: &str) -> Outcome {
    apply_at(&mirror(), &cfg(extra), NOW)
}

fn status(o: &Outcome, id: &str) -> UserStatus {
    o.users[id].status
}

fn trail_has(trail: &[String], needle: &str) -> bool {
    trail.iter().any(|l| l.contains(needle))
}

fn included_groups(o: &Outcome) -> Vec<&str> {
    o.groups
        .iter()
        .filter(|(_, v)| v.included)
        .map(|(k, _)| k.as_str())
        .collect()
}

mod default_policy {
    use super::*;

    #[test]
    fn members_in_verified_domains_are_active_and_the_rest_follow_the_defaults() {
        let o = run("");
        for id in ["alice", "carol", "dan", "svc"] {
            assert_eq!(
                status(&o, id),
                UserStatus::Active,
                "{id}: {:?}",
                o.users[id]
            );
            assert!(o.users[id].served && may_bind(&o, id));
        }
        assert_eq!(status(&o, "bob"), UserStatus::Inactive);
        assert!(
            !o.users["bob"].served,
            "disabled users are hidden by default"
        );
        assert_eq!(status(&o, "eve"), UserStatus::Excluded);
        assert_eq!(status(&o, "gina"), UserStatus::Excluded);
        assert_eq!(o.users["alice"].username.as_deref(), Some("alice"));
        assert_eq!(included_groups(&o).len(), 7, "every group type by default");
        assert!(!may_bind(&o, "nobody"));
    }
}

mod username_from {
    use super::*;

    #[test]
    fn each_source_and_a_missing_one() {
        let o = run("[users]\nusername_from = \"mail\"");
        assert_eq!(o.users["alice"].username.as_deref(), Some("alice"));
        assert_eq!(status(&o, "svc"), UserStatus::Excluded, "svc has no mail");
        assert!(trail_has(&o.users["svc"].trail, "no such attribute"));
        let o = run("[users]\nusername_from = \"onPremisesSamAccountName\"");
        assert_eq!(status(&o, "alice"), UserStatus::Excluded);
    }
}

mod guests {
    use super::*;

    #[test]
    fn excluded_by_default_with_a_reason() {
        let o = run("");
        assert!(trail_has(
            &o.users["gina"].trail,
            "users.include_guests = false"
        ));
    }

    #[test]
    fn included_with_a_uid_from_the_mail_local_part() {
        let o = run("[users]\ninclude_guests = true");
        assert_eq!(status(&o, "gina"), UserStatus::Active);
        assert_eq!(o.users["gina"].username.as_deref(), Some("gina"));
    }

    #[test]
    fn without_mail_the_uid_is_the_upn_before_ext() {
        let mut m = mirror();
        if let Some(g) = m.users.get_mut("gina") {
            std::sync::Arc::make_mut(g).mail = None;
        }
        let o = apply_at(&m, &cfg("[users]\ninclude_guests = true"), NOW);
        assert_eq!(
            o.users["gina"].username.as_deref(),
            Some("gina_partner.example")
        );
    }
}

mod disabled_and_inactive_mode {
    use super::*;

    #[test]
    fn hide_leaves_disabled_users_out() {
        let o = run("[users]\ninactive = \"hide\"");
        let bob = &o.users["bob"];
        assert_eq!(
            (bob.status, bob.served, bob.locked()),
            (UserStatus::Inactive, false, false)
        );
        assert!(trail_has(&bob.trail, "accountEnabled is false"));
    }

    #[test]
    fn lock_serves_them_locked_and_they_never_bind() {
        let o = run("[users]\ninactive = \"lock\"");
        let bob = &o.users["bob"];
        assert!(bob.served && bob.locked());
        assert!(!may_bind(&o, "bob"));
        assert!(trail_has(&bob.trail, "nsAccountLock: TRUE"));
        assert!(!o.users["alice"].locked());
    }
}

mod domains {
    use super::*;

    #[test]
    fn unverified_domains_are_out() {
        let o = run("");
        assert!(trail_has(
            &o.users["eve"].trail,
            "unverified.net is not a verified domain"
        ));
    }

    #[test]
    fn allowed_with_subdomains() {
        let o = run("[domains]\nallowed = [\"Contoso.com\"]\ninclude_subdomains = true");
        assert_eq!(status(&o, "alice"), UserStatus::Active);
        assert_eq!(status(&o, "carol"), UserStatus::Active);
        assert_eq!(status(&o, "dan"), UserStatus::Excluded);
        assert!(trail_has(
            &o.users["carol"].trail,
            "subdomain of contoso.com"
        ));
    }

    #[test]
    fn allowed_without_subdomains() {
        let o = run("[domains]\nallowed = [\"contoso.com\"]\ninclude_subdomains = false");
        assert_eq!(status(&o, "alice"), UserStatus::Active);
        assert_eq!(status(&o, "carol"), UserStatus::Excluded);
        assert!(trail_has(
            &o.users["carol"].trail,
            "include_subdomains = false"
        ));
        assert_eq!(status(&o, "dan"), UserStatus::Excluded);
    }

    #[test]
    fn an_allowed_domain_must_still_be_verified() {
        let o = run("[domains]\nallowed = [\"unverified.net\", \"fabrikam.com\"]");
        assert_eq!(status(&o, "eve"), UserStatus::Excluded);
        assert_eq!(status(&o, "dan"), UserStatus::Active);
        assert_eq!(status(&o, "alice"), UserStatus::Excluded);
    }
}

mod blocked_emails {
    use super::*;

    #[test]
    fn matches_mail_case_insensitively_with_a_sentence() {
        let o = run("[users]\nblocked_emails = [\"ALICE@*\"]");
        assert_eq!(status(&o, "alice"), UserStatus::Excluded);
        assert!(
            o.users["alice"].trail.contains(
                &"users.blocked_emails: mail alice@contoso.com matches \"ALICE@*\" → excluded"
                    .to_string()
            )
        );
        assert_eq!(status(&o, "carol"), UserStatus::Active);
    }

    #[test]
    fn matches_smtp_proxy_addresses_with_the_prefix_stripped() {
        let o = run("[users]\nblocked_emails = [\"*@svc.contoso.com\", \"*@legacy.contoso.com\"]");
        assert_eq!(status(&o, "svc"), UserStatus::Excluded);
        assert!(trail_has(
            &o.users["svc"].trail,
            "proxy address svc-backup@SVC.contoso.com matches \"*@svc.contoso.com\""
        ));
        assert_eq!(status(&o, "alice"), UserStatus::Excluded);
    }

    #[test]
    fn other_proxy_kinds_and_the_upn_prefix_are_not_mail() {
        let o = run("[users]\nblocked_emails = [\"/o=exchangelabs*\", \"smtp:*\"]");
        assert_eq!(status(&o, "alice"), UserStatus::Active);
    }

    #[test]
    fn matches_the_upn_when_there_is_no_mail() {
        let o = run("[users]\nblocked_emails = [\"svc-?ackup@contoso.com\"]");
        assert_eq!(status(&o, "svc"), UserStatus::Excluded);
        assert!(trail_has(
            &o.users["svc"].trail,
            "userPrincipalName svc-backup@contoso.com"
        ));
    }
}

mod only_members_of {
    use super::*;

    #[test]
    fn transitive_members_only_by_name_or_id() {
        let o = run("[users]\nonly_members_of = [\"ENGINEERING\"]");
        assert_eq!(status(&o, "alice"), UserStatus::Active);
        assert_eq!(
            status(&o, "carol"),
            UserStatus::Active,
            "through the nested group"
        );
        assert_eq!(status(&o, "dan"), UserStatus::Excluded);
        assert!(trail_has(
            &o.users["dan"].trail,
            "not a member of \"Engineering\""
        ));
        let by_id = run("[users]\nonly_members_of = [\"g-fab\"]");
        assert_eq!(status(&by_id, "dan"), UserStatus::Active);
        assert_eq!(status(&by_id, "alice"), UserStatus::Excluded);
    }

    #[test]
    fn an_unknown_group_excludes_everyone_and_says_why() {
        let o = run("[users]\nonly_members_of = [\"No Such Group\"]");
        assert!(o.users.values().all(|v| v.status == UserStatus::Excluded));
        assert!(trail_has(
            &o.users["alice"].trail,
            "no group of the tenant is named \"No Such Group\""
        ));
    }
}

mod active_members_of {
    use super::*;

    #[test]
    fn non_members_are_inactive() {
        let o = run("[users]\nactive_members_of = [\"Platform, Team + \\\"Core\\\"\"]");
        assert_eq!(status(&o, "carol"), UserStatus::Active);
        assert_eq!(
            status(&o, "alice"),
            UserStatus::Active,
            "Engineering nests back (cycle)"
        );
        assert_eq!(status(&o, "dan"), UserStatus::Inactive);
        assert!(!o.users["dan"].served);
    }
}

mod inactive_members_of {
    use super::*;

    #[test]
    fn members_are_inactive() {
        let o = run("[users]\ninactive_members_of = [\"Fabrikam Staff\"]\ninactive = \"lock\"");
        assert_eq!(status(&o, "dan"), UserStatus::Inactive);
        assert!(o.users["dan"].locked());
        assert!(trail_has(
            &o.users["dan"].trail,
            "member of \"Fabrikam Staff\" → inactive"
        ));
        assert_eq!(status(&o, "alice"), UserStatus::Active);
    }
}

mod keep_deleted_for {
    use super::*;

    fn with_deleted(at: i64) -> Mirror {
        let mut m = mirror();
        let u = user("frank", "frank@contoso.com");
        m.deleted_users.insert(
            "frank".into(),
            DeletedUser {
                user: u.into(),
                deleted_at: at,
            },
        );
        m
    }

    #[test]
    fn a_recently_deleted_user_is_served_locked_even_when_inactive_users_hide() {
        let o = apply_at(
            &with_deleted(NOW - 3600),
            &cfg("[users]\nkeep_deleted_for = \"7d\""),
            NOW,
        );
        let f = &o.users["frank"];
        assert_eq!(f.status, UserStatus::Inactive);
        assert!(f.deleted && f.served && f.locked());
        assert!(!may_bind(&o, "frank"));
    }

    #[test]
    fn an_old_deletion_is_gone() {
        let o = apply_at(
            &with_deleted(NOW - 8 * 86_400),
            &cfg("[users]\nkeep_deleted_for = \"7d\""),
            NOW,
        );
        assert_eq!(o.users["frank"].status, UserStatus::Excluded);
        let zero = apply_at(&with_deleted(NOW), &cfg(""), NOW);
        assert_eq!(
            zero.users["frank"].status,
            UserStatus::Excluded,
            "default 0s keeps nobody"
        );
    }

    #[test]
    fn a_restored_user_is_judged_live() {
        let mut m = with_deleted(NOW - 10);
        m.users
            .insert("frank".into(), user("frank", "frank@contoso.com").into());
        let o = apply_at(&m, &cfg("[users]\nkeep_deleted_for = \"7d\""), NOW);
        assert_eq!(o.users["frank"].status, UserStatus::Active);
        assert!(!o.users["frank"].deleted);
    }
}

mod group_sync {
    use super::*;

    #[test]
    fn off_serves_no_graph_group_but_keeps_users() {
        let o = run("[groups]\nsync = false");
        assert!(included_groups(&o).is_empty());
        assert!(trail_has(&o.groups["g-eng"].trail, "groups.sync = false"));
        assert_eq!(status(&o, "alice"), UserStatus::Active);
    }
}

mod group_types {
    use super::*;

    #[test]
    fn each_type_alone() {
        let cases = [
            ("security", vec!["g-eng", "g-fab", "g-plat", "g-sales"]),
            ("microsoft365", vec!["g-m365"]),
            ("mail_enabled_security", vec!["g-fin"]),
            ("distribution", vec!["g-news"]),
        ];
        for (t, want) in cases {
            let o = run(&format!("[groups]\ntypes = [\"{t}\"]"));
            assert_eq!(included_groups(&o), want, "{t}");
        }
        let o = run("[groups]\ntypes = [\"security\"]");
        assert!(trail_has(
            &o.groups["g-fab"].trail,
            "dynamic security group"
        ));
        assert!(trail_has(
            &o.groups["g-m365"].trail,
            "not in [\"security\"]"
        ));
    }
}

mod include_without_mail {
    use super::*;

    #[test]
    fn off_keeps_only_mail_groups() {
        let o = run("[groups]\ninclude_without_mail = false");
        assert_eq!(included_groups(&o), vec!["g-fin", "g-m365", "g-news"]);
    }
}

mod name_prefixes {
    use super::*;

    #[test]
    fn case_insensitive_allow_list() {
        let o = run("[groups]\nname_prefixes = [\"SALES\", \"fin\"]");
        assert_eq!(included_groups(&o), vec!["g-fin", "g-m365", "g-sales"]);
        assert!(trail_has(&o.groups["g-eng"].trail, "starts with none of"));
    }
}

mod select {
    use super::*;

    #[test]
    fn by_name_and_by_id() {
        let o = run("[groups]\nselect = [\"sales\", \"G-FAB\"]");
        assert_eq!(included_groups(&o), vec!["g-fab", "g-m365", "g-sales"]);
    }
}

mod map_and_local_groups {
    use super::*;

    #[test]
    fn several_graph_groups_feed_one_directory_group() {
        let o = run("[groups.map]\nSales = \"sales-all\"");
        let key = merged_key("sales-all");
        assert_eq!(
            o.groups["g-m365"].merged_into.as_deref(),
            Some(key.as_str())
        );
        assert_eq!(
            o.groups["g-sales"].merged_into.as_deref(),
            Some(key.as_str())
        );
        assert_eq!(o.groups["g-sales"].name.as_deref(), Some("sales-all"));
        let m = &o.merged[&key];
        assert_eq!(
            m.sources.iter().map(String::as_str).collect::<Vec<_>>(),
            ["g-m365", "g-sales"]
        );
        assert!(!m.local);
        assert_eq!(o.directory_group_of("g-m365"), Some(key.as_str()));
        assert_eq!(o.directory_group_of("g-eng"), Some("g-eng"));
    }

    #[test]
    fn a_map_by_id_wins_over_a_map_by_name() {
        let o = run("[groups.map]\nSales = \"sales-all\"\ng-m365 = \"sales-team\"");
        assert_eq!(o.groups["g-m365"].name.as_deref(), Some("sales-team"));
        assert_eq!(o.groups["g-sales"].name.as_deref(), Some("sales-all"));
    }

    #[test]
    fn filtered_out_groups_feed_nothing() {
        let o = run("[groups]\ntypes = [\"security\"]\n[groups.map]\nSales = \"sales-all\"");
        let m = &o.merged[&merged_key("sales-all")];
        assert_eq!(m.sources.iter().collect::<Vec<_>>(), ["g-sales"]);
        assert_eq!(o.groups["g-m365"].merged_into, None);
    }

    #[test]
    fn local_groups_exist_alone_and_take_members_from_and_map_targets() {
        let o = run(r#"
[groups.map]
"Fabrikam Staff" = "Staff"

[[local_group]]
name = "staff"
gid_number = 5000
description = "Everyone"
members_from = ["g-eng"]

[[local_group]]
name = "empty"
"#);
        let staff = &o.merged[&merged_key("Staff")];
        assert!(staff.local);
        assert_eq!(staff.name, "staff", "the local group's spelling wins");
        assert_eq!(staff.gid_number, Some(5000));
        assert_eq!(staff.sources.iter().collect::<Vec<_>>(), ["g-eng", "g-fab"]);
        assert!(trail_has(&o.groups["g-eng"].trail, "local_group \"staff\""));
        let empty = &o.merged[&merged_key("empty")];
        assert!(empty.sources.is_empty() && empty.local);
    }

    #[test]
    fn local_groups_survive_group_sync_off() {
        let o = run(
            "[groups]\nsync = false\n[[local_group]]\nname = \"staff\"\nmembers_from = [\"g-eng\"]",
        );
        assert!(o.merged[&merged_key("staff")].sources.is_empty());
    }
}

mod combinations {
    use super::*;

    #[test]
    fn excluded_beats_inactive_and_every_rule_is_in_the_trail() {
        let o = run(r#"
[users]
inactive = "lock"
blocked_emails = ["bob@*"]
inactive_members_of = ["Sales"]
"#);
        let bob = &o.users["bob"];
        assert_eq!(
            bob.status,
            UserStatus::Excluded,
            "blocked wins over disabled"
        );
        assert!(!bob.served);
        assert!(trail_has(&bob.trail, "users.blocked_emails"));
        assert!(trail_has(&bob.trail, "accountEnabled is false"));
        assert!(trail_has(&bob.trail, "users.inactive_members_of"));
        // Both groups called Sales count: alice (security Sales) and dan (Microsoft 365 Sales).
        assert!(o.users["alice"].locked());
        assert!(o.users["dan"].locked());
        assert_eq!(status(&o, "carol"), UserStatus::Active);
    }

    #[test]
    fn active_and_inactive_lists_together() {
        let o = run(
            "[users]\nactive_members_of = [\"Engineering\"]\ninactive_members_of = [\"g-plat\"]",
        );
        // Engineering and Platform nest each other: everyone in one is in both.
        assert_eq!(status(&o, "alice"), UserStatus::Inactive);
        assert_eq!(status(&o, "carol"), UserStatus::Inactive);
        assert_eq!(status(&o, "dan"), UserStatus::Inactive);
    }

    #[test]
    fn group_filters_stack() {
        let o = run(
            "[groups]\ntypes = [\"security\", \"mail_enabled_security\"]\nname_prefixes = [\"s\", \"f\", \"e\"]\nselect = [\"g-fab\", \"Engineering\", \"Finance Approvers\"]",
        );
        assert_eq!(included_groups(&o), vec!["g-eng", "g-fab", "g-fin"]);
    }
}
