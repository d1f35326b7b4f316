//! Errors of the Graph client: token-endpoint failures, Graph API errors, transport and paging faults.
//!
//! Errors keep the fields callers branch on (`error_codes`, Graph `code`, HTTP status) and render a
//! message that says what to fix. They never carry secrets or tokens: only client ids, URL paths,
//! codes and the server's own descriptions.

use serde_json::Value;
use std::fmt;

/// The longest server-provided text (message, description, non-JSON body) an error keeps, so an
/// HTML error page from a gateway does not flood the log.
const MAX_TEXT: usize = 300;

/// The body of a token-endpoint error (docs/graph-behaviour.md §4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenErrorBody {
    /// OAuth error, e.g. `invalid_client`; empty when the body was not the documented JSON.
    pub error: String,
    /// Full description (`AADSTS…: text\r\nTrace ID: …`), or a snippet of a non-JSON body.
    pub error_description: String,
    /// AADSTS numbers. Branch on these, never on text.
    pub error_codes: Vec<u64>,
    pub suberror: Option<String>,
    /// A JSON string (Conditional Access claims challenge), kept opaque.
    pub claims: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub timestamp: Option<String>,
}

impl TokenErrorBody {
    /// Parse a token-endpoint error body. Anything that is not the documented JSON object is kept as
    /// a short snippet in `error_description` with an empty `error`.
    pub fn parse(body: &[u8]) -> TokenErrorBody {
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
            return TokenErrorBody {
                error_description: snippet(&String::from_utf8_lossy(body)),
                ..TokenErrorBody::default()
            };
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        // Codes are numbers in every observed response; strings are tolerated in case a proxy or
        // an older endpoint quotes them.
        let error_codes = match obj.get("error_codes") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        TokenErrorBody {
            error: text("error").unwrap_or_default(),
            error_description: text("error_description").unwrap_or_default(),
            error_codes,
            suberror: text("suberror"),
            claims: text("claims"),
            trace_id: text("trace_id"),
            correlation_id: text("correlation_id"),
            timestamp: text("timestamp"),
        }
    }

    /// The code to branch on (docs/graph-behaviour.md §4: `error_codes[0]`).
    pub fn primary_code(&self) -> Option<u64> {
        self.error_codes.first().copied()
    }

    pub fn has_code(&self, code: u64) -> bool {
        self.error_codes.contains(&code)
    }

    /// The first line of the description without its `AADSTSnnn: ` prefix, since the codes are
    /// shown separately and the following lines are trace/correlation ids and a timestamp.
    pub fn summary(&self) -> String {
        let first = self.error_description.lines().next().unwrap_or("").trim();
        let stripped = match first.strip_prefix("AADSTS") {
            Some(rest) => rest
                .split_once(':')
                .filter(|(num, _)| num.chars().all(|c| c.is_ascii_digit()))
                .map_or(first, |(_, text)| text.trim()),
            None => first,
        };
        snippet(stripped)
    }

    /// What to do about it, for the codes an operator can act on. The older format lists several
    /// codes (`[70002, 50126]`), so the first code with a hint wins.
    pub fn hint(&self) -> Option<&'static str> {
        self.error_codes.iter().find_map(|c| token_hint(*c))
    }

    /// Whether retrying later may succeed: `temporarily_unavailable` or 90033
    /// (docs/graph-behaviour.md §4).
    pub fn is_transient(&self) -> bool {
        self.error.eq_ignore_ascii_case("temporarily_unavailable") || self.has_code(90033)
    }
}

