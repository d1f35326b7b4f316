//! Following the shared database (`[store] backend = "postgres"`): a replica learns of other
//! replicas' commits from LISTEN/NOTIFY, with a poll every second as the fallback, pulls the
//! changed rows into its redb cache (`Store::pull`) and adopts them: the committed tenant state
//! (mirror and allocations) is patched row by row, the served snapshot is patched with the
//! changed entries (`Snapshot::patch`, the same machinery a delta round uses), and the record of
//! how the directory was derived becomes this replica's basis for its own next round. Only a
//! reload (the replica was too far behind, or followed another database) or a change of the
//! tenant's base DN reads the whole directory from the cache again.
//!
//! A round runs under the tenant's lock after catching up (`catch_up`), so it starts from the
//! last committed version whichever replica committed it.

use super::{SyncEngine, SyncError, drop_in_background, patch, persist};
use crate::store::rows::{self, Kind};
use crate::store::{Pulled, StoreError, TenantState};
use directory::{Entry, Snapshot};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often versions are polled when no notification arrives.
const POLL: Duration = Duration::from_secs(1);

/// How long `ctl sync` waits for another replica's round of the same tenant to end.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// A patch larger than this share of the tenant's entries is applied by reading the directory
/// from the cache again instead.
const RELOAD_SHARE: usize = 4;

impl SyncEngine {
    /// Whether the store is shared with other replicas.
    pub fn is_shared(&self) -> bool {
        self.store.remote().is_some()
    }

    /// How often this replica applied other replicas' commits by patching its snapshot, and
    /// by reading its whole directory from the cache again.
    pub fn follow_counts(&self) -> (u64, u64) {
        (
            self.follow_counts.patched.load(Ordering::Relaxed),
            self.follow_counts.reloaded.load(Ordering::Relaxed),
        )
    }

    /// Follow the shared database until the process ends (nothing with the redb backend).
    pub fn spawn_follower(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        self.store.remote()?;
        let engine = Arc::clone(self);
        Some(tokio::spawn(async move { engine.follow().await }))
    }

