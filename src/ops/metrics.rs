//! The process's Prometheus metrics (`/metrics`): one registry, filled where things happen
//! (binds in `auth/audit.rs`, operations and connections in `ldap/`, rounds through the sync
//! engine's observer) and read from the Graph client's counters at each scrape.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{LazyLock, Mutex};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Tenant {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantOutcome {
    tenant: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodOutcome {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpResult {
    op: &'static str,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Listener {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetOutcome {
    target: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: &'static str,
}

struct Metrics {
    registry: Registry,
    rounds: Family<TenantOutcome, Counter>,
    round_seconds: Family<Tenant, Histogram>,
    last_success: Family<Tenant, Gauge>,
    stale: Family<Tenant, Gauge>,
    binds: Family<MethodOutcome, Counter>,
    operations: Family<OpResult, Counter>,
    operation_seconds: Family<Op, Histogram>,
    connections: Family<Listener, Gauge>,
    graph_requests: Family<Status, Counter>,
    graph_throttled: Counter,
    graph_retries: Counter,
    notifications: Family<TargetOutcome, Counter>,
    /// Serialises copying the Graph client's counters in, so two scrapes cannot add twice.
    graph_copy: Mutex<()>,
}

fn operation_histogram() -> Histogram {
    // 100 µs to ~1.6 s: a base lookup is well under a millisecond, a large listing seconds.
    Histogram::new(exponential_buckets(0.0001, 4.0, 8))
}

fn round_histogram() -> Histogram {
    // 50 ms to ~14 min: a delta round of a small tenant to a full read of a large one.
    Histogram::new(exponential_buckets(0.05, 3.0, 10))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut r = Registry::default();
    let rounds = Family::<TenantOutcome, Counter>::default();
    r.register(
        "o365_ldap_sync_rounds",
        "Sync rounds finished, by tenant and outcome (ok, failed, refused, dry_run)",
        rounds.clone(),
    );
    let round_seconds = Family::<Tenant, Histogram>::new_with_constructor(round_histogram);
    r.register(
        "o365_ldap_sync_round_duration_seconds",
        "Duration of sync rounds (dry runs included)",
        round_seconds.clone(),
    );
    let last_success = Family::<Tenant, Gauge>::default();
    r.register(
        "o365_ldap_sync_last_success_timestamp_seconds",
        "Unix time the last successful sync round of the tenant ended",
        last_success.clone(),
    );
    let stale = Family::<Tenant, Gauge>::default();
    r.register(
        "o365_ldap_tenant_stale",
        "1 when the tenant has had no successful round for longer than sync.max_staleness",
        stale.clone(),
    );
    let binds = Family::<MethodOutcome, Counter>::default();
    r.register(
        "o365_ldap_binds",
        "LDAP binds, by method (anonymous, service, entra, local, cache, none) and outcome",
        binds.clone(),
    );
    let operations = Family::<OpResult, Counter>::default();
    r.register(
        "o365_ldap_operations",
        "LDAP operations answered, by operation and LDAP result code",
        operations.clone(),
    );
    let operation_seconds = Family::<Op, Histogram>::new_with_constructor(operation_histogram);
    r.register(
        "o365_ldap_operation_duration_seconds",
        "Time from a decoded request to its response being ready, by operation",
        operation_seconds.clone(),
    );
    let connections = Family::<Listener, Gauge>::default();
    r.register(
        "o365_ldap_connections",
        "Open LDAP client connections, by listener (ldap, ldaps)",
        connections.clone(),
    );
    let graph_requests = Family::<Status, Counter>::default();
    r.register(
        "o365_ldap_graph_requests",
        "HTTP requests to Microsoft Graph and the login endpoint, by status class (2xx, 4xx, 429, 5xx, transport_error)",
        graph_requests.clone(),
    );
    let graph_throttled = Counter::default();
    r.register(
        "o365_ldap_graph_throttled",
        "Graph or login answers of 429 Too Many Requests",
        graph_throttled.clone(),
    );
    let graph_retries = Counter::default();
    r.register(
        "o365_ldap_graph_retries",
        "Graph or login requests retried after throttling, a transient status or a transport failure",
        graph_retries.clone(),
    );
    let notifications = Family::<TargetOutcome, Counter>::default();
    r.register(
        "o365_ldap_notifications",
        "Notifications sent, by target (webhook, email) and outcome (sent, failed)",
        notifications.clone(),
    );
    Metrics {
        registry: r,
        rounds,
        round_seconds,
        last_success,
        stale,
        binds,
        operations,
        operation_seconds,
        connections,
        graph_requests,
        graph_throttled,
        graph_retries,
        notifications,
        graph_copy: Mutex::new(()),
    }
});

