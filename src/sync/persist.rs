//! Keeping the persisted directory (see `store::directory`) equal to the served snapshot:
//! the configuration fingerprint it is valid under, the rows a round changes, and the fast
//! start that serves those rows without deriving anything.

use crate::store::directory::DirectoryWrite;
use crate::store::{Store, StoreError};
use config::Config;
use directory::derive::TenantBuild;
use directory::{Entry, Snapshot, TenantInfo};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

/// Everything the derived entries depend on besides the mirror and the allocations: the
/// program version and every tenant's and service account's settings. A change to any of
/// them makes the start-up derive the directory again instead of trusting the stored rows.
pub(crate) fn fingerprint(config: &Config) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0directory-v3\0");
    // Stored entries name attributes by their position in the schema catalogue.
    for at in directory::schema::attributes() {
        h.update(at.name.as_bytes());
        h.update(b"\0");
    }
    for t in &config.tenant {
        h.update(format!("{t:?}").as_bytes());
        h.update(b"\0");
    }
    for s in &config.service_account {
        h.update(format!("{:?}\0{:?}\0", s.name, s.tenants).as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored directory of every configured tenant, when all of them are stored under
/// `fp`; `None` sends the caller down the deriving path.
pub(crate) fn load_builds(
    store: &Store,
    config: &Config,
    fp: &str,
) -> Result<Option<Vec<TenantBuild>>, StoreError> {
    let mut builds = Vec::with_capacity(config.tenant.len());
    for (i, t) in config.tenant.iter().enumerate() {
        match store.load_directory(&t.name, i as u16, fp)? {
            Some((info, entries)) => builds.push(TenantBuild {
                info,
                entries,
                report: Default::default(),
            }),
            None => return Ok(None),
        }
    }
    Ok(Some(builds))
}

/// The stored directory of every configured tenant that has one, whatever configuration it
/// was derived under: what a replica of a shared store serves (the database holds one
/// directory for every replica). `None` when no tenant has one.
pub(crate) fn load_builds_any(
    store: &Store,
    config: &Config,
) -> Result<Option<Vec<TenantBuild>>, StoreError> {
    let mut builds = Vec::with_capacity(config.tenant.len());
    for (i, t) in config.tenant.iter().enumerate() {
        if let Some((info, entries)) = store.load_any_directory(&t.name, i as u16)? {
            builds.push(TenantBuild {
                info,
                entries,
                report: Default::default(),
            });
        }
    }
    Ok((!builds.is_empty()).then_some(builds))
}

fn tenant_entries(snap: &Snapshot, index: u16) -> impl Iterator<Item = &Entry> {
    snap.iter()
        .map(|(_, e)| e)
        .filter(move |e| e.tenant == index)
}

/// The info of `tenant` in `snap`, if it is served there.
pub(crate) fn info<'a>(snap: &'a Snapshot, tenant: &str) -> Option<&'a TenantInfo> {
    snap.tenants.iter().find(|t| t.name == tenant)
}

/// The rows that turn `before`'s entries of tenant `index` into `after`'s.
pub(crate) fn changes<'a>(
    before: &'a Snapshot,
    after: &'a Snapshot,
    index: u16,
    fingerprint: &'a str,
    info: &'a TenantInfo,
) -> DirectoryWrite<'a> {
    let old: FxHashMap<&str, &Entry> = tenant_entries(before, index)
        .map(|e| (e.ndn(), e))
        .collect();
    let mut upserts = Vec::new();
    let mut seen = 0usize;
    for e in tenant_entries(after, index) {
        match old.get(e.ndn()) {
            Some(o) => {
                seen += 1;
                if *o != e {
                    upserts.push(e);
                }
            }
            None => upserts.push(e),
        }
    }
    let removals = if seen == old.len() {
        Vec::new()
    } else {
        let new: rustc_hash::FxHashSet<&str> =
            tenant_entries(after, index).map(|e| e.ndn()).collect();
        old.keys().filter(|k| !new.contains(*k)).copied().collect()
    };
    DirectoryWrite {
        fingerprint,
        info,
        replace_all: false,
        upserts,
        removals,
        basis: None,
    }
}

/// Every row of tenant `index` in `snap`, replacing whatever is stored.
pub(crate) fn everything<'a>(
    snap: &'a Snapshot,
    index: u16,
    fingerprint: &'a str,
    info: &'a TenantInfo,
) -> DirectoryWrite<'a> {
    DirectoryWrite {
        fingerprint,
        info,
        replace_all: true,
        upserts: tenant_entries(snap, index).collect(),
        removals: Vec::new(),
        basis: None,
    }
}
