//! Online backup: every table as of one read transaction (a consistent point in time; rounds
//! and `ctl` changes go on meanwhile) copied into a new redb file, private (0600) from the
//! start, written beside its destination and renamed into place when complete. The copy is a
//! complete store: put it in an empty `data_dir` as `o365-ldap.redb` to restore it.

use super::{StoreError, directory, passwords, ssh_keys};
use redb::{
    Database, ReadTransaction, ReadableDatabase, TableDefinition, TableError, WriteTransaction,
};
use std::path::Path;

/// What a backup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupInfo {
    pub rows: u64,
    pub bytes: u64,
}

fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let src = match from.open_table(def) {
        Ok(t) => t,
        // Tables are created on first write: one never written has nothing to copy.
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut dst = to.open_table(def)?;
    let mut n = 0;
    for row in redb::ReadableTable::iter(&src)? {
        let (k, v) = row?;
        dst.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

impl super::Store {
    /// Write a consistent copy of the whole store to `dest`, which must not exist.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupInfo, StoreError> {
        let io = |what: &str, e: std::io::Error| {
            StoreError::Db(format!("{what} {}: {e}", dest.display()))
        };
        if dest.exists() {
            return Err(StoreError::Db(format!(
                "{} exists already; name a new file (a backup never overwrites)",
                dest.display()
            )));
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backup".into());
        let partial = dest.with_file_name(format!(".{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .map_err(|e| io("cannot create", e))?;
        }
        let result = self.copy_into(&partial);
        match result {
            Ok(rows) => {
                std::fs::rename(&partial, dest).map_err(|e| io("cannot rename into", e))?;
                let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
                Ok(BackupInfo { rows, bytes })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    fn copy_into(&self, path: &Path) -> Result<u64, StoreError> {
        let db = Database::create(path).map_err(|e| {
            StoreError::Db(format!(
                "cannot create the backup database {}: {e}",
                path.display()
            ))
        })?;
        let from = self.db.begin_read()?;
        let to = db.begin_write()?;
        let mut rows = 0;
        rows += copy(&from, &to, super::USERS)?;
        rows += copy(&from, &to, super::GROUPS)?;
        rows += copy(&from, &to, super::MEMBERS)?;
        rows += copy(&from, &to, super::STAMPS)?;
        rows += copy(&from, &to, super::TENANT_META)?;
        rows += copy(&from, &to, super::UID_NUMBERS)?;
        rows += copy(&from, &to, super::GID_NUMBERS)?;
        rows += copy(&from, &to, super::UID_USED)?;
        rows += copy(&from, &to, super::GID_USED)?;
        rows += copy(&from, &to, super::NAMES)?;
        rows += copy(&from, &to, super::META)?;
        rows += copy(&from, &to, super::DELETED)?;
        rows += copy(&from, &to, super::HISTORY)?;
        rows += copy(&from, &to, directory::DIRECTORY)?;
        rows += copy(&from, &to, passwords::LOCAL_PASSWORDS)?;
        rows += copy(&from, &to, ssh_keys::SSH_KEYS)?;
        // A table added to the store but not to the list above would be silently missing
        // from every backup: refuse instead.
        let copied: Vec<String> = to
            .list_tables()?
            .map(|t| redb::TableHandle::name(&t).to_string())
            .collect();
        if let Some(missing) = from
            .list_tables()?
            .map(|t| redb::TableHandle::name(&t).to_string())
            .find(|n| !copied.contains(n))
        {
            return Err(StoreError::Db(format!(
                "table {missing} is not copied by the backup; this is a bug, please report it"
            )));
        }
        to.commit()?;
        Ok(rows)
    }
}
