//! Simple bind (RFC 4513): anonymous, service accounts, and the slot for user binds. Every
//! outcome is written to the audit log; a failed bind leaves the connection anonymous.

use crate::auth::Decision;
use crate::auth::audit::{self, BindEvent, Method, Outcome};
use crate::auth::throttle::{Ending, Refusal, Subject};
use crate::ldap::LdapContext;
use crate::ldap::dir;
use crate::ldap::error::OpError;
use crate::ldap::handler::result;
use crate::ldap::session::{Identity, Session};
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapBindResponse, LdapMsg, LdapOp, LdapResultCode,
};

/// How a bind attempt ended, before it is turned into a response and an audit line.
#[derive(Debug)]
pub(crate) enum BindOutcome {
    Bound(Identity),
    Refused(OpError),
}

/// A decided bind with what the audit log records about it.
#[derive(Debug)]
struct Decided {
    outcome: BindOutcome,
    method: Method,
    /// The entry the bind name resolved to.
    dn: Option<String>,
    /// Answered by the throttle without a password check, and why.
    refused: Option<Refusal>,
}

impl Decided {
    fn refused(method: Method, code: LdapResultCode, message: impl Into<String>) -> Decided {
        Decided {
            outcome: BindOutcome::Refused(OpError::new(code, message)),
            method,
            dn: None,
            refused: None,
        }
    }
}

const INVALID_CREDENTIALS: &str = "invalid credentials";

pub(crate) async fn bind(
    session: &mut Session,
    ctx: &LdapContext,
    msgid: i32,
    req: LdapBindRequest,
) -> LdapMsg {
    // Whatever happens next, the previous identity is gone (RFC 4513 §4: a failed bind
    // leaves the connection anonymous).
    session.reset_identity();
    let decided = decide(session, ctx, &req).await;
    let throttled = decided.refused.is_some_and(|r| r != Refusal::Repeat);
    let (outcome, reason) = match &decided.outcome {
        BindOutcome::Bound(_) => (Outcome::Success, ""),
        BindOutcome::Refused(_) if throttled => (Outcome::Throttled, crate::auth::user::THROTTLED),
        BindOutcome::Refused(OpError {
            code: LdapResultCode::Unavailable | LdapResultCode::Other,
            message,
            ..
        }) => (Outcome::Unavailable, message.as_str()),
        BindOutcome::Refused(e) => (Outcome::Failure, e.message.as_str()),
    };
    let dn = match &decided.outcome {
        BindOutcome::Bound(identity) => identity.dn().map(str::to_owned),
        BindOutcome::Refused(..) => decided.dn.clone(),
    };
    audit::record(&BindEvent {
        peer: session.peer,
        bind_name: &req.dn,
        dn: dn.as_deref(),
        method: decided.method,
        outcome,
        reason,
        limit: decided.refused.map_or("", Refusal::as_str),
        tls: session.tls,
    });
    // A wrong or refused password is answered after a pause (OpenLDAP ppolicy's
    // pwdMinDelay): a script guessing on one connection is slowed, a person does not notice.
    // Only this connection waits; its requests are handled one at a time anyway.
    let delay = ctx.config.auth.failure_delay.get();
    if matches!(outcome, Outcome::Failure | Outcome::Throttled)
        && !req.dn.is_empty()
        && !delay.is_zero()
    {
        tokio::time::sleep(delay).await;
    }
    let res = match decided.outcome {
        BindOutcome::Bound(identity) => {
            session.identity = identity;
            result(LdapResultCode::Success, "")
        }
        BindOutcome::Refused(e) => e.result(),
    };
    LdapMsg::new(
        msgid,
        LdapOp::BindResponse(LdapBindResponse {
            res,
            saslcreds: None,
        }),
    )
}

async fn decide(session: &Session, ctx: &LdapContext, req: &LdapBindRequest) -> Decided {
    let method = if req.dn.is_empty() {
        Method::Anonymous
    } else {
        Method::None
    };
    let refuse = |code, message: String| Decided::refused(method, code, message);
    if req.version != 3 {
        return refuse(
            LdapResultCode::ProtocolError,
            format!(
                "LDAP version {} is not supported; use version 3",
                req.version
            ),
        );
    }
    let password = match &req.cred {
        LdapBindCred::Simple(pw) => pw,
        LdapBindCred::SASL(sasl) => {
            return refuse(
                LdapResultCode::AuthMethodNotSupported,
                format!(
                    "SASL ({}) is not supported; use a simple bind over TLS",
                    sasl.mechanism
                ),
            );
        }
        LdapBindCred::Unsupported => {
            return refuse(
                LdapResultCode::AuthMethodNotSupported,
                "authentication method not supported; use a simple bind over TLS".into(),
            );
        }
    };
    match (req.dn.is_empty(), password.is_empty()) {
        (true, true) => {
            return Decided {
                outcome: BindOutcome::Bound(Identity::Anonymous),
                method: Method::Anonymous,
                dn: None,
                refused: None,
            };
        }
        (true, false) => {
            return refuse(
                LdapResultCode::InvalidCredentials,
                INVALID_CREDENTIALS.into(),
            );
        }
        // RFC 4513 §5.1.2: an unauthenticated bind must not be mistaken for a password check.
        (false, true) => {
            return refuse(
                LdapResultCode::UnwillingToPerform,
                "unauthenticated bind (DN with no password) disallowed".into(),
            );
        }
        (false, false) => {}
    }
    if !session.tls && !ctx.config.server.allow_plaintext_bind {
        return refuse(
            LdapResultCode::ConfidentialityRequired,
            "a bind with a password needs TLS: use LDAPS or StartTLS".into(),
        );
    }
    let Some(ndn) = dir::normalize_dn(&req.dn) else {
        // Not a DN: a UPN or mail address, which only users bind with.
        return bind_user(session, ctx, &req.dn, password).await;
    };
    match find_service_account(ctx, &ndn) {
        Some((account, dn)) => bind_service(session, ctx, &account, dn, password).await,
        None => bind_user(session, ctx, &req.dn, password).await,
    }
}

