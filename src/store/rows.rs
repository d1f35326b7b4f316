//! The store as rows: every record the store keeps for a tenant is one `(kind, key, value)`
//! row, whatever backend holds it. PostgreSQL keeps exactly these rows (with the version that
//! last wrote each), and a replica's redb cache applies them to its typed tables. The same
//! conversions turn a round's state diff into rows to commit, rows fetched from the database
//! into the replica's in-memory state, and a whole redb store into rows for `store import`.
//!
//! Values are the bytes redb keeps (JSON for mirror objects and tenant meta, the binary entry
//! encoding of `directory.rs`, decimal text for numbers); `None` is a deletion (a tombstone in
//! PostgreSQL).

use super::{StoreError, TenantState, directory};
use imbl::ordmap::DiffItem;
use model::mirror::Map;
use serde::Serialize;

/// What a row is. The string is its `kind` in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    User,
    Group,
    Members,
    Stamp,
    Deleted,
    /// Tenant meta: domains, organization, last_sync, last_full, delta links, and the stored
    /// directory's fingerprint, info and derivation record.
    Meta,
    Uid,
    Gid,
    UidUsed,
    GidUsed,
    Name,
    /// A sync round's record; the key is its sequence number, 20 digits.
    History,
    /// A served entry; the key is its normalised DN.
    Entry,
    /// A directory password (PHC string); the key is the lower-cased Graph user id.
    Password,
    /// Admin-managed SSH keys (JSON list); the key is the lower-cased Graph user id.
    SshKeys,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::User,
        Kind::Group,
        Kind::Members,
        Kind::Stamp,
        Kind::Deleted,
        Kind::Meta,
        Kind::Uid,
        Kind::Gid,
        Kind::UidUsed,
        Kind::GidUsed,
        Kind::Name,
        Kind::History,
        Kind::Entry,
        Kind::Password,
        Kind::SshKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Members => "members",
            Kind::Stamp => "stamp",
            Kind::Deleted => "deleted",
            Kind::Meta => "meta",
            Kind::Uid => "uid",
            Kind::Gid => "gid",
            Kind::UidUsed => "uid_used",
            Kind::GidUsed => "gid_used",
            Kind::Name => "name",
            Kind::History => "history",
            Kind::Entry => "entry",
            Kind::Password => "password",
            Kind::SshKeys => "ssh_keys",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Rows a sync round (or a derivation) depends on: applying them changes the mirror, the
    /// allocations or the served directory. Passwords and history change none of those.
    pub fn is_state(self) -> bool {
        !matches!(self, Kind::Password | Kind::History)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: Kind,
    pub key: String,
    /// `None`: the record is gone.
    pub value: Option<Vec<u8>>,
}

impl Row {
    pub fn put(kind: Kind, key: impl Into<String>, value: Vec<u8>) -> Row {
        Row {
            kind,
            key: key.into(),
            value: Some(value),
        }
    }
    pub fn gone(kind: Kind, key: impl Into<String>) -> Row {
        Row {
            kind,
            key: key.into(),
            value: None,
        }
    }
}

/// What one commit writes for a tenant.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    pub rows: Vec<Row>,
    /// A history record to append; its sequence number is assigned when it is committed (the
    /// tenant's new version), keeping the newest `history_keep`.
    pub history: Option<Vec<u8>>,
    pub history_keep: usize,
    /// Every stored entry of the tenant goes before `rows` are written (a full rewrite).
    pub clear_entries: bool,
}

impl ChangeSet {
    pub fn rows(rows: Vec<Row>) -> ChangeSet {
        ChangeSet {
            rows,
            ..ChangeSet::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.history.is_none() && !self.clear_entries
    }

    /// Whether a replica applying this must update its mirror, allocations or directory.
    pub fn touches_state(&self) -> bool {
        self.clear_entries || self.rows.iter().any(|r| r.kind.is_state())
    }
}

/// The 20-digit key of history record `seq`, so text order is numeric order.
pub fn history_key(seq: u64) -> String {
    format!("{seq:020}")
}

pub(super) fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Db(e.to_string()))
}

fn diff_json_rows<T: Serialize + PartialEq + Clone>(
    out: &mut Vec<Row>,
    kind: Kind,
    old: &Map<String, T>,
    new: &Map<String, T>,
) -> Result<(), StoreError> {
    for d in old.diff(new) {
        match d {
            DiffItem::Add(id, v) | DiffItem::Update { new: (id, v), .. } => {
                out.push(Row::put(kind, id.clone(), json(v)?));
            }
            DiffItem::Remove(id, _) => out.push(Row::gone(kind, id.clone())),
        }
    }
    Ok(())
}

