//! A replica's redb file as the cache of the shared store: rows (`rows.rs`) applied to the
//! typed tables, the version of the database the cache holds per tenant, and a whole store
//! read back as rows (for `store import`).

use super::rows::{Kind, Row, bad, history_key, json, number, text};
use super::{
    DELETED, GID_NUMBERS, GID_USED, GROUPS, HISTORY, MEMBERS, NAMES, STAMPS, Store, StoreError,
    TENANT_META, UID_NUMBERS, UID_USED, USERS, directory,
};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

type Key2<'a> = (&'a str, &'a str);

/// The normalised DN whose `dn::dit_order_key` is `key` (RDNs root first, joined by `\u{1}`).
fn ndn_from_order_key(key: &str) -> String {
    let mut parts: Vec<&str> = key.split('\u{1}').collect();
    parts.reverse();
    parts.join(",")
}

/// Apply rows to the redb tables in an open write transaction.
pub(super) fn apply_rows(
    tx: &redb::WriteTransaction,
    tenant: &str,
    rows: &[Row],
) -> Result<(), StoreError> {
    let lower = tenant.to_ascii_lowercase();
    let bytes = |def: TableDefinition<Key2, &[u8]>, r: &Row| -> Result<(), StoreError> {
        let mut t = tx.open_table(def)?;
        match &r.value {
            Some(v) => t.insert((tenant, r.key.as_str()), v.as_slice())?,
            None => t.remove((tenant, r.key.as_str()))?,
        };
        Ok(())
    };
    for r in rows {
        match r.kind {
            Kind::User => bytes(USERS, r)?,
            Kind::Group => bytes(GROUPS, r)?,
            Kind::Members => bytes(MEMBERS, r)?,
            Kind::Deleted => bytes(DELETED, r)?,
            Kind::Meta => bytes(TENANT_META, r)?,
            Kind::Stamp | Kind::Name => {
                let def = if r.kind == Kind::Stamp { STAMPS } else { NAMES };
                let mut t = tx.open_table(def)?;
                match &r.value {
                    Some(v) => {
                        t.insert((tenant, r.key.as_str()), text(v, "stamps")?)?;
                    }
                    None => {
                        t.remove((tenant, r.key.as_str()))?;
                    }
                }
            }
            Kind::Uid | Kind::Gid => {
                let def = if r.kind == Kind::Uid {
                    UID_NUMBERS
                } else {
                    GID_NUMBERS
                };
                let mut t = tx.open_table(def)?;
                match &r.value {
                    Some(v) => {
                        t.insert((tenant, r.key.as_str()), number::<u32>(v, "numbers")?)?;
                    }
                    None => {
                        t.remove((tenant, r.key.as_str()))?;
                    }
                }
            }
            Kind::UidUsed | Kind::GidUsed => {
                let def = if r.kind == Kind::UidUsed {
                    UID_USED
                } else {
                    GID_USED
                };
                let n: u32 = r.key.parse().map_err(|_| bad("used numbers", &r.key))?;
                let mut t = tx.open_table(def)?;
                match &r.value {
                    Some(v) => {
                        t.insert((tenant, n), text(v, "used numbers")?)?;
                    }
                    None => {
                        t.remove((tenant, n))?;
                    }
                }
            }
            Kind::History => {
                let n: u64 = r.key.parse().map_err(|_| bad("history", &r.key))?;
                let mut t = tx.open_table(HISTORY)?;
                match &r.value {
                    Some(v) => {
                        t.insert((tenant, n), v.as_slice())?;
                    }
                    None => {
                        t.remove((tenant, n))?;
                    }
                }
            }
            Kind::Entry => {
                let key = ::directory::dn::dit_order_key(&r.key);
                let mut t = tx.open_table(directory::DIRECTORY)?;
                match &r.value {
                    Some(v) => {
                        t.insert((tenant, key.as_str()), v.as_slice())?;
                    }
                    None => {
                        t.remove((tenant, key.as_str()))?;
                    }
                }
            }
            Kind::Password => {
                let mut t = tx.open_table(super::passwords::LOCAL_PASSWORDS)?;
                let id = r.key.to_ascii_lowercase();
                match &r.value {
                    Some(v) => {
                        t.insert((lower.as_str(), id.as_str()), text(v, "local_passwords")?)?;
                    }
                    None => {
                        t.remove((lower.as_str(), id.as_str()))?;
                    }
                }
            }
            Kind::SshKeys => {
                let mut t = tx.open_table(super::ssh_keys::SSH_KEYS)?;
                let id = r.key.to_ascii_lowercase();
                match &r.value {
                    Some(v) => {
                        t.insert((lower.as_str(), id.as_str()), v.as_slice())?;
                    }
                    None => {
                        t.remove((lower.as_str(), id.as_str()))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Remove every row of `tenant` from every table (a replica about to reload it whole).
fn clear_tenant(tx: &redb::WriteTransaction, tenant: &str) -> Result<(), StoreError> {
    let all = (tenant, "")..=(tenant, "\u{10ffff}");
    for def in [USERS, GROUPS, MEMBERS, DELETED, TENANT_META] {
        tx.open_table(def)?.retain_in(all.clone(), |_, _| false)?;
    }
    tx.open_table(STAMPS)?
        .retain_in(all.clone(), |_, _| false)?;
    tx.open_table(NAMES)?.retain_in(all.clone(), |_, _| false)?;
    tx.open_table(UID_NUMBERS)?
        .retain_in(all.clone(), |_, _| false)?;
    tx.open_table(GID_NUMBERS)?
        .retain_in(all.clone(), |_, _| false)?;
    for def in [UID_USED, GID_USED] {
        tx.open_table(def)?
            .retain_in((tenant, 0u32)..=(tenant, u32::MAX), |_, _| false)?;
    }
    tx.open_table(HISTORY)?
        .retain_in((tenant, 0u64)..=(tenant, u64::MAX), |_, _| false)?;
    tx.open_table(directory::DIRECTORY)?
        .retain_in(all, |_, _| false)?;
    let lower = tenant.to_ascii_lowercase();
    let lall = (lower.as_str(), "")..=(lower.as_str(), "\u{10ffff}");
    tx.open_table(super::passwords::LOCAL_PASSWORDS)?
        .retain_in(lall.clone(), |_, _| false)?;
    tx.open_table(super::ssh_keys::SSH_KEYS)?
        .retain_in(lall, |_, _| false)?;
    Ok(())
}

/// Where a replica's cache stands for one tenant: the database it follows and the last
/// version of it applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheVersion {
    pub store_id: String,
    pub version: u64,
    /// The tenant's state version at `version`: a commit that depends on the cached state
    /// expects the database still at it.
    #[serde(default)]
    pub state_version: u64,
}

fn cache_key(tenant: &str) -> String {
    format!("replica/{tenant}")
}

impl Store {
    /// Apply rows fetched from (or committed to) the shared database, and record `at` as the
    /// version the cache now holds, in one transaction. With `reload`, the tenant's rows are
    /// all dropped first (the rows are the whole tenant).
    pub fn apply_rows(
        &self,
        tenant: &str,
        rows: &[Row],
        at: Option<&CacheVersion>,
        reload: bool,
    ) -> Result<(), StoreError> {
        self.apply_rows_with(tenant, rows, at, reload, false)
    }

    /// `apply_rows`; with `clear_entries`, the tenant's stored entries go first (a full
    /// rewrite of its directory).
    pub(super) fn apply_rows_with(
        &self,
        tenant: &str,
        rows: &[Row],
        at: Option<&CacheVersion>,
        reload: bool,
        clear_entries: bool,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        if reload {
            clear_tenant(&tx, tenant)?;
        } else if clear_entries {
            tx.open_table(directory::DIRECTORY)?
                .retain_in((tenant, "")..=(tenant, "\u{10ffff}"), |_, _| false)?;
        }
        apply_rows(&tx, tenant, rows)?;
        if let Some(v) = at {
            let mut meta = tx.open_table(super::META)?;
            let bytes = json(v)?;
            meta.insert(cache_key(tenant).as_str(), bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The shared-database version this cache holds for `tenant`, if any.
    pub fn cache_version(&self, tenant: &str) -> Result<Option<CacheVersion>, StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(super::META)?;
        let Some(v) = meta.get(cache_key(tenant).as_str())? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                table: "meta",
                message: e.to_string(),
            })
    }

    /// Tenants with any row in this store (for `store import`): the names of the mirror, meta
    /// and history tables, then the lower-cased names of the password and SSH key tables that
    /// match none of those.
    pub fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let mut names = std::collections::BTreeSet::new();
        for def in [TENANT_META, USERS] {
            for r in tx.open_table(def)?.iter()? {
                names.insert(r?.0.value().0.to_string());
            }
        }
        for r in tx.open_table(HISTORY)?.iter()? {
            names.insert(r?.0.value().0.to_string());
        }
        let mut lower = std::collections::BTreeSet::new();
        match tx.open_table(super::passwords::LOCAL_PASSWORDS) {
            Ok(t) => {
                for r in t.iter()? {
                    lower.insert(r?.0.value().0.to_string());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        match tx.open_table(super::ssh_keys::SSH_KEYS) {
            Ok(t) => {
                for r in t.iter()? {
                    lower.insert(r?.0.value().0.to_string());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let mut out: Vec<String> = names.into_iter().collect();
        for l in lower {
            if !out.iter().any(|n| n.eq_ignore_ascii_case(&l)) {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// Every row this store keeps for `tenant`, as the shared database keeps them (for
    /// `store import`). Passwords and SSH keys are found under the lower-cased name.
    pub fn tenant_rows(&self, tenant: &str) -> Result<Vec<Row>, StoreError> {
        let tx = self.db.begin_read()?;
        let mut out = Vec::new();
        let range = (tenant, "")..=(tenant, "\u{10ffff}");
        for (kind, def) in [
            (Kind::User, USERS),
            (Kind::Group, GROUPS),
            (Kind::Members, MEMBERS),
            (Kind::Deleted, DELETED),
            (Kind::Meta, TENANT_META),
        ] {
            for r in tx.open_table(def)?.range(range.clone())? {
                let (k, v) = r?;
                out.push(Row::put(kind, k.value().1, v.value().to_vec()));
            }
        }
        for (kind, def) in [(Kind::Stamp, STAMPS), (Kind::Name, NAMES)] {
            for r in tx.open_table(def)?.range(range.clone())? {
                let (k, v) = r?;
                out.push(Row::put(kind, k.value().1, v.value().as_bytes().to_vec()));
            }
        }
        for (kind, def) in [(Kind::Uid, UID_NUMBERS), (Kind::Gid, GID_NUMBERS)] {
            for r in tx.open_table(def)?.range(range.clone())? {
                let (k, v) = r?;
                out.push(Row::put(
                    kind,
                    k.value().1,
                    v.value().to_string().into_bytes(),
                ));
            }
        }
        for (kind, def) in [(Kind::UidUsed, UID_USED), (Kind::GidUsed, GID_USED)] {
            for r in tx
                .open_table(def)?
                .range((tenant, 0u32)..=(tenant, u32::MAX))?
            {
                let (k, v) = r?;
                out.push(Row::put(
                    kind,
                    k.value().1.to_string(),
                    v.value().as_bytes().to_vec(),
                ));
            }
        }
        for r in tx
            .open_table(HISTORY)?
            .range((tenant, 0u64)..=(tenant, u64::MAX))?
        {
            let (k, v) = r?;
            out.push(Row::put(
                Kind::History,
                history_key(k.value().1),
                v.value().to_vec(),
            ));
        }
        for r in tx.open_table(directory::DIRECTORY)?.range(range)? {
            let (k, v) = r?;
            let ndn = ndn_from_order_key(k.value().1);
            out.push(Row::put(Kind::Entry, ndn, v.value().to_vec()));
        }
        drop(tx);
        let lower = tenant.to_ascii_lowercase();
        for (id, phc) in self.tenant_passwords(&lower)? {
            out.push(Row::put(Kind::Password, id, phc.into_bytes()));
        }
        for (id, keys) in self.tenant_ssh_keys(&lower)? {
            out.push(Row::put(Kind::SshKeys, id, json(&keys)?));
        }
        Ok(out)
    }
}
