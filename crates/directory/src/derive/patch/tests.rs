//! The patch derivation against its definition: random sequences of Graph delta pages,
//! merged into the mirror as a sync round merges them, after each of which the patch applied
//! to the previous entries must equal a full `build_tenant`, with the same allocations and
//! the same report.

use super::*;
use crate::derive::build_tenant;
use crate::ssh_keys::AdminKeys;
use config::TenantConfig;
use model::graph::{Domain, Group, MemberKind, MemberRef, User};
use model::mirror::merge::{self as delta, DeltaStats};
use model::time::generalized_time;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const NOW: i64 = 1_750_000_000;
const TENANT_ID: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";

fn cfg(extra: &str) -> TenantConfig {
    let text = format!("name = \"contoso\"\ntenant_id = \"{TENANT_ID}\"\n{extra}");
    match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => panic!("test config does not parse: {e}\n{text}"),
    }
}

/// GUID-like ids whose first eight characters differ (as Graph's random ones do), except that
/// every 16th shares its prefix with its neighbour, so suffixed names collide too.
fn uuid(kind: u32, n: u32) -> String {
    let key = if n > 0 && n.is_multiple_of(16) {
        n - 1
    } else {
        n
    };
    let head = key.wrapping_mul(2_654_435_761);
    format!("{head:08x}-{kind:04x}-4000-8000-{n:012x}")
}

/// Local parts that collide on purpose (case, the same name in two domains) and display names
/// with commas and duplicates.
const NAMES: &[(&str, &str)] = &[
    ("j.smith", "Smith, John"),
    ("J.Smith", "Smith, John"),
    ("ann", "Ann Lee"),
    ("bob", "Bob O'Neil"),
    ("carol+ops", "Carol (Ops)"),
    ("dave", "Dave"),
    ("erin", "Erin, Jr."),
    ("linux users", "Linux User Bot"),
];
const DOMAINS: &[&str] = &["contoso.com", "eu.contoso.com", "fabrikam.com"];
const GROUP_NAMES: &[&str] = &[
    "Linux Users",
    "VPN",
    "R&D, Europe",
    "Admins+Ops",
    "dave",
    "Finance",
    "VPN",
    "Sales",
];

fn user_json(rng: &mut StdRng, n: u32) -> Value {
    let (local, display) = NAMES[rng.random_range(0..NAMES.len())];
    let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
    let local = if rng.random_bool(0.5) {
        format!("{local}{}", n % 7)
    } else {
        local.to_string()
    };
    let guest = rng.random_bool(0.08);
    let upn = if guest {
        format!("{local}_partner.example#EXT#@contoso.onmicrosoft.com")
    } else {
        format!("{local}@{domain}")
    };
    json!({
        "id": uuid(1, n),
        "userPrincipalName": upn,
        "mail": if guest { format!("{local}@partner.example") } else { format!("{local}@{domain}") },
        "displayName": display,
        "accountEnabled": rng.random_bool(0.85),
        "userType": if guest { "Guest" } else { "Member" },
        "jobTitle": format!("Title {}", rng.random_range(0..5)),
        "createdDateTime": format!("2021-01-{:02}T00:00:00Z", 1 + n % 28),
    })
}

fn group_json(rng: &mut StdRng, n: u32) -> Value {
    let name = GROUP_NAMES[rng.random_range(0..GROUP_NAMES.len())];
    let security = rng.random_bool(0.8);
    json!({
        "id": uuid(2, n),
        "displayName": name,
        "groupTypes": if security { json!([]) } else { json!(["Unified"]) },
        "securityEnabled": security,
        "mailEnabled": !security,
        "mail": if security { Value::Null } else { json!(format!("g{n}@contoso.com")) },
        "description": format!("Group {n}"),
        "createdDateTime": format!("2020-06-{:02}T00:00:00Z", 1 + n % 28),
    })
}

fn member(id: &str, kind: &str) -> Value {
    json!({"id": id, "@odata.type": format!("#microsoft.graph.{kind}")})
}

