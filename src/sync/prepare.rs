//! Everything of a round that does not commit: read Graph (the changes since the stored delta
//! links, or everything), merge into a copy of the mirror, derive the directory (as a patch of
//! the served one when the changes allow, see `patch_round.rs`, else in full), diff it and
//! check the deletion guard.

use super::engine::Derived;
use super::{
    Mode, Progress, RoundOptions, RoundReport, SyncEngine, SyncError, delta, fetch, guard, patch,
    report, say,
};
use crate::store::TenantState;
use crate::sync::report::Changes;
use config::TenantConfig;
use directory::Snapshot;
use directory::derive::BuildReport;
use graph::GraphClient;
use model::mirror::merge::DeltaStats;
use model::time::generalized_time;
use std::collections::{BTreeSet, HashMap};

/// A round ready to commit.
pub(super) struct Prepared {
    pub(super) report: RoundReport,
    pub(super) snapshot: Snapshot,
    /// The tenant's new state, allocations extended.
    pub(super) state: TenantState,
    /// How the round was derived: decides what is written and the next round's basis.
    pub(super) derived: RoundDerivation,
}

pub(super) enum RoundDerivation {
    /// Everything derived again; the stored rows are diffed from the snapshots.
    Full,
    /// A patch on the served snapshot: the rows it rewrites and the Graph groups whose
    /// membership changed.
    Patch {
        upserts: Vec<directory::Entry>,
        removals: Vec<Box<str>>,
        groups_changed: Vec<String>,
    },
}

/// What reading Graph gave: the tenant's new state, what the delta changes touched, and
/// whether everything was read.
struct GraphRead {
    state: TenantState,
    stats: DeltaStats,
    full_read: bool,
}

/// A derived round: the snapshot to serve, the tenant's build report, what changed, and how.
pub(super) type DerivedRound = (Snapshot, BuildReport, Changes, RoundDerivation);

/// A stored deltaLink Graph no longer accepts: a sync-state code, 410, or any 4xx other than
/// 401/403/429 (those are about the credential or throttling, not the link).
fn delta_link_rejected(e: &graph::GraphError) -> bool {
    e.is_sync_state_invalid()
        || e.api()
            .is_some_and(|a| (400..500).contains(&a.status) && !matches!(a.status, 401 | 403 | 429))
}

impl SyncEngine {
    /// Everything of a round that does not commit: fetch, merge, derive, diff, guard check.
    pub(super) async fn prepare(
        &self,
        cfg: &TenantConfig,
        states: &HashMap<String, TenantState>,
        basis: Option<&patch::Basis>,
        opts: RoundOptions,
        progress: Option<&Progress>,
        now: i64,
    ) -> Result<Prepared, SyncError> {
        let tenant = cfg.name.as_str();
        let started = std::time::Instant::now();
        // `ctl sync` hears of every retry as it happens: a round waiting on a failing Graph
        // says so at once rather than after minutes of backoff.
        let notify = progress.map(|p| {
            let p = p.clone();
            graph::RetryNotify(std::sync::Arc::new(move |m: &str| {
                let _ = p.send(m.to_owned());
            }))
        });
        let options = graph::ClientOptions {
            retry: graph::RetryPolicy {
                notify,
                ..graph::RetryPolicy::default()
            },
            ..graph::ClientOptions::default()
        };
        let client =
            GraphClient::new(&crate::settings::tenant_options(cfg), options).map_err(|source| {
                SyncError::Graph {
                    tenant: tenant.to_string(),
                    source,
                }
            })?;
        let empty = TenantState::default();
        let old = states.get(tenant).unwrap_or(&empty);
        let keep_secs = cfg.users.keep_deleted_for.get().as_secs() as i64;
        let GraphRead {
            state: mut st,
            stats,
            full_read,
        } = self
            .read_graph(&client, cfg, old, basis, opts, progress, now)
            .await?;
        let fetch_ms = started.elapsed().as_millis() as u64;
        delta::purge_deleted(&mut st.mirror, keep_secs, now);
        let users_read = st.mirror.users.len();
        let groups_read = st.mirror.groups.len();
        let (snapshot, build, changes, derived) = self.derive_round(
            cfg,
            states,
            old,
            &mut st,
            basis.filter(|_| !full_read),
            &stats.touched,
            now,
            progress,
        );
        let patched = matches!(derived, RoundDerivation::Patch { .. });
        let removed = changes.users_removed.len();
        let would_refuse = guard::exceeded(cfg.sync.max_deletions, changes.users_before, removed)
            .map(|limit| {
                format!(
                    "this round would remove {removed} of {} served users, more than sync.max_deletions = {} allows ({limit})",
                    changes.users_before, cfg.sync.max_deletions
                )
            });
        let mode = if opts.dry_run {
            Mode::DryRun
        } else if full_read {
            Mode::Full
        } else {
            Mode::Delta
        };
        Ok(Prepared {
            report: RoundReport {
                tenant: tenant.to_string(),
                users_read,
                groups_read,
                build,
                credential_used: client.credential_used(),
                duration_ms: started.elapsed().as_millis(),
                mode,
                full_read,
                dry_run: opts.dry_run,
                changes,
                delta: stats,
                would_refuse,
                patched,
                fetch_ms,
                derive_ms: (started.elapsed().as_millis() as u64).saturating_sub(fetch_ms),
            },
            snapshot,
            state: st,
            derived,
        })
    }

