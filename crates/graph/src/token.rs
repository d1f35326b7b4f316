//! App-only access tokens (the client-credentials grant, with a client secret or a certificate
//! assertion): credentials tried in order, one cached token per client renewed ahead of expiry,
//! single-flight refresh.
//!
//! Why the grant requests are not made with the `oauth2` crate. It was weighed for the three
//! grants (client credentials and client assertion here, the password grant in `ropc.rs`) and
//! left out because it would make this code worse, not shorter:
//! - Retries. `retry::send_with_retry` retries 429 and 5xx answers after their `Retry-After`,
//!   and a certificate credential signs a fresh assertion for every attempt (its `jti` must not
//!   be replayed and a long wait can bring it near expiry). `oauth2` builds the request body
//!   itself and hides the response headers behind its error type, so the retry loop would
//!   have to wrap the whole exchange and lose `Retry-After`, or sit inside its HTTP client and
//!   resend a stale assertion.
//! - Status codes. `ropc::classify` decides on the HTTP status as well as Entra's body (401
//!   `invalid_client`, 429 and 5xx mean "unavailable", never "wrong password"); `oauth2`'s
//!   `ServerResponse` error keeps only the parsed body.
//! - Secrets in errors. A response that does not parse becomes `RequestTokenError::Parse`,
//!   which carries the raw body: on a 200 that body holds the token, and every error path
//!   here must be made never to quote it. The legacy endpoint also sends `expires_in` as a
//!   string, which `oauth2`'s standard token response does not accept (see `lifetime`).
//! - Little left to share. `oauth2` has no client-assertion authentication: the assertion
//!   would go in as "extra params", and a client secret must be sent in the body rather than
//!   its default Basic header to keep the requests as they are. What remains for it is a
//!   four-field form, for the price of a second request layer and new dependencies (`http`,
//!   `chrono`, `serde_path_to_error`, ...).
//!
//! So the forms are built here and posted with the one HTTP client builder (`http.rs`: reqwest
//! with rustls, no redirects, timeouts); Entra's error responses are parsed by
//! `TokenErrorBody` (`error.rs`) and mapped by `ropc::classify` and `GraphError::Token`.

use super::certificate::CertificateKey;
use super::error::{GraphError, TokenError, TokenErrorBody};
use super::options::{CredentialSource, CredentialSpec};
use super::retry::{RetryPolicy, send_with_retry};
use model::Secret;
use model::time::{Clock, SystemClock};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use url::Url;

/// How a client proves its identity to the token endpoint; each variant only decides the form
/// fields.
#[derive(Clone)]
pub enum Credential {
    ClientSecret {
        client_id: String,
        secret: Secret,
    },
    /// A client-assertion JWT signed with the certificate's key (see `certificate.rs`).
    Certificate {
        client_id: String,
        cert: Arc<CertificateKey>,
    },
}

impl Credential {
    pub fn client_secret(client_id: impl Into<String>, secret: Secret) -> Credential {
        Credential::ClientSecret {
            client_id: client_id.into(),
            secret,
        }
    }

    pub fn certificate(client_id: impl Into<String>, cert: CertificateKey) -> Credential {
        Credential::Certificate {
            client_id: client_id.into(),
            cert: Arc::new(cert),
        }
    }

    /// Load credential number `index` of a tenant (the number names it in errors). A certificate
    /// credential reads its two files here, so a renewed certificate is picked up when the client
    /// is rebuilt.
    pub fn load(index: usize, spec: &CredentialSpec) -> Result<Credential, GraphError> {
        let client_id = spec.client_id.trim();
        if client_id.is_empty() {
            return Err(GraphError::Config {
                key: format!("tenant.credential[{index}].client_id"),
                message: "is empty; set the application (client) id of the app registration".into(),
            });
        }
        match &spec.source {
            CredentialSource::CertificateFiles { cert, key } => CertificateKey::load(cert, key)
                .map(|c| Credential::certificate(client_id, c))
                .map_err(|e| GraphError::Config {
                    key: format!("tenant.credential[{index}].{}", e.config_key()),
                    message: e.to_string(),
                }),
            CredentialSource::Incomplete => Err(GraphError::Config {
                key: format!("tenant.credential[{index}]"),
                message:
                    "a certificate credential needs both certificate_file and private_key_file"
                        .into(),
            }),
            CredentialSource::Secret(Some(secret)) if !secret.expose().is_empty() => {
                Ok(Credential::client_secret(client_id, secret.clone()))
            }
            CredentialSource::Secret(_) => Err(GraphError::Config {
                key: format!("tenant.credential[{index}]"),
                message: "no client secret was loaded; set client_secret_file or client_secret_env"
                    .into(),
            }),
        }
    }

