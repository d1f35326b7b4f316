//! The resource-owner password grant (docs/graph-behaviour.md §3) that checks a user's
//! Microsoft 365 password, and the mapping of every documented token-endpoint error to an LDAP
//! answer (docs/graph-behaviour.md §4). The password is sent once, never trimmed, logged or kept.

use super::TokenErrorBody;
use super::http::{self, HttpOptions};
use model::Secret;
use std::time::Duration;

/// Where and as whom the password grant is made for one tenant.
#[derive(Debug, Clone)]
pub struct GrantTarget {
    pub token_url: String,
    pub client_id: String,
    pub secret: Option<Secret>,
    pub scope: String,
}

/// What Entra said about a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A token was issued: the password is right and the sign-in is allowed.
    Valid,
    /// The bind must fail with invalidCredentials (49); the message is safe to show the client.
    Rejected { code: Option<u64>, message: String },
    /// The server's own configuration is wrong (app not found, missing consent, bad secret...):
    /// no user can bind until the admin fixes it.
    Misconfigured { code: Option<u64>, message: String },
    /// Entra could not answer (unreachable, timeout, 5xx, `temporarily_unavailable`): the bind
    /// gets `unavailable` (52), never success.
    Unavailable(String),
}

/// Map a token-endpoint error response to a verdict (docs/graph-behaviour.md §4).
pub fn classify(status: u16, body: &TokenErrorBody) -> Verdict {
    if status >= 500 || status == 429 || body.is_transient() {
        return Verdict::Unavailable(format!(
            "Microsoft Entra is unavailable (HTTP {status}{}); try again later",
            body.primary_code()
                .map(|c| format!(", AADSTS{c}"))
                .unwrap_or_default()
        ));
    }
    let code = body.primary_code();
    // The older format lists several codes (`[70002, 50126]`): branch on the first one we know.
    let known = body
        .error_codes
        .iter()
        .copied()
        .find(|c| message_for(*c).is_some());
    match known.and_then(|c| message_for(c).map(|m| (c, m))) {
        Some((c, Msg::User(m))) => Verdict::Rejected {
            code: Some(c),
            message: m.to_owned(),
        },
        Some((c, Msg::Config(m))) => Verdict::Misconfigured {
            code: Some(c),
            message: format!("user binds are misconfigured (AADSTS{c}): {m}"),
        },
        None if status == 401 || body.error.eq_ignore_ascii_case("invalid_client") => {
            Verdict::Misconfigured {
                code,
                message: format!(
                    "user binds are misconfigured: Entra refused the client ({}): {}",
                    body.error,
                    body.summary()
                ),
            }
        }
        None => Verdict::Rejected {
            code,
            message: "invalid credentials".into(),
        },
    }
}

enum Msg {
    User(&'static str),
    Config(&'static str),
}

const MFA: &str = "invalid credentials: Microsoft Entra requires MFA for this account (AADSTS50076/50079), \
which an LDAP bind cannot satisfy; exclude this app from MFA via Conditional Access or use local \
passwords (auth.user_bind = \"local\")";

const CONDITIONAL_ACCESS: &str = "invalid credentials: the sign-in was blocked by Conditional Access \
(AADSTS53003); exclude this app registration from the policy or allow this server's address as a \
trusted location, or use local passwords (auth.user_bind = \"local\")";

fn message_for(code: u64) -> Option<Msg> {
    Some(match code {
        50126 | 50034 | 50056 | 70002 => Msg::User("invalid credentials"),
        50053 => Msg::User(
            "invalid credentials: the account is locked in Microsoft Entra (AADSTS50053, smart \
             lockout or a flagged source address); wait, or have an administrator unlock it",
        ),
        50057 => Msg::User(
            "invalid credentials: the account is disabled in Microsoft Entra (AADSTS50057)",
        ),
        50055 => Msg::User(
            "invalid credentials: the password has expired (AADSTS50055); change it by signing \
             in to Microsoft 365",
        ),
        50144 => Msg::User(
            "invalid credentials: the on-premises password has expired (AADSTS50144); change it \
             on the corporate network",
        ),
        50076 | 50079 => Msg::User(MFA),
        53003 => Msg::User(CONDITIONAL_ACCESS),
        70043 => Msg::User(
            "invalid credentials: Conditional Access sign-in frequency requires a fresh \
             interactive sign-in (AADSTS70043)",
        ),
        65001 => Msg::Config(
            "consent missing: grant admin consent for User.Read and openid on the app used for \
             the password grant",
        ),
        7000218 => Msg::Config(
            "the app is confidential but no secret was sent: enable \"Allow public client \
             flows\" on it, or set tenant.password_grant_client_id to a public client",
        ),
        700025 => Msg::Config(
            "the app is a public client but a secret was sent: set \
             tenant.password_grant_client_id to it so no secret is sent",
        ),
        7000215 => Msg::Config("wrong client secret: use the secret's Value, not its ID"),
        7000222 => Msg::Config("the client secret has expired"),
        700016 => Msg::Config("the application was not found in this tenant"),
        7000112 => Msg::Config("the application is disabled in this tenant"),
        90002 => Msg::Config("tenant not found: check tenant_id and login_url"),
        70011 => Msg::Config("invalid scope: graph_url must belong to the same cloud as login_url"),
        _ => return None,
    })
}

/// Makes password-grant requests. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct EntraClient {
    /// Why no client could be built, if so: every check then answers `Unavailable`, rather
    /// than falling back to a client that follows redirects and never times out.
    http: Result<reqwest::Client, String>,
}

impl EntraClient {
    pub fn new(timeout: Duration) -> EntraClient {
        EntraClient::with_roots(timeout, Vec::new())
    }