fn removed_member(id: &str) -> Value {
    json!({"id": id, "@removed": {"reason": "deleted"}})
}

struct World {
    rng: StdRng,
    users: u32,
    groups: u32,
    /// Groups allowed to hold group members (nesting stays among these few).
    nesting: bool,
}

impl World {
    fn initial(&mut self) -> (Vec<Value>, Vec<Value>) {
        let users: Vec<Value> = (0..self.users)
            .map(|n| user_json(&mut self.rng, n))
            .collect();
        let mut groups = Vec::new();
        for g in 0..self.groups {
            let mut obj = group_json(&mut self.rng, g);
            let mut members: Vec<Value> = (0..self.users)
                .filter(|_| self.rng.random_bool(0.2))
                .map(|u| member(&uuid(1, u), "user"))
                .collect();
            members.push(member(&uuid(9, g), "device"));
            if self.nesting && g >= 2 && g % 3 == 0 {
                members.push(member(&uuid(2, g - 2), "group"));
            }
            obj["members@delta"] = Value::Array(members);
            groups.push(obj);
        }
        (users, groups)
    }

    /// One round of random changes as Graph's delta pages carry them.
    fn round(&mut self, mirror: &Mirror) -> (Vec<Value>, Vec<Value>) {
        let mut users = Vec::new();
        let mut groups = Vec::new();
        let changes = self.rng.random_range(1..6);
        let user_ids: Vec<String> = mirror.users.keys().cloned().collect();
        let group_ids: Vec<String> = mirror.groups.keys().cloned().collect();
        for _ in 0..changes {
            let pick_user =
                |rng: &mut StdRng| user_ids[rng.random_range(0..user_ids.len())].clone();
            let kinds = if self.nesting { 13 } else { 11 };
            match self.rng.random_range(0..kinds) {
                0 => {
                    self.users += 1;
                    users.push(user_json(&mut self.rng, self.users));
                }
                1 => users.push(json!({"id": pick_user(&mut self.rng), "@removed": {"reason": "changed"}})),
                2 => users.push(json!({"id": pick_user(&mut self.rng), "accountEnabled": self.rng.random_bool(0.5)})),
                3 => users.push(json!({"id": pick_user(&mut self.rng), "jobTitle": "Renamed title", "displayName": "Smith, Jane"})),
                4 => {
                    // A rename: a new UPN, so a new uid, possibly colliding.
                    let id = pick_user(&mut self.rng);
                    let (local, _) = NAMES[self.rng.random_range(0..NAMES.len())];
                    users.push(json!({"id": id, "userPrincipalName": format!("{local}@contoso.com"), "mail": Value::Null}));
                }
                5 | 6 if !group_ids.is_empty() => {
                    let g = group_ids[self.rng.random_range(0..group_ids.len())].clone();
                    let u = pick_user(&mut self.rng);
                    let m = if self.rng.random_bool(0.6) {
                        member(&u, "user")
                    } else {
                        removed_member(&u)
                    };
                    groups.push(json!({"id": g, "members@delta": [m]}));
                }
                7 if !group_ids.is_empty() => {
                    let g = group_ids[self.rng.random_range(0..group_ids.len())].clone();
                    let name = GROUP_NAMES[self.rng.random_range(0..GROUP_NAMES.len())];
                    groups.push(json!({"id": g, "displayName": name, "description": "renamed"}));
                }
                8 => {
                    self.groups += 1;
                    let mut obj = group_json(&mut self.rng, self.groups);
                    obj["members@delta"] = json!([member(&pick_user(&mut self.rng), "user")]);
                    groups.push(obj);
                }
                9 if !group_ids.is_empty() => {
                    let g = group_ids[self.rng.random_range(0..group_ids.len())].clone();
                    groups.push(json!({"id": g, "@removed": {"reason": "deleted"}}));
                }
                11 | 12 if group_ids.len() > 1 => {
                    // Nesting changes, cycles included.
                    let g = group_ids[self.rng.random_range(0..group_ids.len())].clone();
                    let x = group_ids[self.rng.random_range(0..group_ids.len())].clone();
                    let m = if self.rng.random_bool(0.6) {
                        member(&x, "group")
                    } else {
                        removed_member(&x)
                    };
                    groups.push(json!({"id": g, "members@delta": [m]}));
                }
                _ => {
                    // A restored user comes back without annotation.
                    if let Some(d) = mirror.deleted_users.keys().next() {
                        users.push(json!({"id": d, "accountEnabled": true}));
                    }
                }
            }
        }
        (users, groups)
    }
}

