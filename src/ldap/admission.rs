//! Who gets a connection slot: the global `server.max_connections`, a per-address cap
//! (`server.max_connections_per_address`, by /64 for IPv6 since one host holds a whole /64), and,
//! when every slot is taken, room made by closing the longest-idle connection that has not
//! bound. One anonymous client can therefore neither take every slot from one address nor keep
//! a client that binds out for more than a moment.

use crate::peer::AddrKey;
use config::Source;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// An idle connection that has not bound for at least this long may be closed to make room.
const EVICTABLE_AFTER: Duration = Duration::from_secs(1);
/// How long a new connection waits for the slot an evicted one frees.
const EVICTION_WAIT: Duration = Duration::from_secs(3);

/// What the connection loop shares with the registry.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Not bound (anonymous): may be closed to make room when idle.
    pub(crate) anonymous: AtomicBool,
    /// Milliseconds since the registry started, at the last request.
    last_active: AtomicU64,
    /// Cancelled when the connection is closed to make room.
    pub(crate) evicted: CancellationToken,
}

impl ConnState {
    pub(crate) fn touch(&self, registry: &Connections) {
        self.last_active.store(registry.now_ms(), Ordering::Relaxed);
    }
}

/// Why a connection was not admitted; it gets a Notice of Disconnection (`busy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    PerAddress,
    Full,
}

impl Refused {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refused::PerAddress => {
                "too many connections from your address (server.max_connections_per_address)"
            }
            Refused::Full => "the server is busy (server.max_connections); try again later",
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    per_addr: HashMap<AddrKey, usize>,
    conns: HashMap<u64, Arc<ConnState>>,
}

#[derive(Debug)]
pub(crate) struct Connections {
    pub(crate) max_total: usize,
    max_per_address: usize,
    trusted: Vec<Source>,
    slots: Arc<Semaphore>,
    started: Instant,
    inner: Mutex<Inner>,
}

/// A connection's place; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Admitted {
    id: u64,
    key: Option<AddrKey>,
    pub(crate) state: Arc<ConnState>,
    registry: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut inner = self.registry.lock();
        inner.conns.remove(&self.id);
        if let Some(k) = self.key
            && let Some(n) = inner.per_addr.get_mut(&k)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.per_addr.remove(&k);
            }
        }
    }
}

