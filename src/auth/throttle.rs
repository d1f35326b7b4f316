//! Brute-force protection in front of every password check: failed binds counted per account
//! and per source address in sliding windows, with a lockout period. It runs before Entra is
//! called, so an attacker hammering the LDAP port cannot trip Entra's smart lockout (about 10
//! failures) and lock the user out of Microsoft 365, and before argon2, so it cannot burn CPU.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most accounts and addresses tracked at once; beyond it the least recently seen is dropped.
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// Why an attempt was refused before any password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Account,
    Address,
}

#[derive(Debug)]
struct Slot {
    /// Attempts not yet known to be successes, oldest first; at most `max_failures` long.
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

#[derive(Debug)]
struct Tracker<K> {
    limits: Limits,
    cap: usize,
    slots: HashMap<K, Slot>,
}

impl<K: std::hash::Hash + Eq + Clone> Tracker<K> {
    fn new(limits: Limits, cap: usize) -> Self {
        Tracker {
            limits,
            cap,
            slots: HashMap::new(),
        }
    }

    fn is_locked(&mut self, key: &K, now: Instant) -> bool {
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        match slot.locked_until {
            Some(t) if t > now => true,
            Some(_) => {
                slot.locked_until = None;
                slot.failures.clear();
                false
            }
            None => false,
        }
    }

    /// Count an attempt as a failure in advance, so concurrent attempts for one account cannot
    /// all slip past the limit while their checks are in flight. Refuses when the limit is
    /// already reached.
    fn begin(&mut self, key: &K, now: Instant) -> bool {
        if self.is_locked(key, now) {
            return false;
        }
        if !self.slots.contains_key(key) && self.slots.len() >= self.cap {
            self.evict(now);
        }
        let limits = self.limits;
        let slot = self.slots.entry(key.clone()).or_insert_with(|| Slot {
            failures: VecDeque::new(),
            locked_until: None,
            last_seen: now,
        });
        slot.last_seen = now;
        while slot
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= limits.window)
        {
            slot.failures.pop_front();
        }
        if slot.failures.len() >= limits.max_failures as usize {
            slot.locked_until = Some(now + limits.lockout);
            return false;
        }
        slot.failures.push_back(now);
        true
    }

    /// The attempt failed: it stays counted; reaching the limit starts the lockout.
    fn failed(&mut self, key: &K, now: Instant) {
        if let Some(slot) = self.slots.get_mut(key)
            && slot.failures.len() >= self.limits.max_failures as usize
        {
            slot.locked_until = Some(now + self.limits.lockout);
        }
    }

    /// The attempt was not a failure: take back its advance count.
    fn uncount(&mut self, key: &K) {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.failures.pop_back();
        }
    }

    fn reset(&mut self, key: &K) {
        self.slots.remove(key);
    }

    /// Drop stale entries; if none are stale, the least recently seen one.
    fn evict(&mut self, now: Instant) {
        let keep = self.limits.window.max(self.limits.lockout);
        self.slots.retain(|_, s| {
            s.locked_until.is_some_and(|t| t > now)
                || now.saturating_duration_since(s.last_seen) < keep
        });
        if self.slots.len() >= self.cap
            && let Some(oldest) = self
                .slots
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            self.slots.remove(&oldest);
        }
    }
}

/// Per-account and per-address failure counters.
#[derive(Debug)]
pub struct Throttle {
    accounts: Mutex<Tracker<String>>,
    addresses: Mutex<Tracker<IpAddr>>,
}

/// An attempt that passed the throttle; report how it ended with [`Throttle::finish`].
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    account: String,
    ip: Option<IpAddr>,
}

/// How an attempt ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Success,
    /// Wrong password, unknown name, or any refusal of the credentials.
    Failure,
    /// Not the client's fault (Entra down, misconfiguration): not counted.
    Neutral,
}

impl Throttle {
    pub fn new(account: Limits, address: Limits) -> Throttle {
        Throttle::with_capacity(account, address, MAX_TRACKED)
    }

    pub fn with_capacity(account: Limits, address: Limits, cap: usize) -> Throttle {
        Throttle {
            accounts: Mutex::new(Tracker::new(account, cap.max(1))),
            addresses: Mutex::new(Tracker::new(address, cap.max(1))),
        }
    }

    pub fn from_config(a: &crate::config::AuthConfig) -> Throttle {
        Throttle::new(
            Limits {
                max_failures: a.max_failures_per_account.max(1),
                window: a.account_window.get(),
                lockout: a.lockout.get(),
            },
            Limits {
                max_failures: a.max_failures_per_ip.max(1),
                window: a.ip_window.get(),
                lockout: a.lockout.get(),
            },
        )
    }

    /// Admit an attempt for `account` (any stable key, e.g. `user:<tenant>/<id>`) from `ip`,
    /// or say which limit refuses it.
    pub fn begin(&self, account: &str, ip: Option<IpAddr>) -> Result<Attempt, Throttled> {
        self.begin_at(account, ip, Instant::now())
    }

