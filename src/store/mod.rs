//! Persistence in redb: each tenant's raw Graph mirror (with deleted users kept for a while),
//! its number and name allocations, its Graph delta links and its sync history. A sync round is committed in ONE write transaction, so
//! a crash at any moment leaves the previous round intact; writes are diffs against what is
//! stored, so a small change costs a small write.

use ::directory::ids::Allocations;
use ::model::graph::{Group, MemberRef, User};
use ::model::mirror::{DeletedUser, Mirror};
use ::model::time::{Clock, SystemClock, generalized_time};
use imbl::ordmap::DiffItem;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod backup;
pub use backup::BackupInfo;
mod cache;
pub(crate) mod directory;
mod history;
mod passwords;
pub mod postgres;
pub mod rows;
mod shared;
mod ssh_keys;
mod tables;
use tables::{
    diff_json, from_value, put_json, read_json_map, read_json_rows, read_plain_map, read_str_map,
    read_used, write_alloc,
};

pub use cache::CacheVersion;
pub use shared::{Pulled, Remote, RoundLock};

type Key2<'a> = (&'a str, &'a str);

const USERS: TableDefinition<Key2, &[u8]> = TableDefinition::new("users");
const GROUPS: TableDefinition<Key2, &[u8]> = TableDefinition::new("groups");
const MEMBERS: TableDefinition<Key2, &[u8]> = TableDefinition::new("members");
const STAMPS: TableDefinition<Key2, &str> = TableDefinition::new("stamps");
/// Per-tenant small values: domains, organization, last successful sync.
const TENANT_META: TableDefinition<Key2, &[u8]> = TableDefinition::new("tenant_meta");
const UID_NUMBERS: TableDefinition<Key2, u32> = TableDefinition::new("uid_numbers");
const GID_NUMBERS: TableDefinition<Key2, u32> = TableDefinition::new("gid_numbers");
/// Every number ever handed out, with the object that got it: numbers are never reused.
const UID_USED: TableDefinition<(&str, u32), &str> = TableDefinition::new("uid_used");
const GID_USED: TableDefinition<(&str, u32), &str> = TableDefinition::new("gid_used");
/// Name holders (`u:<uid>` / `g:<cn>`, normalised) so the first holder keeps a name.
const NAMES: TableDefinition<Key2, &str> = TableDefinition::new("names");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Users Graph deleted, kept while `users.keep_deleted_for` says so.
const DELETED: TableDefinition<Key2, &[u8]> = TableDefinition::new("deleted_users");
/// Sync rounds per tenant, keyed by a sequence number that only grows.
const HISTORY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("history");

const SCHEMA_VERSION: &[u8] = b"1";

/// The database file in `data_dir`.
pub const FILE_NAME: &str = "o365-ldap.redb";
/// Written when the store is created, so a later missing or emptied file is noticed.
const MARKER_NAME: &str = "o365-ldap.redb.created";

/// Create (or replace) a file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// redb's page cache (see `Store::open`).
const CACHE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: Box<redb::DatabaseError>,
    },
    #[error(
        "the store {path} is damaged ({detail}). Restore it from a backup (docs/operations.md), \
         or start empty with `o365-ldap serve --force`: the damaged file is kept beside it, the \
         next sync round refills the directory from Microsoft 365, but directory passwords, SSH \
         keys added with `ctl` and the numbers of deleted users are lost"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "the store {path} is {what}, but this data directory held a store (created {created}). \
         Restore it from a backup (docs/operations.md), or start empty with \
         `o365-ldap serve --force`: the next sync round refills the directory from Microsoft \
         365, but directory passwords, SSH keys added with `ctl` and the numbers of deleted \
         users are lost"
    )]
    Missing {
        path: PathBuf,
        what: &'static str,
        created: String,
    },
    #[error("database {path} has schema version {found}, this build understands {expected}")]
    Version {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("database error: {0}")]
    Db(String),
    /// The shared PostgreSQL store failed or cannot be reached (the message is redacted).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// PostgreSQL cannot be reached (refused, timed out, connection lost); the message is
    /// redacted. Replicas keep serving their local cache meanwhile.
    #[error("PostgreSQL is unreachable: {0}")]
    Unreachable(String),
    /// Another replica committed first; nothing was written.
    #[error("{0}")]
    Conflict(String),
    #[error("corrupt record in table {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
        }
    )*};
}
db_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Everything the store keeps for one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantState {
    pub mirror: Mirror,
    pub alloc: Allocations,
    /// Unix time of the last successful sync round, if any.
    pub last_sync: Option<i64>,
    /// Unix time of the last successful full round; delta rounds leave it alone.
    pub last_full: Option<i64>,
    /// The delta links the next delta round starts from (absent: the next round is full).
    pub delta: Option<DeltaLinks>,
}