    /// Read Graph: the changes since the stored delta links when they can be used, everything
    /// otherwise (asked for, due, no links yet, links made with another `$select`, or links
    /// Graph no longer accepts).
    #[allow(clippy::too_many_arguments)]
    async fn read_graph(
        &self,
        client: &GraphClient,
        cfg: &TenantConfig,
        old: &TenantState,
        basis: Option<&patch::Basis>,
        opts: RoundOptions,
        progress: Option<&Progress>,
        now: i64,
    ) -> Result<GraphRead, SyncError> {
        let tenant = cfg.name.as_str();
        let keep_secs = cfg.users.keep_deleted_for.get().as_secs() as i64;
        let full_due = old
            .last_full
            .is_none_or(|t| now.saturating_sub(t) >= cfg.sync.full_every.get().as_secs() as i64);
        // Links made with another `$select` (users.ssh_keys_attribute,
        // users.uid_number_attribute or groups.gid_number_attribute changed) would never return
        // the new property: read in full once.
        let select_changed = old.delta.as_ref().is_some_and(|l| {
            !l.selects_users(client.user_select()) || !l.selects_groups(client.group_select())
        });
        let full = opts.full || full_due || old.delta.is_none() || select_changed;
        if !full && let Some(links) = &old.delta {
            say(progress, "reading changes (users delta)");
            let mut stats = DeltaStats::default();
            match self
                .delta_state(
                    client,
                    old,
                    links,
                    keep_secs > 0,
                    now,
                    &mut stats,
                    progress,
                    basis.map(|b| &b.members),
                )
                .await
            {
                Ok(state) => {
                    return Ok(GraphRead {
                        state,
                        stats,
                        full_read: false,
                    });
                }
                Err(SyncError::Graph { source, .. }) if delta_link_rejected(&source) => {
                    say(
                        progress,
                        format!(
                            "the stored delta link was rejected ({source}); running a full round"
                        ),
                    );
                    tracing::warn!(tenant = %tenant, "delta link rejected, full round: {source}");
                }
                Err(e) => return Err(e),
            }
        }
        say(progress, "reading users, groups and members (full)");
        let state = full_state(client, old, keep_secs, now, progress).await?;
        Ok(GraphRead {
            state,
            stats: DeltaStats::default(),
            full_read: true,
        })
    }

    /// Derive the round's directory: as a patch of the served snapshot when there is a basis
    /// and the changes allow it, else in full.
    #[allow(clippy::too_many_arguments)]
    fn derive_round(
        &self,
        cfg: &TenantConfig,
        states: &HashMap<String, TenantState>,
        old: &TenantState,
        st: &mut TenantState,
        basis: Option<&patch::Basis>,
        touched: &BTreeSet<String>,
        now: i64,
        progress: Option<&Progress>,
    ) -> DerivedRound {
        let tenant = cfg.name.as_str();
        let before = self.snapshot.load();
        let patched = basis.and_then(|basis| {
            self.patch_round(cfg, old, st, basis, &before, touched, now, progress)
        });
        if let Some(p) = patched {
            return p;
        }
        say(progress, "applying policy and deriving the directory");
        let Derived {
            snapshot,
            mut reports,
            ..
        } = self.derive(states, Some((tenant, st)));
        let changes = report::diff(&before, &snapshot, tenant);
        say(progress, changed_counts(&changes));
        let build = reports.remove(tenant).unwrap_or_default();
        (snapshot, build, changes, RoundDerivation::Full)
    }

