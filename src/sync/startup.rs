//! Start-up: serve the last committed directory before Graph is contacted. The stored entries
//! are served when they were derived under this configuration (the mirror is read later, see
//! `SyncEngine::preload`); otherwise the directory is derived from every tenant's stored mirror.

use super::engine::Derived;
use super::{SyncEngine, SyncError, persist};
use crate::store::Store;
use arc_swap::ArcSwap;
use config::Config;
use directory::Snapshot;
use directory::derive::TenantBuild;
use model::time::{Clock, SystemClock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

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
            config: ArcSwap::new(config),
            store,
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
            states: Arc::new(Mutex::new(None)),
            generation: AtomicU64::new(1),
            next_run: std::sync::Mutex::new(HashMap::new()),
            fingerprint: ArcSwap::from_pointee(fingerprint),
            from_store: false,
            bases: std::sync::Mutex::new(HashMap::new()),
            stored_bases: std::sync::Mutex::new(HashMap::new()),
            compaction: Arc::new(std::sync::Mutex::new(None)),
            started_at: clock.now_unix(),
            clock,
            health: std::sync::Mutex::new(HashMap::new()),
            observer: std::sync::OnceLock::new(),
            follow_counts: Default::default(),
            committed_rounds: Default::default(),
        };
        let started = std::time::Instant::now();
        let stored = persist::load_builds(&engine.store, &engine.config(), &engine.fingerprint())
            .unwrap_or_else(|e| {
                tracing::warn!("the stored directory cannot be read, deriving it again: {e}");
                None
            });
        match stored {
            Some(builds) => engine.serve_stored(builds, started),
            None if engine.is_shared() => engine.serve_shared(started)?,
            None => engine.derive_from_stored_mirrors()?,
        }
        engine.health_from_history();
        Ok(engine)
    }

    /// Serve the stored directory as it is. Indexes are built on a background thread while
    /// the listeners already answer; a request that needs one first builds (or waits for)
    /// just that one. The records of how each tenant was derived are kept until the mirror is
    /// read, when they become the next rounds' bases.
    fn serve_stored(&mut self, builds: Vec<TenantBuild>, started: std::time::Instant) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let read_ms = started.elapsed().as_millis() as u64;
        let snap = Arc::new(Snapshot::new_lazy(generation, builds));
        tracing::info!(
            entries = snap.len(),
            read_ms,
            total_ms = started.elapsed().as_millis() as u64,
            "serving the stored directory"
        );
        self.snapshot.store(Arc::clone(&snap));
        let warm = std::thread::Builder::new()
            .name("index-warm".into())
            .spawn(move || snap.warm());
        if let Err(e) = warm {
            tracing::warn!("indexes will be built on first use: {e}");
        }
        self.from_store = true;
        let mut records = HashMap::new();
        for t in &self.config().tenant {
            match self.store.load_directory_basis(&t.name) {
                Ok(Some(v)) => {
                    records.insert(t.name.clone(), v);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(tenant = %t.name, "the next round derives in full: {e}")
                }
            }
        }
        *self
            .stored_bases
            .get_mut()
            .unwrap_or_else(|p| p.into_inner()) = records;
    }

    /// A replica of a shared store whose cache holds no directory derived under this
    /// configuration: serve what the cache holds (the database's one directory) rather than a
    /// derivation of its own that nobody else serves; the first round, under the tenant's lock,
    /// derives in full and commits. Nothing is written here: the database may be unreachable.
    fn serve_shared(&mut self, started: std::time::Instant) -> Result<(), SyncError> {
        let any = persist::load_builds_any(&self.store, &self.config()).unwrap_or_else(|e| {
            tracing::warn!("the cached directory cannot be read: {e}");
            None
        });
        match any {
            Some(builds) => {
                self.serve_stored(builds, started);
                // Derived under another configuration: no basis to patch from.
                self.stored_bases
                    .get_mut()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                tracing::info!(
                    "serving the cached directory of the shared store; it was derived under another configuration, so the first round derives it in full"
                );
            }
            None => {
                let states = SyncEngine::read_states(&self.config(), &self.store)?;
                let derived = self.derive(&states, None);
                self.snapshot.store(Arc::new(derived.snapshot));
            }
        }
        Ok(())
    }

    /// Derive the directory from every tenant's stored mirror (the configuration changed, or
    /// nothing was stored), store it for the next start and serve it.
    fn derive_from_stored_mirrors(&mut self) -> Result<(), SyncError> {
        let mut states = SyncEngine::read_states(&self.config(), &self.store)?;
        let Derived {
            snapshot: snap,
            allocs,
            reports,
        } = self.derive(&states, None);
        // A config change can admit objects that have no numbers yet: persist what the build
        // allocated so the numbers are the same after the next restart.
        self.commit_allocs(&mut states, allocs)?;
        let derived = SyncEngine::full_derivations(&snap, &self.config(), reports);
        let records = SyncEngine::records(&derived);
        self.store_full_derivation(&snap, None, &records)?;
        self.set_bases(&states, derived);
        self.snapshot.store(Arc::new(snap));
        *self
            .states
            .try_lock()
            .map_err(|_| SyncError::Internal("state lock held at start-up".into()))? = Some(states);
        Ok(())
    }
}
