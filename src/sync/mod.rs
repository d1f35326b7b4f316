//! Sync: reading tenants from Microsoft Graph into the mirror, committing each round to the
//! store in one transaction, and swapping in the snapshot derived from it. Readers never wait:
//! a failed round commits nothing and the previous snapshot keeps being served.

pub mod fetch;
pub mod guard;
pub mod mirror;
pub mod patching;
pub mod persist;
mod refresh;
pub mod report;
mod rounds;

use crate::config::Config;
use crate::config::TenantConfig;
use crate::directory::derive::{BuildReport, TenantInput, build_tenant};
use crate::directory::ids::Allocations;
use crate::directory::{Snapshot, derive::TenantBuild};
use crate::graph::GraphClient;
use crate::model::mirror::merge::{self as delta, DeltaStats};
use crate::model::time::{Clock, SystemClock, generalized_time};
use crate::store::{Store, StoreError, TenantState};
use arc_swap::ArcSwap;
pub use report::{Changes, HistoryRecord, Mode, Outcome as HistoryOutcome, Trigger};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("internal error: {0}")]
    Internal(String),
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    #[error("tenant {tenant}: {source}")]
    Graph {
        tenant: String,
        source: crate::graph::GraphError,
    },
    #[error("tenant {tenant}: {source}")]
    Store { tenant: String, source: StoreError },
    #[error("tenant {tenant}: {source}")]
    Delta {
        tenant: String,
        source: delta::DeltaError,
    },
    #[error(
        "tenant {tenant}: refused: this round would remove {removed} of {served} served users, more than sync.max_deletions allows ({limit}); nothing was changed. Check Microsoft 365, then run `o365-ldap ctl sync --tenant {tenant} --force` to apply it"
    )]
    Refused {
        tenant: String,
        removed: usize,
        served: usize,
        limit: u64,
        report: Box<RoundReport>,
    },
}

/// How a round is asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundOptions {
    pub trigger: Trigger,
    /// Read everything even when delta links are stored.
    pub full: bool,
    /// Fetch and derive, report, commit nothing.
    pub dry_run: bool,
    /// Apply a round `sync.max_deletions` would refuse.
    pub force: bool,
}

/// Progress lines for `ctl sync` while a round runs.
pub type Progress = tokio::sync::mpsc::UnboundedSender<String>;

fn say(p: Option<&Progress>, msg: impl Into<String>) {
    if let Some(p) = p {
        let _ = p.send(msg.into());
    }
}

/// A stored deltaLink Graph no longer accepts: a sync-state code, 410, or any 4xx other than
/// 401/403/429 (graph.md §5 client rule).
fn delta_link_rejected(e: &crate::graph::GraphError) -> bool {
    e.is_sync_state_invalid()
        || e.api()
            .is_some_and(|a| (400..500).contains(&a.status) && !matches!(a.status, 401 | 403 | 429))
}

/// What a finished round did.
#[derive(Debug, Clone, Default)]
pub struct RoundReport {
    pub tenant: String,
    pub users_read: usize,
    pub groups_read: usize,
    pub build: BuildReport,
    pub credential_used: Option<usize>,
    pub duration_ms: u128,
    pub mode: Mode,
    /// Graph was read in full (asked, first round, periodic reconcile, or expired delta link).
    pub full_read: bool,
    pub dry_run: bool,
    pub changes: Changes,
    pub delta: DeltaStats,
    /// Why a real round would be (or, with --force, was) refused by `sync.max_deletions`.
    pub would_refuse: Option<String>,
    /// The directory was patched from the changed objects rather than derived in full.
    pub patched: bool,
    /// Milliseconds spent reading Graph and merging into the mirror, and deriving.
    pub fetch_ms: u64,
    pub derive_ms: u64,
}

impl RoundReport {
    pub fn history(&self, trigger: Trigger, started: i64, ended: i64) -> HistoryRecord {
        let c = &self.changes;
        HistoryRecord {
            tenant: self.tenant.clone(),
            trigger,
            mode: self.mode,
            full_read: self.full_read,
            patched: self.patched,
            started,
            ended,
            users_read: self.users_read,
            users_added: c.users_added.len(),
            users_updated: c.users_updated.len(),
            users_removed: c.users_removed.len(),
            users_inactivated: c.users_inactivated.len(),
            groups: c.groups,
            groups_added: c.groups_added.len(),
            groups_updated: c.groups_updated.len(),
            groups_removed: c.groups_removed.len(),
            memberships_changed: self.delta.memberships_changed,
            users_active: c.users_active,
            users_inactive: c.users_inactive,
            outcome: HistoryOutcome::Ok,
            error: None,
            credential: self.credential_used,
            collisions: self
                .build
                .collisions
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} keeps it, {} gets a suffixed name",
                        c.name, c.holder, c.loser
                    )
                })
                .collect(),
        }
    }
}

