//! The sync engine: what it holds (the config, the store, the served snapshot, the committed
//! tenant states and how each tenant's directory was derived), the states read from the store
//! on first use, the derivation of a snapshot from them, and what `ctl` reads of it.

use super::{HistoryRecord, SyncError, patch, patch_round, persist};
use crate::store::{Store, TenantState};
use arc_swap::ArcSwap;
use config::Config;
use directory::Snapshot;
use directory::derive::{BuildReport, TenantBuild, TenantInput, build_tenant};
use directory::ids::Allocations;
use model::time::Clock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

pub struct SyncEngine {
    /// Swapped by a reload (SIGHUP); a round reads it once at its start.
    pub(super) config: ArcSwap<Config>,
    pub(super) store: Arc<Store>,
    pub(super) snapshot: Arc<ArcSwap<Snapshot>>,
    /// Last committed state per tenant, `None` until loaded (a fast start serves the stored
    /// directory first and reads the mirror afterwards). The lock serialises rounds; LDAP
    /// readers never take it.
    pub(super) states: Arc<Mutex<Option<HashMap<String, TenantState>>>>,
    pub(super) generation: AtomicU64,
    /// Unix time of each tenant's next scheduled round (for `ctl status`).
    pub(super) next_run: std::sync::Mutex<HashMap<String, i64>>,
    /// The configuration fingerprint the persisted directory is written under.
    pub(super) fingerprint: ArcSwap<String>,
    /// Whether start-up served the stored directory rather than deriving it.
    pub(super) from_store: bool,
    /// Per tenant, what the served derivation was, so the next round can patch it; missing
    /// after a start from the stored directory (that tenant's next round derives in full).
    /// Taken out for the length of a round (rounds are serialised by `states`).
    pub(super) bases: std::sync::Mutex<HashMap<String, patch::Basis>>,
    /// Basis records read with the stored directory at a fast start, turned into bases when
    /// the mirror is loaded.
    pub(super) stored_bases: std::sync::Mutex<HashMap<String, serde_json::Value>>,
    /// The compaction of a patched snapshot running in the background, if any.
    pub(super) compaction: Arc<std::sync::Mutex<Option<patch_round::Compaction>>>,
    pub(super) clock: Arc<dyn Clock>,
    /// Per tenant: last success, failures since (`health.rs`).
    pub(super) health: std::sync::Mutex<HashMap<String, super::health::TenantHealth>>,
    pub(super) observer: std::sync::OnceLock<Arc<dyn super::health::RoundObserver>>,
    pub(super) started_at: i64,
    /// Other replicas' commits applied (shared store only).
    pub(super) follow_counts: super::follow::FollowCounts,
    /// Unix time of the last round this replica committed, per tenant: a replica that runs
    /// some tenant's rounds keeps the mirrors when another replica commits another tenant.
    pub(super) committed_rounds: std::sync::Mutex<HashMap<String, i64>>,
}

impl SyncEngine {
    /// Whether start-up served the directory stored by the last round (true) or derived it
    /// from the stored mirror because the configuration changed (false).
    pub fn started_from_stored_directory(&self) -> bool {
        self.from_store
    }

    /// Persist allocations a derivation outside a round extended (numbers handed to objects a
    /// changed configuration admits), then adopt them, so they are the same after a restart.
    pub(super) fn commit_allocs(
        &self,
        states: &mut HashMap<String, TenantState>,
        allocs: HashMap<String, Allocations>,
    ) -> Result<(), SyncError> {
        for (name, alloc) in allocs {
            if let Some(st) = states.get_mut(&name) {
                self.store
                    .commit_alloc(&name, &st.alloc, &alloc)
                    .map_err(|source| SyncError::Store {
                        tenant: name.clone(),
                        source,
                    })?;
                st.alloc = alloc;
            }
        }
        Ok(())
    }

    pub(super) fn read_states(
        config: &Config,
        store: &Store,
    ) -> Result<HashMap<String, TenantState>, SyncError> {
        let mut states = HashMap::new();
        for t in &config.tenant {
            let st = store
                .load_tenant(&t.name)
                .map_err(|source| SyncError::Store {
                    tenant: t.name.clone(),
                    source,
                })?;
            states.insert(t.name.clone(), st);
        }
        Ok(states)
    }

