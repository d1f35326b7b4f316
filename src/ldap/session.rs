//! Per-connection state: who is bound, how the connection is protected, and its open paged
//! searches. Created by the connection loop, mutated only by the handler.

use super::ops::search::ResultSet;
use super::paging::PagedSearches;
use std::net::SocketAddr;
use std::sync::Arc;

/// The identity a connection acts as. A failed bind resets it to `Anonymous`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    /// A `[[service_account]]`; `dn` is the bind DN as the server spells it.
    Service {
        name: String,
        dn: String,
        /// Tenant names it may read; empty means every tenant.
        tenants: Vec<String>,
    },
    /// A directory user (user binds arrive with the auth user-bind work).
    User {
        dn: String,
        tenant: String,
    },
}

impl Identity {
    /// Whether this identity may read entries of the tenant called `tenant`.
    pub fn may_read_tenant(&self, tenant: &str) -> bool {
        match self {
            Identity::Anonymous => false,
            Identity::Service { tenants, .. } => {
                tenants.is_empty() || tenants.iter().any(|t| t.eq_ignore_ascii_case(tenant))
            }
            Identity::User { tenant: own, .. } => own.eq_ignore_ascii_case(tenant),
        }
    }

    /// The authorization identity for Who-am-I (RFC 4532): `None` when anonymous.
    pub fn dn(&self) -> Option<&str> {
        match self {
            Identity::Anonymous => None,
            Identity::Service { dn, .. } | Identity::User { dn, .. } => Some(dn),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Identity::Anonymous)
    }
}

/// Which listener accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Plain LDAP; TLS only after StartTLS.
    Ldap,
    /// TLS from the first byte.
    Ldaps,
}

impl ListenerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerKind::Ldap => "ldap",
            ListenerKind::Ldaps => "ldaps",
        }
    }
}

#[derive(Debug)]
pub struct Session {
    pub identity: Identity,
    pub listener: ListenerKind,
    /// Whether the connection is encrypted now (LDAPS, or after StartTLS).
    pub tls: bool,
    /// Whether the server has a certificate, so StartTLS can be offered.
    pub starttls_available: bool,
    pub peer: Option<SocketAddr>,
    pub(crate) paging: PagedSearches<Arc<ResultSet>>,
    /// The attribute lists this connection asked for lately, resolved.
    pub(crate) selections: crate::ldap::attrs::SelectionCache,
}

impl Session {
    pub fn new(
        listener: ListenerKind,
        starttls_available: bool,
        peer: Option<SocketAddr>,
    ) -> Session {
        Session {
            identity: Identity::Anonymous,
            listener,
            tls: listener == ListenerKind::Ldaps,
            starttls_available,
            peer,
            paging: PagedSearches::new(),
            selections: Default::default(),
        }
    }

    /// Whose quota of open paged searches this connection's searches count against: the bound
    /// DN, or the address of an anonymous client counted as the per-address limits count it
    /// (an IPv6 client by its /64, so rotating addresses does not buy a fresh quota).
    pub(crate) fn quota_identity(&self) -> String {
        match self.identity.dn() {
            Some(dn) => dn.to_ascii_lowercase(),
            None => format!(
                "anonymous from {:?}",
                self.peer.map(|p| crate::peer::AddrKey::of(p.ip()))
            ),
        }
    }

    /// Reset to anonymous, forgetting state that belonged to the previous identity.
    pub(crate) fn reset_identity(&mut self) {
        self.identity = Identity::Anonymous;
        self.paging.clear();
    }
}
