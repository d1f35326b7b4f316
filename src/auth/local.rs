//! Local (directory) passwords for `auth.user_bind = "local"` / `"entra_or_local"`: argon2id
//! hashes in redb, keyed by tenant and Graph user id, managed with `o365-ldap ctl set-password`
//! through the admin socket (redb lets only the server process open the database).

use super::AuthError;
use super::user::{Unresolved, resolve_admin};
use crate::store::Store;
use directory::snapshot::Snapshot;

/// Hash `password` with argon2id and store it for the user. The password is used as given.
pub fn set_password(
    store: &Store,
    tenant: &str,
    user_id: &str,
    password: &str,
) -> Result<(), AuthError> {
    if password.is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    let phc = super::hash_password(password)?;
    store
        .set_local_password(tenant, user_id, &phc)
        .map_err(|e| AuthError::Store(e.to_string()))
}

/// Remove the user's local password; `false` when none was set.
pub fn remove_password(store: &Store, tenant: &str, user_id: &str) -> Result<bool, AuthError> {
    store
        .remove_local_password(tenant, user_id)
        .map_err(|e| AuthError::Store(e.to_string()))
}

/// The admin-socket request behind `o365-ldap ctl set-password <user>`: `user` is a DN, UPN,
/// mail address or POSIX uid of a served user; `password` `None` removes the local password.
/// Returns the line to print for the admin.
pub async fn handle_set_password(
    store: std::sync::Arc<Store>,
    snapshot: &Snapshot,
    user: &str,
    password: Option<String>,
) -> Result<String, AuthError> {
    let u = resolve_admin(snapshot, user).map_err(|why| match why {
        Unresolved::Unknown => AuthError::UnknownUser(user.to_owned()),
        Unresolved::Ambiguous => AuthError::AmbiguousUser(user.to_owned()),
    })?;
    let (tenant, id, dn) = (u.tenant, u.id, u.dn);
    match password {
        Some(pw) => {
            let (t, i) = (tenant.clone(), id.clone());
            // argon2 is slow by design: keep it off the reactor.
            tokio::task::spawn_blocking(move || set_password(&store, &t, &i, &pw))
                .await
                .map_err(|e| AuthError::Task(e.to_string()))??;
            Ok(format!("local password set for {dn}"))
        }
        None => {
            if remove_password(&store, &tenant, &id)? {
                Ok(format!("local password removed for {dn}"))
            } else {
                Ok(format!("{dn} had no local password"))
            }
        }
    }
}
