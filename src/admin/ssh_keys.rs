//! The admin-socket side of `o365-ldap ctl ssh-key add|remove|list`: resolve the user among
//! served entries, validate the key, update the store, and re-derive the served directory so
//! the change is visible to LDAP clients before the command returns.

use super::{SshKeyAction, SshKeyInfo, SshKeys};
use crate::auth::user::{Unresolved, resolve_admin};
use crate::sync::SyncEngine;
use directory::ssh_keys::SshPublicKey;

/// Handle one request; `Err` is the message the admin sees.
pub(crate) async fn handle(
    engine: &SyncEngine,
    action: SshKeyAction,
    user: &str,
    key: Option<&str>,
) -> Result<SshKeys, String> {
    let snapshot = engine.snapshot().load_full();
    let u = resolve_admin(&snapshot, user).map_err(|why| match why {
        Unresolved::Unknown => format!(
            "no served user {user:?}; give a UPN, mail address, uid or DN of a user in the directory"
        ),
        Unresolved::Ambiguous => {
            format!("{user:?} names more than one user; give the UPN or the DN")
        }
    })?;
    let store = engine.store();
    let stored = store
        .ssh_keys(&u.tenant, &u.id)
        .map_err(|e| format!("reading SSH keys: {e}"))?;
    let message = match action {
        SshKeyAction::List => None,
        SshKeyAction::Add => {
            let text = key
                .filter(|k| !k.trim().is_empty())
                .ok_or("no key given; pass it as an argument or on stdin with `-`")?;
            let new = SshPublicKey::parse(text).map_err(|e| format!("key refused: {e}"))?;
            let fp = new.fingerprint();
            if stored
                .iter()
                .filter_map(|l| SshPublicKey::parse(l).ok())
                .any(|k| k.same_key(&new))
            {
                Some(format!("{} already has key {fp}; nothing changed", u.dn))
            } else {
                let mut keys = stored.clone();
                keys.push(new.to_line());
                store
                    .set_ssh_keys(&u.tenant, &u.id, &keys)
                    .map_err(|e| format!("storing the key: {e}"))?;
                Some(format!("key {fp} ({}) added for {}", new.algorithm, u.dn))
            }
        }
        SshKeyAction::Remove => {
            let text = key
                .filter(|k| !k.trim().is_empty())
                .ok_or("say which key: give the key line or its SHA256 fingerprint")?;
            let (gone, kept): (Vec<String>, Vec<String>) = stored
                .iter()
                .cloned()
                .partition(|l| SshPublicKey::parse(l).is_ok_and(|k| k.matches(text)));
            if gone.is_empty() {
                let served_elsewhere = served_keys(engine, &u.dn).iter().any(|k| k.matches(text));
                return Err(if served_elsewhere {
                    format!(
                        "that key of {} comes from Microsoft 365 (users.ssh_keys_attribute); remove it there",
                        u.dn
                    )
                } else {
                    format!(
                        "{} has no admin-managed key matching {:?}; `o365-ldap ctl ssh-key list {user}` shows the fingerprints",
                        u.dn,
                        text.trim()
                    )
                });
            }
            store
                .set_ssh_keys(&u.tenant, &u.id, &kept)
                .map_err(|e| format!("storing the keys: {e}"))?;
            let fps: Vec<String> = gone
                .iter()
                .filter_map(|l| SshPublicKey::parse(l).ok())
                .map(|k| k.fingerprint())
                .collect();
            Some(format!("key {} removed for {}", fps.join(", "), u.dn))
        }
    };
    if action != SshKeyAction::List {
        engine
            .rebuild_snapshot()
            .await
            .map_err(|e| format!("the key is stored but the directory was not refreshed: {e}"))?;
    }
    let admin: Vec<SshPublicKey> = store
        .ssh_keys(&u.tenant, &u.id)
        .map_err(|e| format!("reading SSH keys: {e}"))?
        .iter()
        .filter_map(|l| SshPublicKey::parse(l).ok())
        .collect();
    let keys = served_keys(engine, &u.dn)
        .iter()
        .map(|k| {
            let source = if admin.iter().any(|a| a.same_key(k)) {
                "admin"
            } else {
                "microsoft365"
            };
            SshKeyInfo {
                key_type: k.algorithm.clone(),
                fingerprint: k.fingerprint(),
                comment: k.comment.clone(),
                source: source.to_string(),
                key: k.to_line(),
            }
        })
        .collect();
    Ok(SshKeys {
        message,
        dn: u.dn.clone(),
        tenant: u.tenant.clone(),
        keys,
    })
}

/// The keys the directory serves for the entry at `dn` right now.
fn served_keys(engine: &SyncEngine, dn: &str) -> Vec<SshPublicKey> {
    let snapshot = engine.snapshot().load_full();
    let Ok(ndn) = directory::dn::normalize(dn) else {
        return Vec::new();
    };
    let Some(id) = snapshot.lookup(&ndn) else {
        return Vec::new();
    };
    snapshot
        .entry(id)
        .values("sshPublicKey")
        .iter()
        .filter_map(|v| SshPublicKey::parse(v).ok())
        .collect()
}