impl Connections {
    pub(crate) fn new(max_total: usize, max_per_address: usize, trusted: Vec<Source>) -> Self {
        let max_total = max_total.max(1);
        Connections {
            max_total,
            max_per_address: max_per_address.max(1),
            trusted,
            slots: Arc::new(Semaphore::new(max_total)),
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Poisoned only by a panic mid-update of plain counters; they remain usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Currently open connections.
    pub(crate) fn open(&self) -> usize {
        self.max_total - self.slots.available_permits()
    }

    /// Admit a connection from `ip`, making room if every slot is taken.
    pub(crate) async fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Admitted, Refused> {
        let trusted = ip.is_some_and(|ip| self.trusted.iter().any(|s| s.contains(&ip)));
        let key = ip.filter(|_| !trusted).map(AddrKey::of);
        // Count the address first, so parallel accepts from one address cannot overshoot.
        if let Some(k) = key {
            let mut inner = self.lock();
            let n = inner.per_addr.entry(k).or_insert(0);
            if *n >= self.max_per_address {
                return Err(Refused::PerAddress);
            }
            *n += 1;
        }
        let uncount = |this: &Self| {
            if let Some(k) = key {
                let mut inner = this.lock();
                if let Some(n) = inner.per_addr.get_mut(&k) {
                    *n = n.saturating_sub(1);
                }
            }
        };
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !self.evict_one() {
                    uncount(self);
                    return Err(Refused::Full);
                }
                match tokio::time::timeout(EVICTION_WAIT, Arc::clone(&self.slots).acquire_owned())
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        uncount(self);
                        return Err(Refused::Full);
                    }
                }
            }
        };
        let state = Arc::new(ConnState {
            anonymous: AtomicBool::new(true),
            last_active: AtomicU64::new(self.now_ms()),
            evicted: CancellationToken::new(),
        });
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.conns.insert(id, Arc::clone(&state));
        drop(inner);
        Ok(Admitted {
            id,
            key,
            state,
            registry: Arc::clone(self),
            _permit: permit,
        })
    }

    /// Close the connection that has been idle longest without binding, if one has been idle
    /// for `EVICTABLE_AFTER`. Bound connections are never closed to make room.
    fn evict_one(&self) -> bool {
        let now = self.now_ms();
        let min_idle = u64::try_from(EVICTABLE_AFTER.as_millis()).unwrap_or(u64::MAX);
        let inner = self.lock();
        let victim = inner
            .conns
            .values()
            .filter(|c| c.anonymous.load(Ordering::Relaxed) && !c.evicted.is_cancelled())
            .map(|c| (c.last_active.load(Ordering::Relaxed), c))
            .filter(|(t, _)| now.saturating_sub(*t) >= min_idle)
            .min_by_key(|(t, _)| *t)
            .map(|(_, c)| Arc::clone(c));
        drop(inner);
        match victim {
            Some(c) => {
                c.evicted.cancel();
                true
            }
            None => false,
        }
    }

    /// Wait until every connection has closed.
    pub(crate) async fn wait_idle(&self) {
        let all = u32::try_from(self.max_total).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[tokio::test]
    async fn one_address_cannot_take_every_slot() {
        let c = Arc::new(Connections::new(
            20,
            3,
            vec!["10.8.0.0/16".parse().unwrap()],
        ));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(c.admit(ip("192.0.2.1")).await.unwrap());
        }
        assert_eq!(
            c.admit(ip("192.0.2.1")).await.unwrap_err(),
            Refused::PerAddress
        );
        // IPv4-mapped is the same address; another address is fine; trusted sources are exempt.
        assert_eq!(
            c.admit(ip("::ffff:192.0.2.1")).await.unwrap_err(),
            Refused::PerAddress
        );
        held.push(c.admit(ip("192.0.2.2")).await.unwrap());
        for _ in 0..5 {
            held.push(c.admit(ip("10.8.1.1")).await.unwrap());
        }
        // A whole IPv6 /64 counts as one address.
        for n in 0..3 {
            held.push(c.admit(ip(&format!("2001:db8::{n}"))).await.unwrap());
        }
        assert_eq!(
            c.admit(ip("2001:db8::ffff")).await.unwrap_err(),
            Refused::PerAddress
        );
        // Closing one frees its address's count.
        held.remove(0);
        held.push(c.admit(ip("192.0.2.1")).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_server_closes_the_longest_idle_unbound_connection() {
        let c = Arc::new(Connections::new(3, 10, Vec::new()));
        let bound = c.admit(ip("192.0.2.1")).await.unwrap();
        bound.state.anonymous.store(false, Ordering::Relaxed);
        let idle = c.admit(ip("198.51.100.1")).await.unwrap();
        let fresh = c.admit(ip("198.51.100.2")).await.unwrap();
        // Nobody has been idle long enough yet: refused.
        assert_eq!(c.admit(ip("192.0.2.9")).await.unwrap_err(), Refused::Full);
        // A moment later `idle` has been idle past the threshold; `fresh` has just sent a
        // request.
        tokio::time::sleep(EVICTABLE_AFTER + Duration::from_millis(100)).await;
        fresh.state.touch(&c);
        let evicted = idle.state.evicted.clone();
        let waiter = {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.admit(ip("192.0.2.9")).await.map(|_| ()) })
        };
        evicted.cancelled().await;
        assert!(!bound.state.evicted.is_cancelled());
        assert!(!fresh.state.evicted.is_cancelled());
        // The evicted connection's loop closes it, freeing the slot.
        drop(idle);
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }
}
