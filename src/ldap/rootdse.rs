//! The rootDSE (RFC 4512 §5.1): what the server supports, readable without a bind.

use super::dir::Snapshot;
use super::synthetic::{SyntheticEntry, Visibility};

pub(crate) const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
pub(crate) const OID_WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
pub(crate) const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
pub(crate) const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
pub(crate) const OID_PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
/// RFC 3673 (`+`), RFC 4529 (`@objectClass`), RFC 4526 (absolute true and false filters).
const FEATURES: &[&str] = &[
    "1.3.6.1.4.1.4203.1.5.1",
    "1.3.6.1.4.1.4203.1.5.2",
    "1.3.6.1.4.1.4203.1.5.3",
];

/// The rootDSE for the current snapshot. StartTLS is listed whenever a certificate is loaded,
/// on either listener, as OpenLDAP does: clients read the rootDSE over LDAPS to learn what the
/// server supports, and a StartTLS on LDAPS gets a clear operationsError.
pub(crate) fn root_dse(snapshot: &Snapshot, starttls: bool) -> SyntheticEntry {
    let mut extensions = vec![OID_WHOAMI.to_owned()];
    if starttls {
        extensions.push(OID_STARTTLS.to_owned());
    }
    let always = Visibility::Always;
    SyntheticEntry::new("")
        .with("objectClass", vec!["top".into()], always)
        .with(
            "namingContexts",
            snapshot.tenants.iter().map(|t| t.base_dn.clone()).collect(),
            always,
        )
        .with("supportedLDAPVersion", vec!["3".into()], always)
        .with("supportedControl", vec![OID_PAGED_RESULTS.into()], always)
        .with("supportedExtension", extensions, always)
        .with(
            "supportedFeatures",
            FEATURES.iter().map(|s| s.to_string()).collect(),
            always,
        )
        .with(
            "subschemaSubentry",
            vec![super::subschema::SUBSCHEMA_DN.into()],
            always,
        )
        .with("vendorName", vec!["o365-ldap".into()], always)
        .with(
            "vendorVersion",
            vec![env!("CARGO_PKG_VERSION").into()],
            always,
        )
}
