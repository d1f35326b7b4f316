//! How policy verdicts become entries: locked users, kept deleted users, `groups.sync = false`
//! and local groups, through `build_tenant` on a hand-made mirror.

use config::TenantConfig;
use directory::derive::{TenantInput, build_tenant};
use directory::ids::Allocations;
use directory::{Entry, EntryKind};
use model::graph::{Domain, Group, MemberKind, MemberRef, User};
use model::{DeletedUser, Mirror};

/// When the tenants of these tests are derived.
const NOW: i64 = 1_735_689_600;

fn cfg(extra: &str) -> TenantConfig {
    toml::from_str(&format!(
        "name = \"contoso\"\ntenant_id = \"6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90\"\n{extra}"
    ))
    .expect("test config parses")
}

fn user(id: &str, upn: &str, enabled: bool) -> User {
    User {
        id: id.into(),
        user_principal_name: Some(upn.into()),
        mail: Some(upn.into()),
        display_name: Some(format!("{id}, \"the\" + user")),
        account_enabled: Some(enabled),
        user_type: Some("Member".into()),
        created_date_time: Some("2020-01-01T00:00:00Z".into()),
        ..User::default()
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
        user("u-alice", "alice@contoso.com", true),
        user("u-bob", "bob@contoso.com", false),
    ] {
        m.users.insert(u.id.clone(), u.into());
    }
    m.deleted_users.insert(
        "u-old".into(),
        DeletedUser {
            user: user("u-old", "old@contoso.com", true).into(),
            deleted_at: NOW - 60,
        },
    );
    m.groups.insert(
        "g-ops".into(),
        Group {
            id: "g-ops".into(),
            display_name: Some("Ops".into()),
            security_enabled: Some(true),
            mail_enabled: Some(false),
            created_date_time: Some("2020-02-01T00:00:00Z".into()),
            ..Group::default()
        },
    );
    m.members.entry("g-ops".into()).or_default().extend([
        MemberRef {
            id: "u-alice".into(),
            kind: MemberKind::User,
        },
        MemberRef {
            id: "u-bob".into(),
            kind: MemberKind::User,
        },
    ]);
    m
}

fn build(extra: &str) -> Vec<Entry> {
    let c = cfg(extra);
    let m = mirror();
    let input = TenantInput {
        index: 0,
        cfg: &c,
        mirror: &m,
        services: vec![],
        now: NOW,
        admin_ssh_keys: &Default::default(),
    };
    build_tenant(&input, &mut Allocations::default())
        .expect("builds")
        .entries
}

fn find<'a>(entries: &'a [Entry], kind: EntryKind, cn_or_uid: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| {
        e.kind == kind
            && (e.first("uid") == Some(cn_or_uid)
                || (kind != EntryKind::User && e.first("cn") == Some(cn_or_uid)))
    })
}

#[test]
fn lock_serves_disabled_users_locked_and_keeps_them_as_members() {
    let entries = build("[users]\ninactive = \"lock\"");
    let bob = find(&entries, EntryKind::User, "bob").expect("bob served locked");
    assert_eq!(bob.first("nsAccountLock"), Some("TRUE"));
    let alice = find(&entries, EntryKind::User, "alice").expect("alice served");
    assert_eq!(alice.first("nsAccountLock"), None);
    let ops = find(&entries, EntryKind::Group, "Ops").expect("Ops served");
    assert_eq!(
        ops.values("memberUid").len(),
        2,
        "locked users stay members"
    );
    assert!(
        bob.values("memberOf")
            .iter()
            .any(|g| g.starts_with("cn=Ops,"))
    );
}

#[test]
fn hide_leaves_disabled_users_out_of_entries_and_member_lists() {
    let entries = build("");
    assert!(find(&entries, EntryKind::User, "bob").is_none());
    let ops = find(&entries, EntryKind::Group, "Ops").expect("Ops served");
    let uids: Vec<&str> = ops.values("memberUid").collect();
    assert_eq!(uids, ["alice"]);
}

#[test]
fn kept_deleted_users_are_served_locked() {
    let entries = build("[users]\nkeep_deleted_for = \"1h\"");
    let old = find(&entries, EntryKind::User, "old").expect("kept deleted user");
    assert_eq!(old.first("nsAccountLock"), Some("TRUE"));
    assert!(find(&build(""), EntryKind::User, "old").is_none());
}

#[test]
fn group_sync_off_keeps_users_private_groups_and_local_groups() {
    let entries = build(
        "[groups]\nsync = false\n[[local_group]]\nname = \"vpn-users\"\ngid_number = 20000\nmembers_from = [\"Ops\"]",
    );
    assert!(find(&entries, EntryKind::Group, "Ops").is_none());
    assert!(find(&entries, EntryKind::PrivateGroup, "alice").is_some());
    let vpn = find(&entries, EntryKind::Group, "vpn-users").expect("local group exists");
    assert_eq!(vpn.first("gidNumber"), Some("20000"));
    assert!(vpn.values("member").is_empty());
}

#[test]
fn a_local_group_takes_its_sources_members_and_a_stable_uuid() {
    let extra = "[[local_group]]\nname = \"vpn-users\"\nmembers_from = [\"g-ops\"]";
    let entries = build(extra);
    assert!(
        find(&entries, EntryKind::Group, "Ops").is_none(),
        "folded into vpn-users"
    );
    let vpn = find(&entries, EntryKind::Group, "vpn-users").expect("local group");
    let uids: Vec<&str> = vpn.values("memberUid").collect();
    assert_eq!(uids, ["alice"]);
    let gid: u32 = vpn.first("gidNumber").unwrap().parse().unwrap();
    assert!((400_000..=499_999).contains(&gid));
    let uuid = vpn.first("entryUUID").unwrap().to_string();
    assert_eq!(uuid.len(), 36);
    let again = build(extra);
    let vpn2 = find(&again, EntryKind::Group, "vpn-users").unwrap();
    assert_eq!(vpn2.first("entryUUID"), Some(uuid.as_str()));
    assert_eq!(vpn2.first("gidNumber"), vpn.first("gidNumber"));
}
