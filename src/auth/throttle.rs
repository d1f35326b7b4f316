//! Brute-force protection in front of every password check, built so that it protects
//! accounts without handing an attacker a switch to lock them.
//!
//! It runs before Entra is called, so nobody hammering the LDAP port can trip Entra's smart
//! lockout (about 10 failures) and lock a user out of Microsoft 365, and before argon2, so it
//! cannot burn CPU. The rules, after Entra smart lockout (familiar and unfamiliar locations)
//! and OpenLDAP's ppolicy; `docs/user-binds.md` explains them for admins:
//!
//! * **Familiar and unfamiliar addresses.** An address is familiar to an account once the
//!   account bound from it successfully (for `auth.familiar_for`); `auth.trusted_sources` are
//!   familiar to every account. Each user has two failure budgets, one for familiar and one for
//!   unfamiliar addresses, so a stranger's guesses lock only the stranger's side.
//! * **Service accounts** have strong secrets and are never locked per account: only the
//!   source is throttled, so nobody can stop a VPN's service account by guessing its password.
//! * **Per-address limits** stop password spraying from one address, but never refuse an
//!   account at an address familiar to it, and never apply to trusted sources (a VPN gateway
//!   binds for hundreds of users; its users' own budgets still apply).
//! * **A repeated wrong password** (one of the account's last three, within the window) is
//!   answered locally and not counted again: a phone retrying an old password neither locks
//!   its owner out nor reaches Entra.
//!
//! Memory is bounded: every map is capped and evicts in batches, so a flood of distinct names
//! or addresses costs amortised constant time per attempt.

use config::{AuthConfig, Source};
use ring::hmac;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most accounts, addresses and familiar (account, address) pairs tracked at once.
pub(crate) const MAX_TRACKED: usize = 100_000;

/// How many recent wrong passwords per account are remembered (as keyed hashes).
const REMEMBERED_BAD: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// Everything the throttle decides by.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// A user's budget at familiar addresses and trusted sources.
    pub familiar: Limits,
    /// A user's budget at every other address.
    pub unfamiliar: Limits,
    /// One source address's budget across accounts unfamiliar with it.
    pub address: Limits,
    pub trusted: Vec<Source>,
    pub familiar_for: Duration,
}

impl Policy {
    pub fn from_config(a: &AuthConfig) -> Policy {
        let limits = |n: u32, window: config::duration::Dur| Limits {
            max_failures: n.max(1),
            window: window.get(),
            lockout: a.lockout.get(),
        };
        Policy {
            familiar: limits(a.max_failures_per_account, a.account_window),
            unfamiliar: limits(a.max_failures_unfamiliar, a.account_window),
            address: limits(a.max_failures_per_ip, a.ip_window),
            trusted: a.trusted_sources.clone(),
            familiar_for: a.familiar_for.get(),
        }
    }

    fn is_trusted(&self, ip: &IpAddr) -> bool {
        self.trusted.iter().any(|s| s.contains(ip))
    }
}

/// Whose password is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A directory user (password checked by Entra or locally).
    User,
    /// A configured service account (argon2 hash from the config, a strong secret).
    Service,
}

/// Why an attempt was answered before any password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The account's budget for familiar addresses is spent.
    Account,
    /// The account's budget for unfamiliar addresses is spent.
    Unfamiliar,
    /// The source address's budget is spent and the account is not familiar with it.
    Address,
    /// The password is one that already failed for this account within the window.
    Repeat,
}

impl Refusal {
    /// The name the audit log and `ctl status` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Account => "account",
            Refusal::Unfamiliar => "account_unfamiliar",
            Refusal::Address => "address",
            Refusal::Repeat => "repeat",
        }
    }
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

