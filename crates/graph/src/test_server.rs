//! A scripted HTTP protocol double for the Graph client's tests: each path answers with a queue of
//! canned replies (the last one repeats) and every request is recorded. It exists for edge cases
//! the full emulator cannot produce on demand (exact 429/401 sequences, paging loops, foreign
//! nextLinks); it knows nothing about Graph semantics.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Token endpoint path for tenant id `tenant-1`.
pub(crate) const TOKEN_PATH: &str = "/tenant-1/oauth2/v2.0/token";

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `{base}` is replaced by the server's base URL, so nextLinks can point back at it.
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/html".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    /// A successful token response with this token value.
    pub fn token(value: &str, expires_in: serde_json::Value) -> Reply {
        Reply::json(
            200,
            serde_json::json!({"token_type":"Bearer","expires_in":expires_in,"ext_expires_in":3599,"access_token":value}),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub headers: HashMap<String, String>,
    pub body: String,
}

#[derive(Default)]
struct Shared {
    base: String,
    routes: Mutex<HashMap<String, VecDeque<Reply>>>,
    log: Mutex<Vec<Recorded>>,
    tokens_issued: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub(crate) struct TestServer {
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test server");
        let addr = listener.local_addr().expect("local addr");
        let base = format!("http://{addr}");
        let shared = Arc::new(Shared {
            base: base.clone(),
            ..Shared::default()
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { base, shared, task }
    }

    /// Replies for `path`, in order; the last one repeats.
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        self.shared
            .routes
            .lock()
            .expect("routes")
            .insert(path.into(), replies.into());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().expect("log").clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = respond(&shared, req).await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn respond(shared: &Shared, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let path = parts.uri.path().to_owned();
    shared.log.lock().expect("log").push(Recorded {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        authorization: headers.get("authorization").cloned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let scripted = {
        let mut routes = shared.routes.lock().expect("routes");
        routes.get_mut(&path).and_then(|q| {
            if q.len() > 1 {
                q.pop_front()
            } else {
                q.front().cloned()
            }
        })
    };
    let reply = match scripted {
        Some(r) => r,
        // Unscripted token requests succeed with a fresh token each time, so tests about
        // Graph behaviour need not script the token endpoint.
        None if path == TOKEN_PATH => {
            let n = shared.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::token(&format!("tok-{n}"), serde_json::json!(3599))
        }
        None => Reply::json(
            404,
            serde_json::json!({"error":{"code":"Request_ResourceNotFound","message":format!("no script for {path}")}}),
        ),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in &reply.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            builder = builder.header(k, v);
        }
    }
    builder
        .body(Body::from(reply.body.replace("{base}", &shared.base)))
        .unwrap_or_default()
}
