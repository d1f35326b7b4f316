//! The server's log on stderr: text or JSON, with two guards for what clients can put in it.
//!
//! * **Escaping.** In the text format every field and message is written with control
//!   characters escaped (`\n`, `\u{1b}`...) and cut at `MAX_FIELD` characters, so a bind name
//!   holding a newline cannot start a forged line and ANSI sequences reach no terminal. The
//!   JSON format escapes them by construction; client strings are also clipped where they are
//!   logged ([`clip`]).
//! * **Rate limits.** Every event a client can cause carries a `peer` field (its address).
//!   Such events pass a token bucket per address (per /64 for IPv6) and one for all clients;
//!   what is dropped is counted and reported every `SUMMARY_EVERY` as one warning per address.
//!   One client can then write a few kilobytes a second, and all clients together about 1 MB/s.

use crate::peer::AddrKey;
use config::LogFormat;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::layer::{Context, Layer};

/// Longest field value written in the text format, in characters.
pub(crate) const MAX_FIELD: usize = 1024;
/// Events per second one client address may cause, after a burst of `PER_PEER_BURST`.
const PER_PEER_RATE: f64 = 5.0;
const PER_PEER_BURST: f64 = 20.0;
/// Events per second all clients together may cause.
const ALL_PEERS_RATE: f64 = 2000.0;
const ALL_PEERS_BURST: f64 = 4000.0;
const SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// Client addresses tracked at once.
const MAX_PEERS: usize = 10_000;

/// `s` cut to at most `max` characters, marked when cut. For client-supplied strings in logs.
pub(crate) fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((at, _)) => Cow::Owned(format!(
            "{}…[{} more bytes]",
            s.get(..at).unwrap_or(""),
            s.len() - at
        )),
    }
}

/// Append `s` with control characters escaped, cut at `MAX_FIELD` characters.
fn push_escaped(out: &mut String, s: &str) {
    for (n, c) in s.chars().enumerate() {
        if n == MAX_FIELD {
            let _ = write!(out, "…[cut]");
            return;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// Field formatting for the text format: like the default (`message k=v k=v`), escaped.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EscapingFields;

struct EscapingVisitor {
    out: String,
}

impl EscapingVisitor {
    fn field(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if !self.out.is_empty() {
                self.out.push(' ');
            }
            push_escaped(&mut self.out, value);
        } else {
            if !self.out.is_empty() {
                self.out.push(' ');
            }
            self.out.push_str(field.name());
            self.out.push('=');
            push_escaped(&mut self.out, value);
        }
    }
}

impl Visit for EscapingVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let s = format!("{value:?}");
        self.field(field, &s);
    }
}

impl<'w> FormatFields<'w> for EscapingFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = EscapingVisitor { out: String::new() };
        fields.record(&mut v);
        writer.write_str(&v.out)
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Peer {
    bucket: Bucket,
    last_ip: IpAddr,
    suppressed: u64,
}

#[derive(Debug)]
struct LimiterState {
    peers: HashMap<AddrKey, Peer>,
    all: Bucket,
    suppressed_all: u64,
}

/// The per-address and global budgets for client-caused events.
#[derive(Debug)]
pub(crate) struct Limiter {
    state: Mutex<LimiterState>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            state: Mutex::new(LimiterState {
                peers: HashMap::new(),
                all: Bucket::full(ALL_PEERS_BURST, Instant::now()),
                suppressed_all: 0,
            }),
        }
    }
}

impl Limiter {
    /// Whether one more event caused by `ip` may be written now.
    pub(crate) fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = AddrKey::of(ip);
        if !st.peers.contains_key(&key) && st.peers.len() >= MAX_PEERS {
            st.peers.retain(|_, p| p.suppressed > 0);
            if st.peers.len() >= MAX_PEERS {
                st.suppressed_all += 1;
                return false;
            }
        }
        let peer = st.peers.entry(key).or_insert(Peer {
            bucket: Bucket::full(PER_PEER_BURST, now),
            last_ip: ip,
            suppressed: 0,
        });
        peer.last_ip = ip;
        if !peer.bucket.take(PER_PEER_RATE, PER_PEER_BURST, now) {
            peer.suppressed += 1;
            return false;
        }
        if !st.all.take(ALL_PEERS_RATE, ALL_PEERS_BURST, now) {
            st.suppressed_all += 1;
            return false;
        }
        true
    }

    /// What was suppressed since the last call, per address (and beyond any address's
    /// budget), resetting the counts. Idle addresses are forgotten.
    pub(crate) fn take_suppressed(&self) -> (Vec<(IpAddr, u64)>, u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for p in st.peers.values_mut() {
            if p.suppressed > 0 {
                out.push((p.last_ip, p.suppressed));
                p.suppressed = 0;
            }
        }
        let now = Instant::now();
        st.peers
            .retain(|_, p| now.saturating_duration_since(p.bucket.at) < Duration::from_secs(60));
        let all = std::mem::take(&mut st.suppressed_all);
        (out, all)
    }

    fn report(&self) {
        let (peers, all) = self.take_suppressed();
        for (ip, n) in peers {
            tracing::warn!(
                source = %ip,
                suppressed = n,
                "log events caused by this client address were suppressed (rate limit)"
            );
        }
        if all > 0 {
            tracing::warn!(
                suppressed = all,
                "log events caused by clients were suppressed (overall rate limit)"
            );
        }
    }
}

