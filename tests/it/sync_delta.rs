//! Delta rounds, resilience and guards against the Graph emulator: changes arrive through
//! delta requests only, dry runs change nothing, faults and expired tokens are survived, and
//! a mass deletion is refused until forced.

use crate::common;

use crate::common::dump;
use crate::common::harness::{BASE, Env, fixture_json};
use directory::{Snapshot, dn};
use emulator::{Faults, Mutation};
use ldap3_proto::proto::LdapSearchScope;
use o365_ldap::store::Store;
use o365_ldap::sync::{HistoryOutcome, Mode, RoundOptions, SyncEngine, SyncError};
use serde_json::json;
use std::sync::Arc;

const PLATFORM_TEAM: &str = "a34202d8-8db1-4ec0-97a2-45ab52f07282";
const ALICE: &str = "a1ce0000-0000-4000-8000-000000000001";
const BOB: &str = "b0b00000-0000-4000-8000-000000000002";
const CHRIS: &str = "566bf9d7-c55a-45f8-91a6-e55e9b9b1325";

fn engine(env: &Env) -> Arc<SyncEngine> {
    let cfg = Arc::new(env.config());
    let store = Arc::new(Store::open(&cfg.server.data_dir).expect("store opens"));
    Arc::new(SyncEngine::load(cfg, store).expect("engine loads"))
}

fn find(s: &Snapshot, f: &str) -> Vec<String> {
    let base = dn::normalize(BASE).unwrap();
    s.search(&base, LdapSearchScope::Subtree, &common::filter::parse(f))
        .expect("base exists")
        .into_iter()
        .map(|id| s.entry(id).dn().to_string())
        .collect()
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().expect("object")
}

async fn mutate(env: &Env, m: Mutation) {
    env.emu
        .as_ref()
        .expect("emulator runs")
        .mutate(m)
        .await
        .expect("mutation applies");
}