fn merge_round(
    m: &mut Mirror,
    users: &[Value],
    groups: &[Value],
    keep_deleted: bool,
    now: i64,
    index: Option<&MemberIndex>,
) -> BTreeSet<String> {
    let mut stats = DeltaStats::default();
    if let Err(e) = delta::apply_users_indexed(m, users, keep_deleted, now, &mut stats, index) {
        panic!("user delta: {e}");
    }
    let removed: BTreeSet<String> = users
        .iter()
        .filter(|o| o.get("@removed").is_some())
        .filter_map(|o| o.get("id").and_then(Value::as_str).map(String::from))
        .collect();
    if let Err(e) = delta::apply_groups(m, groups, &removed, &mut stats) {
        panic!("group delta: {e}");
    }
    delta::stamp_touched(m, &stats.touched, &generalized_time(now));
    stats.touched
}

fn domains() -> Vec<Domain> {
    DOMAINS
        .iter()
        .enumerate()
        .map(|(i, d)| Domain {
            id: (*d).into(),
            is_default: Some(i == 0),
            is_initial: Some(false),
            is_verified: Some(true),
            ..Domain::default()
        })
        .collect()
}

/// The single tenant of these tests, built at a fixed time (entries without a creation
/// time are stamped with it, so both derivations agree).
fn input<'a>(cfg: &'a TenantConfig, m: &'a Mirror, keys: &'a AdminKeys) -> TenantInput<'a> {
    TenantInput {
        index: 0,
        cfg,
        mirror: m,
        services: Vec::new(),
        now: 1_735_689_600,
        admin_ssh_keys: keys,
    }
}

fn build(cfg: &TenantConfig, m: &Mirror, alloc: &mut Allocations) -> crate::derive::TenantBuild {
    let keys = AdminKeys::default();
    let input = input(cfg, m, &keys);
    match build_tenant(&input, alloc) {
        Ok(b) => b,
        Err(e) => panic!("full build: {e}"),
    }
}