/// History records kept per tenant.
pub const HISTORY_KEEP: usize = 200;

struct Prepared {
    report: RoundReport,
    snapshot: Snapshot,
    /// The tenant's new state, allocations extended.
    state: TenantState,
    /// How the round was derived: decides what is written and the next round's basis.
    derived: RoundDerivation,
}

enum RoundDerivation {
    /// Everything derived again; the stored rows are diffed from the snapshots.
    Full,
    /// A patch on the served snapshot: the rows it rewrites and the Graph groups whose
    /// membership changed.
    Patch {
        upserts: Vec<crate::directory::Entry>,
        removals: Vec<Box<str>>,
        groups_changed: Vec<String>,
    },
}

pub struct SyncEngine {
    config: Arc<Config>,
    store: Arc<Store>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Last committed state per tenant, `None` until loaded (a fast start serves the stored
    /// directory first and reads the mirror afterwards). The lock serialises rounds; LDAP
    /// readers never take it.
    states: Arc<Mutex<Option<HashMap<String, TenantState>>>>,
    generation: AtomicU64,
    /// Unix time of each tenant's next scheduled round (for `ctl status`).
    next_run: std::sync::Mutex<HashMap<String, i64>>,
    /// The configuration fingerprint the persisted directory is written under.
    fingerprint: String,
    /// Whether start-up served the stored directory rather than deriving it.
    from_store: bool,
    /// Per tenant, what the served derivation was, so a delta round can patch it; missing
    /// after a start from the stored directory (that tenant's next round derives in full).
    /// Taken out for the length of a round (rounds are serialised by `states`).
    bases: std::sync::Mutex<HashMap<String, patching::Basis>>,
    /// Basis records read with the stored directory at a fast start, turned into bases when
    /// the mirror is loaded.
    stored_bases: std::sync::Mutex<HashMap<String, serde_json::Value>>,
    /// The compaction of a patched snapshot running in the background, if any.
    compaction: Arc<std::sync::Mutex<Option<rounds::Compaction>>>,
    clock: Arc<dyn Clock>,
}

impl SyncEngine {
    /// Serve the last committed directory before Graph is contacted: the stored entries
    /// when they were derived under this configuration (the mirror is read later, see
    /// `preload`), else a derivation from every tenant's stored mirror.
    pub fn load(config: Arc<Config>, store: Arc<Store>) -> Result<SyncEngine, SyncError> {
        SyncEngine::load_with_clock(config, store, Arc::new(SystemClock))
    }

