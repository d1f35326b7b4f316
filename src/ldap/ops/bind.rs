//! Simple bind (RFC 4513): anonymous, service accounts, and the slot for user binds. Every
//! outcome is written to the audit log; a failed bind leaves the connection anonymous.

use crate::ldap::LdapContext;
use crate::ldap::dir;
use crate::ldap::handler::result;
use crate::ldap::session::{Identity, Session};
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapBindResponse, LdapMsg, LdapOp, LdapResultCode,
};

/// How a bind attempt ended, before it is turned into a response and an audit line.
#[derive(Debug)]
pub(crate) enum BindOutcome {
    Bound(Identity),
    Refused(LdapResultCode, String),
}

const INVALID_CREDENTIALS: &str = "invalid credentials";

pub async fn bind(
    session: &mut Session,
    ctx: &LdapContext,
    msgid: i32,
    req: LdapBindRequest,
) -> LdapMsg {
    // Whatever happens next, the previous identity is gone (RFC 4513 §4: a failed bind
    // leaves the connection anonymous).
    session.reset_identity();
    let outcome = decide(session, ctx, &req).await;
    let peer = session.peer.map(|p| p.to_string()).unwrap_or_default();
    let res = match outcome {
        BindOutcome::Bound(identity) => {
            tracing::info!(
                target: "o365_ldap::audit",
                event = "bind",
                outcome = "success",
                dn = %req.dn,
                identity = identity.dn().unwrap_or(""),
                peer = %peer,
                tls = session.tls,
            );
            session.identity = identity;
            result(LdapResultCode::Success, "")
        }
        BindOutcome::Refused(code, message) => {
            tracing::info!(
                target: "o365_ldap::audit",
                event = "bind",
                outcome = "failure",
                dn = %req.dn,
                code = code.clone() as i64,
                reason = %message,
                peer = %peer,
                tls = session.tls,
            );
            result(code, message)
        }
    };
    LdapMsg::new(
        msgid,
        LdapOp::BindResponse(LdapBindResponse {
            res,
            saslcreds: None,
        }),
    )
}

async fn decide(session: &Session, ctx: &LdapContext, req: &LdapBindRequest) -> BindOutcome {
    use BindOutcome::Refused;
    if req.version != 3 {
        return Refused(
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
            return Refused(
                LdapResultCode::AuthMethodNotSupported,
                format!(
                    "SASL ({}) is not supported; use a simple bind over TLS",
                    sasl.mechanism
                ),
            );
        }
        LdapBindCred::Unsupported => {
            return Refused(
                LdapResultCode::AuthMethodNotSupported,
                "authentication method not supported; use a simple bind over TLS".into(),
            );
        }
    };
    match (req.dn.is_empty(), password.is_empty()) {
        (true, true) => return BindOutcome::Bound(Identity::Anonymous),
        (true, false) => {
            return Refused(
                LdapResultCode::InvalidCredentials,
                INVALID_CREDENTIALS.into(),
            );
        }
        // RFC 4513 §5.1.2: an unauthenticated bind must not be mistaken for a password check.
        (false, true) => {
            return Refused(
                LdapResultCode::UnwillingToPerform,
                "unauthenticated bind (DN with no password) disallowed".into(),
            );
        }
        (false, false) => {}
    }
    if !session.tls && !ctx.config.server.allow_plaintext_bind {
        return Refused(
            LdapResultCode::ConfidentialityRequired,
            "a bind with a password needs TLS: use LDAPS or StartTLS".into(),
        );
    }
    let Some(ndn) = dir::normalize_dn(&req.dn) else {
        // Not a DN: a UPN or mail address, which only users bind with.
        return bind_user(session, ctx, &req.dn, password).await;
    };
    match find_service_account(ctx, &ndn) {
        Some((account, dn)) => match ctx.services.verify(&account, password).await {
            Ok(true) => BindOutcome::Bound(Identity::Service {
                name: account.name.clone(),
                dn,
                tenants: account.tenants.clone(),
            }),
            Ok(false) => Refused(
                LdapResultCode::InvalidCredentials,
                INVALID_CREDENTIALS.into(),
            ),
            Err(e) => {
                tracing::error!(error = %e, "service account verification failed");
                Refused(
                    LdapResultCode::Other,
                    "internal error verifying the password".into(),
                )
            }
        },
        None => bind_user(session, ctx, &req.dn, password).await,
    }
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

/// Bind as a directory user (full DN, UPN or mail). The `auth.user_bind` methods plug in here.
async fn bind_user(
    _session: &Session,
    _ctx: &LdapContext,
    _name: &str,
    _password: &str,
) -> BindOutcome {
    BindOutcome::Refused(
        LdapResultCode::InvalidCredentials,
        "invalid credentials (user binds are not enabled yet)".into(),
    )
}