/// Failures within a sliding window, and the lockout they started.
#[derive(Debug, Default)]
struct Window {
    /// Attempts not yet known to be successes, oldest first; at most `max_failures` long.
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Window {
    fn locked(&mut self, now: Instant) -> bool {
        match self.locked_until {
            Some(t) if t > now => true,
            Some(_) => {
                self.locked_until = None;
                self.failures.clear();
                false
            }
            None => false,
        }
    }

    /// Count an attempt in advance, so concurrent attempts cannot all slip past the limit while
    /// their checks are in flight. With `enforce`, refuse (and lock) when the budget is spent;
    /// without, only count.
    fn admit(&mut self, limits: Limits, now: Instant, enforce: bool) -> bool {
        if enforce && self.locked(now) {
            return false;
        }
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= limits.window)
        {
            self.failures.pop_front();
        }
        let max = limits.max_failures as usize;
        if self.failures.len() >= max {
            if enforce {
                self.locked_until = Some(now + limits.lockout);
                return false;
            }
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        true
    }

    /// The attempt failed: it stays counted. Returns true when this failure starts a lockout.
    fn failed(&mut self, limits: Limits, now: Instant) -> bool {
        if self.failures.len() >= limits.max_failures as usize && self.locked_until.is_none() {
            self.locked_until = Some(now + limits.lockout);
            return true;
        }
        false
    }

    /// The attempt was not a failure: take back its advance count.
    fn uncount(&mut self) {
        self.failures.pop_back();
    }

    fn idle(&self, now: Instant, keep: Duration) -> bool {
        self.locked_until.is_none_or(|t| t <= now)
            && self
                .failures
                .back()
                .is_none_or(|t| now.saturating_duration_since(*t) >= keep)
    }
}

type Tag = [u8; 16];

#[derive(Debug)]
struct AccountState {
    familiar: Window,
    unfamiliar: Window,
    /// Keyed hashes of the last wrong passwords, with when they failed.
    bad: VecDeque<(Tag, Instant)>,
    last_seen: Instant,
}

impl AccountState {
    fn new(now: Instant) -> AccountState {
        AccountState {
            familiar: Window::default(),
            unfamiliar: Window::default(),
            bad: VecDeque::new(),
            last_seen: now,
        }
    }
}

#[derive(Debug)]
struct AddressState {
    window: Window,
    last_seen: Instant,
}

/// A map with a size cap: when full, idle entries go first, then the least recently seen
/// tenth, so inserting stays amortised O(1) however many keys an attacker invents.
#[derive(Debug)]
struct Capped<K, V> {
    cap: usize,
    map: HashMap<K, V>,
}

impl<K: Hash + Eq + Clone, V> Capped<K, V> {
    fn new(cap: usize) -> Self {
        Capped {
            cap: cap.max(1),
            map: HashMap::new(),
        }
    }

    fn make_room(&mut self, idle: impl Fn(&V) -> bool, seen: impl Fn(&V) -> Instant) {
        if self.map.len() < self.cap {
            return;
        }
        self.map.retain(|_, v| !idle(v));
        if self.map.len() >= self.cap {
            let mut ages: Vec<(Instant, K)> =
                self.map.iter().map(|(k, v)| (seen(v), k.clone())).collect();
            let n = (self.cap / 10).max(1).min(ages.len());
            ages.select_nth_unstable_by_key(n - 1, |(t, _)| *t);
            for (_, k) in ages.into_iter().take(n) {
                self.map.remove(&k);
            }
        }
    }
}

/// Locks started since the process started, per kind, for `ctl status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LockoutCounters {
    pub account: u64,
    pub account_unfamiliar: u64,
    pub address: u64,
}

static LOCKOUTS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

pub(crate) fn lockout_counters() -> LockoutCounters {
    let at = |i: usize| LOCKOUTS.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
    LockoutCounters {
        account: at(0),
        account_unfamiliar: at(1),
        address: at(2),
    }
}

fn count_lockout(kind: Refusal) {
    let i = match kind {
        Refusal::Account => 0,
        Refusal::Unfamiliar => 1,
        Refusal::Address => 2,
        Refusal::Repeat => return,
    };
    if let Some(c) = LOCKOUTS.get(i) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Which of an account's budgets an attempt draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Familiar,
    Unfamiliar,
}

/// An attempt that passed the throttle; report how it ended with [`Throttle::finish`].
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    account: String,
    budget: Option<Budget>,
    ip: Option<IpAddr>,
    /// The address counter holds an advance count for this attempt.
    address_counted: bool,
    trusted: bool,
    tag: Tag,
}

#[derive(Debug)]
struct State {
    accounts: Capped<String, AccountState>,
    addresses: Capped<IpAddr, AddressState>,
    familiar: Capped<(String, IpAddr), Instant>,
}

