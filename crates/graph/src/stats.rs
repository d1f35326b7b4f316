//! Process-wide counters of the HTTP requests made to Graph and the login endpoint, by the
//! class of their answer, for the server's metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Requests since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// 1xx, 2xx and 3xx answers.
    pub ok: u64,
    /// 4xx answers other than 429.
    pub client_error: u64,
    /// 429 Too Many Requests.
    pub throttled: u64,
    /// 5xx answers.
    pub server_error: u64,
    /// No answer: refused or reset connections, TLS failures, timeouts.
    pub transport_error: u64,
    /// Requests sent again after one of the above.
    pub retries: u64,
}

static OK: AtomicU64 = AtomicU64::new(0);
static CLIENT_ERROR: AtomicU64 = AtomicU64::new(0);
static THROTTLED: AtomicU64 = AtomicU64::new(0);
static SERVER_ERROR: AtomicU64 = AtomicU64::new(0);
static TRANSPORT_ERROR: AtomicU64 = AtomicU64::new(0);
static RETRIES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn answered(status: u16) {
    let c = match status {
        429 => &THROTTLED,
        400..=499 => &CLIENT_ERROR,
        500..=599 => &SERVER_ERROR,
        _ => &OK,
    };
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn transport_error() {
    TRANSPORT_ERROR.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn retry() {
    RETRIES.fetch_add(1, Ordering::Relaxed);
}

pub fn snapshot() -> Stats {
    Stats {
        ok: OK.load(Ordering::Relaxed),
        client_error: CLIENT_ERROR.load(Ordering::Relaxed),
        throttled: THROTTLED.load(Ordering::Relaxed),
        server_error: SERVER_ERROR.load(Ordering::Relaxed),
        transport_error: TRANSPORT_ERROR.load(Ordering::Relaxed),
        retries: RETRIES.load(Ordering::Relaxed),
    }
}
