//! Reading and writing the redb tables: JSON-valued maps diffed against what is stored so a
//! commit writes only what changed, plain maps, the numbers ever handed out, and allocations.

use super::{GID_NUMBERS, GID_USED, Key2, NAMES, StoreError, UID_NUMBERS, UID_USED};
use ::directory::ids::Allocations;
use ::model::mirror::Map;
use imbl::ordmap::DiffItem;
use redb::ReadableTable;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Write the allocation changes from `old` to `new` (numbers, used numbers, names). The maps
/// share structure with the allocations they were copied from, so the diff visits only what
/// changed.
pub(super) fn write_alloc(
    tx: &redb::WriteTransaction,
    tenant: &str,
    old: &Allocations,
    new: &Allocations,
) -> Result<(), StoreError> {
    diff_plain(&mut tx.open_table(UID_NUMBERS)?, tenant, &old.uid, &new.uid)?;
    diff_plain(&mut tx.open_table(GID_NUMBERS)?, tenant, &old.gid, &new.gid)?;
    // Used numbers only ever grow: that is what makes them never reused.
    for (table, o, n) in [
        (UID_USED, &old.uid_used, &new.uid_used),
        (GID_USED, &old.gid_used, &new.gid_used),
    ] {
        let mut t = tx.open_table(table)?;
        for d in o.diff(n) {
            if let DiffItem::Add(num, id) | DiffItem::Update { new: (num, id), .. } = d {
                t.insert((tenant, *num), id.as_str())?;
            }
        }
    }
    let mut t = tx.open_table(NAMES)?;
    for d in old.names.diff(&new.names) {
        match d {
            DiffItem::Add(k, v) | DiffItem::Update { new: (k, v), .. } => {
                t.insert((tenant, k.as_str()), v.as_str())?;
            }
            DiffItem::Remove(k, _) => {
                t.remove((tenant, k.as_str()))?;
            }
        }
    }
    Ok(())
}

pub(super) fn from_value<T: DeserializeOwned>(
    v: serde_json::Value,
    table: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
        table,
        message: e.to_string(),
    })
}

/// The tenant's rows of a JSON-valued table, in key order.
pub(super) fn read_json_rows<T: DeserializeOwned>(
    t: &impl ReadableTable<Key2<'static>, &'static [u8]>,
    tenant: &str,
    table: &'static str,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut out: Vec<(String, T)> = Vec::new();
    for row in t.range((tenant, "")..)? {
        let (k, v) = row?;
        let (t, id) = k.value();
        if t != tenant {
            break;
        }
        let val = serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
            table,
            message: format!("{id}: {e}"),
        })?;
        out.push((id.to_string(), val));
    }
    Ok(out)
}

/// A map of a table's rows, which are read in key order, built in two passes. The map's B-tree
/// splits a full leaf in halves, so inserting in key order leaves every leaf half empty (each
/// holds a fixed number of slots); inserting every other row first and then the rows between
/// fills the half-empty leaves without splitting them again. Reading the table twice holds no
/// list of all its rows meanwhile. `read` inserts the rows whose position `keep` accepts.
fn in_two_passes<K: Ord + Clone, V: Clone>(
    mut read: impl FnMut(&dyn Fn(usize) -> bool, &mut Map<K, V>) -> Result<(), StoreError>,
) -> Result<Map<K, V>, StoreError> {
    let mut m = Map::new();
    read(&|i| i % 2 == 0, &mut m)?;
    read(&|i| i % 2 == 1, &mut m)?;
    Ok(m)
}

/// A tenant's rows of a table keyed by (tenant, id) as a map with full nodes (see
/// `in_two_passes`); `value` turns each kept row's id and value into the map's value.
fn read_id_map<VT: redb::Value + 'static, V: Clone>(
    t: &impl ReadableTable<Key2<'static>, VT>,
    tenant: &str,
    value: impl for<'a> Fn(&str, VT::SelfType<'a>) -> Result<V, StoreError>,
) -> Result<Map<String, V>, StoreError> {
    in_two_passes(|keep, out| {
        for (i, row) in t.range((tenant, "")..)?.enumerate() {
            let (k, v) = row?;
            let (t, id) = k.value();
            if t != tenant {
                break;
            }
            if keep(i) {
                out.insert(id.to_string(), value(id, v.value())?);
            }
        }
        Ok(())
    })
}

/// A mirror map from a JSON-valued table.
pub(super) fn read_json_map<T: DeserializeOwned, V: From<T> + Clone>(
    t: &impl ReadableTable<Key2<'static>, &'static [u8]>,
    tenant: &str,
    table: &'static str,
) -> Result<Map<String, V>, StoreError> {
    read_id_map(t, tenant, |id, bytes: &[u8]| {
        serde_json::from_slice::<T>(bytes)
            .map(V::from)
            .map_err(|e| StoreError::Corrupt {
                table,
                message: format!("{id}: {e}"),
            })
    })
}

pub(super) fn read_plain_map(
    t: &impl ReadableTable<Key2<'static>, u32>,
    tenant: &str,
) -> Result<Map<String, u32>, StoreError> {
    read_id_map(t, tenant, |_, n| Ok(n))
}

/// A map from a string-valued table.
pub(super) fn read_str_map(
    t: &impl ReadableTable<Key2<'static>, &'static str>,
    tenant: &str,
) -> Result<Map<String, String>, StoreError> {
    read_id_map(t, tenant, |_, v: &str| Ok(v.to_string()))
}

pub(super) fn read_used(
    t: &impl ReadableTable<(&'static str, u32), &'static str>,
    tenant: &str,
) -> Result<Map<u32, String>, StoreError> {
    in_two_passes(|keep, out| {
        for (i, row) in t.range((tenant, 0u32)..)?.enumerate() {
            let (k, v) = row?;
            let (t, n) = k.value();
            if t != tenant {
                break;
            }
            if keep(i) {
                out.insert(n, v.value().to_string());
            }
        }
        Ok(())
    })
}

/// Write what differs between two mirror maps. A delta round's maps share structure with the
/// committed ones, so the diff visits only what the round changed.
pub(super) fn diff_json<T: Serialize + PartialEq + Clone>(
    t: &mut redb::Table<Key2<'static>, &'static [u8]>,
    tenant: &str,
    old: &Map<String, T>,
    new: &Map<String, T>,
) -> Result<(), StoreError> {
    for d in old.diff(new) {
        match d {
            DiffItem::Add(id, v) | DiffItem::Update { new: (id, v), .. } => {
                let bytes = super::rows::json(v)?;
                t.insert((tenant, id.as_str()), bytes.as_slice())?;
            }
            DiffItem::Remove(id, _) => {
                t.remove((tenant, id.as_str()))?;
            }
        }
    }
    Ok(())
}

pub(super) fn diff_plain(
    t: &mut redb::Table<Key2<'static>, u32>,
    tenant: &str,
    old: &Map<String, u32>,
    new: &Map<String, u32>,
) -> Result<(), StoreError> {
    for d in old.diff(new) {
        match d {
            DiffItem::Add(id, v) | DiffItem::Update { new: (id, v), .. } => {
                t.insert((tenant, id.as_str()), *v)?;
            }
            DiffItem::Remove(id, _) => {
                t.remove((tenant, id.as_str()))?;
            }
        }
    }
    Ok(())
}

pub(super) fn put_json<T: Serialize>(
    t: &mut redb::Table<Key2<'static>, &'static [u8]>,
    tenant: &str,
    key: &str,
    v: &T,
) -> Result<(), StoreError> {
    let bytes = super::rows::json(v)?;
    t.insert((tenant, key), bytes.as_slice())?;
    Ok(())
}