    /// The committed states, read from the store on first use.
    pub(super) async fn states(
        &self,
    ) -> Result<tokio::sync::MappedMutexGuard<'_, HashMap<String, TenantState>>, SyncError> {
        let guard = self.states.lock().await;
        self.loaded(guard).await
    }

    /// The states `guard` holds, read from the store first when they are not held (first use,
    /// or released by a replica that followed another's rounds).
    pub(super) async fn loaded<'g>(
        &self,
        mut guard: tokio::sync::MutexGuard<'g, Option<HashMap<String, TenantState>>>,
    ) -> Result<tokio::sync::MappedMutexGuard<'g, HashMap<String, TenantState>>, SyncError> {
        if guard.is_none() {
            let started = std::time::Instant::now();
            let store = Arc::clone(&self.store);
            let config = self.config();
            let loaded =
                tokio::task::spawn_blocking(move || SyncEngine::read_states(&config, &store))
                    .await
                    .map_err(|e| SyncError::Internal(format!("loading the mirror: {e}")))??;
            let records =
                std::mem::take(&mut *self.stored_bases.lock().unwrap_or_else(|p| p.into_inner()));
            for (tenant, v) in records {
                let Some(st) = loaded.get(&tenant) else {
                    continue;
                };
                match patch::from_record(&v, &st.mirror) {
                    Some(b) => {
                        if let Ok(mut map) = self.bases.lock() {
                            map.entry(tenant).or_insert(b);
                        }
                    }
                    None => {
                        tracing::info!(tenant = %tenant, "no usable record of how the stored directory was derived; the next round derives in full")
                    }
                }
            }
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "stored mirror loaded (the next sync round can start)"
            );
            *guard = Some(loaded);
        }
        Ok(tokio::sync::MutexGuard::map(guard, |g| {
            g.get_or_insert_with(HashMap::new)
        }))
    }

    /// Store every tenant's rows of the fully derived `snap`, each tenant with the record of
    /// how it was derived (`records`): all rows when `before` is `None`, else only the rows
    /// that differ from `before`.
    pub(super) fn store_full_derivation(
        &self,
        snap: &Snapshot,
        before: Option<&Snapshot>,
        records: &HashMap<String, serde_json::Value>,
    ) -> Result<(), SyncError> {
        let config = self.config();
        let fingerprint = self.fingerprint();
        for (i, t) in config.tenant.iter().enumerate() {
            let Some(info) = persist::info(snap, &t.name) else {
                continue;
            };
            let mut w = match before {
                Some(before) => persist::changes(before, snap, i as u16, &fingerprint, info),
                None => persist::everything(snap, i as u16, &fingerprint, info),
            };
            w.basis = records.get(&t.name).cloned();
            self.store
                .write_directory(&t.name, &w)
                .map_err(|source| SyncError::Store {
                    tenant: t.name.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Read the mirror in the background after a fast start, so the first round, `explain`
    /// or `status` does not wait for it.
    pub fn preload(self: &Arc<Self>) {
        // A replica of a shared store reads the mirror only when it runs a round: until then
        // it follows the rows other replicas commit.
        if self.is_shared() {
            return;
        }
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = engine.states().await {
                tracing::error!("cannot read the stored mirror: {e}");
            }
        });
    }

    /// The database handle (local passwords are set through the admin socket with it).
    pub fn store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// The snapshot handle LDAP sessions read from.
    pub fn snapshot(&self) -> Arc<ArcSwap<Snapshot>> {
        self.snapshot.clone()
    }

    /// The configuration in force (a reload swaps it).
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// The fingerprint of the configuration in force, under which the directory is stored.
    pub(super) fn fingerprint(&self) -> Arc<String> {
        self.fingerprint.load_full()
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Derive a snapshot from tenant states, with `replace` standing in for one tenant's
    /// state (its allocations are extended in place). Returns the snapshot and the extended
    /// allocations of the other tenants whose allocations changed. Nothing is cloned but
    /// those allocations: a tenant's state is hundreds of megabytes at 100k users.
    pub(super) fn derive(
        &self,
        states: &HashMap<String, TenantState>,
        mut replace: Option<(&str, &mut TenantState)>,
    ) -> Derived {
        let now = self.clock.now_unix();
        let mut builds: Vec<TenantBuild> = Vec::new();
        let mut allocs = HashMap::new();
        let mut reports = HashMap::new();
        let empty = TenantState::default();
        let config = self.config();
        for (i, t) in config.tenant.iter().enumerate() {
            let services = SyncEngine::services_of(&config, &t.name);
            let admin_ssh_keys = self.admin_ssh_keys(&t.name);
            let input = |mirror| TenantInput {
                index: i as u16,
                cfg: t,
                mirror,
                services: services.clone(),
                now,
                admin_ssh_keys: &admin_ssh_keys,
            };
            let (built, changed_alloc) = match replace.as_mut() {
                Some((name, st)) if *name == t.name => {
                    let st: &mut TenantState = st;
                    (build_tenant(&input(&st.mirror), &mut st.alloc), None)
                }
                _ => {
                    let st = states.get(&t.name).unwrap_or(&empty);
                    let mut alloc = st.alloc.clone();
                    let built = build_tenant(&input(&st.mirror), &mut alloc);
                    let changed = (alloc != st.alloc).then_some(alloc);
                    (built, changed)
                }
            };
            match built {
                Ok(b) => {
                    for c in &b.report.collisions {
                        tracing::warn!(tenant = %t.name, name = %c.name, holder = %c.holder, loser = %c.loser,
                            "name collision: the holder keeps the name, the other object gets a suffixed one");
                    }
                    reports.insert(t.name.clone(), b.report.clone());
                    builds.push(b);
                }
                Err(e) => tracing::info!(tenant = %t.name, "not served yet: {e}"),
            }
            if let Some(a) = changed_alloc {
                allocs.insert(t.name.clone(), a);
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        Derived {
            snapshot: Snapshot::new(generation, builds),
            allocs,
            reports,
        }
    }

    /// History of `tenant` (all tenants when `None`), newest first.
    pub fn history(
        &self,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>, SyncError> {
        let mut out = Vec::new();
        let config = self.config();
        for t in &config.tenant {
            if tenant.is_some_and(|n| n != t.name) {
                continue;
            }
            let rows = self
                .store
                .history(&t.name, limit)
                .map_err(|source| SyncError::Store {
                    tenant: t.name.clone(),
                    source,
                })?;
            out.extend(
                rows.into_iter()
                    .filter_map(|v| serde_json::from_value(v).ok()),
            );
        }
        if let Some(t) = tenant
            && config.tenant(t).is_none()
        {
            return Err(SyncError::UnknownTenant(t.to_string()));
        }
        out.sort_by_key(|r: &HistoryRecord| std::cmp::Reverse(r.started));
        out.truncate(limit);
        Ok(out)
    }

    /// The mirror of `tenant` as last committed. A replica that holds no mirror (it follows
    /// another replica's rounds) reads it from its store for the caller and keeps holding none.
    pub async fn tenant_state(&self, tenant: &str) -> Option<TenantState> {
        let guard = self.states.lock().await;
        if guard.is_none() && self.is_shared() {
            drop(guard);
            let store = Arc::clone(&self.store);
            let name = tenant.to_string();
            return tokio::task::spawn_blocking(move || store.load_tenant(&name))
                .await
                .ok()?
                .ok();
        }
        self.loaded(guard).await.ok()?.get(tenant).cloned()
    }

    /// Whether this replica holds the tenants' mirrors in memory. A single server always does
    /// once started; a replica of a shared store only while it runs the rounds.
    pub async fn mirror_resident(&self) -> bool {
        self.states.lock().await.is_some()
    }

    /// Stop holding the mirrors: another replica committed a round of `followed`, and this
    /// one patches its served directory from the rows it commits. The records of how each
    /// tenant was derived go back to their stored form, so a round this replica runs later
    /// reads the mirror again and still patches rather than derives in full. Kept when this
    /// replica runs another tenant's rounds (`runs_rounds_besides`).
    pub(super) fn release_mirror(
        &self,
        states: &mut Option<HashMap<String, TenantState>>,
        followed: &str,
    ) {
        if self.runs_rounds_besides(followed) {
            return;
        }
        let Some(held) = states.take() else {
            return;
        };
        let bases = std::mem::take(&mut *self.bases.lock().unwrap_or_else(|p| p.into_inner()));
        let mut records = self.stored_bases.lock().unwrap_or_else(|p| p.into_inner());
        for (tenant, basis) in bases {
            records.insert(tenant, basis.into_record());
        }
        drop(records);
        super::drop_in_background(held);
        tracing::info!("released the mirror: another replica runs the rounds, this one follows");
    }

    /// Whether this replica committed a round of a tenant other than `followed` within that
    /// tenant's `sync.interval`, i.e. it runs that tenant's rounds: the mirrors are held
    /// together, so following one tenant must not cost another its mirror.
    fn runs_rounds_besides(&self, followed: &str) -> bool {
        let now = self.clock.now_unix();
        let config = self.config();
        let committed = self
            .committed_rounds
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        committed.iter().any(|(tenant, at)| {
            tenant != followed
                && config.tenant(tenant).is_some_and(|t| {
                    let every = i64::try_from(t.sync.interval.get().as_secs()).unwrap_or(i64::MAX);
                    now.saturating_sub(*at) < every
                })
        })
    }

    /// Record that this replica committed a round of `tenant` now.
    pub(super) fn note_committed(&self, tenant: &str) {
        self.committed_rounds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.to_string(), self.clock.now_unix());
    }

    /// Unix time of `tenant`'s next scheduled round, if the scheduler runs it.
    pub fn next_run(&self, tenant: &str) -> Option<i64> {
        self.next_run.lock().ok()?.get(tenant).copied()
    }

    pub(super) fn set_next_run(&self, tenant: &str, at: i64) {
        if let Ok(mut m) = self.next_run.lock() {
            m.insert(tenant.to_string(), at);
        }
    }
}

pub(super) struct Derived {
    pub(super) snapshot: Snapshot,
    /// Extended allocations of tenants other than the one being replaced.
    pub(super) allocs: HashMap<String, Allocations>,
    pub(super) reports: HashMap<String, BuildReport>,
}
