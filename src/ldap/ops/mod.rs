//! One file per LDAP operation; each takes the session and request and returns responses.

pub(crate) mod bind;
pub(crate) mod compare;
pub(crate) mod extended;
pub(crate) mod search;
