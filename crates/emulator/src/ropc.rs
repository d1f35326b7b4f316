//! The password grant (ROPC, docs/graph-behaviour.md §3, §4): client authentication for public
//! and confidential apps, scripted per-user outcomes (`_signin`), and smart lockout.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::state::Shared;
use super::tenant::{App, SignInOutcome, TenantState};
use super::token::{EntraError, GRAPH_APP_ID, check_secret};
use model::time::{Clock, SystemClock};

#[derive(Default)]
struct LockState {
    failures: u32,
    locked_until: Option<Instant>,
}

/// Consecutive wrong passwords per user id, and active lockouts.
#[derive(Default)]
pub(crate) struct Lockouts {
    users: Mutex<HashMap<String, LockState>>,
}

impl Lockouts {
    fn is_locked(&self, id: &str) -> bool {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(state) = users.get_mut(id) else {
            return false;
        };
        match state.locked_until {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                // The lockout period is over: start counting afresh.
                *state = LockState::default();
                false
            }
            None => false,
        }
    }

    fn fail(&self, id: &str, threshold: u32, period: Duration) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let state = users.entry(id.to_string()).or_default();
        state.failures += 1;
        if threshold > 0 && state.failures >= threshold {
            state.locked_until = Some(Instant::now() + period);
        }
    }

    fn succeed(&self, id: &str) {
        self.users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

fn invalid_grant(code: u32, description: &str) -> EntraError {
    EntraError::new(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
}

/// Splits the requested scope into what the token response echoes: Graph permissions without
/// their resource prefix, plus the OpenID scopes. Other resources' URLs are `invalid_scope`.
fn parse_scope(shared: &Shared, scope: &str) -> Result<(Vec<String>, bool, bool), EntraError> {
    let mut graph = Vec::new();
    let mut openid = false;
    let mut offline = false;
    for s in scope.split_whitespace() {
        match s.to_ascii_lowercase().as_str() {
            "openid" => openid = true,
            "offline_access" => offline = true,
            "profile" | "email" => {}
            _ => {
                let base = format!("{}/", shared.base_url);
                let graph_id = format!("{GRAPH_APP_ID}/");
                let name = if let Some(rest) = strip_prefix_ci(s, &base) {
                    rest
                } else if let Some(rest) = strip_prefix_ci(s, &graph_id) {
                    rest
                } else if !s.contains('/') && !s.contains(':') {
                    s
                } else {
                    return Err(EntraError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        70_011,
                        format!(
                            "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                        ),
                    ));
                };
                if name != ".default" && !name.is_empty() {
                    graph.push(name.to_string());
                }
            }
        }
    }
    Ok((graph, openid, offline))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

fn fake_jwt(claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "graph-emulator"});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    )
}