fn token_hint(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => "wrong client secret: use the secret's Value, not its ID",
        7000222 => "the client secret has expired: create a new one in the app registration",
        7000218 => "no client secret or assertion was sent for a confidential client",
        7000112 => "the application is disabled in this tenant",
        700016 => {
            "application not found in this tenant: check client_id and tenant_id, and that the app is consented in the tenant"
        }
        90002 => "tenant not found: check tenant_id and that login_url is the right cloud",
        70011 => "invalid scope: graph_url must belong to the same cloud as login_url",
        700027 | 50012 | 700030 => {
            "the client assertion was rejected: check the certificate registered on the application"
        }
        65001 => "consent missing: grant admin consent for the application's permissions",
        50126 => "invalid username or password",
        50034 => "the user does not exist in this tenant",
        50076 | 50079 => {
            "multifactor authentication is required, which the password grant cannot do"
        }
        53003 => "blocked by Conditional Access",
        50053 => "the account is locked (smart lockout) or the source address is flagged",
        50057 => "the account is disabled",
        50055 => "the password has expired",
        50144 => "the on-premises password has expired",
        50056 => "the account has no password",
        _ => return None,
    })
}

/// A failed request to the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// The application (client) id used; not a secret.
    pub client_id: String,
    pub status: u16,
    pub body: TokenErrorBody,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token request for client {} failed:", self.client_id)?;
        for (i, c) in self.body.error_codes.iter().enumerate() {
            write!(f, "{}AADSTS{c}", if i == 0 { " " } else { ", " })?;
        }
        if !self.body.error.is_empty() {
            write!(f, " {}", self.body.error)?;
        }
        if let Some(s) = &self.body.suberror {
            write!(f, "/{s}")?;
        }
        match self.body.hint() {
            Some(h) => write!(f, " ({h})")?,
            None => {
                let summary = self.body.summary();
                if !summary.is_empty() {
                    write!(f, ": {summary}")?;
                }
            }
        }
        write!(f, "; HTTP {}", self.status)?;
        if let Some(t) = &self.body.trace_id {
            write!(f, ", trace ID {t}")?;
        }
        Ok(())
    }
}

/// An error response from a Graph API call (docs/graph-behaviour.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// Graph error code, e.g. `Authorization_RequestDenied`; may be empty.
    pub code: String,
    pub message: String,
    /// From the `request-id` header, else from `innerError`.
    pub request_id: Option<String>,
    /// URL path of the failed request (no host, no query), e.g. `/v1.0/users`.
    pub path: String,
    /// `Location` header; a 410 on a delta link carries the URL to restart from.
    pub location: Option<String>,
}

impl ApiError {
    /// Build from a response. `request_id_header` wins over the body's `innerError.request-id`.
    pub fn from_response(
        status: u16,
        path: &str,
        body: &[u8],
        request_id_header: Option<&str>,
        location: Option<&str>,
    ) -> ApiError {
        let parsed = GraphErrorBody::parse(body);
        ApiError {
            status,
            code: parsed.code,
            message: parsed.message,
            request_id: request_id_header.map(str::to_owned).or(parsed.request_id),
            path: path.to_owned(),
            location: location.map(str::to_owned),
        }
    }

    fn hint(&self) -> Option<String> {
        let code = self.code.as_str();
        if self.status == 403 || code.eq_ignore_ascii_case("Authorization_RequestDenied") {
            return Some(format!(
                "grant the application permission {} and admin consent",
                permission_for_path(&self.path)
            ));
        }
        if self.status == 401 {
            return Some(
                "the token was rejected even after a refresh: check that graph_url and login_url are the same cloud"
                    .into(),
            );
        }
        if is_sync_state_code(code) || self.status == 410 {
            return Some("the delta link is no longer valid: a full sync is needed".into());
        }
        if self.status == 501 {
            return Some("a selected property cannot be returned in a collection".into());
        }
        None
    }
}

/// Least-privileged application permission for a Graph path (docs/graph-behaviour.md §6).
fn permission_for_path(path: &str) -> &'static str {
    let p = path.to_ascii_lowercase();
    let resource = p
        .trim_start_matches('/')
        .split('/')
        .find(|s| !s.is_empty() && *s != "v1.0" && *s != "beta")
        .unwrap_or("");
    match resource {
        "users" => "User.Read.All",
        "groups" => "GroupMember.Read.All",
        "domains" => "Domain.Read.All",
        "organization" => "Organization.Read.All",
        _ => "Directory.Read.All",
    }
}