/// Graph `@odata.deltaLink`s, kept verbatim (docs/graph-behaviour.md §8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeltaLinks {
    pub users: String,
    pub groups: String,
    /// The user `$select` the users link was started with (`None`: links stored before this
    /// was recorded, i.e. the fixed `USER_SELECT`). A delta link keeps its first request's
    /// `$select`, so when the configured one differs the next round must be full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_select: Option<String>,
    /// The group `$select` the groups link was started with (`None`: the fixed
    /// `GROUP_SELECT`), for `groups.gid_number_attribute` the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_select: Option<String>,
}

impl DeltaLinks {
    /// Whether these links return the user properties `select` asks for.
    pub fn selects_users(&self, select: &str) -> bool {
        self.user_select
            .as_deref()
            .unwrap_or(::model::graph::USER_SELECT)
            == select
    }

    /// Whether these links return the group properties `select` asks for.
    pub fn selects_groups(&self, select: &str) -> bool {
        self.group_select
            .as_deref()
            .unwrap_or(::model::graph::GROUP_SELECT)
            == select
    }
}

/// The store: the redb file in `data_dir`, and with `[store] backend = "postgres"` the shared
/// database it caches (`shared.rs`): writes go to the database first, reads are served from
/// the file.
pub struct Store {
    db: Database,
    path: PathBuf,
    remote: Option<std::sync::Arc<Remote>>,
}