    pub fn client_id(&self) -> &str {
        match self {
            Credential::ClientSecret { client_id, .. }
            | Credential::Certificate { client_id, .. } => client_id,
        }
    }

    /// `client_secret` or `certificate`.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret { .. } => "client_secret",
            Credential::Certificate { .. } => "certificate",
        }
    }

    /// A name for logs, history and `ctl verify`: the client id and the kind, never the secret.
    /// A certificate is identified by its SHA-1 thumbprint, as the Entra portal lists it.
    pub fn label(&self) -> String {
        match self {
            Credential::ClientSecret { client_id, .. } => {
                format!("client {client_id} (client secret)")
            }
            Credential::Certificate { client_id, cert } => {
                format!("client {client_id} (certificate {})", cert.thumbprint_hex())
            }
        }
    }

    /// The form fields that authenticate the client. `token_url` is the assertion's audience.
    fn auth_fields(
        &self,
        token_url: &Url,
        clock: &dyn Clock,
    ) -> Result<Vec<(&'static str, String)>, GraphError> {
        match self {
            Credential::ClientSecret { client_id, secret } => Ok(vec![
                ("client_id", client_id.clone()),
                ("client_secret", secret.expose().to_owned()),
            ]),
            Credential::Certificate { client_id, cert } => {
                let assertion = cert
                    .client_assertion(client_id, token_url.as_str(), clock.now())
                    .map_err(|e| GraphError::Config {
                        key: format!("certificate of client {client_id}"),
                        message: e.to_string(),
                    })?;
                Ok(vec![
                    ("client_id", client_id.clone()),
                    ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()),
                    ("client_assertion", assertion),
                ])
            }
        }
    }
}

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ClientSecret { client_id, .. } => f
                .debug_struct("ClientSecret")
                .field("client_id", client_id)
                .field("secret", &"<redacted>")
                .finish(),
            Credential::Certificate { client_id, cert } => f
                .debug_struct("Certificate")
                .field("client_id", client_id)
                .field("cert", cert)
                .finish(),
        }
    }
}

/// A bearer token. `Debug` never shows the value.
#[derive(Clone)]
pub struct AccessToken {
    value: Secret,
    /// Distinguishes tokens so a 401 invalidates only the token that was rejected, not a newer one
    /// another task already fetched.
    generation: u64,
}

impl AccessToken {
    pub fn expose(&self) -> &str {
        self.value.expose()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(<redacted>, generation {})", self.generation)
    }
}

struct Cached {
    token: AccessToken,
    renew_at: Instant,
}

/// Token response fields the client uses. `expires_in` is a number on v2.0 and a string on the
/// legacy endpoint; both are accepted.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Lifetime assumed when the response has no usable `expires_in`: short, so a token that lives
/// less than usual is still renewed in time.
const FALLBACK_LIFETIME: Duration = Duration::from_secs(600);
/// Renew this long before expiry, or at half-life for short-lived tokens: Entra tokens live
/// about an hour, and one renewed five minutes early is never used after it expires.
const RENEW_MARGIN: Duration = Duration::from_secs(300);

fn lifetime(v: Option<&serde_json::Value>) -> Duration {
    let secs = match v {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s.min(7.0 * 86_400.0)),
        _ => FALLBACK_LIFETIME,
    }
}

fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(RENEW_MARGIN.min(lifetime / 2))
}

/// Fetches and caches app-only tokens for one tenant.
pub struct TokenSource {
    http: reqwest::Client,
    token_url: Url,
    scope: String,
    tenant: String,
    credentials: Vec<Credential>,
    policy: RetryPolicy,
    /// Held across the fetch, so concurrent callers wait for one request instead of each
    /// sending their own.
    cache: tokio::sync::Mutex<Option<Cached>>,
    used: AtomicUsize,
    generation: AtomicU64,
    clock: Arc<dyn Clock>,
}

const NONE_USED: usize = usize::MAX;

