//! Re-deriving the served directory from the committed tenant states, without a Graph round,
//! so admin changes that feed the derivation (SSH keys from `ctl ssh-key`) are served at once.

use super::engine::Derived;
use super::{SyncEngine, SyncError};
use directory::ssh_keys::AdminKeys;
use std::sync::Arc;

impl SyncEngine {
    /// The admin-managed SSH keys of `tenant`. A store error is logged and yields none: a
    /// damaged row must not keep the directory from being derived.
    pub(super) fn admin_ssh_keys(&self, tenant: &str) -> AdminKeys {
        self.store.tenant_ssh_keys(tenant).unwrap_or_else(|e| {
            tracing::error!(tenant = %tenant, "cannot read admin SSH keys, serving none: {e}");
            AdminKeys::new()
        })
    }

    /// Derive the directory again from what is committed and swap it in. Waits for a round in
    /// progress (rounds hold the same lock), so the result includes that round and every admin
    /// change made before this call. Returns the new snapshot's generation.
    pub async fn rebuild_snapshot(&self) -> Result<u64, SyncError> {
        let mut guard = self.states.lock().await;
        // With a shared store, every tenant's round lock is held (in configuration order, so
        // two replicas rebuilding cannot deadlock) and the derivation starts from the last
        // committed version.
        let mut locks = Vec::new();
        if self.is_shared() {
            for t in &self.config().tenant {
                let opts = super::RoundOptions {
                    trigger: super::Trigger::Manual,
                    ..Default::default()
                };
                locks.push(
                    self.shared_round_start(&t.name, opts, &mut guard, None)
                        .await?,
                );
            }
        }
        let mut states = self.loaded(guard).await?;
        let Derived {
            snapshot,
            allocs,
            reports,
        } = self.derive(&states, None);
        // Derivation may hand out numbers (nothing changed in Graph, but a config reload could
        // admit someone): persist them like a round does, before they are served.
        self.commit_allocs(&mut states, allocs)?;
        // The stored directory follows the served one, so a restart serves these entries.
        let before = self.snapshot.load();
        let derived = SyncEngine::full_derivations(&snapshot, &self.config(), reports);
        let records = SyncEngine::records(&derived);
        self.store_full_derivation(&snapshot, Some(&before), &records)?;
        drop(before);
        self.set_bases(&states, derived);
        self.cancel_compaction();
        let generation = snapshot.generation;
        self.snapshot.store(Arc::new(snapshot));
        drop(locks);
        Ok(generation)
    }
}

impl SyncEngine {
    /// Adopt a reloaded configuration with the same tenants (names, in order): policy, names,
    /// POSIX settings, local groups and sync settings apply at once, by deriving the directory
    /// again from the committed mirrors; the next rounds use the new settings. A different set
    /// of tenants needs a restart and changes nothing here.
    pub async fn reconfigure(&self, new: Arc<config::Config>) -> Result<u64, SyncError> {
        let old = self.config();
        let names =
            |c: &config::Config| c.tenant.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        if names(&old) != names(&new) {
            return Err(SyncError::Internal(format!(
                "the tenants changed ({} → {}); restart the server to apply that",
                names(&old).join(", "),
                names(&new).join(", ")
            )));
        }
        self.fingerprint
            .store(Arc::new(super::persist::fingerprint(&new)));
        self.config.store(new);
        self.rebuild_snapshot().await
    }
}