    /// Read both delta collections from the stored links and merge them into a copy of the
    /// mirror. Graph sends only changed objects, so the work beyond the copy grows with them.
    #[allow(clippy::too_many_arguments)]
    async fn delta_state(
        &self,
        client: &GraphClient,
        old: &TenantState,
        links: &crate::store::DeltaLinks,
        keep_deleted: bool,
        now: i64,
        stats: &mut DeltaStats,
        progress: Option<&Progress>,
        index: Option<&model::mirror::MemberIndex>,
    ) -> Result<TenantState, SyncError> {
        let tenant = client.tenant_name().to_string();
        let graph_err = |source| SyncError::Graph {
            tenant: tenant.clone(),
            source,
        };
        let users = fetch::read_delta(client, &links.users)
            .await
            .map_err(graph_err)?;
        say(progress, "reading changes (groups delta)");
        let groups = fetch::read_delta(client, &links.groups)
            .await
            .map_err(graph_err)?;
        let mut m = old.mirror.clone();
        let delta_err = |source| SyncError::Delta {
            tenant: tenant.clone(),
            source,
        };
        delta::apply_users_indexed(&mut m, &users.objects, keep_deleted, now, stats, index)
            .map_err(delta_err)?;
        let removed: std::collections::BTreeSet<String> = users
            .objects
            .iter()
            .filter(|o| o.get("@removed").is_some())
            .filter_map(|o| o.get("id").and_then(serde_json::Value::as_str))
            .map(str::to_string)
            .collect();
        delta::apply_groups(&mut m, &groups.objects, &removed, stats).map_err(delta_err)?;
        delta::stamp_touched(&mut m, &stats.touched, &generalized_time(now));
        say(
            progress,
            format!(
                "{} user and {} group changes read ({} and {} pages)",
                users.objects.len(),
                groups.objects.len(),
                users.pages,
                groups.pages
            ),
        );
        Ok(TenantState {
            mirror: m,
            alloc: old.alloc.clone(),
            last_sync: Some(now),
            last_full: old.last_full,
            delta: Some(crate::store::DeltaLinks {
                users: users.delta_link,
                groups: groups.delta_link,
                user_select: links.user_select.clone(),
                group_select: links.group_select.clone(),
            }),
        })
    }
}

/// What a derivation changed in the served directory, in counts.
pub(super) fn changed_counts(c: &super::Changes) -> String {
    format!(
        "directory: users +{} ~{} -{} ({} inactivated), groups +{} ~{} -{}",
        c.users_added.len(),
        c.users_updated.len(),
        c.users_removed.len(),
        c.users_inactivated.len(),
        c.groups_added.len(),
        c.groups_updated.len(),
        c.groups_removed.len()
    )
}

/// Read everything from Graph into a new state. Users Graph no longer lists are deleted: they
/// are kept for `users.keep_deleted_for` when that is set.
async fn full_state(
    client: &GraphClient,
    old: &TenantState,
    keep_secs: i64,
    now: i64,
    progress: Option<&Progress>,
) -> Result<TenantState, SyncError> {
    let (mut mirror, links) =
        fetch::full_read(client, progress)
            .await
            .map_err(|source| SyncError::Graph {
                tenant: client.tenant_name().to_string(),
                source,
            })?;
    mirror.deleted_users = old.mirror.deleted_users.clone();
    for (id, u) in &old.mirror.users {
        if !mirror.users.contains_key(id) && keep_secs > 0 {
            mirror.deleted_users.insert(
                id.clone(),
                model::DeletedUser {
                    user: u.clone(),
                    deleted_at: now,
                },
            );
        }
    }
    let present: Vec<String> = mirror
        .deleted_users
        .keys()
        .filter(|id| mirror.users.contains_key(*id))
        .cloned()
        .collect();
    for id in present {
        mirror.deleted_users.remove(&id);
    }
    mirror.stamp_changes(&old.mirror, &generalized_time(now));
    Ok(TenantState {
        mirror,
        alloc: old.alloc.clone(),
        last_sync: Some(now),
        last_full: Some(now),
        delta: links,
    })
}