impl TokenSource {
    /// Read the time for certificate assertions and `Retry-After` dates from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> TokenSource {
        self.clock = clock;
        self
    }

    /// `login_url` and `graph_url` must already be validated. `tenant` is the display name used in
    /// errors and logs.
    pub fn new(
        http: reqwest::Client,
        login_url: &Url,
        tenant_id: &str,
        graph_url: &Url,
        tenant: &str,
        credentials: Vec<Credential>,
        policy: RetryPolicy,
    ) -> Result<TokenSource, GraphError> {
        if credentials.is_empty() {
            return Err(GraphError::Config {
                key: "tenant.credential".into(),
                message: format!(
                    "tenant {tenant} has no [[tenant.credential]]; add client_id and client_secret_file"
                ),
            });
        }
        let tid = tenant_id.trim();
        if tid.is_empty()
            || tid.contains(['/', '?', '#', '\\'])
            || tid.chars().any(char::is_whitespace)
        {
            return Err(GraphError::Config {
                key: "tenant.tenant_id".into(),
                message: "must be the tenant GUID or a verified domain name".into(),
            });
        }
        let mut token_url = login_url.clone();
        token_url
            .path_segments_mut()
            .map_err(|()| GraphError::Config {
                key: "tenant.login_url".into(),
                message: "cannot be used as a base URL".into(),
            })?
            .pop_if_empty()
            .extend([tid, "oauth2", "v2.0", "token"]);
        let root = graph_url.as_str().trim_end_matches('/');
        Ok(TokenSource {
            http,
            token_url,
            scope: format!("{root}/.default"),
            tenant: tenant.to_owned(),
            credentials,
            policy,
            cache: tokio::sync::Mutex::new(None),
            used: AtomicUsize::new(NONE_USED),
            generation: AtomicU64::new(0),
            clock: Arc::new(SystemClock),
        })
    }

    /// Index (in config order) of the credential that produced the current token.
    pub fn credential_used(&self) -> Option<usize> {
        match self.used.load(Ordering::Relaxed) {
            NONE_USED => None,
            i => Some(i),
        }
    }

    /// The label ([`Credential::label`]) of credential `index`, e.g. for the history to say which
    /// one [`TokenSource::credential_used`] was.
    pub fn credential_label(&self, index: usize) -> Option<String> {
        self.credentials.get(index).map(Credential::label)
    }

    /// The `scope` requested: `{graph_url}/.default`, so a national cloud's Graph root yields that
    /// cloud's scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// A valid token, from cache or freshly fetched.
    pub async fn token(&self) -> Result<AccessToken, GraphError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let (token, renew_at) = self.fetch().await?;
        *cache = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        Ok(token)
    }

    /// Forget `rejected` (Graph answered 401 with it). A newer token already cached by another
    /// task is kept.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.generation == rejected.generation)
        {
            *cache = None;
        }
    }

    /// Try each credential in order; the first token wins. Starting from the first every time lets
    /// the primary credential take over again once it is fixed.
    async fn fetch(&self) -> Result<(AccessToken, Instant), GraphError> {
        let mut errors = Vec::new();
        for (i, cred) in self.credentials.iter().enumerate() {
            match self.fetch_one(cred).await {
                Ok((value, life)) => {
                    let previous = self.used.swap(i, Ordering::Relaxed);
                    if previous != i && i > 0 {
                        tracing::warn!(
                            tenant = %self.tenant,
                            credential = i,
                            client_id = cred.client_id(),
                            "using a backup credential; the earlier ones failed"
                        );
                    }
                    let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::debug!(
                        tenant = %self.tenant,
                        credential = i,
                        lifetime_s = life.as_secs(),
                        "access token acquired"
                    );
                    return Ok((
                        AccessToken { value, generation },
                        Instant::now() + renew_after(life),
                    ));
                }
                Err(e) => {
                    tracing::warn!(
                        tenant = %self.tenant,
                        credential = i,
                        error = %e,
                        "token request failed"
                    );
                    errors.push(e);
                }
            }
        }
        if errors.len() == 1
            && let Some(e) = errors.pop()
        {
            return Err(e);
        }
        Err(GraphError::AllCredentialsFailed {
            tenant: self.tenant.clone(),
            errors,
        })
    }

    async fn fetch_one(&self, cred: &Credential) -> Result<(Secret, Duration), GraphError> {
        let what = format!(
            "token request for client {} to {}",
            cred.client_id(),
            self.token_url.origin().ascii_serialization()
        );
        let common = [
            ("scope", self.scope.clone()),
            ("grant_type", "client_credentials".to_owned()),
        ];
        let mut form = cred.auth_fields(&self.token_url, &*self.clock)?;
        form.extend(common.iter().cloned());
        let resp = send_with_retry(&self.policy, &*self.clock, &what, |attempt| {
            // A retried request gets a fresh assertion: its `jti` must not be replayed, and the
            // first one may be near expiry after long Retry-After waits. Signing cannot fail
            // where it just succeeded, so falling back to the first form is only a formality.
            if attempt > 1
                && matches!(cred, Credential::Certificate { .. })
                && let Ok(mut fresh) = cred.auth_fields(&self.token_url, &*self.clock)
            {
                fresh.extend(common.iter().cloned());
                return self.http.post(self.token_url.clone()).form(&fresh);
            }
            self.http.post(self.token_url.clone()).form(&form)
        })
        .await?;
        if !resp.status.is_success() {
            return Err(GraphError::Token(Box::new(TokenError {
                client_id: cred.client_id().to_owned(),
                status: resp.status.as_u16(),
                body: TokenErrorBody::parse(&resp.body),
            })));
        }
        // The body holds the token: a parse error must not quote it.
        let parsed: TokenResponse =
            serde_json::from_slice(&resp.body).map_err(|e| GraphError::Decode {
                what: what.clone(),
                detail: format!(
                    "not a token response (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })?;
        if parsed.access_token.is_empty() {
            return Err(GraphError::Decode {
                what,
                detail: "empty access_token".into(),
            });
        }
        Ok((
            Secret::new(parsed.access_token),
            lifetime(parsed.expires_in.as_ref()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lifetime_accepts_number_and_string() {
        assert_eq!(lifetime(Some(&json!(3599))), Duration::from_secs(3599));
        assert_eq!(lifetime(Some(&json!("3599"))), Duration::from_secs(3599));
        assert_eq!(lifetime(Some(&json!(" 4000 "))), Duration::from_secs(4000));
        assert_eq!(lifetime(None), FALLBACK_LIFETIME);
        assert_eq!(lifetime(Some(&json!("soon"))), FALLBACK_LIFETIME);
        assert_eq!(lifetime(Some(&json!(-5))), FALLBACK_LIFETIME);
    }

    #[test]
    fn renewal_leaves_five_minutes_or_half_the_lifetime() {
        assert_eq!(
            renew_after(Duration::from_secs(3599)),
            Duration::from_secs(3299)
        );
        assert_eq!(
            renew_after(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn credential_debug_hides_the_secret() {
        let c = Credential::client_secret("app-1", Secret::new("s3cr3t~value"));
        let shown = format!("{c:?}");
        assert!(shown.contains("app-1"));
        assert!(!shown.contains("s3cr3t"));
    }

    fn source(graph: &str, login: &str, creds: Vec<Credential>) -> TokenSource {
        TokenSource::new(
            reqwest::Client::new(),
            &Url::parse(login).unwrap(),
            "contoso.onmicrosoft.us",
            &Url::parse(graph).unwrap(),
            "contoso",
            creds,
            RetryPolicy::fast(),
        )
        .unwrap()
    }

    #[test]
    fn national_cloud_scope_and_authority_come_from_graph_url_and_login_url() {
        let s = source(
            "https://graph.microsoft.us",
            "https://login.microsoftonline.us",
            vec![Credential::client_secret("app-1", Secret::new("v"))],
        );
        assert_eq!(s.scope(), "https://graph.microsoft.us/.default");
        assert_eq!(
            s.token_url().as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.us/oauth2/v2.0/token"
        );
        let s = source(
            "https://dod-graph.microsoft.us/",
            "https://login.microsoftonline.us/",
            vec![Credential::client_secret("app-1", Secret::new("v"))],
        );
        assert_eq!(s.scope(), "https://dod-graph.microsoft.us/.default");
    }

    #[test]
    fn a_certificate_credential_sends_an_assertion_for_the_token_url_and_no_secret() {
        let cert = CertificateKey::from_pem(
            include_bytes!("../../../tests/fixtures/certs/app.crt"),
            include_bytes!("../../../tests/fixtures/certs/app.key"),
            "app.crt",
            "app.key",
        )
        .unwrap();
        let cred = Credential::certificate("app-2", cert);
        let s = source(
            "https://microsoftgraph.chinacloudapi.cn",
            "https://login.chinacloudapi.cn",
            vec![
                Credential::client_secret("app-1", Secret::new("v")),
                cred.clone(),
            ],
        );
        assert_eq!(
            s.credential_label(0).as_deref(),
            Some("client app-1 (client secret)")
        );
        let label = s.credential_label(1).unwrap();
        assert!(label.starts_with("client app-2 (certificate "), "{label}");
        assert_eq!(s.credential_label(2), None);
        assert!(!format!("{cred:?}").contains("PRIVATE"));

        let fields = cred.auth_fields(s.token_url(), &SystemClock).unwrap();
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("client_id"), Some("app-2"));
        assert_eq!(get("client_secret"), None);
        assert_eq!(
            get("client_assertion_type"),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        let jwt = get("client_assertion").unwrap();
        let claims = jwt.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["aud"], s.token_url().as_str());
        assert_eq!(claims["iss"], "app-2");
    }

    #[test]
    fn credential_load_requires_a_secret() {
        let mut spec = CredentialSpec {
            client_id: "11111111-1111-1111-1111-111111111111".into(),
            source: CredentialSource::Secret(None),
        };
        let e = Credential::load(1, &spec).map(|_| ()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("tenant.credential[1]: no client secret"),
            "{e}"
        );
        spec.source = CredentialSource::Secret(Some(Secret::new("v")));
        let c = Credential::load(1, &spec).unwrap();
        assert_eq!(c.client_id(), "11111111-1111-1111-1111-111111111111");
    }
}