fn emu(env: &Env) -> &emulator::RunningEmulator {
    env.emu.as_ref().expect("emulator runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_arrive_through_delta_requests_only() {
    let env = Env::contoso().await;
    let engine = engine(&env);
    let first = engine.sync_tenant("contoso").await.expect("first round");
    assert_eq!(first.mode, Mode::Full);
    assert_eq!(find(&engine.snapshot().load(), "(uid=alice)").len(), 1);
    emu(&env).reset_stats();

    let created = emu(&env)
        .mutate(Mutation::CreateUser {
            user: obj(json!({
                "userPrincipalName": "zoe.new@contoso.com",
                "displayName": "New, Zoe (Ops+QA)",
                "mail": "zoe.new@contoso.com",
                "accountEnabled": true,
                "userType": "Member"
            })),
        })
        .await
        .expect("user created");
    mutate(
        &env,
        Mutation::AddMember {
            group: PLATFORM_TEAM.into(),
            member: created.id.clone(),
        },
    )
    .await;
    mutate(
        &env,
        Mutation::UpdateUser {
            id: BOB.into(),
            patch: obj(json!({"displayName": "Robert \"Bob\" Builder"})),
        },
    )
    .await;
    mutate(
        &env,
        Mutation::UpdateUser {
            id: CHRIS.into(),
            patch: obj(json!({"accountEnabled": false})),
        },
    )
    .await;
    mutate(&env, Mutation::HardDeleteUser { id: ALICE.into() }).await;

    let r = engine.sync_tenant("contoso").await.expect("delta round");
    assert_eq!(r.mode, Mode::Delta, "{r:?}");
    let stats = emu(&env).stats();
    assert_eq!(
        (stats.users_list, stats.groups_list, stats.members),
        (0, 0, 0),
        "a delta round reads no full list: {stats:?}"
    );
    assert!(
        stats.users_delta >= 1 && stats.groups_delta >= 1,
        "{stats:?}"
    );

    let snap = engine.snapshot().load_full();
    assert_eq!(find(&snap, "(uid=zoe.new)").len(), 1, "new user served");
    assert!(
        r.changes.users_added.contains(&"zoe.new".to_string()),
        "{:?}",
        r.changes
    );
    assert_eq!(
        find(&snap, "(&(cn=Platform Team)(memberUid=zoe.new))").len(),
        1,
        "new membership served"
    );
    assert!(find(&snap, "(uid=alice)").is_empty(), "deleted user gone");
    assert!(
        find(&snap, "(memberUid=alice)").is_empty(),
        "a deleted user leaves every group"
    );
    assert!(
        find(&snap, "(uid=chris.lee)").is_empty(),
        "disabled user hidden"
    );
    assert_eq!(find(&snap, "(cn=Robert \"Bob\" Builder)").len(), 1);

    // A replayed round with no changes changes nothing.
    let again = engine
        .sync_tenant("contoso")
        .await
        .expect("empty delta round");
    assert_eq!(again.mode, Mode::Delta);
    assert!(again.changes.users_added.is_empty() && again.changes.users_removed.is_empty());

    // Restart: delta links and the mirror come back from disk; the next round is delta.
    drop(engine);
    let engine = self::engine(&env);
    let r = engine
        .sync_tenant("contoso")
        .await
        .expect("round after restart");
    assert_eq!(r.mode, Mode::Delta);
    assert_eq!(find(&engine.snapshot().load(), "(uid=zoe.new)").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_reports_a_pending_user_and_changes_nothing() {
    let env = Env::contoso().await;
    let engine = engine(&env);
    engine.sync_tenant("contoso").await.expect("first round");
    mutate(
        &env,
        Mutation::CreateUser {
            user: obj(json!({
                "userPrincipalName": "pending.person@contoso.com",
                "displayName": "Person, Pending",
                "accountEnabled": true
            })),
        },
    )
    .await;
    let before = engine.snapshot().load_full().generation;
    let dry = engine
        .run_round(
            "contoso",
            RoundOptions {
                dry_run: true,
                ..Default::default()
            },
            None,
        )
        .await
        .expect("dry run");
    assert!(dry.dry_run);
    assert_eq!(dry.changes.users_added, vec!["pending.person".to_string()]);
    let snap = engine.snapshot().load_full();
    assert_eq!(snap.generation, before, "no snapshot swapped");
    assert!(find(&snap, "(uid=pending.person)").is_empty());
    let hist = engine.history(Some("contoso"), 5).expect("history");
    assert_eq!(hist.first().map(|h| h.mode), Some(Mode::DryRun));

    let real = engine.sync_tenant("contoso").await.expect("real round");
    assert_eq!(
        real.mode,
        Mode::Delta,
        "the dry run did not consume the delta link"
    );
    assert_eq!(real.changes.users_added, vec!["pending.person".to_string()]);
    assert_eq!(
        find(&engine.snapshot().load(), "(uid=pending.person)").len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rounds_survive_throttling_failures_and_expired_tokens() {
    let env = Env::contoso().await;
    let engine = engine(&env);
    emu(&env).set_faults(Faults {
        throttle_every: 3,
        retry_after: "0.05".into(),
        fail_every: 5,
        fail_status: 503,
        latency_ms: 0,
    });
    let r = engine
        .sync_tenant("contoso")
        .await
        .expect("full round under faults");
    let stats = emu(&env).stats();
    assert!(stats.throttled > 0 && stats.failed > 0, "{stats:?}");
    assert!(r.users_read > 40);
    mutate(
        &env,
        Mutation::UpdateUser {
            id: BOB.into(),
            patch: obj(json!({"displayName": "Bob, under load"})),
        },
    )
    .await;
    let r = engine
        .sync_tenant("contoso")
        .await
        .expect("delta round under faults");
    assert_eq!(r.mode, Mode::Delta);
    emu(&env).set_faults(Faults::default());

    emu(&env).expire_delta_tokens();
    mutate(
        &env,
        Mutation::CreateUser {
            user: obj(
                json!({"userPrincipalName": "after.expiry@contoso.com", "accountEnabled": true}),
            ),
        },
    )
    .await;
    let r = engine.sync_tenant("contoso").await.expect("fallback round");
    assert!(
        r.full_read,
        "an expired delta link leads to a full round: {r:?}"
    );
    assert_eq!(r.mode, Mode::Full);
    let snap = engine.snapshot().load_full();
    assert_eq!(find(&snap, "(uid=after.expiry)").len(), 1);
    assert_eq!(find(&snap, "(cn=Bob, under load)").len(), 1);
    let next = engine.sync_tenant("contoso").await.expect("delta again");
    assert_eq!(next.mode, Mode::Delta);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_round_keeps_serving_and_is_recorded() {
    let mut env = Env::contoso().await;
    let engine = engine(&env);
    engine.sync_tenant("contoso").await.expect("first round");
    let served = engine.snapshot().load_full().len();
    env.stop_graph().await;
    let err = engine
        .sync_tenant("contoso")
        .await
        .expect_err("Graph is down");
    assert!(matches!(err, SyncError::Graph { .. }), "{err}");
    assert_eq!(engine.snapshot().load().len(), served);
    let hist = engine.history(Some("contoso"), 5).expect("history");
    assert_eq!(
        hist.first().map(|h| h.outcome),
        Some(HistoryOutcome::Failed)
    );
    assert!(hist.first().and_then(|h| h.error.clone()).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_deletion_is_refused_until_forced() {
    let env = Env::contoso().await;
    let engine = engine(&env);
    engine.sync_tenant("contoso").await.expect("first round");
    let users: Vec<String> = fixture_json("contoso.json")["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let doomed = users.len() * 6 / 10;
    for id in users.iter().take(doomed) {
        mutate(&env, Mutation::HardDeleteUser { id: id.clone() }).await;
    }
    let before = engine.snapshot().load_full();
    let served_before = find(&before, "(objectClass=posixAccount)").len();
    let err = engine.sync_tenant("contoso").await.expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, SyncError::Refused { .. }), "{msg}");
    assert!(
        msg.contains("--force") && msg.contains("max_deletions"),
        "{msg}"
    );
    let after = engine.snapshot().load_full();
    assert_eq!(after.generation, before.generation, "directory unchanged");
    let hist = engine.history(Some("contoso"), 1).expect("history");
    assert_eq!(
        hist.first().map(|h| h.outcome),
        Some(HistoryOutcome::Refused)
    );

    let forced = engine
        .run_round(
            "contoso",
            RoundOptions {
                force: true,
                ..Default::default()
            },
            None,
        )
        .await
        .expect("forced round");
    assert!(
        forced.changes.users_removed.len() > served_before / 10,
        "{:?}",
        forced.changes
    );
    assert!(find(&engine.snapshot().load(), "(objectClass=posixAccount)").len() < served_before);
}

// Platform Team (PLATFORM_TEAM) is nested in Engineering, itself in All Staff; these two
// groups are flat.
const VPN_USERS: &str = "8fe304db-7e80-4f15-9ccc-cc5279b5c606";
const LINUX_ADMINS: &str = "85dcd1c5-b980-4e90-a7e6-126e34b473f5";
const SVC_BACKUP: &str = "6a423cf9-d330-4549-8d14-cf1a4cc34636";
const HIRO: &str = "d68c2005-3f91-4d95-bcc8-9b41f339a684";

/// A delta round is applied as a patch on the served directory. What it serves must be exactly
/// what deriving everything from the same mirror serves (a restart under a changed setting
/// derives everything), and the rows it stored must be what a plain restart serves.
#[tokio::test(flavor = "multi_thread")]
async fn a_patched_delta_round_serves_what_a_full_derivation_serves() {
    let env = Env::contoso().await;
    let (vpn, linux) = (VPN_USERS.to_string(), LINUX_ADMINS.to_string());
    let engine = engine(&env);
    engine.sync_tenant("contoso").await.expect("first round");
    let before = dump(&engine.snapshot().load());

    let zoe = emu(&env)
        .mutate(Mutation::CreateUser {
            user: obj(json!({
                "userPrincipalName": "zoe.new@contoso.com",
                "displayName": "New, Zoe (Ops+QA)",
                "mail": "zoe.new@contoso.com",
                "accountEnabled": true,
                "userType": "Member",
                "createdDateTime": "2026-11-01T10:00:00Z"
            })),
        })
        .await
        .expect("user created");
    for group in [vpn.clone(), PLATFORM_TEAM.to_string()] {
        mutate(
            &env,
            Mutation::AddMember {
                group,
                member: zoe.id.clone(),
            },
        )
        .await;
    }
    // A new UPN renames Bob: his entry, his private group and every member list showing him.
    mutate(
        &env,
        Mutation::UpdateUser {
            id: BOB.into(),
            patch: obj(json!({"userPrincipalName": "robert.builder@contoso.com", "mail": "robert.builder@contoso.com"})),
        },
    )
    .await;
    mutate(
        &env,
        Mutation::UpdateUser {
            id: CHRIS.into(),
            patch: obj(json!({"accountEnabled": false})),
        },
    )
    .await;
    mutate(
        &env,
        Mutation::HardDeleteUser {
            id: SVC_BACKUP.into(),
        },
    )
    .await;
    mutate(
        &env,
        Mutation::RemoveMember {
            group: linux.clone(),
            member: HIRO.into(),
        },
    )
    .await;

    let r = engine.sync_tenant("contoso").await.expect("delta round");
    assert_eq!(r.mode, Mode::Delta, "{r:?}");
    assert!(
        r.patched,
        "the round is patched, not derived in full: {r:?}"
    );
    let patched = dump(&engine.snapshot().load());
    assert_ne!(patched, before, "the round changed the directory");
    assert!(
        patched
            .keys()
            .any(|dn| dn.starts_with("uid=robert.builder,")),
        "{:?}",
        patched.keys()
    );
    assert!(
        r.changes.users_added.contains(&"zoe.new".to_string()),
        "{:?}",
        r.changes
    );
    let zoe_groups = &patched["uid=zoe.new,ou=people,dc=contoso,dc=com"];
    for g in ["Platform Team", "Engineering", "All Staff", "VPN Users"] {
        assert!(
            zoe_groups
                .iter()
                .any(|l| l.starts_with(&format!("memberOf: cn={g},"))),
            "Zoe is in {g}, directly or through nesting: {zoe_groups:?}"
        );
    }
    let history = engine.history(Some("contoso"), 1).expect("history");
    assert!(history[0].patched, "history records the patched round");
    drop(engine);

    // Same configuration: the stored rows the patch wrote are served as they are, and the
    // record of how they were derived lets the next round patch them too.
    let same = self::engine(&env);
    assert!(same.started_from_stored_directory());
    assert_eq!(dump(&same.snapshot().load()), patched);
    mutate(
        &env,
        Mutation::UpdateUser {
            id: zoe.id.clone(),
            patch: obj(json!({"jobTitle": "Night shift, Ops"})),
        },
    )
    .await;
    let r = same
        .sync_tenant("contoso")
        .await
        .expect("round after restart");
    assert!(
        r.patched,
        "the first round after a restart is patched: {r:?}"
    );
    let patched = dump(&same.snapshot().load());
    assert!(
        patched["uid=zoe.new,ou=people,dc=contoso,dc=com"]
            .contains(&"title: Night shift, Ops".to_string())
    );
    drop(same);

    // A setting the entries do not depend on, but the fingerprint does: everything is derived
    // again from the stored mirror and allocations, and must come out the same.
    let cfg = env.config_with("", "  interval = \"17m\"\n");
    let store = Arc::new(Store::open(&cfg.server.data_dir).expect("store opens"));
    let derived = SyncEngine::load(Arc::new(cfg), store).expect("engine loads");
    assert!(!derived.started_from_stored_directory());
    let full = dump(&derived.snapshot().load());
    for (dn, lines) in &full {
        assert_eq!(patched.get(dn), Some(lines), "{dn} differs");
    }
    assert_eq!(full.len(), patched.len(), "same entries");
}
