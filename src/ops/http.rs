//! The operations HTTP listener (`server.http_listen`): `GET /metrics` (Prometheus text),
//! `/healthz` (the process answers) and `/readyz` (every tenant served and not stale). Plain
//! HTTP/1.1 on hyper, the HTTP stack the Graph client already brings; keep it on loopback or a
//! management network.

use crate::sync::{Condition, SyncEngine};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A request that has not sent its head within this is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("server.http_listen: cannot listen on {addr}: {source}")]
pub struct HttpError {
    addr: String,
    source: std::io::Error,
}

pub struct HttpHandle {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl HttpHandle {
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Bind `addr` and answer until `shutdown`.
pub async fn start(
    engine: Arc<SyncEngine>,
    addr: &str,
    shutdown: CancellationToken,
) -> Result<HttpHandle, HttpError> {
    let err = |source| HttpError {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    tracing::info!(addr = %local, "metrics and health listening (HTTP)");
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => a,
            };
            let (tcp, _) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("metrics listener accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let engine = Arc::clone(&engine);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let engine = Arc::clone(&engine);
                    async move { Ok::<_, std::convert::Infallible>(answer(&engine, &req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
                if let Err(e) = conn.await {
                    tracing::debug!("metrics connection: {e}");
                }
            });
        }
    });
    Ok(HttpHandle { addr: local, task })
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn answer(engine: &SyncEngine, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            PLAIN,
            "only GET and HEAD\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            refresh_tenant_metrics(engine);
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                super::metrics::encode(),
            )
        }
        "/healthz" => text(StatusCode::OK, PLAIN, "ok\n".into()),
        "/readyz" => {
            let (ready, body) = readiness(engine);
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, PLAIN, body)
        }
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found; try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Ready when every configured tenant has a directory served that is not stale. The body
/// says, per tenant, why not.
pub fn readiness(engine: &SyncEngine) -> (bool, String) {
    let snap = engine.snapshot().load_full();
    let mut ready = true;
    let mut body = String::new();
    for t in &engine.config().tenant {
        let served = snap.tenants.iter().any(|x| x.name == t.name);
        let condition = engine.condition(&t.name);
        let line = match (served, condition) {
            (false, _) => "not served yet (no successful round)".to_string(),
            (true, Condition::Stale) => format!(
                "stale: no successful round for longer than sync.max_staleness ({})",
                config::Dur(t.sync.staleness_limit())
            ),
            (true, c) => c.as_str().to_string(),
        };
        if !served || condition == Condition::Stale {
            ready = false;
        }
        body.push_str(&format!("{}: {line}\n", t.name));
    }
    (ready, body)
}

/// The per-tenant gauges read at scrape time, so staleness shows without a round.
fn refresh_tenant_metrics(engine: &SyncEngine) {
    for t in &engine.config().tenant {
        let h = engine.health(&t.name);
        super::metrics::tenant_state(
            &t.name,
            h.last_success,
            Some(engine.condition(&t.name) == Condition::Stale),
        );
    }
}
