//! The engine's side of patched rounds (see `directory::derive::patch` and `patch.rs`): each
//! tenant's derivation basis, deriving a round as a patch of the served directory, and
//! compacting a grown snapshot overlay off the request path.

use super::prepare::{DerivedRound, RoundDerivation};
use super::{Progress, SyncEngine, patch, report, say};
use crate::store::TenantState;
use crate::sync::report::Changes;
use arc_swap::ArcSwap;
use config::{Config, TenantConfig};
use directory::Snapshot;
use directory::derive::{BuildReport, TenantInput};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

/// A patched snapshot being compacted off the request path, and the patches rounds applied
/// after it, to replay on the flat copy before it is served.
pub(super) struct Compaction {
    id: u64,
    since: Vec<(Vec<directory::Entry>, Vec<Box<str>>)>,
}

impl SyncEngine {
    /// After a full derivation of every tenant into `snap`: each tenant's report with its
    /// served counts, what `records` stores and `set_bases` adopts.
    pub(super) fn full_derivations(
        snap: &Snapshot,
        config: &Config,
        mut reports: HashMap<String, BuildReport>,
    ) -> HashMap<String, (BuildReport, Changes)> {
        let empty = Snapshot::empty();
        config
            .tenant
            .iter()
            .filter_map(|t| {
                let r = reports.remove(&t.name)?;
                Some((t.name.clone(), (r, report::diff(&empty, snap, &t.name))))
            })
            .collect()
    }

    /// The basis record of each fully derived tenant, to store with its rows.
    pub(super) fn records(
        derived: &HashMap<String, (BuildReport, Changes)>,
    ) -> HashMap<String, serde_json::Value> {
        derived
            .iter()
            .map(|(t, (r, c))| (t.clone(), patch::record(r, c)))
            .collect()
    }

    /// Adopt the fully derived tenants' bases, once their snapshot is served.
    pub(super) fn set_bases(
        &self,
        states: &HashMap<String, TenantState>,
        derived: HashMap<String, (BuildReport, Changes)>,
    ) {
        let bases = derived
            .into_iter()
            .filter_map(|(t, (report, c))| {
                let st = states.get(&t)?;
                Some((t, patch::Basis::after_full(report, &st.mirror, &c)))
            })
            .collect();
        if let Ok(mut b) = self.bases.lock() {
            *b = bases;
        }
    }

    /// The service accounts allowed to read `tenant` (served under its `ou=services`).
    pub(super) fn services_of<'a>(
        config: &'a Config,
        tenant: &str,
    ) -> Vec<&'a config::ServiceAccount> {
        config
            .service_account
            .iter()
            .filter(|s| s.tenants.is_empty() || s.tenants.iter().any(|x| x == tenant))
            .collect()
    }

    pub(super) fn take_basis(&self, tenant: &str) -> Option<patch::Basis> {
        self.bases.lock().ok()?.remove(tenant)
    }

    pub(super) fn put_basis(&self, tenant: &str, basis: Option<patch::Basis>) {
        if let (Some(b), Ok(mut map)) = (basis, self.bases.lock()) {
            map.insert(tenant.to_string(), b);
        }
    }

    /// Derive a round as a patch on the served snapshot, when the changes allow it
    /// (`None`: derive in full; the reason is in the progress lines and the log).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn patch_round(
        &self,
        cfg: &TenantConfig,
        old: &TenantState,
        st: &mut TenantState,
        basis: &patch::Basis,
        before: &Snapshot,
        touched: &std::collections::BTreeSet<String>,
        now: i64,
        progress: Option<&Progress>,
    ) -> Option<DerivedRound> {
        use directory::derive::patch::{Derivation, Prior, derive_patch};
        let config = self.config();
        let index = config.tenant.iter().position(|t| t.name == cfg.name)?;
        let services = SyncEngine::services_of(&config, &cfg.name);
        let admin_ssh_keys = self.admin_ssh_keys(&cfg.name);
        let input = TenantInput {
            index: index as u16,
            cfg,
            mirror: &st.mirror,
            services,
            now,
            admin_ssh_keys: &admin_ssh_keys,
        };
        let prior = Prior {
            snapshot: before,
            mirror: &old.mirror,
            report: &basis.report,
            members: &basis.members,
        };
        // Declined patches leave the allocations as they were (derive_patch's contract).
        let patch = match derive_patch(&input, &prior, touched, &mut st.alloc) {
            Ok(Derivation::Patch(p)) => p,
            Ok(Derivation::Full(reason)) => {
                tracing::info!(tenant = %cfg.name, "deriving the whole directory: {reason}");
                say(progress, format!("deriving the whole directory: {reason}"));
                return None;
            }
            Err(e) => {
                tracing::info!(tenant = %cfg.name, "deriving the whole directory: {e}");
                return None;
            }
        };
        say(
            progress,
            format!(
                "patching the directory: {} entries changed, {} removed",
                patch.upserts.len(),
                patch.removals.len()
            ),
        );
        let changes = patch::changes(before, basis, index as u16, &patch.upserts, &patch.removals);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let snapshot = before.patch(generation, patch.upserts.clone(), patch.removals.clone());
        Some((
            snapshot,
            patch.report,
            changes,
            RoundDerivation::Patch {
                upserts: patch.upserts,
                removals: patch.removals,
                groups_changed: patch.groups_changed,
            },
        ))
    }
}