/// A finished sync round.
pub fn round(tenant: &str, outcome: &'static str, seconds: f64) {
    let m = &*METRICS;
    m.rounds
        .get_or_create(&TenantOutcome {
            tenant: tenant.to_string(),
            outcome,
        })
        .inc();
    m.round_seconds
        .get_or_create(&Tenant {
            tenant: tenant.to_string(),
        })
        .observe(seconds);
}

/// The tenant's last successful round ended at `last_success`; whether it is stale now, when
/// known (the staleness watch and each scrape know; a round's observer does not).
pub fn tenant_state(tenant: &str, last_success: Option<i64>, stale: Option<bool>) {
    let m = &*METRICS;
    let key = Tenant {
        tenant: tenant.to_string(),
    };
    if let Some(t) = last_success {
        m.last_success.get_or_create(&key).set(t);
    }
    if let Some(stale) = stale {
        m.stale.get_or_create(&key).set(i64::from(stale));
    }
}

pub fn bind(method: &'static str, outcome: &'static str) {
    METRICS
        .binds
        .get_or_create(&MethodOutcome { method, outcome })
        .inc();
}

/// An answered LDAP operation: its name, result code and time taken.
pub fn operation(op: &'static str, result: String, seconds: f64) {
    let m = &*METRICS;
    m.operations.get_or_create(&OpResult { op, result }).inc();
    m.operation_seconds
        .get_or_create(&Op { op })
        .observe(seconds);
}

/// Counts one open connection on `listener` until dropped.
pub struct ConnectionGuard(&'static str);

pub fn connection(listener: &'static str) -> ConnectionGuard {
    METRICS
        .connections
        .get_or_create(&Listener { listener })
        .inc();
    ConnectionGuard(listener)
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        METRICS
            .connections
            .get_or_create(&Listener { listener: self.0 })
            .dec();
    }
}

/// A notification to `target` (`webhook`, `email`) was sent or finally failed.
pub fn notification(target: &'static str, sent: bool) {
    METRICS
        .notifications
        .get_or_create(&TargetOutcome {
            target,
            outcome: if sent { "sent" } else { "failed" },
        })
        .inc();
}

/// Raise `c` to `v` (counters only go up; the source counts since the process started).
fn raise(c: &Counter, v: u64) {
    let now = c.get();
    if v > now {
        c.inc_by(v - now);
    }
}

/// The registry in Prometheus text format.
pub fn encode() -> String {
    let m = &*METRICS;
    {
        let _one = m.graph_copy.lock().unwrap_or_else(|p| p.into_inner());
        let g = graph::stats::snapshot();
        for (status, v) in [
            ("2xx", g.ok),
            ("4xx", g.client_error),
            ("429", g.throttled),
            ("5xx", g.server_error),
            ("transport_error", g.transport_error),
        ] {
            raise(&m.graph_requests.get_or_create(&Status { status }), v);
        }
        raise(&m.graph_throttled, g.throttled);
        raise(&m.graph_retries, g.retries);
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &m.registry) {
        tracing::warn!("encoding the metrics failed: {e}");
    }
    out
}