/// Bind as a service account, behind the same throttle as users (protects argon2 CPU too).
async fn bind_service(
    session: &Session,
    ctx: &LdapContext,
    account: &std::sync::Arc<crate::auth::ServiceAccount>,
    dn: String,
    password: &str,
) -> Decided {
    let throttle = ctx.users.throttle();
    let key = format!("service:{}", account.name);
    let decided = |outcome, refused| Decided {
        outcome,
        method: Method::Service,
        dn: Some(dn.clone()),
        refused,
    };
    let attempt = match throttle.begin(
        &key,
        Subject::Service,
        session.peer.map(|p| p.ip()),
        password,
        account.version(),
    ) {
        Ok(a) => a,
        Err(refusal) => {
            let message = match refusal {
                Refusal::Repeat => INVALID_CREDENTIALS,
                _ => crate::auth::user::THROTTLED,
            };
            return decided(
                BindOutcome::Refused(OpError::new(LdapResultCode::InvalidCredentials, message)),
                Some(refusal),
            );
        }
    };
    let (outcome, ending) = match ctx.services.verify(account, password).await {
        Ok(true) => (
            BindOutcome::Bound(Identity::Service {
                name: account.name.clone(),
                dn: dn.clone(),
                tenants: account.tenants.clone(),
            }),
            Ending::Success,
        ),
        Ok(false) => (
            BindOutcome::Refused(OpError::new(
                LdapResultCode::InvalidCredentials,
                INVALID_CREDENTIALS,
            )),
            Ending::Failure,
        ),
        Err(e) => {
            let peer = session.peer.map(|p| p.to_string()).unwrap_or_default();
            tracing::error!(%peer, error = %e, "service account verification failed");
            (
                BindOutcome::Refused(OpError::new(
                    LdapResultCode::Other,
                    "internal error verifying the password",
                )),
                Ending::Neutral,
            )
        }
    };
    throttle.finish(attempt, ending);
    decided(outcome, None)
}

/// The service account a normalised bind DN names, with the DN spelled as the server spells
/// it. Only tenants the account may read count: a DN under another tenant names nobody.
fn find_service_account(
    ctx: &LdapContext,
    ndn: &str,
) -> Option<(std::sync::Arc<crate::auth::ServiceAccount>, String)> {
    if ctx.services.is_empty() {
        return None;
    }
    let snapshot = ctx.snapshot.load();
    for account in ctx.services.iter() {
        for tenant in snapshot
            .tenants
            .iter()
            .filter(|t| account.may_read(&t.name))
        {
            let dn = format!(
                "cn={},ou=services,{}",
                dir::escape_rdn_value(&account.name),
                tenant.base_dn
            );
            if dir::normalize_dn(&dn).as_deref() == Some(ndn) {
                return Some((account.clone(), dn));
            }
        }
    }
    None
}

/// Bind as a directory user (full DN, UPN or mail) with the `auth.user_bind` method.
async fn bind_user(session: &Session, ctx: &LdapContext, name: &str, password: &str) -> Decided {
    let snapshot = ctx.snapshot.load();
    let r = ctx
        .users
        .bind(&snapshot, name, password, session.peer.map(|p| p.ip()))
        .await;
    let outcome = match r.decision {
        Decision::Bound { dn, tenant } => BindOutcome::Bound(Identity::User { dn, tenant }),
        Decision::Invalid(m) => {
            BindOutcome::Refused(OpError::new(LdapResultCode::InvalidCredentials, m))
        }
        Decision::Unavailable(m) => {
            BindOutcome::Refused(OpError::new(LdapResultCode::Unavailable, m))
        }
        Decision::Error(m) => BindOutcome::Refused(OpError::new(LdapResultCode::Other, m)),
    };
    Decided {
        outcome,
        method: r.method,
        dn: r.dn,
        refused: r.refused,
    }
}