static COMPACTIONS: AtomicU64 = AtomicU64::new(1);

impl SyncEngine {
    /// After a round swapped `snapshot` in: a patch joins the compaction in progress, or a
    /// grown overlay starts one; a full derivation makes a compaction in progress pointless.
    pub(super) fn after_swap(
        &self,
        snapshot: &Arc<Snapshot>,
        patch: Option<(Vec<directory::Entry>, Vec<Box<str>>)>,
    ) {
        let Ok(mut c) = self.compaction.lock() else {
            return;
        };
        match (c.as_mut(), patch) {
            (Some(job), Some(p)) => job.since.push(p),
            (Some(_), None) => *c = None,
            (None, Some(_)) if snapshot.wants_compaction() => {
                let id = COMPACTIONS.fetch_add(1, Ordering::Relaxed);
                *c = Some(Compaction {
                    id,
                    since: Vec::new(),
                });
                compact_in_background(
                    id,
                    Arc::clone(snapshot),
                    Arc::clone(&self.snapshot),
                    Arc::clone(&self.states),
                    Arc::clone(&self.compaction),
                );
            }
            _ => {}
        }
    }

    /// Forget a compaction in progress (the served snapshot was derived in full).
    pub(super) fn cancel_compaction(&self) {
        if let Ok(mut c) = self.compaction.lock() {
            *c = None;
        }
    }
}

/// Replace a patched snapshot whose overlay has grown by a flat copy, built on a blocking
/// thread so no round or request waits for it. Patches rounds applied meanwhile are replayed
/// on the copy, with rounds held off (the round lock) only for that replay and the swap.
fn compact_in_background(
    id: u64,
    source: Arc<Snapshot>,
    served: Arc<ArcSwap<Snapshot>>,
    rounds: Arc<Mutex<Option<HashMap<String, TenantState>>>>,
    job: Arc<std::sync::Mutex<Option<Compaction>>>,
) {
    let Ok(h) = tokio::runtime::Handle::try_current() else {
        return;
    };
    h.spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut flat = Some(source.compact());
        drop(source);
        loop {
            let Ok(_round_lock) = rounds.try_lock() else {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            };
            let Ok(mut c) = job.lock() else { return };
            if c.as_ref().map(|j| j.id) != Some(id) {
                return;
            }
            let since = c.take().map(|j| j.since).unwrap_or_default();
            let Some(mut snap) = flat.take() else { return };
            let generation = served.load().generation;
            for (upserts, removals) in since {
                snap = snap.patch(generation, upserts, removals);
            }
            let old = served.swap(Arc::new(snap));
            drop(c);
            drop(old);
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "patched directory compacted"
            );
            return;
        }
    });
}