    /// `load`, reading the time from `clock`.
    pub fn load_with_clock(
        config: Arc<Config>,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<SyncEngine, SyncError> {
        let fingerprint = persist::fingerprint(&config);
        let mut engine = SyncEngine {
            config,
            store,
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
            states: Arc::new(Mutex::new(None)),
            generation: AtomicU64::new(1),
            next_run: std::sync::Mutex::new(HashMap::new()),
            fingerprint,
            from_store: false,
            bases: std::sync::Mutex::new(HashMap::new()),
            stored_bases: std::sync::Mutex::new(HashMap::new()),
            compaction: Arc::new(std::sync::Mutex::new(None)),
            clock,
        };
        let started = std::time::Instant::now();
        let stored = persist::load_builds(&engine.store, &engine.config, &engine.fingerprint)
            .unwrap_or_else(|e| {
                tracing::warn!("the stored directory cannot be read, deriving it again: {e}");
                None
            });
        if let Some(builds) = stored {
            let generation = engine.generation.fetch_add(1, Ordering::Relaxed);
            // Indexes are built on a background thread while the listeners already answer;
            // a request that needs one first builds (or waits for) just that one.
            let read_ms = started.elapsed().as_millis() as u64;
            let snap = Arc::new(Snapshot::new_lazy(generation, builds));
            tracing::info!(
                entries = snap.len(),
                read_ms,
                total_ms = started.elapsed().as_millis() as u64,
                "serving the stored directory"
            );
            engine.snapshot.store(Arc::clone(&snap));
            let warm = std::thread::Builder::new()
                .name("index-warm".into())
                .spawn(move || snap.warm());
            if let Err(e) = warm {
                tracing::warn!("indexes will be built on first use: {e}");
            }
            engine.from_store = true;
            let mut records = HashMap::new();
            for t in &engine.config.tenant {
                match engine.store.load_directory_basis(&t.name) {
                    Ok(Some(v)) => {
                        records.insert(t.name.clone(), v);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(tenant = %t.name, "the next round derives in full: {e}")
                    }
                }
            }
            *engine
                .stored_bases
                .get_mut()
                .unwrap_or_else(|p| p.into_inner()) = records;
            return Ok(engine);
        }
        let mut states = SyncEngine::read_states(&engine.config, &engine.store)?;
        let Derived {
            snapshot: snap,
            allocs,
            reports,
        } = engine.derive(&states, None);
        // A config change can admit objects that have no numbers yet: persist what the build
        // allocated so the numbers are the same after the next restart.
        engine.commit_allocs(&mut states, allocs)?;
        let derived = SyncEngine::full_derivations(&snap, &engine.config, reports);
        let records = SyncEngine::records(&derived);
        for (i, t) in engine.config.tenant.iter().enumerate() {
            if let Some(info) = persist::info(&snap, &t.name) {
                let mut w = persist::everything(&snap, i as u16, &engine.fingerprint, info);
                w.basis = records.get(&t.name).cloned();
                engine
                    .store
                    .write_directory(&t.name, &w)
                    .map_err(|source| SyncError::Store {
                        tenant: t.name.clone(),
                        source,
                    })?;
            }
        }
        engine.set_bases(&states, derived);
        engine.snapshot.store(Arc::new(snap));
        *engine
            .states
            .try_lock()
            .map_err(|_| SyncError::Internal("state lock held at start-up".into()))? = Some(states);
        Ok(engine)
    }

    /// Whether start-up served the directory stored by the last round (true) or derived it
    /// from the stored mirror because the configuration changed (false).
    pub fn started_from_stored_directory(&self) -> bool {
        self.from_store
    }

    /// Persist allocations a derivation outside a round extended (numbers handed to objects a
    /// changed configuration admits), then adopt them, so they are the same after a restart.
    fn commit_allocs(
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

    fn read_states(
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
    async fn states(
        &self,
    ) -> Result<tokio::sync::MappedMutexGuard<'_, HashMap<String, TenantState>>, SyncError> {
        let mut guard = self.states.lock().await;
        if guard.is_none() {
            let started = std::time::Instant::now();
            let store = Arc::clone(&self.store);
            let config = Arc::clone(&self.config);
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
                match patching::from_record(&v, &st.mirror) {
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

    /// Read the mirror in the background after a fast start, so the first round, `explain`
    /// or `status` does not wait for it.
    pub fn preload(self: &Arc<Self>) {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = engine.states().await {
                tracing::error!("cannot read the stored mirror: {e}");
            }
        });
    }

    /// The snapshot handle LDAP sessions read from.
    /// The database handle (local passwords are set through the admin socket with it).
    pub fn store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    pub fn snapshot(&self) -> Arc<ArcSwap<Snapshot>> {
        self.snapshot.clone()
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Derive a snapshot from tenant states, with `replace` standing in for one tenant's
    /// state (its allocations are extended in place). Returns the snapshot and the extended
    /// allocations of the other tenants whose allocations changed. Nothing is cloned but
    /// those allocations: a tenant's state is hundreds of megabytes at 100k users.
    fn derive(
        &self,
        states: &HashMap<String, TenantState>,
        mut replace: Option<(&str, &mut TenantState)>,
    ) -> Derived {
        let now = self.clock.now_unix();
        let mut builds: Vec<TenantBuild> = Vec::new();
        let mut allocs = HashMap::new();
        let mut reports = HashMap::new();
        let empty = TenantState::default();
        for (i, t) in self.config.tenant.iter().enumerate() {
            let services = self.services_of(&t.name);
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

    /// One round for `tenant` (delta when links are stored, else full), triggered manually.
    pub async fn sync_tenant(&self, tenant: &str) -> Result<RoundReport, SyncError> {
        self.run_round(tenant, RoundOptions::default(), None).await
    }

    /// One round: read Graph (delta or full), derive, check the deletion guard, then commit
    /// mirror, allocations, delta links and the history record in one transaction and swap the
    /// snapshot. A failed or refused round commits nothing but its history record; a dry run
    /// commits only its history record.
    pub async fn run_round(
        &self,
        tenant: &str,
        opts: RoundOptions,
        progress: Option<&Progress>,
    ) -> Result<RoundReport, SyncError> {
        let cfg = self
            .config
            .tenant
            .iter()
            .find(|t| t.name == tenant)
            .ok_or_else(|| SyncError::UnknownTenant(tenant.to_string()))?;
        let started_unix = self.clock.now_unix();
        let mut states = match self.states().await {
            Ok(s) => s,
            Err(e) => {
                say(progress, format!("round failed: {e}"));
                return Err(e);
            }
        };
        let basis = self.take_basis(tenant);
        let result = self
            .prepare(cfg, &states, basis.as_ref(), opts, progress, started_unix)
            .await;
        let failed = |mode: Mode, outcome: HistoryOutcome, msg: String| {
            let rec = HistoryRecord {
                tenant: tenant.to_string(),
                trigger: opts.trigger,
                mode,
                started: started_unix,
                ended: self.clock.now_unix(),
                outcome,
                error: Some(msg),
                ..HistoryRecord::default()
            };
            self.record(tenant, &rec);
        };
        let mode_asked = if opts.dry_run {
            Mode::DryRun
        } else {
            Mode::Full
        };
        let prepared = match result {
            Ok(p) => p,
            Err(e) => {
                self.put_basis(tenant, basis);
                say(progress, format!("round failed: {e}"));
                failed(mode_asked, HistoryOutcome::Failed, e.to_string());
                return Err(e);
            }
        };
        let Prepared {
            mut report,
            snapshot,
            state: committed,
            derived,
        } = prepared;
        let ended = self.clock.now_unix();
        if opts.dry_run {
            self.put_basis(tenant, basis);
            let rec = report.history(opts.trigger, started_unix, ended);
            self.record(tenant, &rec);
            return Ok(report);
        }
        if let Some(msg) = report.would_refuse.take() {
            if !opts.force {
                let removed = report.changes.users_removed.len();
                let served = report.changes.users_before;
                let limit = cfg.sync.max_deletions.limit(served);
                let err = SyncError::Refused {
                    tenant: tenant.to_string(),
                    removed,
                    served,
                    limit,
                    report: Box::new(report.clone()),
                };
                let mut rec = report.history(opts.trigger, started_unix, ended);
                rec.outcome = HistoryOutcome::Refused;
                rec.error = Some(err.to_string());
                self.record(tenant, &rec);
                self.put_basis(tenant, basis);
                say(progress, msg);
                return Err(err);
            }
            say(progress, format!("{msg}; applied because of --force"));
        }
        let empty = TenantState::default();
        let old = states.get(tenant).unwrap_or(&empty);
        let rec = report.history(opts.trigger, started_unix, ended);
        let rec_json = serde_json::to_value(&rec).unwrap_or_default();
        let before = self.snapshot.load();
        let index = self
            .config
            .tenant
            .iter()
            .position(|t| t.name == tenant)
            .unwrap_or(0) as u16;
        let rows = persist::info(&snapshot, tenant).map(|info| match &derived {
            RoundDerivation::Full => {
                persist::changes(&before, &snapshot, index, &self.fingerprint, info)
            }
            RoundDerivation::Patch {
                upserts, removals, ..
            } => patching::rows(&self.fingerprint, info, upserts, removals),
        });
        let rows = rows.map(|mut w| {
            w.basis = Some(patching::record(&report.build, &report.changes));
            w
        });
        if let Err(source) = self.store.commit_round(
            tenant,
            old,
            &committed,
            Some((&rec_json, HISTORY_KEEP)),
            rows.as_ref(),
        ) {
            self.put_basis(tenant, basis);
            let err = SyncError::Store {
                tenant: tenant.to_string(),
                source,
            };
            failed(report.mode, HistoryOutcome::Failed, err.to_string());
            return Err(err);
        }
        drop(rows);
        drop(before);
        let patch_applied = match &derived {
            RoundDerivation::Patch {
                upserts, removals, ..
            } => Some((upserts.clone(), removals.clone())),
            RoundDerivation::Full => None,
        };
        let next = match derived {
            RoundDerivation::Patch { groups_changed, .. } => basis.map(|b| {
                patching::advance(
                    b,
                    report.build.clone(),
                    &report.changes,
                    &groups_changed,
                    &old.mirror,
                    &committed.mirror,
                )
            }),
            RoundDerivation::Full => Some(patching::Basis::after_full(
                report.build.clone(),
                &committed.mirror,
                &report.changes,
            )),
        };
        self.put_basis(tenant, next);
        let snapshot = Arc::new(snapshot);
        drop_in_background(self.snapshot.swap(Arc::clone(&snapshot)));
        self.after_swap(&snapshot, patch_applied);
        drop_in_background(states.insert(tenant.to_string(), committed));
        say(progress, "committed");
        Ok(report)
    }

    fn record(&self, tenant: &str, rec: &HistoryRecord) {
        let json = serde_json::to_value(rec).unwrap_or_default();
        if let Err(e) = self.store.record_history(tenant, &json, HISTORY_KEEP) {
            tracing::error!(tenant = %tenant, "cannot record the round in history: {e}");
        }
    }

    /// Everything of a round that does not commit: fetch, merge, derive, diff, guard check.
    async fn prepare(
        &self,
        cfg: &TenantConfig,
        states: &HashMap<String, TenantState>,
        basis: Option<&patching::Basis>,
        opts: RoundOptions,
        progress: Option<&Progress>,
        now: i64,
    ) -> Result<Prepared, SyncError> {
        let tenant = cfg.name.as_str();
        let started = std::time::Instant::now();
        let graph_err = |source: crate::graph::GraphError| SyncError::Graph {
            tenant: tenant.to_string(),
            source,
        };
        let client = GraphClient::new(
            &crate::settings::tenant_options(cfg),
            crate::graph::ClientOptions::default(),
        )
        .map_err(graph_err)?;
        let empty = TenantState::default();
        let old = states.get(tenant).unwrap_or(&empty);
        let keep_secs = cfg.users.keep_deleted_for.get().as_secs() as i64;
        let full_due = old
            .last_full
            .is_none_or(|t| now.saturating_sub(t) >= cfg.sync.full_every.get().as_secs() as i64);
        let now_gt = generalized_time(now);
        let mut stats = DeltaStats::default();
        let mut new_state: Option<TenantState> = None;
        // Links made with another `$select` (users.ssh_keys_attribute,
        // users.uid_number_attribute or groups.gid_number_attribute changed) would never return
        // the new property: read in full once.
        let select_changed = old.delta.as_ref().is_some_and(|l| {
            !l.selects_users(client.user_select()) || !l.selects_groups(client.group_select())
        });
        let mut full_read = opts.full || full_due || old.delta.is_none() || select_changed;
        if !full_read && let Some(links) = &old.delta {
            say(progress, "reading changes (users delta)");
            match self
                .delta_state(
                    &client,
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
                Ok(st) => new_state = Some(st),
                Err(SyncError::Graph { source, .. }) if delta_link_rejected(&source) => {
                    say(
                        progress,
                        format!(
                            "the stored delta link was rejected ({source}); running a full round"
                        ),
                    );
                    tracing::warn!(tenant = %tenant, "delta link rejected, full round: {source}");
                    stats = DeltaStats::default();
                    full_read = true;
                }
                Err(e) => return Err(e),
            }
        }
        let mut st = match new_state {
            Some(st) => st,
            None => {
                say(progress, "reading users, groups and members (full)");
                let (mut mirror, links) = fetch::full_read(&client).await.map_err(graph_err)?;
                full_read = true;
                // Users Graph no longer lists are deleted: keep them for a while if asked.
                mirror.deleted_users = old.mirror.deleted_users.clone();
                for (id, u) in &old.mirror.users {
                    if !mirror.users.contains_key(id) && keep_secs > 0 {
                        mirror.deleted_users.insert(
                            id.clone(),
                            crate::model::DeletedUser {
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
                mirror.stamp_changes(&old.mirror, &now_gt);
                TenantState {
                    mirror,
                    alloc: old.alloc.clone(),
                    last_sync: Some(now),
                    last_full: Some(now),
                    delta: links,
                }
            }
        };
        let fetch_ms = started.elapsed().as_millis() as u64;
        delta::purge_deleted(&mut st.mirror, keep_secs, now);
        let users_read = st.mirror.users.len();
        let groups_read = st.mirror.groups.len();
        let before = self.snapshot.load();
        let patched = match basis.filter(|_| !full_read) {
            Some(basis) => self.patch_round(
                cfg,
                old,
                &mut st,
                basis,
                &before,
                &stats.touched,
                now,
                progress,
            ),
            None => None,
        };
        let patched_round = patched.is_some();
        let (snapshot, build, changes, derived) = match patched {
            Some(p) => p,
            None => {
                say(progress, "applying policy and deriving the directory");
                let Derived {
                    snapshot,
                    mut reports,
                    ..
                } = self.derive(states, Some((tenant, &mut st)));
                let changes = report::diff(&before, &snapshot, tenant);
                let build = reports.remove(tenant).unwrap_or_default();
                (snapshot, build, changes, RoundDerivation::Full)
            }
        };
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
                patched: patched_round,
                fetch_ms,
                derive_ms: (started.elapsed().as_millis() as u64).saturating_sub(fetch_ms),
            },
            snapshot,
            state: st,
            derived,
        })
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
        index: Option<&crate::model::mirror::MemberIndex>,
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
                "{} user and {} group changes read",
                users.objects.len(),
                groups.objects.len()
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

    /// History of `tenant` (all tenants when `None`), newest first.
    pub fn history(
        &self,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>, SyncError> {
        let mut out = Vec::new();
        for t in &self.config.tenant {
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
            && self.config.tenant(t).is_none()
        {
            return Err(SyncError::UnknownTenant(t.to_string()));
        }
        out.sort_by_key(|r: &HistoryRecord| std::cmp::Reverse(r.started));
        out.truncate(limit);
        Ok(out)
    }

    /// The mirror of `tenant` as last committed.
    pub async fn tenant_state(&self, tenant: &str) -> Option<TenantState> {
        self.states().await.ok()?.get(tenant).cloned()
    }

    /// Unix time of `tenant`'s next scheduled round, if the scheduler runs it.
    pub fn next_run(&self, tenant: &str) -> Option<i64> {
        self.next_run.lock().ok()?.get(tenant).copied()
    }

    fn set_next_run(&self, tenant: &str, at: i64) {
        if let Ok(mut m) = self.next_run.lock() {
            m.insert(tenant.to_string(), at);
        }
    }

    /// Run rounds for every tenant with `sync.automatic`: one at start, then every
    /// `sync.interval`. Failures are logged and retried at the next interval.
    pub fn spawn_scheduler(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        self.config
            .tenant
            .iter()
            .filter(|t| t.sync.automatic)
            .map(|t| {
                let engine = self.clone();
                let name = t.name.clone();
                let every = t.sync.interval.get();
                tokio::spawn(async move {
                    let mut trigger = Trigger::Startup;
                    loop {
                        let opts = RoundOptions {
                            trigger,
                            ..RoundOptions::default()
                        };
                        match engine.run_round(&name, opts, None).await {
                            Ok(r) => tracing::info!(
                                tenant = %name,
                                mode = ?r.mode,
                                users = r.build.users_active,
                                groups = r.build.groups,
                                collisions = r.build.collisions.len(),
                                ms = r.duration_ms as u64,
                                "sync round committed"
                            ),
                            Err(e) => tracing::error!(tenant = %name, "sync round not applied, still serving the last committed directory: {e}"),
                        }
                        trigger = Trigger::Scheduled;
                        engine.set_next_run(&name, engine.clock.now_unix().saturating_add(every.as_secs() as i64));
                        tokio::time::sleep(every).await;
                    }
                })
            })
            .collect()
    }
}

struct Derived {
    snapshot: Snapshot,
    /// Extended allocations of tenants other than the one being replaced.
    allocs: HashMap<String, Allocations>,
    reports: HashMap<String, BuildReport>,
}

/// Free a large value on a blocking thread: dropping a 100k-user snapshot or mirror takes
/// a noticeable time that a sync round or an LDAP answer should not wait for.
fn drop_in_background<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn_blocking(move || drop(value));
        }
        Err(_) => drop(value),
    }
}