fn diff_text_rows<V: ToString + PartialEq + Clone>(
    out: &mut Vec<Row>,
    kind: Kind,
    old: &Map<String, V>,
    new: &Map<String, V>,
) {
    for d in old.diff(new) {
        match d {
            DiffItem::Add(id, v) | DiffItem::Update { new: (id, v), .. } => {
                out.push(Row::put(kind, id.clone(), v.to_string().into_bytes()));
            }
            DiffItem::Remove(id, _) => out.push(Row::gone(kind, id.clone())),
        }
    }
}

/// The rows that turn `old` into `new` (what `Store::commit_round` writes to redb).
pub fn state_rows(old: &TenantState, new: &TenantState) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    let (om, nm) = (&old.mirror, &new.mirror);
    diff_json_rows(
        &mut out,
        Kind::Deleted,
        &om.deleted_users,
        &nm.deleted_users,
    )?;
    diff_json_rows(&mut out, Kind::User, &om.users, &nm.users)?;
    diff_json_rows(&mut out, Kind::Group, &om.groups, &nm.groups)?;
    diff_json_rows(&mut out, Kind::Members, &om.members, &nm.members)?;
    diff_text_rows(&mut out, Kind::Stamp, &om.changed, &nm.changed);
    let meta: [(&str, Vec<u8>, Vec<u8>); 5] = [
        ("domains", json(&om.domains)?, json(&nm.domains)?),
        (
            "organization",
            json(&om.organization)?,
            json(&nm.organization)?,
        ),
        ("last_sync", json(&old.last_sync)?, json(&new.last_sync)?),
        ("last_full", json(&old.last_full)?, json(&new.last_full)?),
        ("delta", json(&old.delta)?, json(&new.delta)?),
    ];
    for (k, o, n) in meta {
        // Written on a tenant's first commit even when equal to the default, as redb does.
        if o != n || old == &TenantState::default() {
            out.push(Row::put(Kind::Meta, k, n));
        }
    }
    alloc_rows(&mut out, &old.alloc, &new.alloc);
    Ok(out)
}

/// The rows of an allocation change (numbers, used numbers, names).
pub fn alloc_rows(
    out: &mut Vec<Row>,
    old: &::directory::ids::Allocations,
    new: &::directory::ids::Allocations,
) {
    diff_text_rows(out, Kind::Uid, &old.uid, &new.uid);
    diff_text_rows(out, Kind::Gid, &old.gid, &new.gid);
    for (kind, o, n) in [
        (Kind::UidUsed, &old.uid_used, &new.uid_used),
        (Kind::GidUsed, &old.gid_used, &new.gid_used),
    ] {
        // Used numbers only ever grow: that is what makes them never reused.
        for d in o.diff(n) {
            if let DiffItem::Add(num, id) | DiffItem::Update { new: (num, id), .. } = d {
                out.push(Row::put(kind, num.to_string(), id.clone().into_bytes()));
            }
        }
    }
    diff_text_rows(out, Kind::Name, &old.names, &new.names);
}

/// The rows of a directory write (entries keyed by normalised DN, and the meta beside them).
pub fn directory_rows(w: &directory::DirectoryWrite<'_>) -> (Vec<Row>, bool) {
    let mut out = Vec::with_capacity(w.upserts.len() + w.removals.len() + 3);
    for ndn in &w.removals {
        out.push(Row::gone(Kind::Entry, *ndn));
    }
    for e in &w.upserts {
        let mut buf = Vec::new();
        directory::encode(e, &mut buf);
        out.push(Row::put(Kind::Entry, e.ndn(), buf));
    }
    out.extend(directory::meta_rows(w));
    (out, w.replace_all)
}

pub(super) fn bad(table: &'static str, key: &str) -> StoreError {
    StoreError::Corrupt {
        table,
        message: format!("row {key:?} cannot be applied"),
    }
}

pub(super) fn text<'a>(v: &'a [u8], table: &'static str) -> Result<&'a str, StoreError> {
    std::str::from_utf8(v).map_err(|_| bad(table, "non-UTF-8 value"))
}

pub(super) fn number<T: std::str::FromStr>(v: &[u8], table: &'static str) -> Result<T, StoreError> {
    text(v, table)?.parse().map_err(|_| bad(table, "number"))
}

