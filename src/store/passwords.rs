//! Local (directory) user passwords: one argon2id PHC string per (tenant, Graph user id), set
//! with `o365-ldap ctl set-password` and checked when `auth.user_bind` is `local` or
//! `entra_or_local`. Only hashes are stored; the table is created on first write.

use super::rows::{ChangeSet, Kind, Row};
use super::{Store, StoreError};
use redb::{ReadableDatabase, TableDefinition};

pub(super) const LOCAL_PASSWORDS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("local_passwords");

/// Tenant names compare case-insensitively everywhere else; Graph ids are GUIDs, compared
/// lower-case so `ctl` input in any case finds the same row.
fn key(tenant: &str, user_id: &str) -> (String, String) {
    (tenant.to_ascii_lowercase(), user_id.to_ascii_lowercase())
}

impl Store {
    /// The PHC hash of the user's local password, if one was set.
    pub fn local_password(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(LOCAL_PASSWORDS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (t, u) = key(tenant, user_id);
        Ok(table
            .get((t.as_str(), u.as_str()))?
            .map(|v| v.value().to_owned()))
    }

    /// Every local password of a tenant (its lower-cased name), by lower-cased Graph user id.
    pub fn tenant_passwords(&self, tenant: &str) -> Result<Vec<(String, String)>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(LOCAL_PASSWORDS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let t = tenant.to_ascii_lowercase();
        let mut out = Vec::new();
        for row in table.range((t.as_str(), "")..=(t.as_str(), "\u{10ffff}"))? {
            let (k, v) = row?;
            out.push((k.value().1.to_string(), v.value().to_string()));
        }
        Ok(out)
    }

    /// Store (or replace) the PHC hash of the user's local password.
    pub fn set_local_password(
        &self,
        tenant: &str,
        user_id: &str,
        phc: &str,
    ) -> Result<(), StoreError> {
        if let Some(remote) = self.remote() {
            let row = Row::put(Kind::Password, user_id.to_ascii_lowercase(), phc.into());
            return self.commit_shared(remote, tenant, ChangeSet::rows(vec![row]), false);
        }
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(LOCAL_PASSWORDS)?;
            let (t, u) = key(tenant, user_id);
            table.insert((t.as_str(), u.as_str()), phc)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Remove the user's local password; `false` when there was none.
    pub fn remove_local_password(&self, tenant: &str, user_id: &str) -> Result<bool, StoreError> {
        if let Some(remote) = self.remote() {
            let existed = self.local_password(tenant, user_id)?.is_some();
            if existed {
                let row = Row::gone(Kind::Password, user_id.to_ascii_lowercase());
                self.commit_shared(remote, tenant, ChangeSet::rows(vec![row]), false)?;
            }
            return Ok(existed);
        }
        let tx = self.db.begin_write()?;
        let existed = {
            let mut table = tx.open_table(LOCAL_PASSWORDS)?;
            let (t, u) = key(tenant, user_id);
            table.remove((t.as_str(), u.as_str()))?.is_some()
        };
        tx.commit()?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = "6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60";
        assert_eq!(store.local_password("contoso", id).unwrap(), None);
        store
            .set_local_password("Contoso", id, "$argon2id$v=19$x")
            .unwrap();
        assert_eq!(
            store
                .local_password("contoso", &id.to_lowercase())
                .unwrap()
                .as_deref(),
            Some("$argon2id$v=19$x")
        );
        assert_eq!(store.local_password("fabrikam", id).unwrap(), None);
        assert!(store.remove_local_password("contoso", id).unwrap());
        assert!(!store.remove_local_password("contoso", id).unwrap());
        assert_eq!(store.local_password("contoso", id).unwrap(), None);
    }
}