    /// `new`, also trusting the CA certificates in `extra_roots` (PEM files).
    pub fn with_roots(timeout: Duration, extra_roots: Vec<std::path::PathBuf>) -> EntraClient {
        let http = http::client(&HttpOptions {
            timeout: Some(timeout),
            connect_timeout: timeout.min(Duration::from_secs(10)),
            loopback_only: false,
            extra_roots,
        })
        .map_err(|e| e.to_string());
        EntraClient { http }
    }

    /// Ask Entra whether `password` is `username`'s. `username` must be the UPN.
    pub async fn check(&self, target: &GrantTarget, username: &str, password: &str) -> Verdict {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &target.client_id),
            ("scope", &target.scope),
            ("username", username),
            ("password", password),
            ("grant_type", "password"),
        ];
        if let Some(s) = &target.secret {
            form.push(("client_secret", s.expose()));
        }
        let http = match &self.http {
            Ok(h) => h,
            Err(why) => {
                return Verdict::Unavailable(format!(
                    "no HTTP client for Microsoft Entra ({why}); try again later"
                ));
            }
        };
        let resp = match http.post(&target.token_url).form(&form).send().await {
            Ok(r) => r,
            Err(e) => {
                super::stats::transport_error();
                // reqwest errors carry the URL, never the body, so they are safe to show.
                let why = if e.is_timeout() {
                    "no answer in time".to_owned()
                } else {
                    e.without_url().to_string()
                };
                return Verdict::Unavailable(format!(
                    "Microsoft Entra is unreachable ({why}); try again later"
                ));
            }
        };
        let status = resp.status().as_u16();
        super::stats::answered(status);
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Verdict::Unavailable(format!(
                    "Microsoft Entra answer was cut short ({}); try again later",
                    e.without_url()
                ));
            }
        };
        if (200..300).contains(&status) {
            // Issuance alone proves the password; the tokens are dropped with `body`.
            return Verdict::Valid;
        }
        classify(status, &TokenErrorBody::parse(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: &str, codes: &[u64], suberror: Option<&str>) -> TokenErrorBody {
        let json = serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{}: something.\r\nTrace ID: x", codes.first().copied().unwrap_or(0)),
            "error_codes": codes,
            "suberror": suberror,
            "timestamp": "2019-04-30 09:46:18Z",
        });
        TokenErrorBody::parse(json.to_string().as_bytes())
    }

    fn rejected(v: &Verdict) -> &str {
        match v {
            Verdict::Rejected { message, .. } => message,
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_are_plain_invalid_credentials() {
        for codes in [&[50126][..], &[50034], &[50056], &[70002, 50126]] {
            let v = classify(400, &body("invalid_grant", codes, None));
            assert_eq!(rejected(&v), "invalid credentials", "{codes:?}");
        }
    }

    #[test]
    fn diagnostics_name_the_cause() {
        let cases = [
            (50053, "locked"),
            (50057, "disabled"),
            (50055, "expired"),
            (50144, "expired"),
            (50076, "MFA"),
            (50079, "MFA"),
            (53003, "Conditional Access"),
        ];
        for (code, word) in cases {
            let v = classify(400, &body("invalid_grant", &[code], Some("basic_action")));
            let m = rejected(&v);
            assert!(m.starts_with("invalid credentials"), "{m}");
            assert!(m.contains(word), "{code}: {m}");
        }
        let mfa = classify(400, &body("interaction_required", &[50076], None));
        assert!(rejected(&mfa).contains("auth.user_bind = \"local\""));
    }

    #[test]
    fn outages_are_unavailable_never_success() {
        assert!(matches!(
            classify(503, &body("server_error", &[], None)),
            Verdict::Unavailable(_)
        ));
        assert!(matches!(
            classify(400, &body("temporarily_unavailable", &[], None)),
            Verdict::Unavailable(_)
        ));
        assert!(matches!(
            classify(400, &body("invalid_request", &[90033], None)),
            Verdict::Unavailable(_)
        ));
        // Not JSON at all (a proxy's HTML error page).
        assert!(matches!(
            classify(502, &TokenErrorBody::parse(b"<html>Bad gateway</html>")),
            Verdict::Unavailable(_)
        ));
    }

    #[test]
    fn app_problems_are_misconfiguration() {
        for code in [7000218, 65001, 700016, 7000215] {
            let status = if code == 65001 || code == 700016 {
                400
            } else {
                401
            };
            let v = classify(status, &body("invalid_client", &[code], None));
            assert!(matches!(v, Verdict::Misconfigured { .. }), "{code}: {v:?}");
        }
        let v = classify(401, &body("invalid_client", &[1234567], None));
        assert!(matches!(v, Verdict::Misconfigured { .. }), "{v:?}");
        // An unknown code on a 400 fails closed as invalid credentials.
        let v = classify(400, &body("invalid_grant", &[99999], None));
        assert_eq!(rejected(&v), "invalid credentials");
    }
}