fn is_sync_state_code(code: &str) -> bool {
    code.eq_ignore_ascii_case("syncStateNotFound") || code.eq_ignore_ascii_case("resyncRequired")
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        write!(f, " on {}", self.path)?;
        if let Some(h) = self.hint() {
            write!(f, ": {h}")?;
        }
        let mut extra = Vec::new();
        if !self.message.is_empty() {
            extra.push(self.message.clone());
        }
        if let Some(r) = &self.request_id {
            extra.push(format!("request-id {r}"));
        }
        if !extra.is_empty() {
            write!(f, " ({})", extra.join("; "))?;
        }
        Ok(())
    }
}

/// The fields of a Graph error body the client keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl GraphErrorBody {
    /// Graph sends `innerError`, the OData spec says `innererror`: keys are matched
    /// case-insensitively. A non-JSON body (a gateway's HTML page) becomes a short message.
    pub fn parse(body: &[u8]) -> GraphErrorBody {
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                return GraphErrorBody {
                    message: snippet(&String::from_utf8_lossy(body)),
                    ..GraphErrorBody::default()
                };
            }
        };
        let Some(err) = get_ci(&value, "error") else {
            return GraphErrorBody::default();
        };
        let text = |v: &Value, k: &str| get_ci(v, k).and_then(Value::as_str).map(str::to_owned);
        let inner = get_ci(err, "innerError");
        GraphErrorBody {
            code: text(err, "code").unwrap_or_default(),
            message: snippet(&text(err, "message").unwrap_or_default()),
            request_id: inner.and_then(|i| text(i, "request-id")),
        }
    }
}

fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// One line, at most `MAX_TEXT` characters.
fn snippet(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Everything the Graph client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A configuration value the client cannot use; `key` names it (e.g. `tenant.graph_url`).
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    /// The token endpoint refused one credential.
    #[error("{0}")]
    Token(Box<TokenError>),
    /// Several credentials were configured and none yielded a token; one error per credential, in order.
    #[error("no credential of tenant {tenant} yielded a token: {}", join_numbered(.errors))]
    AllCredentialsFailed {
        tenant: String,
        errors: Vec<GraphError>,
    },
    /// Graph answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request never got a complete response (connection, TLS, timeout).
    #[error("{what}: {detail}")]
    Transport {
        what: String,
        detail: String,
        timeout: bool,
    },
    /// A success response whose body is not what Graph sends.
    #[error("{what}: unexpected response: {detail}")]
    Decode { what: String, detail: String },
    /// A nextLink that must not be followed (other host, loop, too many pages).
    #[error("paging {what}: {detail}")]
    Paging { what: String, detail: String },
}