fn sorted_collisions(r: &BuildReport) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = r
        .collisions
        .iter()
        .map(|c| {
            (
                c.namespace.to_string(),
                c.loser.clone(),
                c.name.clone(),
                c.holder.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Run `rounds` random delta rounds under `extra` config; returns how many were patched.
fn run(extra: &str, seed: u64, rounds: usize, nesting: bool) -> usize {
    let cfg = cfg(extra);
    let keep = cfg.users.keep_deleted_for.get().as_secs() > 0;
    let mut world = World {
        rng: StdRng::seed_from_u64(seed),
        users: 60,
        groups: 10,
        nesting,
    };
    let mut mirror = Mirror {
        domains: domains(),
        ..Mirror::default()
    };
    let (u, g) = world.initial();
    merge_round(&mut mirror, &u, &g, keep, NOW, None);
    let mut alloc = Allocations::default();
    let first = build(&cfg, &mirror, &mut alloc);
    let mut report = first.report.clone();
    let mut snapshot = Snapshot::new(1, vec![first]);
    let mut index = MemberIndex::build(&mirror);
    let mut patched = 0;
    for round in 0..rounds {
        let now = NOW + 3600 * (round as i64 + 1);
        let (u, g) = world.round(&mirror);
        let mut next = mirror.clone();
        let touched = merge_round(&mut next, &u, &g, keep, now, Some(&index));
        delta::purge_deleted(
            &mut next,
            cfg.users.keep_deleted_for.get().as_secs() as i64,
            now,
        );

        let mut full_alloc = alloc.clone();
        let full = build(&cfg, &next, &mut full_alloc);
        let full_report = full.report.clone();

        let keys = AdminKeys::default();
        let input = input(&cfg, &next, &keys);
        let prior = Prior {
            snapshot: &snapshot,
            mirror: &mirror,
            report: &report,
            members: &index,
        };
        let mut inc_alloc = alloc.clone();
        let derived = match derive_patch(&input, &prior, &touched, &mut inc_alloc) {
            Ok(d) => d,
            Err(e) => panic!("round {round}: {e}"),
        };
        if let Derivation::Patch(p) = derived {
            patched += 1;
            let mut got: BTreeMap<Box<str>, Entry> = snapshot
                .iter()
                .map(|(_, e)| (e.ndn().into(), e.clone()))
                .collect();
            for r in &p.removals {
                assert!(
                    got.remove(r).is_some(),
                    "round {round}: removal of an absent {r}"
                );
            }
            for e in p.upserts.iter().cloned() {
                got.insert(e.ndn().into(), e);
            }
            let want: BTreeMap<Box<str>, Entry> = full
                .entries
                .iter()
                .map(|e| (e.ndn().into(), e.clone()))
                .collect();
            for (ndn, e) in &want {
                let Some(mine) = got.get(ndn) else {
                    panic!("round {round} seed {seed}: missing {ndn}\nusers {u:?}\ngroups {g:?}");
                };
                if mine != e {
                    let diff: Vec<String> = e
                        .attrs
                        .iter()
                        .filter(|a| {
                            mine.get(a.name).map(|m| m.values.collect::<Vec<_>>())
                                != Some(a.values.collect())
                        })
                        .map(|a| {
                            format!(
                                "{}: want {:?} got {:?}",
                                a.name,
                                a.values,
                                mine.values(a.name)
                            )
                        })
                        .chain(
                            mine.attrs
                                .iter()
                                .filter(|a| e.get(a.name).is_none())
                                .map(|a| format!("extra {}: {:?}", a.name, a.values)),
                        )
                        .collect();
                    panic!(
                        "round {round} seed {seed}: entry {ndn} differs: {diff:#?} (stamps {}/{} vs {}/{})\nusers {u:?}\ngroups {g:?}",
                        e.created(),
                        e.modified(),
                        mine.created(),
                        mine.modified()
                    );
                }
            }
            for ndn in got.keys() {
                assert!(
                    want.contains_key(ndn),
                    "round {round} seed {seed}: stray entry {ndn}\nusers {u:?}\ngroups {g:?}"
                );
            }
            assert_eq!(
                inc_alloc, full_alloc,
                "round {round} seed {seed}: allocations"
            );
            let mut a = p.report.clone();
            let mut b = full_report.clone();
            assert_eq!(
                sorted_collisions(&a),
                sorted_collisions(&b),
                "round {round} seed {seed}: collisions"
            );
            a.collisions.clear();
            b.collisions.clear();
            for r in [&mut a, &mut b] {
                r.unmatched
                    .sort_by(|x, y| (x.namespace, &x.id).cmp(&(y.namespace, &y.id)));
            }
            assert_eq!(a, b, "round {round} seed {seed}: report");
            index.update(p.groups_changed.iter().map(String::as_str), &mirror, &next);
            // The next round patches the patched snapshot, as the engine does; it must list
            // exactly the full derivation's entries, in its order.
            snapshot = snapshot.patch(round as u64 + 2, p.upserts, p.removals);
            let order: Vec<&str> = snapshot.iter().map(|(_, e)| e.ndn()).collect();
            let full_order: Vec<&str> = full.entries.iter().map(|e| e.ndn()).collect();
            assert_eq!(
                order, full_order,
                "round {round} seed {seed}: patched snapshot order"
            );
        } else {
            index = MemberIndex::build(&next);
            snapshot = Snapshot::new(round as u64 + 2, vec![full]);
        }
        report = full_report;
        assert_eq!(
            index.normalized(),
            MemberIndex::build(&next).normalized(),
            "round {round}: member index drifted"
        );
        alloc = full_alloc;
        mirror = next;
    }
    patched
}

#[test]
fn delta_rounds_patch_exactly_what_a_full_derivation_builds() {
    for seed in 0..12 {
        let patched = run("", seed, 25, false);
        assert!(
            patched >= 20,
            "seed {seed}: only {patched} of 25 rounds were patched"
        );
    }
}

#[test]
fn lock_keep_deleted_flatten_and_group_rules_are_followed() {
    let extra = r#"
[users]
inactive = "lock"
keep_deleted_for = "7d"
only_members_of = ["Linux Users", "VPN"]
inactive_members_of = ["Finance"]
[groups]
nested = "flatten"
"#;
    let mut patched = 0;
    for seed in 100..110 {
        patched += run(extra, seed, 25, true);
    }
    eprintln!("flatten: {patched} of 250 patched");
    assert!(patched >= 100, "only {patched} of 250 rounds were patched");
}

#[test]
fn nested_groups_and_merged_groups_fall_back_to_full_and_stay_equal() {
    let extra = r#"
[groups]
map = { "Sales" = "sales-team" }
"#;
    let mut patched = 0;
    for seed in 200..206 {
        patched += run(extra, seed, 20, true);
    }
    eprintln!("map+nesting: {patched} of 120 patched");
    // Rounds touching neither the mapped group nor a nested one are still patched.
    assert!(patched > 0 && patched < 120, "{patched} of 120 patched");
}

#[test]
fn nesting_changes_and_cycles_are_patched_in_direct_mode() {
    let mut patched = 0;
    for seed in 300..310 {
        patched += run("", seed, 25, true);
    }
    eprintln!("direct+nesting: {patched} of 250 patched");
    assert!(patched >= 200, "only {patched} of 250 rounds were patched");
}

#[test]
fn a_changed_nested_group_is_derived_in_full_when_groups_are_merged() {
    let cfg = cfg("[groups]\nmap = { \"Sales\" = \"sales-team\" }\n");
    let mut m = Mirror {
        domains: domains(),
        ..Mirror::default()
    };
    for n in 0..3 {
        m.users.insert(
            uuid(1, n),
            User {
                id: uuid(1, n),
                user_principal_name: Some(format!("u{n}@contoso.com")),
                account_enabled: Some(true),
                ..User::default()
            }
            .into(),
        );
    }
    for n in 0..2 {
        m.groups.insert(
            uuid(2, n),
            Group {
                id: uuid(2, n),
                display_name: Some(format!("g{n}")),
                security_enabled: Some(true),
                ..Group::default()
            },
        );
    }
    m.members.entry(uuid(2, 1)).or_default().insert(MemberRef {
        id: uuid(2, 0),
        kind: MemberKind::Group,
    });
    let mut alloc = Allocations::default();
    let b = build(&cfg, &m, &mut alloc);
    let report = b.report.clone();
    let snap = Snapshot::new(1, vec![b]);
    let index = MemberIndex::build(&m);
    let mut next = m.clone();
    let touched = merge_round(
        &mut next,
        &[],
        &[json!({"id": uuid(2, 0), "members@delta": [member(&uuid(1, 0), "user")]})],
        false,
        NOW,
        None,
    );
    let keys = AdminKeys::default();
    let input = input(&cfg, &next, &keys);
    let prior = Prior {
        snapshot: &snap,
        mirror: &m,
        report: &report,
        members: &index,
    };
    let before = alloc.clone();
    match derive_patch(&input, &prior, &touched, &mut alloc) {
        Ok(Derivation::Full(reason)) => assert!(reason.contains("nested"), "{reason}"),
        other => panic!("expected a full derivation, got {other:?}"),
    }
    assert_eq!(
        alloc, before,
        "a declined patch must not touch the allocations"
    );
}
