//! Who may read what: anonymous reads only the rootDSE and the subschema entry
//! (unless `server.anonymous_read`), a service account its tenants, a user its own tenant.
//! Resolves a request's base DN to what it names, without revealing unreadable tenants.

use super::LdapContext;
use super::dir::Snapshot;
use super::error::OpError;
use super::session::Session;
use super::subschema::SUBSCHEMA_NDN;
use ldap3_proto::proto::{LdapResultCode, LdapSearchScope};

/// What a (normalised) base DN names, for this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    RootDse,
    Subschema,
    /// Below the rootDSE: every tenant the session may read, by index.
    Tenants(Vec<u16>),
    /// A DN inside the tenant with this index, which the session may read.
    Tenant(u16),
}

pub(crate) const ANONYMOUS_MESSAGE: &str =
    "anonymous may read only the rootDSE and cn=Subschema; bind as a service account";

fn may_read(session: &Session, ctx: &LdapContext, tenant: &str) -> bool {
    if session.identity.is_anonymous() {
        ctx.config.server.anonymous_read
    } else {
        session.identity.may_read_tenant(tenant)
    }
}

/// Resolve `ndn` for a request with `scope`; the error is what to answer.
pub(crate) fn resolve(
    session: &Session,
    ctx: &LdapContext,
    snapshot: &Snapshot,
    ndn: &str,
    scope: &LdapSearchScope,
) -> Result<Target, OpError> {
    if ndn.is_empty() && *scope == LdapSearchScope::Base {
        return Ok(Target::RootDse);
    }
    if ndn == SUBSCHEMA_NDN {
        return Ok(Target::Subschema);
    }
    if session.identity.is_anonymous() && !ctx.config.server.anonymous_read {
        return Err(OpError::new(
            LdapResultCode::InsufficentAccessRights,
            ANONYMOUS_MESSAGE,
        ));
    }
    if ndn.is_empty() {
        let readable = snapshot
            .tenants
            .iter()
            .enumerate()
            .filter(|(_, t)| may_read(session, ctx, &t.name))
            .filter_map(|(i, _)| u16::try_from(i).ok())
            .collect();
        return Ok(Target::Tenants(readable));
    }
    let tenant = snapshot
        .tenants
        .iter()
        .enumerate()
        .filter(|(_, t)| super::dir::is_within(ndn, &t.base_ndn))
        .max_by_key(|(_, t)| t.base_ndn.len());
    match tenant {
        Some((i, t)) if may_read(session, ctx, &t.name) => u16::try_from(i)
            .map(Target::Tenant)
            .map_err(|_| OpError::no_such_object()),
        // An unreadable tenant looks exactly like one that does not exist.
        _ => Err(OpError::no_such_object()),
    }
}