fn join_numbered(errors: &[GraphError]) -> String {
    errors
        .iter()
        .enumerate()
        .map(|(i, e)| format!("[credential {i}] {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl GraphError {
    /// HTTP status of a Graph or token-endpoint error response.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Api(e) => Some(e.status),
            GraphError::Token(e) => Some(e.status),
            _ => None,
        }
    }

    /// The Graph error `code` (API errors only).
    pub fn graph_code(&self) -> Option<&str> {
        match self {
            GraphError::Api(e) => Some(e.code.as_str()),
            _ => None,
        }
    }

    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GraphError::Api(e) => Some(e),
            _ => None,
        }
    }

    pub fn token(&self) -> Option<&TokenError> {
        match self {
            GraphError::Token(e) => Some(e),
            _ => None,
        }
    }

    /// Whether a later attempt (the next sync round) may succeed without a config change.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Transport { .. } => true,
            GraphError::Api(e) => matches!(e.status, 429 | 500 | 502 | 503 | 504),
            GraphError::Token(e) => e.status == 429 || e.status >= 500 || e.body.is_transient(),
            GraphError::AllCredentialsFailed { errors, .. } => {
                errors.iter().any(GraphError::is_transient)
            }
            GraphError::Config { .. } | GraphError::Decode { .. } | GraphError::Paging { .. } => {
                false
            }
        }
    }

    /// A delta link Graph no longer accepts (docs/graph-behaviour.md §8: 400
    /// `syncStateNotFound`/`resyncRequired`, or 410 Gone): throw the link away and run a full
    /// round.
    pub fn is_sync_state_invalid(&self) -> bool {
        match self {
            GraphError::Api(e) => e.status == 410 || is_sync_state_code(&e.code),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_error_documented_example() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.\r\nTrace ID: 0a1b\r\nCorrelation ID: 2c3d\r\nTimestamp: 2019-04-30 09:46:18Z",
 "error_codes":[50126],"timestamp":"2019-04-30 09:46:18Z","trace_id":"0a1b","correlation_id":"2c3d",
 "error_uri":"https://login.microsoftonline.com/error?code=50126"}"#;
        let e = TokenErrorBody::parse(body);
        assert_eq!(e.error, "invalid_grant");
        assert_eq!(e.error_codes, vec![50126]);
        assert_eq!(e.primary_code(), Some(50126));
        assert_eq!(e.timestamp.as_deref(), Some("2019-04-30 09:46:18Z"));
        assert_eq!(e.trace_id.as_deref(), Some("0a1b"));
        assert_eq!(e.correlation_id.as_deref(), Some("2c3d"));
        assert_eq!(
            e.summary(),
            "Error validating credentials due to invalid username or password."
        );
        assert_eq!(e.hint(), Some("invalid username or password"));
        assert!(!e.is_transient());
    }

    #[test]
    fn token_error_older_format_with_two_codes() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS70002: Error validating credentials. AADSTS50126: Invalid username or password","error_codes":[70002,50126],"timestamp":"2017-01-01 00:00:00Z"}"#;
        let e = TokenErrorBody::parse(body);
        assert_eq!(e.error_codes, vec![70002, 50126]);
        assert_eq!(e.primary_code(), Some(70002));
        assert!(e.has_code(50126));
        // 70002 has no hint of its own; the later, specific code supplies it.
        assert_eq!(e.hint(), Some("invalid username or password"));
        let shown = TokenError {
            client_id: "0c1e5d2a-0000-4000-8000-000000000001".into(),
            status: 400,
            body: e,
        }
        .to_string();
        assert!(
            shown.contains("AADSTS70002, AADSTS50126 invalid_grant"),
            "{shown}"
        );
    }

    #[test]
    fn token_error_mfa_with_suberror_and_claims() {
        let body = br#"{"error":"interaction_required","error_description":"AADSTS50079: Due to a configuration change made by your administrator...","error_codes":[50079],"suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true}}}"}"#;
        let e = TokenErrorBody::parse(body);
        assert_eq!(e.suberror.as_deref(), Some("basic_action"));
        assert!(e.claims.as_deref().is_some_and(|c| c.contains("capolids")));
        assert_eq!(e.primary_code(), Some(50079));
    }

    #[test]
    fn token_error_display_bad_secret() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: t-1","error_codes":[7000215],"trace_id":"t-1"}"#;
        let e = TokenError {
            client_id: "0c1e5d2a-0000-4000-8000-000000000001".into(),
            status: 401,
            body: TokenErrorBody::parse(body),
        };
        assert_eq!(
            e.to_string(),
            "token request for client 0c1e5d2a-0000-4000-8000-000000000001 failed: AADSTS7000215 invalid_client \
(wrong client secret: use the secret's Value, not its ID); HTTP 401, trace ID t-1"
        );
    }

    #[test]
    fn token_error_unknown_code_shows_description_and_transient_flags() {
        let body = br#"{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred. Please try again.","error_codes":[90033]}"#;
        let e = TokenErrorBody::parse(body);
        assert!(e.is_transient());
        let shown = TokenError {
            client_id: "c".into(),
            status: 400,
            body: e,
        }
        .to_string();
        assert!(
            shown.contains("AADSTS90033 temporarily_unavailable: A transient error has occurred."),
            "{shown}"
        );
    }

    #[test]
    fn token_error_non_json_body_and_string_codes() {
        let e = TokenErrorBody::parse(b"<html><body>Service\n Unavailable</body></html>");
        assert_eq!(e.error, "");
        assert!(e.error_codes.is_empty());
        assert_eq!(
            e.error_description,
            "<html><body>Service Unavailable</body></html>"
        );
        let e = TokenErrorBody::parse(br#"{"error":"invalid_client","error_codes":["7000222"]}"#);
        assert_eq!(e.error_codes, vec![7000222]);
        assert!(e.hint().is_some_and(|h| h.contains("expired")));
    }

    #[test]
    fn graph_error_inner_error_camel_case() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.",
 "innerError":{"date":"2025-02-13T10:17:06","request-id":"93b6aa00-1111","client-request-id":"e70c"}}}"#;
        let p = GraphErrorBody::parse(body);
        assert_eq!(p.code, "Authorization_RequestDenied");
        assert_eq!(
            p.message,
            "Insufficient privileges to complete the operation."
        );
        assert_eq!(p.request_id.as_deref(), Some("93b6aa00-1111"));
    }

    #[test]
    fn graph_error_inner_error_lower_case_and_empty_code() {
        let body = br#"{"error":{"code":"","message":"Something odd.","innererror":{"request-id":"r-2"}}}"#;
        let p = GraphErrorBody::parse(body);
        assert_eq!(p.code, "");
        assert_eq!(p.message, "Something odd.");
        assert_eq!(p.request_id.as_deref(), Some("r-2"));
        let e = ApiError::from_response(500, "/v1.0/users", body, None, None);
        assert_eq!(
            e.to_string(),
            "Graph 500 on /v1.0/users (Something odd.; request-id r-2)"
        );
    }

    #[test]
    fn graph_error_html_body_is_truncated_to_one_line() {
        let html = format!("<html>\n<body>{}</body></html>", "x".repeat(5000));
        let p = GraphErrorBody::parse(html.as_bytes());
        assert_eq!(p.code, "");
        assert!(p.message.chars().count() <= MAX_TEXT + 1);
        assert!(!p.message.contains('\n'));
    }

    #[test]
    fn api_error_display_names_permission() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"body-id"}}}"#;
        let e = ApiError::from_response(403, "/v1.0/users", body, Some("hdr-id"), None);
        assert_eq!(e.request_id.as_deref(), Some("hdr-id"));
        assert_eq!(
            e.to_string(),
            "Graph 403 Authorization_RequestDenied on /v1.0/users: grant the application permission User.Read.All \
and admin consent (Insufficient privileges to complete the operation.; request-id hdr-id)"
        );
        let e = ApiError::from_response(403, "/v1.0/groups/abc/members", body, None, None);
        assert!(e.to_string().contains("GroupMember.Read.All"));
        let e = ApiError::from_response(403, "/v1.0/domains", body, None, None);
        assert!(e.to_string().contains("Domain.Read.All"));
    }

    #[test]
    fn sync_state_errors_are_recognised() {
        let body = br#"{"error":{"code":"syncStateNotFound","message":"The sync state generation is not found."}}"#;
        let e = GraphError::Api(Box::new(ApiError::from_response(
            400,
            "/v1.0/users/delta",
            body,
            None,
            None,
        )));
        assert!(e.is_sync_state_invalid());
        assert!(!e.is_transient());
        assert_eq!(e.graph_code(), Some("syncStateNotFound"));
        let gone = GraphError::Api(Box::new(ApiError::from_response(
            410,
            "/v1.0/users/delta",
            b"",
            None,
            Some("https://graph.microsoft.com/v1.0/users/delta?$deltaToken="),
        )));
        assert!(gone.is_sync_state_invalid());
        let denied = GraphError::Api(Box::new(ApiError::from_response(
            403,
            "/v1.0/users",
            b"{}",
            None,
            None,
        )));
        assert!(!denied.is_sync_state_invalid());
    }
}
