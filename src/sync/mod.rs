//! Sync: reading tenants from Microsoft Graph into the mirror, committing each round to the
//! store in one transaction, and swapping in the snapshot derived from it. Readers never wait:
//! a failed round commits nothing and the previous snapshot keeps being served.

pub mod fetch;
pub mod mirror;

use crate::config::Config;
use crate::directory::build::{BuildReport, TenantInput, build_tenant};
use crate::directory::{Snapshot, build::TenantBuild};
use crate::graph::GraphClient;
use crate::store::{Store, StoreError, TenantState};
use arc_swap::ArcSwap;
use mirror::{generalized_time, now_unix};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    #[error("tenant {tenant}: {source}")]
    Graph {
        tenant: String,
        source: crate::graph::GraphError,
    },
    #[error("tenant {tenant}: {source}")]
    Store { tenant: String, source: StoreError },
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
}

pub struct SyncEngine {
    config: Arc<Config>,
    store: Arc<Store>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Last committed state per tenant. The lock serialises rounds; readers never take it.
    states: Mutex<HashMap<String, TenantState>>,
    generation: AtomicU64,
}

impl SyncEngine {
    /// Load every tenant's last committed state and build the snapshot from it, so the
    /// directory is served from disk before Graph is contacted.
    pub fn load(config: Arc<Config>, store: Arc<Store>) -> Result<SyncEngine, SyncError> {
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
        let mut engine = SyncEngine {
            config,
            store,
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
            states: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(1),
        };
        let Derived {
            snapshot: snap,
            states: updated,
            ..
        } = engine.derive(&states, None);
        // A config change can admit objects that have no numbers yet: persist what the build
        // allocated so the numbers are the same after the next restart.
        for (name, new) in &updated {
            if let Some(old) = states.get(name)
                && old.alloc != new.alloc
            {
                engine
                    .store
                    .commit_tenant(name, old, new)
                    .map_err(|source| SyncError::Store {
                        tenant: name.clone(),
                        source,
                    })?;
            }
        }
        engine.snapshot.store(Arc::new(snap));
        *engine.states.get_mut() = updated;
        Ok(engine)
    }

    /// The snapshot handle LDAP sessions read from.
    pub fn snapshot(&self) -> Arc<ArcSwap<Snapshot>> {
        self.snapshot.clone()
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Derive a snapshot from tenant states, with `replace` standing in for one tenant's
    /// state. Returns the snapshot and every tenant's state with its allocations extended.
    fn derive(
        &self,
        states: &HashMap<String, TenantState>,
        replace: Option<(&str, &TenantState)>,
    ) -> Derived {
        let now = generalized_time(now_unix());
        let mut builds: Vec<TenantBuild> = Vec::new();
        let mut out = HashMap::new();
        let mut reports = HashMap::new();
        for (i, t) in self.config.tenant.iter().enumerate() {
            let mut st = match replace {
                Some((name, st)) if name == t.name => st.clone(),
                _ => states.get(&t.name).cloned().unwrap_or_default(),
            };
            let services = self
                .config
                .service_account
                .iter()
                .filter(|s| s.tenants.is_empty() || s.tenants.contains(&t.name))
                .collect();
            let input = TenantInput {
                index: i as u16,
                cfg: t,
                mirror: &st.mirror,
                services,
                now: &now,
            };
            let mut alloc = st.alloc.clone();
            match build_tenant(&input, &mut alloc) {
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
            st.alloc = alloc;
            out.insert(t.name.clone(), st);
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        Derived {
            snapshot: Snapshot::new(generation, builds),
            states: out,
            reports,
        }
    }

    /// One full round for `tenant`: read Graph, derive, commit in one transaction, swap.
    pub async fn sync_tenant(&self, tenant: &str) -> Result<RoundReport, SyncError> {
        let cfg = self
            .config
            .tenant
            .iter()
            .find(|t| t.name == tenant)
            .ok_or_else(|| SyncError::UnknownTenant(tenant.to_string()))?;
        let started = std::time::Instant::now();
        let graph_err = |source: crate::graph::GraphError| SyncError::Graph {
            tenant: tenant.to_string(),
            source,
        };
        let client = GraphClient::new(cfg).map_err(graph_err)?;
        let mut mirror = fetch::full_read(&client).await.map_err(graph_err)?;

        let mut states = self.states.lock().await;
        let old = states.get(tenant).cloned().unwrap_or_default();
        mirror.stamp_changes(&old.mirror, &generalized_time(now_unix()));
        let new_state = TenantState {
            mirror,
            alloc: old.alloc.clone(),
            last_sync: Some(now_unix()),
        };
        let Derived {
            snapshot: snap,
            states: derived,
            mut reports,
        } = self.derive(&states, Some((tenant, &new_state)));
        let Some(committed) = derived.get(tenant).cloned() else {
            return Err(SyncError::UnknownTenant(tenant.to_string()));
        };
        self.store
            .commit_tenant(tenant, &old, &committed)
            .map_err(|source| SyncError::Store {
                tenant: tenant.to_string(),
                source,
            })?;
        let report = RoundReport {
            tenant: tenant.to_string(),
            users_read: committed.mirror.users.len(),
            groups_read: committed.mirror.groups.len(),
            build: reports.remove(tenant).unwrap_or_default(),
            credential_used: client.credential_used(),
            duration_ms: started.elapsed().as_millis(),
        };
        self.snapshot.store(Arc::new(snap));
        *states = derived;
        Ok(report)
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
                    loop {
                        match engine.sync_tenant(&name).await {
                            Ok(r) => tracing::info!(
                                tenant = %name,
                                users = r.build.users_active,
                                groups = r.build.groups,
                                collisions = r.build.collisions.len(),
                                ms = r.duration_ms as u64,
                                "sync round committed"
                            ),
                            Err(e) => tracing::error!(tenant = %name, "sync round failed, still serving the last committed directory: {e}"),
                        }
                        tokio::time::sleep(every).await;
                    }
                })
            })
            .collect()
    }
}

struct Derived {
    snapshot: Snapshot,
    states: HashMap<String, TenantState>,
    reports: HashMap<String, BuildReport>,
}