impl Store {
    /// Open (or create) `<data_dir>/o365-ldap.redb`.
    ///
    /// A store that was created here once must still be there: a missing or zero-length file
    /// beside the creation marker is an error, not a fresh install (which would serve an empty
    /// directory and hand out numbers again). Every page is checked on open, so a damaged file
    /// is refused with a message that says what to do, never served and never a panic.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        // Private by construction, whatever the umask: the store holds personal data of the
        // tenant and password hashes.
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(|source| StoreError::CreateDir {
                    path: data_dir.to_path_buf(),
                    source,
                })?;
        }
        let path = data_dir.join(FILE_NAME);
        let marker = data_dir.join(MARKER_NAME);
        let created = std::fs::read_to_string(&marker).ok();
        if let Some(created) = &created {
            let what = match std::fs::metadata(&path) {
                Err(_) => Some("missing"),
                Ok(m) if m.len() == 0 => Some("empty (zero bytes)"),
                Ok(_) => None,
            };
            if let Some(what) = what {
                return Err(StoreError::Missing {
                    path,
                    what,
                    created: created.trim().to_owned(),
                });
            }
        }
        let damaged = |detail: String| StoreError::Damaged {
            path: path.clone(),
            detail,
        };
        // redb trusts a cleanly closed file and may panic on one altered since; checking every
        // page on open turns that into an error. The catch is for whatever the check misses.
        let opened = std::panic::catch_unwind(|| {
            // redb's page cache defaults to 1 GiB, and everything here is read in bulk once
            // (the served directory at start, the mirror per round) and then held in our own
            // structures: a large cache only doubles resident memory. The kernel's page cache
            // still serves repeated reads.
            let db = Database::builder()
                .set_cache_size(CACHE_BYTES)
                .set_check_integrity_on_open(true)
                .create(&path);
            db.map(|db| {
                let store = Store {
                    db,
                    path: path.clone(),
                    remote: None,
                };
                let init = store.init();
                (store, init)
            })
        });
        let store = match opened {
            Ok(Ok((store, Ok(())))) => store,
            Ok(Ok((_, Err(e @ StoreError::Version { .. })))) => return Err(e),
            Ok(Ok((_, Err(e)))) => return Err(damaged(e.to_string())),
            Ok(Err(redb::DatabaseError::Storage(e))) => return Err(damaged(e.to_string())),
            Ok(Err(e)) => {
                return Err(StoreError::Open {
                    path,
                    source: Box::new(e),
                });
            }
            Err(_) => return Err(damaged("the database engine failed reading it".into())),
        };
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| StoreError::Db(format!("cannot make {} private: {e}", path.display())),
            )?;
        }
        if created.is_none() {
            write_private(
                &marker,
                &format!("{}\n", generalized_time(SystemClock.now_unix())),
            )
            .map_err(|e| StoreError::Db(format!("cannot write {}: {e}", marker.display())))?;
        }
        Ok(store)
    }

    /// For `serve --force`: when the store in `data_dir` cannot be opened because it is
    /// damaged, missing or empty, move what is there aside (`o365-ldap.redb.damaged-<time>`)
    /// so the next open starts empty. Returns the path it was moved to, if anything was moved.
    pub fn set_aside_if_unusable(data_dir: &Path) -> Result<Option<PathBuf>, StoreError> {
        match Store::open(data_dir) {
            Ok(_) => Ok(None),
            Err(StoreError::Damaged { path, .. } | StoreError::Missing { path, .. }) => {
                let stamp = SystemClock.now_unix();
                let aside = path.with_extension(format!("redb.damaged-{stamp}"));
                let io = |e: std::io::Error| StoreError::Db(format!("{}: {e}", path.display()));
                let moved = path.exists();
                if moved {
                    std::fs::rename(&path, &aside).map_err(io)?;
                }
                std::fs::remove_file(data_dir.join(MARKER_NAME)).map_err(io)?;
                Ok(moved.then_some(aside))
            }
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get("schema_version")?.map(|v| v.value().to_vec());
            match found {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(v) => {
                    return Err(StoreError::Version {
                        path: self.path.clone(),
                        found: String::from_utf8_lossy(&v).into_owned(),
                        expected: String::from_utf8_lossy(SCHEMA_VERSION).into_owned(),
                    });
                }
            }
            // Create every table so read transactions never meet a missing one.
            tx.open_table(USERS)?;
            tx.open_table(GROUPS)?;
            tx.open_table(MEMBERS)?;
            tx.open_table(STAMPS)?;
            tx.open_table(TENANT_META)?;
            tx.open_table(UID_NUMBERS)?;
            tx.open_table(GID_NUMBERS)?;
            tx.open_table(UID_USED)?;
            tx.open_table(GID_USED)?;
            tx.open_table(NAMES)?;
            tx.open_table(DELETED)?;
            tx.open_table(HISTORY)?;
            tx.open_table(directory::DIRECTORY)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Load what was last committed for `tenant` (empty state for a tenant never synced).
    pub fn load_tenant(&self, tenant: &str) -> Result<TenantState, StoreError> {
        let tx = self.db.begin_read()?;
        let mut st = TenantState::default();
        let m = &mut st.mirror;
        m.users = read_json_map::<User, _>(&tx.open_table(USERS)?, tenant, "users")?;
        m.groups = read_json_map::<Group, _>(&tx.open_table(GROUPS)?, tenant, "groups")?;
        m.members =
            read_json_map::<BTreeSet<MemberRef>, _>(&tx.open_table(MEMBERS)?, tenant, "members")?;
        m.changed = read_str_map(&tx.open_table(STAMPS)?, tenant)?;
        let meta: BTreeMap<String, serde_json::Value> =
            read_json_rows(&tx.open_table(TENANT_META)?, tenant, "tenant_meta")?
                .into_iter()
                .collect();
        if let Some(v) = meta.get("domains") {
            m.domains = from_value(v.clone(), "tenant_meta")?;
        }
        if let Some(v) = meta.get("organization") {
            m.organization = from_value(v.clone(), "tenant_meta")?;
        }
        if let Some(v) = meta.get("last_sync") {
            st.last_sync = from_value(v.clone(), "tenant_meta")?;
        }
        if let Some(v) = meta.get("last_full") {
            st.last_full = from_value(v.clone(), "tenant_meta")?;
        }
        if let Some(v) = meta.get("delta") {
            st.delta = from_value(v.clone(), "tenant_meta")?;
        }
        m.deleted_users =
            read_json_map::<DeletedUser, _>(&tx.open_table(DELETED)?, tenant, "deleted_users")?;
        let a = &mut st.alloc;
        a.uid = read_plain_map(&tx.open_table(UID_NUMBERS)?, tenant)?;
        a.gid = read_plain_map(&tx.open_table(GID_NUMBERS)?, tenant)?;
        a.uid_used = read_used(&tx.open_table(UID_USED)?, tenant)?;
        a.gid_used = read_used(&tx.open_table(GID_USED)?, tenant)?;
        a.names = read_str_map(&tx.open_table(NAMES)?, tenant)?;
        Ok(st)
    }

    /// Replace `old` (what is stored) by `new` for `tenant` in one write transaction, writing
    /// only what differs. `old` must be what `load_tenant` returned or the last committed state.
    pub fn commit_tenant(
        &self,
        tenant: &str,
        old: &TenantState,
        new: &TenantState,
    ) -> Result<(), StoreError> {
        self.commit_round(tenant, old, new, None, None)
    }

    /// `commit_tenant` plus one history record, in the same transaction: a round and its
    /// record (and its delta links, part of `new`) are committed together or not at all.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_round(
        &self,
        tenant: &str,
        old: &TenantState,
        new: &TenantState,
        history: Option<(&serde_json::Value, usize)>,
        served: Option<&directory::DirectoryWrite<'_>>,
    ) -> Result<(), StoreError> {
        if let Some(remote) = self.remote() {
            let mut cs = rows::ChangeSet::rows(rows::state_rows(old, new)?);
            if let Some(w) = served {
                let (r, clear) = rows::directory_rows(w);
                cs.rows.extend(r);
                cs.clear_entries = clear;
            }
            if let Some((rec, keep)) = history {
                cs.history =
                    Some(serde_json::to_vec(rec).map_err(|e| StoreError::Db(e.to_string()))?);
                cs.history_keep = keep;
            }
            return self.commit_shared(remote, tenant, cs, true);
        }
        let tx = self.db.begin_write()?;
        if let Some((rec, keep)) = history {
            history::append_history(&tx, tenant, rec, keep)?;
        }
        if let Some(w) = served {
            directory::write(&tx, tenant, w)?;
        }
        {
            diff_json(
                &mut tx.open_table(DELETED)?,
                tenant,
                &old.mirror.deleted_users,
                &new.mirror.deleted_users,
            )?;
            diff_json(
                &mut tx.open_table(USERS)?,
                tenant,
                &old.mirror.users,
                &new.mirror.users,
            )?;
            diff_json(
                &mut tx.open_table(GROUPS)?,
                tenant,
                &old.mirror.groups,
                &new.mirror.groups,
            )?;
            diff_json(
                &mut tx.open_table(MEMBERS)?,
                tenant,
                &old.mirror.members,
                &new.mirror.members,
            )?;
            {
                let mut t = tx.open_table(STAMPS)?;
                for d in old.mirror.changed.diff(&new.mirror.changed) {
                    match d {
                        DiffItem::Add(id, v) | DiffItem::Update { new: (id, v), .. } => {
                            t.insert((tenant, id.as_str()), v.as_str())?;
                        }
                        DiffItem::Remove(id, _) => {
                            t.remove((tenant, id.as_str()))?;
                        }
                    }
                }
            }
            {
                let mut t = tx.open_table(TENANT_META)?;
                put_json(&mut t, tenant, "domains", &new.mirror.domains)?;
                put_json(&mut t, tenant, "organization", &new.mirror.organization)?;
                put_json(&mut t, tenant, "last_sync", &new.last_sync)?;
                put_json(&mut t, tenant, "last_full", &new.last_full)?;
                put_json(&mut t, tenant, "delta", &new.delta)?;
            }
            write_alloc(&tx, tenant, &old.alloc, &new.alloc)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store {
    /// Persist allocations alone (a config change admitted objects at start-up), in one
    /// transaction, writing only what differs.
    pub fn commit_alloc(
        &self,
        tenant: &str,
        old: &Allocations,
        new: &Allocations,
    ) -> Result<(), StoreError> {
        if let Some(remote) = self.remote() {
            let mut r = Vec::new();
            rows::alloc_rows(&mut r, old, new);
            if r.is_empty() {
                return Ok(());
            }
            return self.commit_shared(remote, tenant, rows::ChangeSet::rows(r), true);
        }
        let tx = self.db.begin_write()?;
        write_alloc(&tx, tenant, old, new)?;
        tx.commit()?;
        Ok(())
    }

    /// Persist the served directory of `tenant` alone (start-up after a config change).
    pub fn write_directory(
        &self,
        tenant: &str,
        w: &directory::DirectoryWrite<'_>,
    ) -> Result<(), StoreError> {
        if let Some(remote) = self.remote() {
            let (r, clear) = rows::directory_rows(w);
            let cs = rows::ChangeSet {
                clear_entries: clear,
                ..rows::ChangeSet::rows(r)
            };
            return self.commit_shared(remote, tenant, cs, true);
        }
        let tx = self.db.begin_write()?;
        directory::write(&tx, tenant, w)?;
        tx.commit()?;
        Ok(())
    }

    /// The directory last committed for `tenant`, when it was derived under `fingerprint`.
    pub fn load_directory(
        &self,
        tenant: &str,
        index: u16,
        fingerprint: &str,
    ) -> Result<Option<(::directory::TenantInfo, Vec<::directory::Entry>)>, StoreError> {
        let tx = self.db.begin_read()?;
        directory::read(&tx, tenant, index, Some(fingerprint))
    }

    /// The directory last committed for `tenant`, whatever configuration it was derived under
    /// (a replica serves what the shared database holds).
    pub fn load_any_directory(
        &self,
        tenant: &str,
        index: u16,
    ) -> Result<Option<(::directory::TenantInfo, Vec<::directory::Entry>)>, StoreError> {
        let tx = self.db.begin_read()?;
        directory::read(&tx, tenant, index, None)
    }

    /// The configuration fingerprint `tenant`'s stored directory was derived under.
    pub fn directory_fingerprint(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        directory::read_fingerprint(&tx, tenant)
    }

    /// When `tenant`'s last successful round ended, read alone (a replica that follows
    /// another's rounds decides whether to run one without loading the mirror).
    pub fn last_sync(&self, tenant: &str) -> Result<Option<i64>, StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(TENANT_META)?;
        let Some(v) = meta.get((tenant, "last_sync"))? else {
            return Ok(None);
        };
        serde_json::from_slice::<Option<i64>>(v.value()).map_err(|e| StoreError::Corrupt {
            table: "tenant_meta",
            message: format!("{tenant}/last_sync: {e}"),
        })
    }

    /// The derivation record stored with `tenant`'s directory (see `DirectoryWrite::basis`).
    pub fn load_directory_basis(
        &self,
        tenant: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let tx = self.db.begin_read()?;
        directory::read_basis(&tx, tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::model::DeletedUser;
    use ::model::graph::User;

    #[test]
    fn delta_links_deleted_users_and_history_persist() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut new = TenantState {
            delta: Some(DeltaLinks {
                users: "https://graph.example/v1.0/users/delta?$deltatoken=a,b+c".into(),
                groups: "https://graph.example/v1.0/groups/delta?$deltatoken=x".into(),
                user_select: None,
                group_select: None,
            }),
            last_full: Some(7),
            ..TenantState::default()
        };
        new.mirror.deleted_users.insert(
            "u1".into(),
            DeletedUser {
                user: User {
                    id: "u1".into(),
                    display_name: Some("O'Brien, Ann".into()),
                    ..Default::default()
                }
                .into(),
                deleted_at: 5,
            },
        );
        for i in 0..5 {
            let rec = serde_json::json!({ "n": i });
            store
                .commit_round("t", &TenantState::default(), &new, Some((&rec, 3)), None)
                .unwrap();
        }
        store
            .record_history("other", &serde_json::json!({"n": 99}), 3)
            .unwrap();
        let back = store.load_tenant("t").unwrap();
        assert_eq!(back.delta, new.delta);
        assert_eq!(back.last_full, Some(7));
        assert_eq!(back.mirror.deleted_users, new.mirror.deleted_users);
        let h = store.history("t", 10).unwrap();
        let ns: Vec<i64> = h.iter().filter_map(|v| v["n"].as_i64()).collect();
        assert_eq!(
            ns,
            [4, 3, 2],
            "newest first, trimmed to 3, other tenants apart"
        );
    }
}

#[cfg(test)]
#[path = "integrity_tests.rs"]
mod integrity_tests;