    fn begin_at(
        &self,
        account: &str,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, Throttled> {
        let account = account.to_lowercase();
        // A poisoned lock means a panic elsewhere mid-update; the counters are still usable.
        let mut addrs = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let mut accts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ip) = ip
            && addrs.is_locked(&ip, now)
        {
            return Err(Throttled::Address);
        }
        if !accts.begin(&account, now) {
            return Err(Throttled::Account);
        }
        if let Some(ip) = ip
            && !addrs.begin(&ip, now)
        {
            accts.uncount(&account);
            return Err(Throttled::Address);
        }
        Ok(Attempt { account, ip })
    }

    pub fn finish(&self, attempt: Attempt, ending: Ending) {
        self.finish_at(attempt, ending, Instant::now())
    }

    fn finish_at(&self, attempt: Attempt, ending: Ending, now: Instant) {
        let mut addrs = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let mut accts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        match ending {
            Ending::Failure => {
                accts.failed(&attempt.account, now);
                if let Some(ip) = attempt.ip {
                    addrs.failed(&ip, now);
                }
            }
            Ending::Success => {
                accts.reset(&attempt.account);
                // A success does not clear the address: one known password must not buy an
                // attacker a fresh budget of guesses against other accounts.
                if let Some(ip) = attempt.ip {
                    addrs.uncount(&ip);
                }
            }
            Ending::Neutral => {
                accts.uncount(&attempt.account);
                if let Some(ip) = attempt.ip {
                    addrs.uncount(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(n: u32, window: u64, lockout: u64) -> Limits {
        Limits {
            max_failures: n,
            window: Duration::from_secs(window),
            lockout: Duration::from_secs(lockout),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn account_locks_after_max_failures_and_unlocks_after_lockout() {
        let t = Throttle::new(limits(5, 900, 600), limits(100, 300, 600));
        let t0 = Instant::now();
        let mut admitted = 0;
        for i in 0..30 {
            if let Ok(a) = t.begin_at(
                "user:contoso/Alice",
                ip("192.0.2.1"),
                t0 + Duration::from_secs(i),
            ) {
                admitted += 1;
                t.finish_at(a, Ending::Failure, t0 + Duration::from_secs(i));
            }
        }
        assert_eq!(admitted, 5);
        // Other accounts from another address are unaffected.
        assert!(t.begin_at("user:contoso/bob", ip("192.0.2.2"), t0).is_ok());
        // Still locked just before the lockout ends, free after.
        assert_eq!(
            t.begin_at(
                "user:contoso/alice",
                ip("192.0.2.9"),
                t0 + Duration::from_secs(4 + 599)
            )
            .unwrap_err(),
            Throttled::Account
        );
        assert!(
            t.begin_at(
                "user:contoso/alice",
                ip("192.0.2.9"),
                t0 + Duration::from_secs(4 + 601)
            )
            .is_ok()
        );
    }

    #[test]
    fn concurrent_attempts_cannot_exceed_the_limit() {
        let t = Throttle::new(limits(3, 900, 600), limits(100, 300, 600));
        let now = Instant::now();
        let held: Vec<_> = (0..10)
            .filter_map(|_| t.begin_at("a", None, now).ok())
            .collect();
        assert_eq!(held.len(), 3);
    }

    #[test]
    fn success_resets_the_account_and_neutral_is_not_counted() {
        let t = Throttle::new(limits(3, 900, 600), limits(100, 300, 600));
        let now = Instant::now();
        for _ in 0..2 {
            let a = t.begin_at("a", None, now).unwrap();
            t.finish_at(a, Ending::Failure, now);
        }
        let a = t.begin_at("a", None, now).unwrap();
        t.finish_at(a, Ending::Success, now);
        for _ in 0..10 {
            let a = t.begin_at("a", None, now).unwrap();
            t.finish_at(a, Ending::Neutral, now);
        }
        for _ in 0..2 {
            let a = t.begin_at("a", None, now).unwrap();
            t.finish_at(a, Ending::Failure, now);
        }
        assert!(t.begin_at("a", None, now).is_ok());
    }

    #[test]
    fn failures_outside_the_window_expire() {
        let t = Throttle::new(limits(2, 60, 600), limits(100, 300, 600));
        let t0 = Instant::now();
        let a = t.begin_at("a", None, t0).unwrap();
        t.finish_at(a, Ending::Failure, t0);
        let later = t0 + Duration::from_secs(61);
        let a = t.begin_at("a", None, later).unwrap();
        t.finish_at(a, Ending::Failure, later);
        assert!(t.begin_at("a", None, later).is_ok());
    }

    #[test]
    fn address_limit_spans_accounts() {
        let t = Throttle::new(limits(5, 900, 600), limits(4, 300, 600));
        let now = Instant::now();
        for n in 0..4 {
            let a = t
                .begin_at(&format!("user{n}"), ip("2001:db8::1"), now)
                .unwrap();
            t.finish_at(a, Ending::Failure, now);
        }
        assert_eq!(
            t.begin_at("user9", ip("2001:db8::1"), now).unwrap_err(),
            Throttled::Address
        );
        assert!(t.begin_at("user9", ip("2001:db8::2"), now).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::with_capacity(limits(5, 900, 600), limits(5, 900, 600), 100);
        let now = Instant::now();
        for n in 0..1000 {
            let a = t
                .begin_at(&format!("u{n}"), None, now + Duration::from_millis(n))
                .unwrap();
            t.finish_at(a, Ending::Failure, now);
        }
        assert!(t.accounts.lock().unwrap().slots.len() <= 100);
    }
}