/// Apply fetched rows to a tenant's in-memory state (a replica following another's rounds).
/// Rows of other kinds (entries, passwords, history, directory meta) are not part of it.
pub fn apply_to_state(st: &mut TenantState, rows: &[Row]) -> Result<(), StoreError> {
    fn put_json<T: serde::de::DeserializeOwned + Clone>(
        map: &mut Map<String, T>,
        r: &Row,
        table: &'static str,
    ) -> Result<(), StoreError> {
        match &r.value {
            Some(v) => {
                let val = serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
                    table,
                    message: format!("{}: {e}", r.key),
                })?;
                map.insert(r.key.clone(), val);
            }
            None => {
                map.remove(&r.key);
            }
        }
        Ok(())
    }
    fn meta<T: serde::de::DeserializeOwned>(r: &Row) -> Result<Option<T>, StoreError> {
        match &r.value {
            Some(v) => serde_json::from_slice(v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    table: "tenant_meta",
                    message: format!("{}: {e}", r.key),
                }),
            None => Ok(None),
        }
    }
    for r in rows {
        let m = &mut st.mirror;
        match r.kind {
            Kind::User => put_json(&mut m.users, r, "users")?,
            Kind::Group => put_json(&mut m.groups, r, "groups")?,
            Kind::Members => put_json(&mut m.members, r, "members")?,
            Kind::Deleted => put_json(&mut m.deleted_users, r, "deleted_users")?,
            Kind::Stamp => match &r.value {
                Some(v) => {
                    m.changed
                        .insert(r.key.clone(), text(v, "stamps")?.to_string());
                }
                None => {
                    m.changed.remove(&r.key);
                }
            },
            Kind::Meta => match r.key.as_str() {
                "domains" => m.domains = meta(r)?.unwrap_or_default(),
                "organization" => m.organization = meta(r)?.unwrap_or_default(),
                "last_sync" => st.last_sync = meta::<Option<i64>>(r)?.flatten(),
                "last_full" => st.last_full = meta::<Option<i64>>(r)?.flatten(),
                "delta" => st.delta = meta::<Option<super::DeltaLinks>>(r)?.flatten(),
                _ => {}
            },
            Kind::Uid | Kind::Gid => {
                let map = if r.kind == Kind::Uid {
                    &mut st.alloc.uid
                } else {
                    &mut st.alloc.gid
                };
                match &r.value {
                    Some(v) => {
                        map.insert(r.key.clone(), number(v, "numbers")?);
                    }
                    None => {
                        map.remove(&r.key);
                    }
                }
            }
            Kind::UidUsed | Kind::GidUsed => {
                let map = if r.kind == Kind::UidUsed {
                    &mut st.alloc.uid_used
                } else {
                    &mut st.alloc.gid_used
                };
                let n: u32 = r.key.parse().map_err(|_| bad("used numbers", &r.key))?;
                match &r.value {
                    Some(v) => {
                        map.insert(n, text(v, "used numbers")?.to_string());
                    }
                    None => {
                        map.remove(&n);
                    }
                }
            }
            Kind::Name => match &r.value {
                Some(v) => {
                    st.alloc
                        .names
                        .insert(r.key.clone(), text(v, "names")?.to_string());
                }
                None => {
                    st.alloc.names.remove(&r.key);
                }
            },
            Kind::History | Kind::Entry | Kind::Password | Kind::SshKeys => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use model::graph::User;

    #[test]
    fn state_rows_round_trip_through_redb_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut new = TenantState {
            last_sync: Some(5),
            ..TenantState::default()
        };
        new.mirror.users.insert(
            "u1".into(),
            User {
                id: "u1".into(),
                display_name: Some("Ann".into()),
                ..Default::default()
            }
            .into(),
        );
        new.mirror
            .changed
            .insert("u1".into(), "20260101000000Z".into());
        new.alloc.uid.insert("u1".into(), 12345);
        new.alloc.uid_used.insert(12345, "u1".into());
        new.alloc.names.insert("u:ann".into(), "u1".into());
        let rows = state_rows(&TenantState::default(), &new).unwrap();
        store.apply_rows("t", &rows, None, false).unwrap();
        assert_eq!(store.load_tenant("t").unwrap(), new);
        let mut mem = TenantState::default();
        apply_to_state(&mut mem, &rows).unwrap();
        assert_eq!(mem, new);
        // Exported rows reload into an equal state.
        let exported = store.tenant_rows("t").unwrap();
        let other = tempfile::tempdir().unwrap();
        let copy = Store::open(other.path()).unwrap();
        copy.apply_rows("t", &exported, None, true).unwrap();
        assert_eq!(copy.load_tenant("t").unwrap(), new);
        // Removing the user.
        let mut gone = new.clone();
        gone.mirror.users.remove("u1");
        let rows = state_rows(&new, &gone).unwrap();
        assert!(
            rows.iter()
                .any(|r| r.kind == Kind::User && r.value.is_none())
        );
        store.apply_rows("t", &rows, None, false).unwrap();
        assert_eq!(store.load_tenant("t").unwrap(), gone);
    }
}