/// Failure budgets per account and per address, and which addresses each account knows.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    /// Keys the hashes of wrong passwords; drawn at start, so they mean nothing elsewhere.
    tag_key: hmac::Key,
    state: Mutex<State>,
}

impl Throttle {
    pub fn new(policy: Policy) -> Throttle {
        Throttle::with_capacity(policy, MAX_TRACKED)
    }

    pub fn with_capacity(policy: Policy, cap: usize) -> Throttle {
        let rng = ring::rand::SystemRandom::new();
        let tag_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &rand::random::<[u8; 32]>()));
        Throttle {
            policy,
            tag_key,
            state: Mutex::new(State {
                accounts: Capped::new(cap),
                addresses: Capped::new(cap),
                familiar: Capped::new(cap),
            }),
        }
    }

    pub fn from_config(a: &AuthConfig) -> Throttle {
        Throttle::new(Policy::from_config(a))
    }

    /// Admit an attempt for `account` (any stable key, e.g. `user:<tenant>/<id>`) from `ip`
    /// with `password`, or say why it is answered without a check. `version` names what the
    /// password is checked against (the stored hash, the served entry): when it changes, a
    /// password that failed before is checked again rather than taken for a repeat.
    pub fn begin(
        &self,
        account: &str,
        subject: Subject,
        ip: Option<IpAddr>,
        password: &str,
        version: &[u8],
    ) -> Result<Attempt, Refusal> {
        self.begin_at(account, subject, ip, (password, version), Instant::now())
    }

    fn tag(&self, account: &str, (password, version): (&str, &[u8])) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.tag_key);
        for part in [account.as_bytes(), version] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        ctx.update(password.as_bytes());
        let mut tag = [0u8; 16];
        tag.copy_from_slice(ctx.sign().as_ref().get(..16).unwrap_or(&[0u8; 16]));
        tag
    }

    fn begin_at(
        &self,
        account: &str,
        subject: Subject,
        ip: Option<IpAddr>,
        password: (&str, &[u8]),
        now: Instant,
    ) -> Result<Attempt, Refusal> {
        let account = account.to_lowercase();
        let tag = self.tag(&account, password);
        let p = &self.policy;
        let trusted = ip.is_some_and(|ip| p.is_trusted(&ip));
        // A poisoned lock means a panic elsewhere mid-update; the counters are still usable.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        let familiar = trusted
            || ip.is_some_and(|ip| {
                st.familiar
                    .map
                    .get(&(account.clone(), ip))
                    .is_some_and(|t| now.saturating_duration_since(*t) < p.familiar_for)
            });

        let keep = p
            .familiar
            .window
            .max(p.unfamiliar.window)
            .max(p.familiar.lockout);
        if !st.accounts.map.contains_key(&account) {
            st.accounts.make_room(
                |a| a.familiar.idle(now, keep) && a.unfamiliar.idle(now, keep) && a.bad.is_empty(),
                |a| a.last_seen,
            );
        }
        let acct = st
            .accounts
            .map
            .entry(account.clone())
            .or_insert_with(|| AccountState::new(now));
        acct.last_seen = now;
        let window = p.familiar.window;
        acct.bad
            .retain(|(_, t)| now.saturating_duration_since(*t) < window);
        if acct.bad.iter().any(|(t, _)| *t == tag) {
            return Err(Refusal::Repeat);
        }

        let address_checked = !trusted && ip.is_some();
        if let Some(ip) = ip
            && address_checked
            && !familiar
            && st
                .addresses
                .map
                .get_mut(&ip)
                .is_some_and(|a| a.window.locked(now))
        {
            return Err(Refusal::Address);
        }

        let budget = match subject {
            Subject::Service => None,
            Subject::User if familiar => Some(Budget::Familiar),
            Subject::User => Some(Budget::Unfamiliar),
        };
        if let Some(b) = budget {
            let acct = st
                .accounts
                .map
                .entry(account.clone())
                .or_insert_with(|| AccountState::new(now));
            let (w, limits, refusal) = match b {
                Budget::Familiar => (&mut acct.familiar, p.familiar, Refusal::Account),
                Budget::Unfamiliar => (&mut acct.unfamiliar, p.unfamiliar, Refusal::Unfamiliar),
            };
            if !w.admit(limits, now, true) {
                return Err(refusal);
            }
        }

        let mut address_counted = false;
        if let Some(ip) = ip
            && address_checked
        {
            if !st.addresses.map.contains_key(&ip) {
                let keep = p.address.window.max(p.address.lockout);
                st.addresses
                    .make_room(|a| a.window.idle(now, keep), |a| a.last_seen);
            }
            let addr = st.addresses.map.entry(ip).or_insert_with(|| AddressState {
                window: Window::default(),
                last_seen: now,
            });
            addr.last_seen = now;
            // An account familiar with the address is counted but never refused by it.
            if !addr.window.admit(p.address, now, !familiar) {
                if let Some(b) = budget
                    && let Some(acct) = st.accounts.map.get_mut(&account)
                {
                    match b {
                        Budget::Familiar => acct.familiar.uncount(),
                        Budget::Unfamiliar => acct.unfamiliar.uncount(),
                    }
                }
                return Err(Refusal::Address);
            }
            address_counted = true;
        }
        Ok(Attempt {
            account,
            budget,
            ip,
            address_counted,
            trusted,
            tag,
        })
    }

    pub fn finish(&self, attempt: Attempt, ending: Ending) {
        self.finish_at(attempt, ending, Instant::now())
    }

    fn finish_at(&self, a: Attempt, ending: Ending, now: Instant) {
        let p = &self.policy;
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        let mut locked = Vec::new();
        if let Some(acct) = st.accounts.map.get_mut(&a.account) {
            let window = match a.budget {
                Some(Budget::Familiar) => Some((&mut acct.familiar, p.familiar, Refusal::Account)),
                Some(Budget::Unfamiliar) => {
                    Some((&mut acct.unfamiliar, p.unfamiliar, Refusal::Unfamiliar))
                }
                None => None,
            };
            match ending {
                Ending::Failure => {
                    if let Some((w, limits, kind)) = window
                        && w.failed(limits, now)
                    {
                        locked.push(kind);
                    }
                    if acct.bad.len() >= REMEMBERED_BAD {
                        acct.bad.pop_front();
                    }
                    acct.bad.push_back((a.tag, now));
                }
                Ending::Success => {
                    // Only the budget the success was drawn from is refilled: a success at
                    // home must not hand a stranger a fresh set of guesses.
                    if let Some((w, _, _)) = window {
                        *w = Window::default();
                    }
                    acct.bad.clear();
                }
                Ending::Neutral => {
                    if let Some((w, _, _)) = window {
                        w.uncount();
                    }
                }
            }
        }
        if let Some(ip) = a.ip
            && a.address_counted
            && let Some(addr) = st.addresses.map.get_mut(&ip)
        {
            match ending {
                Ending::Failure => {
                    if addr.window.failed(p.address, now) {
                        locked.push(Refusal::Address);
                    }
                }
                // A success does not clear the address: one known password must not buy an
                // attacker a fresh budget of guesses against other accounts.
                Ending::Success | Ending::Neutral => addr.window.uncount(),
            }
        }
        if ending == Ending::Success
            && let Some(ip) = a.ip
            && !a.trusted
        {
            let key = (a.account.clone(), ip);
            if !st.familiar.map.contains_key(&key) {
                let keep = p.familiar_for;
                st.familiar
                    .make_room(|t| now.saturating_duration_since(*t) >= keep, |t| *t);
            }
            st.familiar.map.insert(key, now);
        }
        drop(guard);
        for kind in locked {
            count_lockout(kind);
            match kind {
                Refusal::Address => tracing::warn!(
                    peer = %a.ip.map(|i| i.to_string()).unwrap_or_default(),
                    limit = kind.as_str(),
                    "too many failed binds from one address: it is locked out for accounts that never bound from it"
                ),
                _ => tracing::warn!(
                    peer = %a.ip.map(|i| i.to_string()).unwrap_or_default(),
                    account = %crate::logging::clip(&a.account, 256),
                    limit = kind.as_str(),
                    "too many failed binds for one account: it is locked out locally"
                ),
            }
        }
    }
}

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;
