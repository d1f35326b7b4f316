//! The control plane under `/_emulator/` (loopback callers only, no auth): tenant mutations,
//! fault injection, request counters and delta-token expiry. Also the Graph-side fault injector
//! and per-path request counting, which run inside the Graph envelope.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::changes::Mutation;
use super::reply::GraphError;
use super::state::Shared;

/// Fault injection for Graph (`/v1.0/...`) requests; every field's default is "off".
/// Counting starts from the first Graph request after the faults are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Every N-th Graph request gets 429 TooManyRequests (0 = never).
    pub throttle_every: u64,
    /// The 429's `Retry-After` (may be fractional, as Graph sends); empty means "0.05".
    pub retry_after: String,
    /// Every M-th Graph request (not already throttled) fails with `fail_status` (0 = never).
    pub fail_every: u64,
    /// 500, 503 or 504; 0 means 503.
    pub fail_status: u16,
    /// Added before every Graph response.
    pub latency_ms: u64,
}

/// Request counters. Graph counters are per route kind; faulted requests are counted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub graph_requests: u64,
    pub users_list: u64,
    pub users_get: u64,
    pub users_delta: u64,
    pub groups_list: u64,
    pub groups_get: u64,
    pub groups_delta: u64,
    pub members: u64,
    pub transitive_members: u64,
    pub domains: u64,
    pub organization: u64,
    pub throttled: u64,
    pub failed: u64,
    /// Every token-endpoint request, whatever the grant.
    pub token_requests: u64,
    /// `grant_type=password` requests, total and per lower-cased username.
    pub password_grants: u64,
    pub password_grants_by_user: BTreeMap<String, u64>,
}

/// Counts a Graph request by its path shape.
pub(crate) fn count_graph(stats: &mut Stats, path: &str) {
    let Some(rest) = path.strip_prefix("/v1.0/") else {
        return;
    };
    stats.graph_requests += 1;
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        ["users"] => stats.users_list += 1,
        ["users", "delta"] => stats.users_delta += 1,
        ["users", _] => stats.users_get += 1,
        ["groups"] => stats.groups_list += 1,
        ["groups", "delta"] => stats.groups_delta += 1,
        ["groups", _] => stats.groups_get += 1,
        ["groups", _, "members"] => stats.members += 1,
        ["groups", _, "transitiveMembers"] => stats.transitive_members += 1,
        ["domains", ..] => stats.domains += 1,
        ["organization", ..] => stats.organization += 1,
        _ => {}
    }
}

/// The fault (if any) for this Graph request, after the configured latency.
pub(crate) async fn inject(shared: &Shared) -> Option<Response> {
    let f = shared.faults();
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    if f.throttle_every == 0 && f.fail_every == 0 {
        return None;
    }
    let n = shared.fault_counter.fetch_add(1, Ordering::SeqCst) + 1;
    if f.throttle_every > 0 && n.is_multiple_of(f.throttle_every) {
        shared.count(|s| s.throttled += 1);
        let retry_after = if f.retry_after.is_empty() {
            "0.05".to_string()
        } else {
            f.retry_after.clone()
        };
        let mut resp = GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Please retry again later.",
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&retry_after) {
            resp.headers_mut()
                .insert(HeaderName::from_static("retry-after"), v);
        }
        resp.headers_mut().insert(
            HeaderName::from_static("x-ms-throttle-information"),
            HeaderValue::from_static("ResourceUnitLimitExceeded"),
        );
        return Some(resp);
    }
    if f.fail_every > 0 && n.is_multiple_of(f.fail_every) {
        shared.count(|s| s.failed += 1);
        let (status, code, message) = match f.fail_status {
            500 => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "UnknownError",
                "An unknown error occurred.",
            ),
            504 => (
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                "The gateway did not receive a response in time.",
            ),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            ),
        };
        return Some(GraphError::new(status, code, message).into_response());
    }
    None
}

fn forbidden_unless_loopback(peer: SocketAddr) -> Option<Response> {
    (!peer.ip().is_loopback()).then(|| {
        (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "the emulator control plane only answers loopback callers"})),
        )
            .into_response()
    })
}

/// `POST /_emulator/mutate` with a [`Mutation`] as JSON → `{"id","seq"}` or 400 `{"error"}`.
pub(crate) async fn mutate(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(m): Json<Mutation>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(peer) {
        return r;
    }
    let outcome = shared.tenant.write().await.apply(m);
    match outcome {
        Ok(o) => Json(o).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `GET /_emulator/faults` / `PUT /_emulator/faults` ([`Faults`] JSON).
pub(crate) async fn get_faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    forbidden_unless_loopback(peer).unwrap_or_else(|| Json(shared.faults()).into_response())
}

pub(crate) async fn put_faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(f): Json<Faults>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(peer) {
        return r;
    }
    shared.set_faults(f);
    Json(shared.faults()).into_response()
}

/// `GET /_emulator/stats` ([`Stats`]); `DELETE /_emulator/stats` resets them.
pub(crate) async fn get_stats(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    forbidden_unless_loopback(peer).unwrap_or_else(|| Json(shared.stats()).into_response())
}

pub(crate) async fn reset_stats(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(peer) {
        return r;
    }
    shared.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_emulator/delta/expire`: every delta token issued so far becomes expired.
pub(crate) async fn expire_delta(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(peer) {
        return r;
    }
    shared.expire_delta_tokens();
    StatusCode::NO_CONTENT.into_response()
}