    async fn follow(self: Arc<Self>) {
        let mut listener = None;
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let Some(remote) = self.store.remote() else {
                return;
            };
            if listener.is_none() {
                listener = remote.listen().await.ok();
            }
            let mut due: HashSet<String> = HashSet::new();
            match listener.as_mut() {
                Some(l) => tokio::select! {
                    n = l.rx.recv() => match n {
                        Some((tenant, _)) => { due.insert(tenant); }
                        None => listener = None,
                    },
                    _ = poll.tick() => due.extend(self.behind().await),
                },
                None => {
                    poll.tick().await;
                    due.extend(self.behind().await);
                }
            }
            for tenant in due {
                if self.config().tenant(&tenant).is_some()
                    && let Err(e) = self.follow_tenant(&tenant).await
                {
                    tracing::warn!(tenant = %tenant, "cannot apply the shared store's changes yet: {e}");
                }
            }
        }
    }

    /// The configured tenants whose cache is behind the database.
    async fn behind(&self) -> Vec<String> {
        let Some(remote) = self.store.remote() else {
            return Vec::new();
        };
        let Ok(versions) = remote.versions_async().await else {
            return Vec::new();
        };
        self.config()
            .tenant
            .iter()
            .filter(|t| {
                versions
                    .get(&t.name)
                    .is_some_and(|v| self.store.is_behind(&t.name, v))
            })
            .map(|t| t.name.clone())
            .collect()
    }

    /// Apply what other replicas committed for `tenant`. While a round of this replica holds
    /// the tenant states, only directory passwords (and history) are applied; the rest waits
    /// for the next poll.
    async fn follow_tenant(&self, tenant: &str) -> Result<(), SyncError> {
        let store = self.store();
        let name = tenant.to_string();
        let Ok(mut guard) = self.states.try_lock() else {
            return blocking(move || store.pull_credentials(&name), tenant).await;
        };
        let pulled = blocking(move || store.pull(&name), tenant).await?;
        if let Some(p) = pulled {
            // Another replica ran a round: it holds the mirror, this one follows without one.
            if p.touches_state() {
                self.release_mirror(&mut guard, tenant);
            }
            self.adopt(guard.as_mut(), tenant, p)?;
        }
        Ok(())
    }

    /// Before a round of `tenant` (its lock held): bring cache, state and snapshot up to the
    /// database's version.
    pub(super) fn catch_up(
        &self,
        states: Option<&mut HashMap<String, TenantState>>,
        tenant: &str,
    ) -> Result<(), SyncError> {
        let pulled = self.store.pull(tenant).map_err(|source| SyncError::Store {
            tenant: tenant.to_string(),
            source,
        })?;
        if let Some(p) = pulled {
            self.adopt(states, tenant, p)?;
        }
        Ok(())
    }

    /// With a shared store, before a round of `tenant`: take the tenant's round lock (a
    /// scheduled round gives way to another replica's; `ctl sync` waits for it) and catch up.
    /// `states` may not be held yet: a replica that follows reads the mirror only once it
    /// knows it runs the round.
    pub(super) async fn shared_round_start(
        &self,
        tenant: &str,
        opts: super::RoundOptions,
        states: &mut Option<HashMap<String, TenantState>>,
        progress: Option<&super::Progress>,
    ) -> Result<Option<crate::store::RoundLock>, SyncError> {
        if !self.is_shared() {
            return Ok(None);
        }
        let wait = if opts.trigger == super::Trigger::Manual {
            super::say(
                progress,
                "taking the tenant's round lock in the shared store",
            );
            LOCK_WAIT
        } else {
            Duration::ZERO
        };
        let store = self.store();
        let name = tenant.to_string();
        let lock = blocking(move || store.lock_round(&name, wait), tenant).await?;
        let Some(lock) = lock else {
            return Err(SyncError::Elsewhere {
                tenant: tenant.to_string(),
            });
        };
        self.catch_up(states.as_mut(), tenant)?;
        // Every replica's scheduler runs at its own phase: a scheduled round soon after
        // another replica's successful one would only repeat it.
        let config = self.config();
        let last_sync = || match states.as_ref() {
            Some(held) => held.get(tenant).and_then(|st| st.last_sync),
            None => self.store.last_sync(tenant).ok().flatten(),
        };
        if opts.trigger == super::Trigger::Scheduled
            && let (Some(cfg), Some(last)) = (config.tenant(tenant), last_sync())
        {
            let half = i64::try_from(cfg.sync.interval.get().as_secs() / 2).unwrap_or(i64::MAX);
            let ago = self.clock.now_unix().saturating_sub(last);
            if ago < half {
                return Err(SyncError::Recent {
                    tenant: tenant.to_string(),
                    ago,
                });
            }
        }
        Ok(Some(lock))
    }

    /// Adopt rows pulled into the cache: the tenant state (when loaded), the basis of the next
    /// round and the served snapshot.
    fn adopt(
        &self,
        states: Option<&mut HashMap<String, TenantState>>,
        tenant: &str,
        p: Pulled,
    ) -> Result<(), SyncError> {
        let err = |source: StoreError| SyncError::Store {
            tenant: tenant.to_string(),
            source,
        };
        let record = p
            .rows
            .iter()
            .find(|r| r.kind == Kind::Meta && r.key == "directory_basis")
            .and_then(|r| r.value.as_deref())
            .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok());
        match states {
            Some(states) if p.touches_state() => {
                if p.reload {
                    let st = self.store.load_tenant(tenant).map_err(err)?;
                    drop_in_background(states.insert(tenant.to_string(), st));
                } else {
                    let st = states.entry(tenant.to_string()).or_default();
                    rows::apply_to_state(st, &p.rows).map_err(err)?;
                }
                let basis = record
                    .as_ref()
                    .zip(states.get(tenant))
                    .and_then(|(r, st)| patch::from_record(r, &st.mirror));
                // A basis from before these rows would patch the wrong directory.
                drop(self.take_basis(tenant));
                self.put_basis(tenant, basis);
            }
            Some(_) => {}
            None => {
                // The states are read from the (now current) cache when first needed; the
                // record becomes the basis then. Rows that change the state without a record
                // leave none: a record from before them would patch the wrong directory.
                if let Ok(mut m) = self.stored_bases.lock() {
                    match record {
                        Some(r) => {
                            m.insert(tenant.to_string(), r);
                        }
                        None if p.touches_state() => {
                            m.remove(tenant);
                        }
                        None => {}
                    }
                }
                drop(self.take_basis(tenant));
            }
        }
        if p.touches_entries()
            && let Err(e) = self.adopt_entries(tenant, &p)
        {
            // The served entries stay behind the record just adopted: the next round derives
            // in full rather than patch a directory the record does not describe.
            drop(self.take_basis(tenant));
            if let Ok(mut m) = self.stored_bases.lock() {
                m.remove(tenant);
            }
            return Err(e);
        }
        tracing::info!(tenant = %tenant, version = p.version, rows = p.rows.len(), reload = p.reload,
            "applied the shared store's changes");
        Ok(())
    }

    /// Serve the pulled entries: a patch of the served snapshot when the tenant is served and
    /// its base DN unchanged, else the whole directory read again from the cache.
    fn adopt_entries(&self, tenant: &str, p: &Pulled) -> Result<(), SyncError> {
        let Some(index) = self.config().tenant.iter().position(|t| t.name == tenant) else {
            return Ok(());
        };
        let before = self.snapshot.load_full();
        let served = persist::info(&before, tenant).is_some();
        let entries = p.rows.iter().filter(|r| r.kind == Kind::Entry).count();
        // Every commit of entries writes the tenant's info row; only a new base DN matters.
        let served_ndn = persist::info(&before, tenant).map(|i| i.base_ndn.to_string());
        let info_changed = p
            .rows
            .iter()
            .filter(|r| r.kind == Kind::Meta && r.key == "directory_info")
            .any(|r| {
                let ndn = r
                    .value
                    .as_deref()
                    .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                    .and_then(|v| v.get("base_ndn")?.as_str().map(str::to_string));
                ndn != served_ndn
            });
        let tenant_size = before
            .iter()
            .filter(|(_, e)| e.tenant == index as u16)
            .count();
        let patchable = !p.reload
            && served
            && !info_changed
            && entries.saturating_mul(RELOAD_SHARE) <= tenant_size.max(1);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        if patchable {
            let mut upserts: Vec<Entry> = Vec::new();
            let mut removals: Vec<Box<str>> = Vec::new();
            for r in p.rows.iter().filter(|r| r.kind == Kind::Entry) {
                match &r.value {
                    Some(v) => match crate::store::directory::decode(v, index as u16) {
                        Some(e) => upserts.push(e),
                        None => return self.reload_entries(generation),
                    },
                    None => removals.push(r.key.clone().into_boxed_str()),
                }
            }
            self.follow_counts.patched.fetch_add(1, Ordering::Relaxed);
            let snap = Arc::new(before.patch(generation, upserts.clone(), removals.clone()));
            drop_in_background(self.snapshot.swap(Arc::clone(&snap)));
            self.after_swap(&snap, Some((upserts, removals)));
            return Ok(());
        }
        self.reload_entries(generation)
    }

    /// Serve every tenant's directory as the cache holds it.
    fn reload_entries(&self, generation: u64) -> Result<(), SyncError> {
        self.follow_counts.reloaded.fetch_add(1, Ordering::Relaxed);
        let builds = persist::load_builds_any(&self.store, &self.config())
            .map_err(|source| SyncError::Store {
                tenant: String::new(),
                source,
            })?
            .unwrap_or_default();
        self.cancel_compaction();
        let snap = Snapshot::new(generation, builds);
        drop_in_background(self.snapshot.swap(Arc::new(snap)));
        Ok(())
    }
}

/// See `SyncEngine::follow_counts`.
#[derive(Default)]
pub(super) struct FollowCounts {
    patched: std::sync::atomic::AtomicU64,
    reloaded: std::sync::atomic::AtomicU64,
}

/// Run a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    tenant: &str,
) -> Result<T, SyncError> {
    let r = tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Internal(format!("store task: {e}")))?;
    r.map_err(|source| SyncError::Store {
        tenant: tenant.to_string(),
        source,
    })
}
