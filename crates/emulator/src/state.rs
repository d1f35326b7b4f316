//! The state every route shares: the tenant behind a lock, issued tokens, the skiptoken key, the
//! options and the emulator's own base URL.
//!
//! The tenant sits behind an async `RwLock` so later control-endpoint mutations (and delta change
//! logs keyed by `TenantState::seq`) can write while readers page through it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::RwLock;

use super::control::{Faults, Stats};
use super::ropc::Lockouts;

use super::EmulatorOptions;
use super::skiptoken::SkipTokenCodec;
use super::tenant::TenantState;
use super::token::TokenStore;

pub(crate) struct Shared {
    pub tenant: RwLock<TenantState>,
    pub tokens: TokenStore,
    pub skiptokens: SkipTokenCodec,
    pub opts: EmulatorOptions,
    /// `http://127.0.0.1:PORT`: the Graph root, the login authority and the host of nextLinks.
    pub base_url: String,
    /// Delta tokens carry this; bumping it expires all of them.
    pub delta_epoch: AtomicU64,
    /// Delta tokens carry their issue time as milliseconds since this instant.
    pub started: Instant,
    pub stats: Mutex<Stats>,
    pub faults: Mutex<Faults>,
    /// Graph requests seen since the faults were last set (drives "every N-th request").
    pub fault_counter: AtomicU64,
    pub lockouts: Lockouts,
    /// Messages accepted by `sendMail`.
    pub sent_mail: Mutex<Vec<serde_json::Value>>,
}

impl Shared {
    pub fn new(tenant: TenantState, opts: EmulatorOptions, base_url: String) -> Shared {
        Shared {
            tenant: RwLock::new(tenant),
            tokens: TokenStore::default(),
            skiptokens: SkipTokenCodec::new(),
            opts,
            base_url,
            delta_epoch: AtomicU64::new(1),
            started: Instant::now(),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(Faults::default()),
            fault_counter: AtomicU64::new(0),
            lockouts: Lockouts::default(),
            sent_mail: Mutex::new(Vec::new()),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner) = Stats::default();
    }

    pub fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_faults(&self, f: Faults) {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner) = f;
        self.fault_counter.store(0, Ordering::SeqCst);
    }

    pub fn expire_delta_tokens(&self) {
        self.delta_epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub fn epoch(&self) -> u64 {
        self.delta_epoch.load(Ordering::SeqCst)
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
