//! The Entra ID v2.0 token endpoint (client credentials by secret or certificate; the password
//! grant lives in `ropc`) and the store of issued access tokens.
//!
//! Tokens are random opaque strings (Graph tokens are opaque to clients,
//! docs/graph-behaviour.md §2); the store remembers each token's app permissions and expiry so
//! Graph routes can authorise and expire them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::ids::random_guid;
use super::state::Shared;
use super::tenant::App;
use model::time::{Clock, SystemClock, iso};

/// The first-party application id of Microsoft Graph; `{appId}/.default` is a valid Graph scope.
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// How long an expired token is still recognised as "expired" (rather than "unknown").
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

pub(crate) enum TokenCheck {
    Valid { permissions: Arc<[String]> },
    Expired,
    Unknown,
}

struct Issued {
    permissions: Arc<[String]>,
    expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, Issued>>,
}

impl TokenStore {
    pub fn issue(&self, permissions: &[String], lifetime: Duration) -> String {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.retain(|_, t| t.expires_at + EXPIRED_MEMORY > now);
        tokens.insert(
            token.clone(),
            Issued {
                permissions: permissions.to_vec().into(),
                expires_at: now + lifetime,
            },
        );
        token
    }

    pub fn check(&self, token: &str) -> TokenCheck {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        match tokens.get(token) {
            None => TokenCheck::Unknown,
            Some(t) if Instant::now() >= t.expires_at => TokenCheck::Expired,
            Some(t) => TokenCheck::Valid {
                permissions: Arc::clone(&t.permissions),
            },
        }
    }
}

/// An Entra (AADSTS) error as the token endpoint returns it (docs/graph-behaviour.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntraError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
    pub suberror: Option<&'static str>,
    /// A JSON string (the `claims` challenge that comes with MFA errors).
    pub claims: Option<&'static str>,
}

impl EntraError {
    pub fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        EntraError {
            status,
            error,
            code,
            description: description.into(),
            suberror: None,
            claims: None,
        }
    }

    pub fn with_suberror(mut self, suberror: &'static str, claims: Option<&'static str>) -> Self {
        self.suberror = Some(suberror);
        self.claims = claims;
        self
    }

    pub fn missing(param: &str) -> Self {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }

    fn render(&self, base_url: &str, trace_id: &str, correlation_id: &str) -> Response {
        // Entra's `timestamp` separates date and time with a space, not `T`.
        let ts = iso(SystemClock.now_unix()).replacen('T', " ", 1);
        let mut body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {ts}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{base_url}/error?code={}", self.code),
        });
        if let Some(obj) = body.as_object_mut() {
            if let Some(sub) = self.suberror {
                obj.insert("suberror".into(), json!(sub));
            }
            if let Some(claims) = self.claims {
                obj.insert("claims".into(), json!(claims));
            }
        }
        entra_response(self.status, body.to_string(), trace_id)
    }
}

