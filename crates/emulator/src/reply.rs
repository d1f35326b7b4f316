//! Graph's HTTP envelope: success bodies with OData headers, the error JSON shape with
//! `innerError`, and the middleware that stamps `request-id` & co. on every `/v1.0` response.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ids::random_guid;
use super::state::Shared;
use model::time::{Clock, SystemClock, iso};

/// Exactly what Graph sends for OData JSON (docs/graph-behaviour.md §5).
pub(crate) const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A Graph error. Rendered into its final shape (with `innerError`) by [`graph_envelope`], which
/// knows the request ids; handlers and extractors just return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn not_found(id: &str) -> GraphError {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub fn unsupported_query(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    /// The generic OData-layer 400 (as opposed to the directory's `Request_BadRequest`).
    pub fn odata_bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// A skiptoken the service did not issue. Graph answers with an empty `code` here [O].
    pub fn invalid_skiptoken() -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "", "Invalid Skip Token")
    }

    pub fn denied() -> GraphError {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub fn unauthenticated(message: &str) -> GraphError {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// Selecting a single-object-only property on a collection (docs/graph-behaviour.md §7).
    pub fn not_implemented() -> GraphError {
        GraphError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "This operation target is not yet supported.",
        )
    }

    pub fn segment_not_found(segment: &str) -> GraphError {
        GraphError::odata_bad_request(format!("Resource not found for the segment '{segment}'."))
    }

    pub fn method_not_allowed() -> GraphError {
        GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    fn body(&self, inner: Option<Value>) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(inner), Some(obj)) = (inner, error.as_object_mut()) {
            obj.insert("innerError".into(), inner);
        }
        json!({ "error": error })
    }

    fn render(&self, ids: &RequestIds, base_url: &str) -> Response {
        let inner = json!({
            // Graph's `innerError.date` carries no zone designator.
            "date": iso(SystemClock.now_unix()).trim_end_matches('Z'),
            "request-id": ids.request_id,
            "client-request-id": ids.client_request_id,
        });
        let mut resp = (
            self.status,
            [(CONTENT_TYPE, "application/json")],
            self.body(Some(inner)).to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // The challenge Graph sends (docs/graph-behaviour.md §5), pointing at our own login
            // host.
            let challenge = format!(
                "Bearer realm=\"\", authorization_uri=\"{base_url}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            [(CONTENT_TYPE, "application/json")],
            self.body(None).to_string(),
        )
            .into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// A successful Graph JSON body and its throttling cost (`x-ms-resource-unit`,
/// docs/graph-behaviour.md §10).
pub(crate) struct GraphJson {
    pub body: Value,
    pub resource_units: u32,
}

impl IntoResponse for GraphJson {
    fn into_response(self) -> Response {
        let mut resp = (
            StatusCode::OK,
            [
                (CONTENT_TYPE, ODATA_JSON),
                (HeaderName::from_static("odata-version"), "4.0"),
            ],
            self.body.to_string(),
        )
            .into_response();
        resp.headers_mut().insert(
            HeaderName::from_static("x-ms-resource-unit"),
            HeaderValue::from(self.resource_units),
        );
        resp
    }
}

#[derive(Debug, Clone)]
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

/// Stamps Graph's correlation headers on every response and gives errors their `innerError`.
pub(crate) async fn graph_envelope(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let request_id = random_guid();
    // Graph echoes the caller's client-request-id, or reuses the request id when none is sent.
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let ids = RequestIds {
        request_id,
        client_request_id,
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();

    let mut resp = if path.starts_with("/v1.0/") {
        shared.count(|s| super::control::count_graph(s, &path));
        match super::control::inject(&shared).await {
            Some(fault) => fault,
            None => next.run(req).await,
        }
    } else {
        if path.ends_with("/oauth2/v2.0/token") {
            shared.count(|s| s.token_requests += 1);
        }
        next.run(req).await
    };
    if let Some(err) = resp.extensions_mut().remove::<GraphError>() {
        // Keep headers the handler or injector set on purpose (410's Location, 429's Retry-After).
        let keep: Vec<_> = ["location", "retry-after", "x-ms-throttle-information"]
            .iter()
            .filter_map(|h| {
                resp.headers()
                    .get(*h)
                    .map(|v| (HeaderName::from_static(h), v.clone()))
            })
            .collect();
        resp = err.render(&ids, &shared.base_url);
        for (name, value) in keep {
            resp.headers_mut().insert(name, value);
        }
    }
    tracing::debug!(%method, %path, status = resp.status().as_u16(), request_id = %ids.request_id, "graph emulator");
    let headers = resp.headers_mut();
    for (name, value) in [
        ("request-id", ids.request_id.as_str()),
        ("client-request-id", ids.client_request_id.as_str()),
        (
            "x-ms-ags-diagnostic",
            r#"{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"EMULATOR"}}"#,
        ),
        ("cache-control", "no-cache"),
    ] {
        // Keep what a handler set itself (the token endpoint's `no-store, no-cache`).
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.entry(HeaderName::from_static(name)).or_insert(v);
        }
    }
    resp
}