/// The address in a `peer` field: `ip:port`, `ip`, or nothing usable.
fn peer_ip(s: &str) -> Option<IpAddr> {
    s.parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| s.parse::<IpAddr>())
        .ok()
}

struct PeerVisitor(Option<IpAddr>);

impl Visit for PeerVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "peer" {
            self.0 = peer_ip(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "peer" {
            self.0 = peer_ip(format!("{value:?}").trim_matches('"'));
        }
    }
}

/// The layer that drops client-caused events over budget.
pub(crate) struct RateLimit(pub Arc<Limiter>);

impl<S: Subscriber> Layer<S> for RateLimit {
    fn event_enabled(&self, event: &Event<'_>, _cx: Context<'_, S>) -> bool {
        if event.metadata().fields().field("peer").is_none() {
            return true;
        }
        let mut v = PeerVisitor(None);
        event.record(&mut v);
        match v.0 {
            Some(ip) => self.0.allow(ip, Instant::now()),
            None => true,
        }
    }
}

/// Install the process's log on stderr (once; later calls do nothing). `default_filter`
/// applies unless `RUST_LOG` is set.
pub(crate) fn init(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let limiter = Arc::new(Limiter::default());
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(EscapingFields)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(RateLimit(Arc::clone(&limiter)))
        .with(fmt)
        .try_init()
        .is_ok();
    if installed {
        let _ = std::thread::Builder::new()
            .name("log-summary".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(SUMMARY_EVERY);
                    limiter.report();
                }
            });
    }
}

/// The default filter: `info`, without ldap3_proto's own lines (it logs every undecodable
/// message a client sends at error level, with the client's bytes).
pub(crate) const DEFAULT_FILTER: &str = "info,ldap3_proto=off";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_fields_cut() {
        let mut out = String::new();
        push_escaped(
            &mut out,
            "alice\n2026-01-01T00:00:00Z  INFO forged\x1b[31mred\u{85}",
        );
        assert_eq!(
            out,
            "alice\\n2026-01-01T00:00:00Z  INFO forged\\u{1b}[31mred\\u{85}"
        );
        let mut out = String::new();
        push_escaped(&mut out, &"x".repeat(5000));
        assert_eq!(out.chars().count(), MAX_FIELD + "…[cut]".chars().count());
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 3), "abc…[3 more bytes]");
    }

    #[test]
    fn one_address_gets_a_burst_then_its_rate() {
        let l = Limiter::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let allowed = (0..1000).filter(|_| l.allow(a, t0)).count();
        assert_eq!(allowed, PER_PEER_BURST as usize);
        // A second later, the rate's worth more.
        let t1 = t0 + Duration::from_secs(1);
        let allowed = (0..1000).filter(|_| l.allow(a, t1)).count();
        assert_eq!(allowed, PER_PEER_RATE as usize);
        // Another address (and another /64) is unaffected; one /64 shares a budget.
        assert!(l.allow("192.0.2.2".parse().unwrap(), t1));
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let shared = (0..100)
            .filter(|n| l.allow(v6(&format!("2001:db8::{n:x}")), t1))
            .count();
        assert_eq!(shared, PER_PEER_BURST as usize);
        let (peers, _) = l.take_suppressed();
        assert!(peers.iter().any(|(ip, n)| *ip == a && *n == 1975));
        assert!(l.take_suppressed().0.is_empty());
    }

    #[test]
    fn peer_fields_are_read_in_every_spelling() {
        assert_eq!(peer_ip("192.0.2.1:389"), "192.0.2.1".parse().ok());
        assert_eq!(peer_ip("[2001:db8::1]:636"), "2001:db8::1".parse().ok());
        assert_eq!(peer_ip("192.0.2.9"), "192.0.2.9".parse().ok());
        assert_eq!(peer_ip(""), None);
    }
}