fn entra_response(status: StatusCode, body: String, trace_id: &str) -> Response {
    let mut resp = (
        status,
        [
            (CONTENT_TYPE, "application/json; charset=utf-8"),
            (CACHE_CONTROL, "no-store, no-cache"),
            (PRAGMA, "no-cache"),
        ],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(trace_id) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-ms-request-id"), v);
    }
    resp
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1: each part form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn secret_in(list: &[String], given: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    list.iter().any(|s| {
        let s = Sha256::digest(s.as_bytes());
        s.iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    })
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let trace_id = random_guid();
    let correlation_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(super::ids::canonical_guid)
        .unwrap_or_else(random_guid);
    match grant(&shared, &tenant, &headers, &body).await {
        Ok(body) => entra_response(StatusCode::OK, body.to_string(), &trace_id),
        Err(e) => {
            tracing::debug!(code = e.code, error = e.error, "token request refused");
            e.render(&shared.base_url, &trace_id, &correlation_id)
        }
    }
}

async fn grant(
    shared: &Shared,
    tenant_name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, EntraError> {
    let tenant = shared.tenant.read().await;
    if !tenant.is_tenant(tenant_name) {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90_002,
            format!(
                "Tenant '{tenant_name}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    }

    // Entra only reads form bodies; anything else looks like an empty request.
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let mut form: HashMap<String, String> = HashMap::new();
    if is_form {
        for (k, v) in url::form_urlencoded::parse(body) {
            form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());

    let grant_type = param("grant_type").ok_or_else(|| EntraError::missing("grant_type"))?;
    let password = match grant_type {
        "client_credentials" => false,
        "password" => true,
        other => {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70_003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    };

    let basic = basic_credentials(headers);
    let client_id = param("client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| EntraError::missing("client_id"))?;
    let app = tenant.app(&client_id).ok_or_else(|| {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                tenant.display_name()
            ),
        )
    })?;

    if password {
        let secret = param("client_secret").map(str::to_string).or_else(|| {
            basic
                .as_ref()
                .filter(|(id, _)| id.eq_ignore_ascii_case(&client_id))
                .map(|(_, s)| s.clone())
                .filter(|s| !s.is_empty())
        });
        let owned = |name: &str| param(name).map(str::to_string);
        return super::ropc::password_grant(shared, &tenant, app, &owned, secret);
    }

    let scope = param("scope").ok_or_else(|| EntraError::missing("scope"))?;
    let accepted = [
        format!("{}/.default", shared.base_url),
        format!("{GRAPH_APP_ID}/.default"),
    ];
    if !accepted
        .iter()
        .any(|a| a.eq_ignore_ascii_case(scope.trim()))
    {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70_011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        ));
    }

    // A Basic header for another client id carries no usable secret for this one.
    let secret = param("client_secret").map(str::to_string).or_else(|| {
        basic
            .filter(|(id, _)| id.eq_ignore_ascii_case(&client_id))
            .map(|(_, s)| s)
            .filter(|s| !s.is_empty())
    });
    let Some(secret) = secret else {
        if let Some(assertion) = param("client_assertion") {
            if param("client_assertion_type")
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return Err(EntraError::missing("client_assertion_type"));
            }
            let audiences = [
                format!("{}/{tenant_name}/oauth2/v2.0/token", shared.base_url),
                format!("{}/{}/oauth2/v2.0/token", shared.base_url, tenant.tenant_id),
            ];
            let now = u64::try_from(SystemClock.now_unix()).unwrap_or(0);
            return match super::cert::verify_assertion(
                &app.certificates,
                assertion,
                &app.client_id,
                &audiences,
                now,
            ) {
                Ok(()) => Ok(access_token_body(shared, &app.permissions)),
                Err(super::cert::AssertionError::Time) => Err(EntraError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    700_024,
                    "Client assertion is not within its valid time range.",
                )),
                Err(e) => Err(EntraError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    700_027,
                    format!("Client assertion failed signature validation. ({e})"),
                )),
            };
        }
        return Err(EntraError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    check_secret(app, &secret)?;
    Ok(access_token_body(shared, &app.permissions))
}

/// The client-credentials success body.
pub(crate) fn access_token_body(shared: &Shared, permissions: &[String]) -> serde_json::Value {
    let token = shared.tokens.issue(permissions, shared.opts.token_lifetime);
    let secs = shared.opts.token_lifetime.as_secs();
    json!({
        "token_type": "Bearer",
        "expires_in": secs,
        "ext_expires_in": secs,
        "access_token": token,
    })
}

/// A client secret is current (ok), expired (7000222) or anything else (7000215).
pub(crate) fn check_secret(app: &App, secret: &str) -> Result<(), EntraError> {
    if secret_in(&app.secrets, secret) {
        return Ok(());
    }
    if secret_in(&app.expired_secrets, secret) {
        return Err(EntraError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app or consider using certificate credentials for added security.",
                app.client_id
            ),
        ));
    }
    Err(EntraError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7_000_215,
        format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
            app.client_id
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_unknown_tokens_are_unknown() {
        let store = TokenStore::default();
        let live = store.issue(&["User.Read.All".into()], Duration::from_secs(60));
        let dead = store.issue(&[], Duration::ZERO);
        assert!(
            matches!(store.check(&live), TokenCheck::Valid { permissions } if permissions.len() == 1)
        );
        assert!(matches!(store.check(&dead), TokenCheck::Expired));
        assert!(matches!(store.check("nope"), TokenCheck::Unknown));
        assert_ne!(live, dead);
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let raw = STANDARD.encode("my%20id:p%3Ass+word");
        if let Ok(v) = HeaderValue::from_str(&format!("Basic {raw}")) {
            h.insert(AUTHORIZATION, v);
        }
        assert_eq!(
            basic_credentials(&h),
            Some(("my id".to_string(), "p:ss word".to_string()))
        );
    }
}
