//! One file per LDAP operation; each takes the session and request and returns responses.

pub mod bind;
pub mod compare;
pub mod extended;
pub mod search;
