//! Deriving a tenant's entries from its mirror and policy: DNs, POSIX numbers and names,
//! memberships (`member`, `memberUid`, transitive `memberOf`). `build_tenant` derives the whole
//! tenant in phases (`full`, then `users`, `groups`, `members`, `entries`); `patch` re-derives
//! only the entries changed objects reach and must produce exactly what `build_tenant` would.
//! Pure apart from the `Allocations` both extend, which the sync persists in the same
//! transaction as the mirror.

mod entries;
mod full;
mod groups;
mod members;
pub mod patch;
mod users;

pub use full::build_tenant;

use crate::dn;
use crate::entry::{Entry, TenantInfo};
use crate::ids::{Collision, Unmatched};
use crate::ssh_keys::AdminKeys;
use config::{ServiceAccount, TenantConfig};
use model::Mirror;

pub struct TenantInput<'a> {
    pub index: u16,
    pub cfg: &'a TenantConfig,
    pub mirror: &'a Mirror,
    /// Service accounts allowed to read this tenant (served under `ou=services`).
    pub services: Vec<&'a ServiceAccount>,
    /// Unix time of the derivation: what policy judges against, and the timestamp of entries
    /// Graph gives none for.
    pub now: i64,
    /// Admin-managed SSH keys (`ctl ssh-key add`), merged with Graph keys.
    pub admin_ssh_keys: &'a AdminKeys,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildReport {
    /// Users served unlocked.
    pub users_active: usize,
    /// Users policy marks inactive, served locked or hidden per `users.inactive`.
    pub users_inactive: usize,
    pub users_excluded: usize,
    pub groups: usize,
    pub collisions: Vec<Collision>,
    /// Every object served under another name than it wants (the collisions are those whose
    /// wanted name is held by someone).
    pub unmatched: Vec<Unmatched>,
    /// Objects left out because their number range is exhausted.
    pub unnumbered: Vec<String>,
    /// POSIX settings that could not be honoured this round (a number attribute rejected, the
    /// primary group not served), each naming the object or key and why.
    pub notices: Vec<String>,
}

pub struct TenantBuild {
    pub info: TenantInfo,
    /// Entries in DIT order: the root, then each container followed by its children.
    pub entries: Vec<Entry>,
    pub report: BuildReport,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "tenant {tenant}: no base_dn is configured and the tenant has no verified default domain yet; set tenant.base_dn or wait for the first sync"
    )]
    NoBaseDn { tenant: String },
    #[error("tenant {tenant}: base_dn {base_dn:?} is not a valid DN: {message}")]
    BadBaseDn {
        tenant: String,
        base_dn: String,
        message: String,
    },
}

/// The naming context: `tenant.base_dn`, else the `dc=` parts of the default verified domain.
pub fn base_dn(cfg: &TenantConfig, mirror: &Mirror) -> Result<String, BuildError> {
    if let Some(b) = &cfg.base_dn {
        return Ok(b.clone());
    }
    let domain = mirror
        .default_domain()
        .ok_or_else(|| BuildError::NoBaseDn {
            tenant: cfg.name.clone(),
        })?;
    Ok(domain
        .id
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| format!("dc={}", dn::escape_value(&p.to_lowercase())))
        .collect::<Vec<_>>()
        .join(","))
}
