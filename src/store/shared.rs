//! The PostgreSQL backend as the rest of the server sees it. With `[store] backend =
//! "postgres"` every write of `Store` (a round, allocations, the directory, history,
//! passwords, SSH keys) is committed to PostgreSQL first, as rows (`rows.rs`), and then applied
//! to the replica's redb file, which stays the local cache every read is served from. `pull`
//! brings the cache up to the database's version of a tenant (other replicas' commits);
//! `lock_round` takes the tenant's round lock.
//!
//! The PostgreSQL client is async; `Store` is called from synchronous code (redb) and from
//! either kind of tokio runtime. The client therefore runs on a runtime of its own (one
//! thread), and the synchronous methods wait for it on a channel.

use super::cache::CacheVersion;
use super::postgres::{Committed, Fetched, Listener, Shared, TenantLock, TenantVersion};
use super::rows::{ChangeSet, Kind, Row, history_key};
use super::{Store, StoreError};
use model::Secret;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// No database call waits longer than this (a blackholed host, a lock held by a stuck
/// statement): the caller gets `Unreachable` and the replica keeps serving its cache.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A call that writes `rows` rows (a full round's commit, `store import`) may take longer: 1 ms
/// more per row (10 minutes for 600,000), so a large tenant is never cut off while the
/// database is working on it.
fn bulk_timeout(rows: usize) -> Duration {
    CALL_TIMEOUT.saturating_add(Duration::from_millis(
        u64::try_from(rows).unwrap_or(u64::MAX),
    ))
}

/// The shared database and the runtime its client runs on.
pub struct Remote {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    store_id: Mutex<Option<String>>,
    /// Unix time of the first failed call since the last successful one.
    unreachable_since: Mutex<Option<i64>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's task would panic; this never blocks.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn now() -> i64 {
    use model::time::{Clock, SystemClock};
    SystemClock.now_unix()
}

impl Remote {
    /// Parse the URL and start the client's runtime; nothing connects until first used.
    pub fn new(url: &Secret) -> Result<Remote, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres(format!("starting the client runtime: {e}")))?;
        let handle = runtime.handle().clone();
        // The pool spawns nothing at creation, but it is built inside the runtime anyway.
        let shared = {
            let _enter = handle.enter();
            Shared::new(url)?
        };
        Ok(Remote {
            shared: Arc::new(shared),
            runtime: Some(runtime),
            handle,
            store_id: Mutex::new(None),
            unreachable_since: Mutex::new(None),
        })
    }

    /// Since when the database has been unreachable (`None`: the last call succeeded).
    pub fn unreachable_since(&self) -> Option<i64> {
        self.unreachable_since.lock().ok().and_then(|g| *g)
    }

    fn note<T>(&self, r: &Result<T, StoreError>) {
        if let Ok(mut g) = self.unreachable_since.lock() {
            match r {
                Ok(_) => *g = None,
                Err(StoreError::Unreachable(_)) => {
                    g.get_or_insert_with(now);
                }
                Err(_) => {}
            }
        }
    }

    fn spawn<T, F, Fut>(
        &self,
        limit: Duration,
        f: F,
    ) -> tokio::task::JoinHandle<Result<T, StoreError>>
    where
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let fut = f(Arc::clone(&self.shared));
        self.handle.spawn(async move {
            tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
                Err(StoreError::Unreachable(format!(
                    "no answer within {} s",
                    limit.as_secs()
                )))
            })
        })
    }

    /// Run a call on the client's runtime and wait for it (from any thread).
    fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        self.run_within(CALL_TIMEOUT, f)
    }

    /// `run` with its own time limit.
    fn run_within<T, F, Fut>(&self, limit: Duration, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let task = self.spawn(limit, f);
        self.handle.spawn(async move {
            let r = task
                .await
                .unwrap_or_else(|e| Err(StoreError::Postgres(format!("client task: {e}"))));
            let _ = tx.send(r);
        });
        let r = rx
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Postgres("client runtime stopped".into())));
        self.note(&r);
        r
    }

    /// `run`, awaited instead of waited for (from async code such as the follower).
    pub async fn run_async<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let r = self
            .spawn(CALL_TIMEOUT, f)
            .await
            .unwrap_or_else(|e| Err(StoreError::Postgres(format!("client task: {e}"))));
        self.note(&r);
        r
    }

    /// The database's store id, migrating its schema on first use.
    pub fn store_id(&self) -> Result<String, StoreError> {
        if let Some(id) = self.store_id.lock().ok().and_then(|g| g.clone()) {
            return Ok(id);
        }
        let id = self.run(|s| async move { s.migrate().await })?;
        if let Ok(mut g) = self.store_id.lock() {
            *g = Some(id.clone());
        }
        Ok(id)
    }

    pub fn versions(&self) -> Result<HashMap<String, TenantVersion>, StoreError> {
        self.run(|s| async move { s.versions().await })
    }

    pub async fn versions_async(&self) -> Result<HashMap<String, TenantVersion>, StoreError> {
        self.run_async(|s| async move { s.versions().await }).await
    }

    fn fetch(&self, tenant: &str, since: Option<u64>) -> Result<Fetched, StoreError> {
        let tenant = tenant.to_string();
        self.run(|s| async move { s.fetch(&tenant, since, &[]).await })
    }

    fn commit(
        &self,
        tenant: &str,
        changes: ChangeSet,
        expect_state: Option<u64>,
    ) -> Result<Committed, StoreError> {
        let tenant = tenant.to_string();
        self.run_within(bulk_timeout(changes.rows.len()), |s| async move {
            s.commit(&tenant, &changes, expect_state).await
        })
    }

    /// Copy one tenant's rows into the database (`store import`).
    pub fn import(
        &self,
        tenant: &str,
        rows: Vec<Row>,
        history_floor: u64,
    ) -> Result<Committed, StoreError> {
        self.store_id()?;
        let tenant = tenant.to_string();
        self.run_within(bulk_timeout(rows.len()), |s| async move {
            s.import(&tenant, rows, history_floor).await
        })
    }

    /// Listen for other replicas' commits.
    pub async fn listen(&self) -> Result<Listener, StoreError> {
        self.run_async(|s| async move { s.listen().await }).await
    }
}

