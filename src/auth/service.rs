//! Service accounts (`[[service_account]]`): who they are, which tenants they may read, and
//! password verification with a verified-credential cache so argon2 runs once per password.

use super::AuthError;
use super::password::{check_phc, verify_phc};
use ring::hmac;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// One configured service account. The password hash stays private to this module.
#[derive(Debug)]
pub struct ServiceAccount {
    pub name: String,
    /// Tenant names this account may read; empty means every tenant.
    pub tenants: Vec<String>,
    phc: Arc<str>,
}

impl ServiceAccount {
    /// Whether the account may read the tenant called `tenant` (names compare case-insensitively).
    pub fn may_read(&self, tenant: &str) -> bool {
        self.tenants.is_empty() || self.tenants.iter().any(|t| t.eq_ignore_ascii_case(tenant))
    }

    /// What a password is checked against: changes when the configured hash does, so the
    /// throttle's memory of wrong passwords does not outlive a new secret.
    pub fn version(&self) -> &[u8] {
        self.phc.as_bytes()
    }
}

/// All service accounts, plus the cache of credentials already verified with argon2.
///
/// The cache holds an HMAC-SHA256 of the last good password per account under a key drawn at
/// start-up, never the password: a memory dump does not reveal it, and the comparison is
/// constant-time. Building a new `ServiceAccounts` (config reload) starts with an empty cache,
/// so a changed hash takes effect at once.
pub struct ServiceAccounts {
    accounts: Vec<Arc<ServiceAccount>>,
    cache_key: hmac::Key,
    verified: Mutex<HashMap<String, hmac::Tag>>,
    /// Bounds concurrent argon2 runs so a burst of binds cannot occupy every blocking thread.
    argon_slots: Arc<Semaphore>,
}

impl std::fmt::Debug for ServiceAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccounts")
            .field(
                "accounts",
                &self.accounts.iter().map(|a| &a.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ServiceAccounts {
    /// No service accounts at all (every service bind fails).
    pub fn empty() -> ServiceAccounts {
        ServiceAccounts::build(Vec::new())
    }

    /// Build from `[[service_account]]` blocks, checking every hash parses and names are unique.
    pub fn from_config(list: &[config::ServiceAccount]) -> Result<ServiceAccounts, AuthError> {
        let mut accounts: Vec<Arc<ServiceAccount>> = Vec::with_capacity(list.len());
        for sa in list {
            if accounts
                .iter()
                .any(|a| a.name.eq_ignore_ascii_case(&sa.name))
            {
                return Err(AuthError::DuplicateAccount(sa.name.clone()));
            }
            check_phc(&sa.password_hash).map_err(|reason| AuthError::InvalidHash {
                account: sa.name.clone(),
                reason,
            })?;
            accounts.push(Arc::new(ServiceAccount {
                name: sa.name.clone(),
                tenants: sa.tenants.clone(),
                phc: Arc::from(sa.password_hash.as_str()),
            }));
        }
        Ok(ServiceAccounts::build(accounts))
    }

    fn build(accounts: Vec<Arc<ServiceAccount>>) -> ServiceAccounts {
        let rng = ring::rand::SystemRandom::new();
        // Key generation only fails when the OS has no randomness; fall back to a key from the
        // rand crate's thread RNG (itself OS-seeded) rather than refusing to start.
        let cache_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            let mut k = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut k);
            hmac::Key::new(hmac::HMAC_SHA256, &k)
        });
        let slots = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        ServiceAccounts {
            accounts,
            cache_key,
            verified: Mutex::new(HashMap::new()),
            argon_slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// The account called `name` (case-insensitive, as `cn` matches).
    pub fn get(&self, name: &str) -> Option<&Arc<ServiceAccount>> {
        self.accounts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<ServiceAccount>> {
        self.accounts.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Check `password` for `account`. Runs argon2 on a blocking thread unless this password
    /// was verified before; never blocks the async reactor.
    pub async fn verify(
        &self,
        account: &ServiceAccount,
        password: &str,
    ) -> Result<bool, AuthError> {
        let key = account.name.to_ascii_lowercase();
        if let Some(tag) = self.cached(&key)
            && hmac::verify(&self.cache_key, password.as_bytes(), tag.as_ref()).is_ok()
        {
            return Ok(true);
        }
        let _slot = self
            .argon_slots
            .acquire()
            .await
            .map_err(|e| AuthError::Task(e.to_string()))?;
        let phc = Arc::clone(&account.phc);
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_phc(&phc, &pw))
            .await
            .map_err(|e| AuthError::Task(e.to_string()))?;
        if ok {
            let tag = hmac::sign(&self.cache_key, password.as_bytes());
            if let Ok(mut map) = self.verified.lock() {
                map.insert(key, tag);
            }
        }
        Ok(ok)
    }

    fn cached(&self, key: &str) -> Option<hmac::Tag> {
        // A poisoned lock only means another bind panicked mid-insert; treat it as a cache miss.
        self.verified.lock().ok().and_then(|m| m.get(key).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_password;

    fn cfg(name: &str, pw: &str, tenants: &[&str]) -> config::ServiceAccount {
        config::ServiceAccount {
            name: name.into(),
            password_hash: hash_password(pw).unwrap(),
            tenants: tenants.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn verifies_and_caches() {
        let sas = ServiceAccounts::from_config(&[cfg("vpn", "pa55, word", &["contoso"])]).unwrap();
        let vpn = sas.get("VPN").unwrap().clone();
        assert!(!sas.verify(&vpn, "wrong").await.unwrap());
        assert!(
            sas.cached("vpn").is_none(),
            "failed verify must not be cached"
        );
        assert!(sas.verify(&vpn, "pa55, word").await.unwrap());
        assert!(sas.cached("vpn").is_some());
        // The cached path answers the good password and still rejects others.
        assert!(sas.verify(&vpn, "pa55, word").await.unwrap());
        assert!(!sas.verify(&vpn, "pa55, wor").await.unwrap());
    }

    #[test]
    fn tenant_scoping() {
        let sas =
            ServiceAccounts::from_config(&[cfg("vpn", "x", &["Contoso"]), cfg("sssd", "y", &[])])
                .unwrap();
        let vpn = sas.get("vpn").unwrap();
        assert!(vpn.may_read("contoso"));
        assert!(!vpn.may_read("fabrikam"));
        assert!(sas.get("sssd").unwrap().may_read("fabrikam"));
        assert!(sas.get("nobody").is_none());
    }

    #[test]
    fn rejects_bad_hash_and_duplicates() {
        let bad = config::ServiceAccount {
            name: "vpn".into(),
            password_hash: "secret".into(),
            tenants: vec![],
        };
        let err = ServiceAccounts::from_config(&[bad]).unwrap_err();
        assert!(err.to_string().contains("service_account 'vpn'"), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = ServiceAccounts::from_config(&[cfg("vpn", "a", &[]), cfg("VPN", "b", &[])])
            .unwrap_err();
        assert!(matches!(err, AuthError::DuplicateAccount(_)));
    }
}
