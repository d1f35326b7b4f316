//! Verified-credential cache for Entra user binds (`auth.cache_ttl`): after Entra accepted a
//! password, a PBKDF2-HMAC-SHA256 of it under a random per-entry salt is kept, never the
//! password. An entry is tied to a fingerprint of the user's served entry, so a change in Graph
//! (password reset shows up as a modified user, disabling removes the entry) drops it.

use ring::pbkdf2;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Slow enough that a dumped cache is expensive to brute-force, fast enough for bind bursts.
const ITERATIONS: u32 = 20_000;
/// Most users remembered at once; beyond it the oldest entry is dropped.
pub(crate) const MAX_ENTRIES: usize = 100_000;

struct Entry {
    fingerprint: [u8; 32],
    salt: [u8; 16],
    hash: [u8; 32],
    at: Instant,
}

pub(crate) struct CredentialCache {
    ttl: Duration,
    cap: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn iterations() -> NonZeroU32 {
    NonZeroU32::new(ITERATIONS).unwrap_or(NonZeroU32::MIN)
}

impl CredentialCache {
    /// A zero `ttl` disables the cache.
    pub(crate) fn new(ttl: Duration) -> CredentialCache {
        CredentialCache::with_capacity(ttl, MAX_ENTRIES)
    }

    pub(crate) fn with_capacity(ttl: Duration, cap: usize) -> CredentialCache {
        CredentialCache {
            ttl,
            cap: cap.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// Whether `password` is the one Entra accepted for `user` within the TTL, with the user
    /// unchanged since. Stale entries are dropped. Slow (PBKDF2): call off the reactor.
    pub(crate) fn check(&self, user: &str, fingerprint: &[u8; 32], password: &str) -> bool {
        if !self.enabled() {
            return false;
        }
        let (salt, hash) = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let Some(e) = map.get(user) else {
                return false;
            };
            if e.at.elapsed() >= self.ttl || e.fingerprint != *fingerprint {
                map.remove(user);
                return false;
            }
            (e.salt, e.hash)
        };
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations(),
            &salt,
            password.as_bytes(),
            &hash,
        )
        .is_ok()
    }

    /// Remember that Entra accepted `password` for `user`. Slow (PBKDF2): call off the reactor.
    pub(crate) fn remember(&self, user: &str, fingerprint: &[u8; 32], password: &str) {
        if !self.enabled() {
            return;
        }
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        let mut hash = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations(),
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(user) && map.len() >= self.cap {
            let ttl = self.ttl;
            map.retain(|_, e| e.at.elapsed() < ttl);
            if map.len() >= self.cap
                && let Some(oldest) = map.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            user.to_owned(),
            Entry {
                fingerprint: *fingerprint,
                salt,
                hash,
                at: Instant::now(),
            },
        );
    }

    /// Forget `user` (Entra rejected a password or the user changed).
    pub(crate) fn forget(&self, user: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: [u8; 32] = [7; 32];

    #[test]
    fn remembers_only_the_accepted_password_for_the_same_user_state() {
        let c = CredentialCache::new(Duration::from_secs(600));
        assert!(!c.check("contoso/u1", &FP, " pa55, word "));
        c.remember("contoso/u1", &FP, " pa55, word ");
        assert!(c.check("contoso/u1", &FP, " pa55, word "));
        assert!(!c.check("contoso/u1", &FP, "pa55, word"), "no trimming");
        assert!(!c.check("contoso/u2", &FP, " pa55, word "));
        // The user changed in Graph: the entry is gone, even for the right password.
        assert!(!c.check("contoso/u1", &[8; 32], " pa55, word "));
        assert!(!c.check("contoso/u1", &FP, " pa55, word "));
    }

    #[test]
    fn expires_and_can_be_disabled() {
        let c = CredentialCache::new(Duration::from_millis(30));
        c.remember("u", &FP, "x");
        assert!(c.check("u", &FP, "x"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!c.check("u", &FP, "x"));
        let off = CredentialCache::new(Duration::ZERO);
        off.remember("u", &FP, "x");
        assert!(!off.check("u", &FP, "x"));
        assert!(off.is_empty());
    }

    #[test]
    fn does_not_store_the_password_and_stays_bounded() {
        let c = CredentialCache::with_capacity(Duration::from_secs(600), 3);
        for n in 0..10 {
            c.remember(&format!("u{n}"), &FP, "hunter2");
        }
        assert_eq!(c.len(), 3);
        let map = c.entries.lock().unwrap();
        let (a, b) = {
            let mut it = map.values();
            (it.next().unwrap(), it.next().unwrap())
        };
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash, "same password, different salts");
        assert!(!a.hash.windows(7).any(|w| w == b"hunter2"));
    }
}
