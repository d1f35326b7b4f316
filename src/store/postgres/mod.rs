//! The shared store: one PostgreSQL database holding every replica's one truth, as versioned
//! rows (see `rows.rs`).
//!
//! Schema (`schema.rs`, applied at start under a lock so replicas starting together agree):
//! - `o365_ldap_rows (tenant, kind, key, value, version)`: every record; `value` NULL is a
//!   deletion kept as a tombstone so replicas learn of it; `version` is the tenant version that
//!   last wrote the row, indexed so a replica fetches only what changed since the version it
//!   applied last.
//! - `o365_ldap_tenants (tenant, version, state_version, tombstones_below)`: each commit bumps
//!   `version` (and `state_version` when it depends on the mirror: a round, a derivation);
//!   tombstones older than `tombstones_below` were pruned, so a replica behind that reloads.
//! - `o365_ldap_store`: the store's id, so a replica's cache notices a different database.
//!
//! A commit is one transaction: the tenant row is locked, rows are upserted with the new
//! version, and `pg_notify('o365_ldap', '<tenant> <version>')` tells the other replicas, at
//! commit. Rounds are serialised per tenant by a session advisory lock held on a connection of
//! its own (`TenantLock`): a replica that dies loses its connection, and with it the lock.

mod schema;
pub mod url;

use super::StoreError;
use super::rows::{ChangeSet, Kind, Row, history_key};
use model::Secret;
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::Client;

pub use url::{SslMode, Target};

/// The notification channel commits are announced on.
pub const CHANNEL: &str = "o365_ldap";

/// Tombstones are kept for this many versions of a tenant; a replica further behind reloads
/// the tenant whole.
const TOMBSTONE_VERSIONS: i64 = 10_000;

/// Rows per upsert statement.
const BATCH: usize = 5_000;

/// Where one tenant stands in the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantVersion {
    pub version: u64,
    pub state_version: u64,
    pub tombstones_below: u64,
}

/// Rows fetched for a replica: everything since its version (or the whole tenant).
#[derive(Debug, Default)]
pub struct Fetched {
    /// The tenant's version the rows bring the replica to.
    pub version: u64,
    pub state_version: u64,
    /// The rows are the whole tenant: drop what is cached first.
    pub reload: bool,
    pub rows: Vec<Row>,
}

/// What a commit became.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    pub version: u64,
    pub state_version: u64,
}

/// The shared PostgreSQL store.
pub struct Shared {
    target: Target,
    pool: deadpool_postgres::Pool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("sslmode", &self.target.sslmode)
            .finish_non_exhaustive()
    }
}

/// A tenant's round lock: a session advisory lock on a connection of its own. Dropping it
/// closes the connection, which releases the lock.
pub struct TenantLock {
    client: Client,
    task: tokio::task::JoinHandle<()>,
    pub tenant: String,
}

impl Drop for TenantLock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TenantLock {
    /// Whether the lock's connection is still up (a lost connection lost the lock).
    pub fn is_alive(&self) -> bool {
        !self.client.is_closed()
    }
}