/// `grant_type=password`, after the client id was resolved to `app`.
pub(crate) fn password_grant(
    shared: &Shared,
    tenant: &TenantState,
    app: &App,
    param: &dyn Fn(&str) -> Option<String>,
    secret: Option<String>,
) -> Result<Value, EntraError> {
    let username = param("username");
    shared.count(|s| {
        s.password_grants += 1;
        if let Some(u) = &username {
            *s.password_grants_by_user
                .entry(u.to_lowercase())
                .or_default() += 1;
        }
    });
    let scope = param("scope").ok_or_else(|| EntraError::missing("scope"))?;
    let (graph_scopes, openid, offline) = parse_scope(shared, &scope)?;

    if app.public_client {
        if secret.is_some() || param("client_assertion").is_some() {
            return Err(EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700_025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            ));
        }
    } else {
        let secret = secret.ok_or_else(|| {
            EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        })?;
        check_secret(app, &secret)?;
    }

    let username = username.ok_or_else(|| EntraError::missing("username"))?;
    // Passwords are compared exactly: Entra does not trim (docs/graph-behaviour.md §3).
    let password = param("password").ok_or_else(|| EntraError::missing("password"))?;
    let not_found = || {
        invalid_grant(
            50_034,
            &format!(
                "The user account {{EUII Hidden}} does not exist in the {} directory. To sign into this application, the account must be added to the directory.",
                tenant.tenant_id
            ),
        )
    };
    let id = tenant
        .upn_index
        .get(&username.to_ascii_lowercase())
        .cloned()
        .ok_or_else(not_found)?;
    let user = tenant.users.get(&id).ok_or_else(not_found)?;
    // Invited (personal) accounts cannot use ROPC.
    if user.get("userType").and_then(Value::as_str) == Some("Guest") {
        return Err(not_found());
    }
    let (expected, outcome) = tenant
        .signin
        .get(&id)
        .map(|s| (s.password.clone(), s.outcome))
        .unwrap_or((None, SignInOutcome::Ok));

    if outcome == SignInOutcome::Locked || shared.lockouts.is_locked(&id) {
        return Err(invalid_grant(
            50_053,
            "Your account is locked because user tried to sign in too many times with an incorrect user ID or password.",
        ));
    }
    let enabled = user.get("accountEnabled").and_then(Value::as_bool) != Some(false);
    if outcome == SignInOutcome::Disabled || !enabled {
        return Err(invalid_grant(50_057, "The user account is disabled."));
    }
    if outcome == SignInOutcome::NoPassword {
        return Err(invalid_grant(
            50_056,
            "Invalid or null password: password does not exist in the directory for this user.",
        ));
    }
    let matches = expected.as_deref().is_some_and(|e| {
        e.len() == password.len()
            && e.bytes()
                .zip(password.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !matches || outcome == SignInOutcome::WrongPassword {
        shared.lockouts.fail(
            &id,
            shared.opts.lockout_threshold,
            shared.opts.lockout_duration,
        );
        return Err(invalid_grant(
            50_126,
            "Error validating credentials due to invalid username or password.",
        ));
    }
    shared.lockouts.succeed(&id);

    let claims = r#"{"access_token":{"capolids":{"essential":true,"values":["9b5ffa8a-1d3b-4c6e-8a27-0e7d3c1b2a45"]}}}"#;
    match outcome {
        SignInOutcome::Mfa => {
            return Err(invalid_grant(
                50_076,
                &format!("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{GRAPH_APP_ID}'."),
            )
            .with_suberror("basic_action", Some(claims)));
        }
        SignInOutcome::MfaRegistration => {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "interaction_required",
                50_079,
                format!("Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '{GRAPH_APP_ID}'."),
            )
            .with_suberror("basic_action", Some(claims)));
        }
        SignInOutcome::ConditionalAccess => {
            return Err(invalid_grant(
                53_003,
                "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            ));
        }
        SignInOutcome::Expired => {
            return Err(invalid_grant(50_055, "The password is expired.")
                .with_suberror("user_password_expired", None));
        }
        _ => {}
    }

    let lifetime = shared.opts.token_lifetime;
    let access_token = shared.tokens.issue(&[], lifetime);
    let mut scopes = if graph_scopes.is_empty() {
        vec!["User.Read".to_string()]
    } else {
        graph_scopes
    };
    if openid {
        scopes.extend(["profile", "openid", "email"].map(str::to_string));
    }
    let now = u64::try_from(SystemClock.now_unix()).unwrap_or(0);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scopes.join(" "),
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    });
    if let Some(obj) = body.as_object_mut() {
        if openid {
            let id_token = fake_jwt(&json!({
                "aud": app.client_id,
                "iss": format!("{}/{}/v2.0", shared.base_url, tenant.tenant_id),
                "iat": now, "nbf": now, "exp": now + lifetime.as_secs(),
                "name": user.get("displayName"),
                "oid": id,
                "preferred_username": user.get("userPrincipalName"),
                "sub": id,
                "tid": tenant.tenant_id,
                "ver": "2.0",
            }));
            obj.insert("id_token".into(), json!(id_token));
        }
        if offline {
            obj.insert(
                "refresh_token".into(),
                json!(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 48]>())),
            );
        }
    }
    Ok(body)
}
