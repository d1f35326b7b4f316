//! Sync history: one JSON record per round and tenant, keyed by a sequence number that only
//! grows (with a shared store, the tenant version that committed it), the newest kept.

use super::{HISTORY, Store, StoreError, rows};
use redb::{ReadableDatabase, ReadableTable};

impl Store {
    /// Record a round that committed nothing (failed, refused, dry run); keeps the last `keep`.
    pub fn record_history(
        &self,
        tenant: &str,
        rec: &serde_json::Value,
        keep: usize,
    ) -> Result<(), StoreError> {
        if let Some(remote) = self.remote() {
            let cs = rows::ChangeSet {
                history: Some(serde_json::to_vec(rec).map_err(|e| StoreError::Db(e.to_string()))?),
                history_keep: keep,
                ..rows::ChangeSet::default()
            };
            return self.commit_shared(remote, tenant, cs, false);
        }
        let tx = self.db.begin_write()?;
        append_history(&tx, tenant, rec, keep)?;
        tx.commit()?;
        Ok(())
    }

    /// Keep the newest `keep` history records of `tenant` (the cache of a shared store; the
    /// database trims its own).
    pub(super) fn trim_history(&self, tenant: &str, keep: usize) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(HISTORY)?;
            let seqs: Vec<u64> = t
                .range((tenant, 0u64)..=(tenant, u64::MAX))?
                .map(|r| r.map(|(k, _)| k.value().1))
                .collect::<Result<_, _>>()?;
            let drop = seqs.len().saturating_sub(keep.max(1));
            for n in &seqs[..drop] {
                t.remove((tenant, *n))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The last `limit` history records of `tenant`, newest first.
    pub fn history(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(HISTORY)?;
        let mut out = Vec::new();
        for row in t.range((tenant, 0u64)..=(tenant, u64::MAX))?.rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = row?;
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                    table: "history",
                    message: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }
}

pub(super) fn append_history(
    tx: &redb::WriteTransaction,
    tenant: &str,
    rec: &serde_json::Value,
    keep: usize,
) -> Result<(), StoreError> {
    let mut t = tx.open_table(HISTORY)?;
    let last = t
        .range((tenant, 0u64)..=(tenant, u64::MAX))?
        .next_back()
        .transpose()?
        .map(|(k, _)| k.value().1);
    let seq = last.map_or(1, |n| n.saturating_add(1));
    let bytes = serde_json::to_vec(rec).map_err(|e| StoreError::Db(e.to_string()))?;
    t.insert((tenant, seq), bytes.as_slice())?;
    // Trim the oldest beyond `keep`.
    let first_kept = seq.saturating_sub(keep.max(1) as u64 - 1);
    let old: Vec<u64> = t
        .range((tenant, 0u64)..(tenant, first_kept))?
        .map(|r| r.map(|(k, _)| k.value().1))
        .collect::<Result<_, _>>()?;
    for n in old {
        t.remove((tenant, n))?;
    }
    Ok(())
}
