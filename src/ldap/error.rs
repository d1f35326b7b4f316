//! The error an LDAP operation answers with: an RFC 4511 result code and the diagnostic
//! message the client sees. Operation handlers return it; the response types carry it as an
//! `LDAPResult`.

use ldap3_proto::proto::{LdapResult, LdapResultCode};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub code: LdapResultCode,
    pub message: String,
    /// For `noSuchObject`: the closest existing ancestor of the DN asked for (RFC 4511
    /// §4.1.9), or empty.
    pub matched_dn: String,
}

impl OpError {
    pub fn new(code: LdapResultCode, message: impl Into<String>) -> OpError {
        OpError {
            code,
            message: message.into(),
            matched_dn: String::new(),
        }
    }

    pub fn matched(mut self, dn: String) -> OpError {
        self.matched_dn = dn;
        self
    }

    /// The answer for a DN that does not exist, or that the session may not know exists.
    pub fn no_such_object() -> OpError {
        OpError::new(LdapResultCode::NoSuchObject, "no such object")
    }

    /// The `LDAPResult` that carries this error.
    pub fn result(self) -> LdapResult {
        let mut r = result(self.code, self.message);
        r.matcheddn = self.matched_dn;
        r
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for OpError {}

/// An `LDAPResult` with no matched DN and no referrals.
pub(crate) fn result(code: LdapResultCode, message: impl Into<String>) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.into(),
        referral: Vec::new(),
    }
}
