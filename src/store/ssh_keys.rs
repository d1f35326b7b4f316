//! Admin-managed SSH public keys: a JSON list of key lines per (tenant, Graph user id), set with
//! `o365-ldap ctl ssh-key add|remove` and merged with keys from Microsoft 365 when the directory
//! is derived. The table is created on first write.

use super::rows::{ChangeSet, Kind, Row};
use super::{Store, StoreError};
use redb::{ReadableDatabase, TableDefinition};
use std::collections::HashMap;

pub(super) const SSH_KEYS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("ssh_keys");

/// Tenant names compare case-insensitively; Graph ids are GUIDs, kept lower-case so `ctl` input
/// in any case finds the same row.
fn key(tenant: &str, user_id: &str) -> (String, String) {
    (tenant.to_ascii_lowercase(), user_id.to_ascii_lowercase())
}

fn decode(bytes: &[u8]) -> Result<Vec<String>, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: "ssh_keys",
        message: e.to_string(),
    })
}

fn encode(keys: &[String]) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(keys).map_err(|e| StoreError::Corrupt {
        table: "ssh_keys",
        message: e.to_string(),
    })
}

impl Store {
    /// The admin-managed key lines of one user, in the order they were added.
    pub fn ssh_keys(&self, tenant: &str, user_id: &str) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(SSH_KEYS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let (t, u) = key(tenant, user_id);
        match table.get((t.as_str(), u.as_str()))? {
            Some(v) => decode(v.value()),
            None => Ok(Vec::new()),
        }
    }

    /// Every admin-managed key of a tenant, by lower-cased Graph user id.
    pub fn tenant_ssh_keys(
        &self,
        tenant: &str,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(SSH_KEYS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        let t = tenant.to_ascii_lowercase();
        let mut out = HashMap::new();
        for row in table.range((t.as_str(), "")..)? {
            let (k, v) = row?;
            let (rt, id) = k.value();
            if rt != t {
                break;
            }
            out.insert(id.to_string(), decode(v.value())?);
        }
        Ok(out)
    }

    /// Replace the user's admin-managed keys (an empty list removes the row).
    pub fn set_ssh_keys(
        &self,
        tenant: &str,
        user_id: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        if let Some(remote) = self.remote() {
            let id = user_id.to_ascii_lowercase();
            let row = if keys.is_empty() {
                Row::gone(Kind::SshKeys, id)
            } else {
                Row::put(Kind::SshKeys, id, encode(keys)?)
            };
            // The keys do not depend on the tenant's state; the directory rows derived from
            // them are written afterwards under the round lock (`SyncEngine::rebuild_snapshot`).
            return self.commit_shared(remote, tenant, ChangeSet::rows(vec![row]), false);
        }
        let (t, u) = key(tenant, user_id);
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(SSH_KEYS)?;
            if keys.is_empty() {
                table.remove((t.as_str(), u.as_str()))?;
            } else {
                table.insert((t.as_str(), u.as_str()), encode(keys)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_list_and_remove_per_tenant_and_user() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = "6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60";
        assert!(store.ssh_keys("contoso", id).unwrap().is_empty());
        assert!(store.tenant_ssh_keys("contoso").unwrap().is_empty());
        let keys = vec![
            "ssh-ed25519 AAAA a".to_string(),
            "ssh-rsa BBBB b".to_string(),
        ];
        store.set_ssh_keys("Contoso", id, &keys).unwrap();
        store
            .set_ssh_keys("contoso-eu", "other", &["x".to_string()])
            .unwrap();
        assert_eq!(store.ssh_keys("contoso", &id.to_lowercase()).unwrap(), keys);
        let all = store.tenant_ssh_keys("CONTOSO").unwrap();
        assert_eq!(
            all.len(),
            1,
            "a tenant whose name extends another's is not mixed in"
        );
        assert_eq!(all[&id.to_lowercase()], keys);
        assert!(store.ssh_keys("fabrikam", id).unwrap().is_empty());
        store.set_ssh_keys("contoso", id, &[]).unwrap();
        assert!(store.ssh_keys("contoso", id).unwrap().is_empty());
        assert!(store.tenant_ssh_keys("contoso").unwrap().is_empty());
    }
}
