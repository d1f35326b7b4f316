//! The bind audit log: one structured event per bind on the `o365_ldap::audit` tracing target
//! (never a password), and process-wide counters per method and outcome for `ctl status`.

use model::time::Clock;
use std::sync::atomic::{AtomicU64, Ordering};

/// How the credentials were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Anonymous,
    Service,
    Entra,
    Local,
    Cache,
    /// Refused before any method applied (unknown name, throttled, user binds disabled...).
    None,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Anonymous,
        Method::Service,
        Method::Entra,
        Method::Local,
        Method::Cache,
        Method::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Anonymous => "anonymous",
            Method::Service => "service",
            Method::Entra => "entra",
            Method::Local => "local",
            Method::Cache => "cache",
            Method::None => "none",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    /// Wrong credentials or any refusal of the bind.
    Failure,
    /// Refused by the throttle without a password check.
    Throttled,
    /// Entra unreachable or misconfigured: the bind could not be decided.
    Unavailable,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Throttled => "throttled",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// One bind, as the audit log records it.
#[derive(Debug, Clone)]
pub(crate) struct BindEvent<'a> {
    pub peer: Option<std::net::SocketAddr>,
    /// The name the client sent (DN, UPN or mail).
    pub bind_name: &'a str,
    /// The entry it resolved to, if any.
    pub dn: Option<&'a str>,
    pub method: Method,
    pub outcome: Outcome,
    /// Why, in words safe to log (the LDAP diagnostic message for failures).
    pub reason: &'a str,
    /// The throttle's rule that answered without a password check (`account`,
    /// `account_unfamiliar`, `address`, `repeat`), or empty.
    pub limit: &'a str,
    pub tls: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodCounters {
    pub ok: u64,
    pub failed: u64,
    pub throttled: u64,
    pub unavailable: u64,
}

/// Binds since the process started, per method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditCounters {
    pub anonymous: MethodCounters,
    pub service: MethodCounters,
    pub entra: MethodCounters,
    pub local: MethodCounters,
    pub cache: MethodCounters,
    pub none: MethodCounters,
}

impl AuditCounters {
    pub fn get(&self, m: Method) -> MethodCounters {
        match m {
            Method::Anonymous => self.anonymous,
            Method::Service => self.service,
            Method::Entra => self.entra,
            Method::Local => self.local,
            Method::Cache => self.cache,
            Method::None => self.none,
        }
    }

    /// One line per method with any bind, e.g. `entra: ok 3, failed 1, throttled 0, unavailable 0`.
    pub fn lines(&self) -> Vec<String> {
        Method::ALL
            .iter()
            .filter_map(|m| {
                let c = self.get(*m);
                (c != MethodCounters::default()).then(|| {
                    format!(
                        "{}: ok {}, failed {}, throttled {}, unavailable {}",
                        m.as_str(),
                        c.ok,
                        c.failed,
                        c.throttled,
                        c.unavailable
                    )
                })
            })
            .collect()
    }
}

const N_METHODS: usize = Method::ALL.len();
const N_OUTCOMES: usize = 4;

static COUNTS: [[AtomicU64; N_OUTCOMES]; N_METHODS] =
    [const { [const { AtomicU64::new(0) }; N_OUTCOMES] }; N_METHODS];

fn outcome_index(o: Outcome) -> usize {
    match o {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Throttled => 2,
        Outcome::Unavailable => 3,
    }
}

/// Write the audit event and count it.
pub(crate) fn record(ev: &BindEvent<'_>) {
    if let Some(row) = COUNTS.get(ev.method.index())
        && let Some(cell) = row.get(outcome_index(ev.outcome))
    {
        cell.fetch_add(1, Ordering::Relaxed);
    }
    crate::ops::metrics::bind(ev.method.as_str(), ev.outcome.as_str());
    let peer = ev.peer.map(|p| p.to_string()).unwrap_or_default();
    tracing::info!(
        target: "o365_ldap::audit",
        event = "bind",
        time = %humantime::format_rfc3339_millis(model::time::SystemClock.now()),
        peer = %peer,
        bind_name = %crate::logging::clip(ev.bind_name, 256),
        dn = ev.dn.unwrap_or(""),
        method = ev.method.as_str(),
        outcome = ev.outcome.as_str(),
        reason = %ev.reason,
        limit = ev.limit,
        tls = ev.tls,
    );
}

/// Counters since the process started, for `ctl status`.
pub fn counters() -> AuditCounters {
    let read = |m: Method| {
        let row = COUNTS.get(m.index());
        let at = |i: usize| {
            row.and_then(|r| r.get(i))
                .map(|c| c.load(Ordering::Relaxed))
                .unwrap_or(0)
        };
        MethodCounters {
            ok: at(0),
            failed: at(1),
            throttled: at(2),
            unavailable: at(3),
        }
    };
    AuditCounters {
        anonymous: read(Method::Anonymous),
        service: read(Method::Service),
        entra: read(Method::Entra),
        local: read(Method::Local),
        cache: read(Method::Cache),
        none: read(Method::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_count_per_method_and_outcome() {
        let before = counters();
        let ev = BindEvent {
            peer: "192.0.2.7:40000".parse().ok(),
            bind_name: "alice@contoso.com",
            dn: Some("uid=alice,ou=people,dc=contoso,dc=com"),
            method: Method::Local,
            outcome: Outcome::Throttled,
            reason: "too many failed binds; try again later",
            limit: "account",
            tls: true,
        };
        record(&ev);
        record(&BindEvent {
            outcome: Outcome::Success,
            ..ev.clone()
        });
        let after = counters();
        assert!(after.local.throttled > before.local.throttled);
        assert!(after.local.ok > before.local.ok);
        assert!(after.lines().iter().any(|l| l.starts_with("local: ok ")));
    }
}