/// A tenant's round lock, held until dropped (nothing is held with the redb backend: one
/// process owns the file).
pub struct RoundLock {
    _lock: Option<TenantLock>,
}

/// What `pull` brought into the cache.
#[derive(Debug, Default)]
pub struct Pulled {
    pub rows: Vec<Row>,
    /// The rows are the whole tenant (the cache was reloaded).
    pub reload: bool,
    pub version: u64,
}

impl Pulled {
    /// Whether the tenant's mirror, allocations or directory changed.
    pub fn touches_state(&self) -> bool {
        self.reload || self.rows.iter().any(|r| r.kind.is_state())
    }

    /// Whether served entries changed.
    pub fn touches_entries(&self) -> bool {
        self.reload
            || self.rows.iter().any(|r| {
                r.kind == Kind::Entry || (r.kind == Kind::Meta && r.key == "directory_info")
            })
    }
}

impl Store {
    /// Use PostgreSQL as the one truth, this store being the replica's cache.
    pub fn with_remote(mut self, remote: Remote) -> Store {
        self.remote = Some(Arc::new(remote));
        self
    }

    /// The shared database, when the backend is PostgreSQL.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_deref()
    }

    /// Take `tenant`'s round lock, waiting up to `wait` for another replica's round to end.
    /// `Ok(None)`: another replica still holds it.
    pub fn lock_round(
        &self,
        tenant: &str,
        wait: Duration,
    ) -> Result<Option<RoundLock>, StoreError> {
        let Some(remote) = self.remote() else {
            return Ok(Some(RoundLock { _lock: None }));
        };
        remote.store_id()?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let t = tenant.to_string();
            if let Some(l) = remote.run(|s| async move { s.try_lock(&t).await })? {
                return Ok(Some(RoundLock { _lock: Some(l) }));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The cache's version of `tenant`, when it follows this database.
    fn followed(
        &self,
        remote: &Remote,
        tenant: &str,
    ) -> Result<(String, Option<CacheVersion>), StoreError> {
        let id = remote.store_id()?;
        let cached = self.cache_version(tenant)?.filter(|c| c.store_id == id);
        Ok((id, cached))
    }

    /// Commit `changes` to the database and then to the cache. With `depends_on_state`, the
    /// commit is refused (`Conflict`) when another replica changed the tenant's state since
    /// the version the cache holds.
    pub(super) fn commit_shared(
        &self,
        remote: &Remote,
        tenant: &str,
        changes: ChangeSet,
        depends_on_state: bool,
    ) -> Result<(), StoreError> {
        let (id, cached) = self.followed(remote, tenant)?;
        let expect = depends_on_state.then(|| cached.as_ref().map_or(0, |c| c.state_version));
        let clear = changes.clear_entries;
        let keep = changes.history_keep;
        let mut rows = changes.rows.clone();
        let history = changes.history.clone();
        let done = remote.commit(tenant, changes, expect)?;
        if let Some(h) = history {
            rows.push(Row::put(Kind::History, history_key(done.version), h));
        }
        // The cache holds this version only when it held the one before; otherwise the next
        // pull fetches the gap (and these rows again, harmlessly).
        let before = cached.as_ref().map_or(0, |c| c.version);
        let at = (before + 1 == done.version).then_some(CacheVersion {
            store_id: id,
            version: done.version,
            state_version: done.state_version,
        });
        self.apply_rows_with(tenant, &rows, at.as_ref(), false, clear)?;
        if keep > 0 {
            self.trim_history(tenant, keep)?;
        }
        Ok(())
    }

    /// Bring the cache of `tenant` up to the database's version. `None`: nothing new.
    pub fn pull(&self, tenant: &str) -> Result<Option<Pulled>, StoreError> {
        let Some(remote) = self.remote() else {
            return Ok(None);
        };
        let (id, cached) = self.followed(remote, tenant)?;
        let since = cached.as_ref().map(|c| c.version);
        let f = remote.fetch(tenant, since)?;
        if f.version == 0 || (!f.reload && Some(f.version) == since && f.rows.is_empty()) {
            // A tenant the database has never seen: nothing to follow (and nothing to drop).
            return Ok(None);
        }
        let at = CacheVersion {
            store_id: id,
            version: f.version,
            state_version: f.state_version,
        };
        self.apply_rows(tenant, &f.rows, Some(&at), f.reload)?;
        Ok(Some(Pulled {
            rows: f.rows,
            reload: f.reload,
            version: f.version,
        }))
    }

    /// Apply only the rows that feed binds (directory passwords) and history, without moving
    /// the cache's version: for when the tenant's state cannot be updated yet (a round holds
    /// it) but a password set on another replica should work here now.
    pub fn pull_credentials(&self, tenant: &str) -> Result<(), StoreError> {
        let Some(remote) = self.remote() else {
            return Ok(());
        };
        let (_, cached) = self.followed(remote, tenant)?;
        let Some(since) = cached.map(|c| c.version) else {
            return Ok(());
        };
        let f = remote.fetch(tenant, Some(since))?;
        if f.reload {
            return Ok(());
        }
        let rows: Vec<Row> = f
            .rows
            .into_iter()
            .filter(|r| matches!(r.kind, Kind::Password | Kind::History))
            .collect();
        if !rows.is_empty() {
            self.apply_rows(tenant, &rows, None, false)?;
        }
        Ok(())
    }

    /// Whether the cache is behind the database for `tenant` (by the versions given).
    pub fn is_behind(&self, tenant: &str, v: &TenantVersion) -> bool {
        match self.cache_version(tenant) {
            Ok(Some(c)) => {
                let same = self
                    .remote()
                    .and_then(|r| r.store_id.lock().ok().and_then(|g| g.clone()))
                    .is_none_or(|id| id == c.store_id);
                !same || c.version != v.version
            }
            Ok(None) => v.version > 0,
            Err(_) => true,
        }
    }

    /// Whether this data directory holds a single-server store (tenants, but no database
    /// followed): starting a replica on it would replace it with the database's rows.
    pub fn holds_unimported_data(&self) -> Result<bool, StoreError> {
        for t in self.tenants()? {
            if self.cache_version(&t)?.is_none() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