/// The 64-bit advisory lock key of a tenant's rounds.
fn lock_key(tenant: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("o365-ldap round {tenant}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    i64::from_be_bytes(b)
}

/// The same message, as "cannot be reached".
fn unreachable(e: StoreError) -> StoreError {
    match e {
        StoreError::Postgres(m) => StoreError::Unreachable(m),
        other => other,
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Shared {
    /// Parse the URL and set up the pool; nothing connects until first used.
    pub fn new(url: &Secret) -> Result<Shared, StoreError> {
        let target = url::parse(url).map_err(StoreError::Postgres)?;
        let mgr = deadpool_postgres::Manager::from_config(
            target.config.clone(),
            target.tls.clone(),
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(mgr)
            .max_size(4)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(5)))
            .wait_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Postgres(format!("connection pool: {e}")))?;
        Ok(Shared { target, pool })
    }

    pub fn sslmode(&self) -> SslMode {
        self.target.sslmode
    }

    /// A database error as a store error, with the URL and password redacted.
    fn err(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        // tokio-postgres's Display says only "db error"; the server's message is its source.
        StoreError::Postgres(self.target.redact(&format!("{what}: {e}")))
    }

    /// A client error as a store error: what the server refused is `Postgres`, anything
    /// else (refused or lost connection, I/O, timeout) is `Unreachable`.
    fn pg_err(&self, what: &str, e: tokio_postgres::Error) -> StoreError {
        match e.as_db_error() {
            Some(db) => self.err(what, format!("{} ({})", db.message(), db.code().code())),
            None => {
                let mut s = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(inner) = src {
                    s.push_str(": ");
                    s.push_str(&inner.to_string());
                    src = inner.source();
                }
                let lost = e.is_closed()
                    || s.starts_with("error connecting")
                    || s.contains("timed out")
                    || std::error::Error::source(&e).is_some_and(|x| x.is::<std::io::Error>());
                if lost {
                    unreachable(self.err(what, s))
                } else {
                    self.err(what, s)
                }
            }
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            let msg = match e {
                deadpool_postgres::PoolError::Backend(e) => self.pg_err("connecting", e),
                other => self.err("connecting", other),
            };
            unreachable(msg)
        })
    }

    /// A connection of its own (not from the pool), driven on a task.
    async fn dedicated(
        &self,
    ) -> Result<
        (
            Client,
            tokio_postgres::Connection<
                tokio_postgres::Socket,
                <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
                    tokio_postgres::Socket,
                >>::Stream,
            >,
        ),
        StoreError,
    > {
        self.target
            .config
            .connect(self.target.tls.clone())
            .await
            .map_err(|e| unreachable(self.pg_err("connecting", e)))
    }

    /// Apply the schema migrations this build knows and return the store's id. Refuses a
    /// database migrated by a newer build.
    pub async fn migrate(&self) -> Result<String, StoreError> {
        let mut c = self.client().await?;
        schema::migrate(&mut c)
            .await
            .map_err(|e| match e {
                schema::MigrateError::Db(e) => self.pg_err("migrating the schema", e),
                schema::MigrateError::Newer { found, known } => StoreError::Postgres(format!(
                    "the database schema is at version {found}, newer than this build knows ({known}): upgrade this replica"
                )),
            })
    }

    /// Every tenant's version.
    pub async fn versions(&self) -> Result<HashMap<String, TenantVersion>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT tenant, version, state_version, tombstones_below FROM o365_ldap_tenants",
                &[],
            )
            .await
            .map_err(|e| self.pg_err("reading tenant versions", e))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    TenantVersion {
                        version: to_u64(r.get(1)),
                        state_version: to_u64(r.get(2)),
                        tombstones_below: to_u64(r.get(3)),
                    },
                )
            })
            .collect())
    }

    /// The rows of `tenant` changed after version `since` (all of them when `since` is `None`,
    /// or when tombstones the replica needs were pruned, or when the database is behind it),
    /// leaving out rows last written by a version in `skip` (the replica's own commits).
    pub async fn fetch(
        &self,
        tenant: &str,
        since: Option<u64>,
        skip: &[u64],
    ) -> Result<Fetched, StoreError> {
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.pg_err("reading changes", e))?;
        let head = tx
            .query_opt(
                "SELECT version, state_version, tombstones_below FROM o365_ldap_tenants WHERE tenant = $1",
                &[&tenant],
            )
            .await
            .map_err(|e| self.pg_err("reading changes", e))?
            .map(|r| TenantVersion {
                version: to_u64(r.get(0)),
                state_version: to_u64(r.get(1)),
                tombstones_below: to_u64(r.get(2)),
            })
            .unwrap_or_default();
        let reload = match since {
            None => true,
            Some(v) => v < head.tombstones_below || v > head.version,
        };
        let skip: Vec<i64> = skip.iter().map(|v| to_i64(*v)).collect();
        let rows = if reload {
            tx.query(
                "SELECT kind, key, value FROM o365_ldap_rows WHERE tenant = $1 AND value IS NOT NULL",
                &[&tenant],
            )
            .await
        } else {
            let since = to_i64(since.unwrap_or(0));
            tx.query(
                "SELECT kind, key, value FROM o365_ldap_rows \
                 WHERE tenant = $1 AND version > $2 AND NOT (version = ANY($3))",
                &[&tenant, &since, &skip],
            )
            .await
        }
        .map_err(|e| self.pg_err("reading changes", e))?;
        tx.commit()
            .await
            .map_err(|e| self.pg_err("reading changes", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: &str = r.get(0);
            let Some(kind) = Kind::parse(kind) else {
                // A kind a newer build writes: not ours to apply.
                continue;
            };
            out.push(Row {
                kind,
                key: r.get(1),
                value: r.get(2),
            });
        }
        Ok(Fetched {
            version: head.version,
            state_version: head.state_version,
            reload,
            rows: out,
        })
    }

    /// Commit `changes` for `tenant` in one transaction on the pool, bumping its version.
    /// With `expect_state`, the commit depends on the tenant's state at that state version
    /// and is refused (`StoreError::Conflict`) when another commit moved it since.
    pub async fn commit(
        &self,
        tenant: &str,
        changes: &ChangeSet,
        expect_state: Option<u64>,
    ) -> Result<Committed, StoreError> {
        let mut c = self.client().await?;
        self.commit_on(&mut c, tenant, changes, expect_state).await
    }

    /// `commit` on the connection that holds the tenant's round lock: if that connection was
    /// lost (and the lock with it), the commit fails rather than racing another replica.
    pub async fn commit_locked(
        &self,
        lock: &mut TenantLock,
        changes: &ChangeSet,
        expect_state: Option<u64>,
    ) -> Result<Committed, StoreError> {
        let tenant = lock.tenant.clone();
        self.commit_on(&mut lock.client, &tenant, changes, expect_state)
            .await
    }

    /// Copy a tenant's rows (`store import`) in one transaction, refusing a tenant the
    /// database already holds. Versions start past `history_floor` (the highest sequence
    /// number of the imported history), so records of later rounds, keyed by version, come
    /// after the imported ones.
    pub async fn import(
        &self,
        tenant: &str,
        rows: Vec<Row>,
        history_floor: u64,
    ) -> Result<Committed, StoreError> {
        let e = |e| self.pg_err("importing", e);
        let mut c = self.client().await?;
        let floor = to_i64(history_floor);
        let inserted = c
            .execute(
                "INSERT INTO o365_ldap_tenants (tenant, version) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&tenant, &floor],
            )
            .await
            .map_err(e)?;
        let existing: i64 = c
            .query_one(
                "SELECT count(*) FROM o365_ldap_rows WHERE tenant = $1",
                &[&tenant],
            )
            .await
            .map_err(e)?
            .get(0);
        if inserted == 0 && existing > 0 {
            return Err(StoreError::Conflict(format!(
                "the database already holds tenant {tenant:?}; nothing was imported for it (import into an empty database)"
            )));
        }
        let changes = ChangeSet::rows(rows);
        self.commit_on(&mut c, tenant, &changes, None).await
    }

    async fn commit_on(
        &self,
        c: &mut Client,
        tenant: &str,
        changes: &ChangeSet,
        expect_state: Option<u64>,
    ) -> Result<Committed, StoreError> {
        let e = |e| self.pg_err("committing to PostgreSQL", e);
        let tx = c.transaction().await.map_err(e)?;
        tx.execute(
            "INSERT INTO o365_ldap_tenants (tenant) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&tenant],
        )
        .await
        .map_err(e)?;
        let head = tx
            .query_one(
                "SELECT version, state_version FROM o365_ldap_tenants WHERE tenant = $1 FOR UPDATE",
                &[&tenant],
            )
            .await
            .map_err(e)?;
        let (version, state_version): (i64, i64) = (head.get(0), head.get(1));
        if let Some(expected) = expect_state
            && to_u64(state_version) != expected
        {
            return Err(StoreError::Conflict(format!(
                "tenant {tenant}: another replica committed (state {state_version}) since this one read state {expected}; nothing was written"
            )));
        }
        let new = version + 1;
        if changes.clear_entries {
            tx.execute(
                "UPDATE o365_ldap_rows SET value = NULL, version = $2 \
                 WHERE tenant = $1 AND kind = 'entry' AND value IS NOT NULL",
                &[&tenant, &new],
            )
            .await
            .map_err(e)?;
        }
        // One row per (kind, key), the last given winning (a patch may remove and re-add a DN).
        let mut last: HashMap<(Kind, &str), usize> = HashMap::with_capacity(changes.rows.len());
        for (i, r) in changes.rows.iter().enumerate() {
            last.insert((r.kind, r.key.as_str()), i);
        }
        let mut order: Vec<usize> = last.into_values().collect();
        order.sort_unstable();
        let upsert = tx
            .prepare(
                "INSERT INTO o365_ldap_rows (tenant, kind, key, value, version) \
                 SELECT $1, k, key, v, $2 FROM unnest($3::text[], $4::text[], $5::bytea[]) AS t(k, key, v) \
                 ON CONFLICT (tenant, kind, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version",
            )
            .await
            .map_err(e)?;
        for chunk in order.chunks(BATCH) {
            let kinds: Vec<&str> = chunk
                .iter()
                .map(|&i| changes.rows[i].kind.as_str())
                .collect();
            let keys: Vec<&str> = chunk
                .iter()
                .map(|&i| changes.rows[i].key.as_str())
                .collect();
            let values: Vec<Option<&[u8]>> = chunk
                .iter()
                .map(|&i| changes.rows[i].value.as_deref())
                .collect();
            tx.execute(&upsert, &[&tenant, &new, &kinds, &keys, &values])
                .await
                .map_err(e)?;
        }
        if let Some(rec) = &changes.history {
            let key = history_key(to_u64(new));
            tx.execute(
                "INSERT INTO o365_ldap_rows (tenant, kind, key, value, version) VALUES ($1, 'history', $2, $3, $4) \
                 ON CONFLICT (tenant, kind, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version",
                &[&tenant, &key, rec, &new],
            )
            .await
            .map_err(e)?;
            let keep = i64::try_from(changes.history_keep.max(1)).unwrap_or(i64::MAX);
            tx.execute(
                "UPDATE o365_ldap_rows SET value = NULL, version = $2 \
                 WHERE tenant = $1 AND kind = 'history' AND value IS NOT NULL AND key < ( \
                   SELECT key FROM o365_ldap_rows WHERE tenant = $1 AND kind = 'history' AND value IS NOT NULL \
                   ORDER BY key DESC OFFSET $3::bigint - 1 LIMIT 1)",
                &[&tenant, &new, &keep],
            )
            .await
            .map_err(e)?;
        }
        let state = expect_state.is_some() || changes.touches_state();
        tx.execute(
            "UPDATE o365_ldap_tenants SET version = $2, \
             state_version = CASE WHEN $3 THEN $2 ELSE state_version END, updated_at = now() \
             WHERE tenant = $1",
            &[&tenant, &new, &state],
        )
        .await
        .map_err(e)?;
        // Tombstones are what replicas behind learn deletions from; past a horizon a replica
        // reloads instead, so older ones can go.
        if new % 100 == 0 {
            let horizon = new - TOMBSTONE_VERSIONS;
            if horizon > 0 {
                tx.execute(
                    "DELETE FROM o365_ldap_rows WHERE tenant = $1 AND value IS NULL AND version < $2",
                    &[&tenant, &horizon],
                )
                .await
                .map_err(e)?;
                tx.execute(
                    "UPDATE o365_ldap_tenants SET tombstones_below = GREATEST(tombstones_below, $2) WHERE tenant = $1",
                    &[&tenant, &horizon],
                )
                .await
                .map_err(e)?;
            }
        }
        let payload = format!("{tenant} {new}");
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(Committed {
            version: to_u64(new),
            state_version: if state {
                to_u64(new)
            } else {
                to_u64(state_version)
            },
        })
    }

    /// Take `tenant`'s round lock if no other replica holds it (`None` when one does).
    pub async fn try_lock(&self, tenant: &str) -> Result<Option<TenantLock>, StoreError> {
        let (client, conn) = self.dedicated().await?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&lock_key(tenant)])
            .await
            .map_err(|e| self.pg_err("taking the round lock", e))?
            .get(0);
        let lock = TenantLock {
            client,
            task,
            tenant: tenant.to_string(),
        };
        Ok(got.then_some(lock))
    }

    /// Listen for commits: `(tenant, version)` for each, until the connection is lost (the
    /// receiver then ends).
    pub async fn listen(&self) -> Result<Listener, StoreError> {
        let (client, mut conn) = self.dedicated().await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let msg = std::future::poll_fn(|cx| conn.poll_message(cx)).await;
                match msg {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                        let Some((tenant, v)) = n.payload().rsplit_once(' ') else {
                            continue;
                        };
                        let Ok(v) = v.parse() else { continue };
                        if tx.send((tenant.to_string(), v)).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| self.pg_err("listening for commits", e))?;
        Ok(Listener {
            rx,
            _client: client,
            task,
        })
    }
}

/// Commits announced by other replicas (and this one); ends when the connection is lost.
pub struct Listener {
    pub rx: tokio::sync::mpsc::UnboundedReceiver<(String, u64)>,
    _client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}
