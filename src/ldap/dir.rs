//! The seam between the LDAP service and the directory: every call the service makes into
//! the `directory` crate goes through here, so the service's needs stay visible in one place.

use directory::schema::{self, AttributeType};
use directory::{Entry, dn, filter, matching};
use ldap3_proto::proto::LdapFilter;

pub(crate) use directory::{EntryId, SearchError, Snapshot};

/// What the service needs to know about an attribute type: the schema's definition.
pub(crate) type AttrInfo = AttributeType;

/// Normalise a DN for comparison; `None` when it is not a valid DN.
pub(crate) fn normalize_dn(dn: &str) -> Option<String> {
    dn::normalize(dn).ok()
}

/// Escape an attribute value for use in an RDN (RFC 4514 §2.4).
pub(crate) fn escape_rdn_value(v: &str) -> String {
    dn::escape_value(v)
}

/// Whether normalised `ndn` is `base` or below it.
pub(crate) fn is_within(ndn: &str, base: &str) -> bool {
    dn::is_within_ndn(ndn, base)
}

/// Look up an attribute type by name, alias or OID (case-insensitive, options ignored).
pub(crate) fn attribute(name: &str) -> Option<&'static AttrInfo> {
    schema::attribute(name)
}

/// Whether a stored value equals an asserted one under the attribute's equality rule. An
/// assertion that is not valid for the syntax matches nothing.
pub(crate) fn values_equal(attr: &AttrInfo, stored: &str, asserted: &str) -> bool {
    matching::normalize_value(attr, asserted).is_some_and(|key| {
        if attr.syntax == schema::syntax::OID {
            // Object class names were mapped to their canonical lower-case name.
            matching::normalize_value(attr, stored).is_some_and(|s| s == key)
        } else {
            matching::value_matches(attr.equality, stored, &key)
        }
    })
}

/// Whether `asserted` is a valid value for the attribute's syntax and equality rule.
pub(crate) fn valid_assertion(attr: &AttrInfo, asserted: &str) -> bool {
    matching::normalize_value(attr, asserted).is_some()
}

/// Whether the attribute's syntax is Octet String, where values need not be UTF-8.
pub(crate) fn takes_any_octets(attr: &AttrInfo) -> bool {
    attr.syntax == schema::syntax::OCTET_STRING
}

/// Values of an operational attribute of a directory entry.
pub(crate) fn operational_value(entry: &Entry, name: &str) -> Option<Vec<String>> {
    filter::operational_value(entry, name)
}

/// Reject filters deeper or larger than the configured limits, naming the setting.
pub(crate) fn check_filter_limits(
    f: &LdapFilter,
    max_depth: usize,
    max_elements: usize,
) -> Result<(), String> {
    filter::check_limits(f, max_depth, max_elements).map_err(|e| match e {
        filter::FilterLimitError::TooDeep { .. } => format!("{e} (server.max_filter_depth)"),
        filter::FilterLimitError::TooManyElements { .. } => {
            format!("{e} (server.max_filter_elements)")
        }
    })
}

/// The attribute names an `@objectClass` request (RFC 4529) stands for: the class's MUST and
/// MAY attributes and those of its superclasses. `None` for an unknown class.
pub(crate) fn object_class_attributes(name: &str) -> Option<Vec<&'static str>> {
    let mut class = schema::object_class(name)?;
    let mut out = Vec::new();
    // Bounded walk: schema superclass chains are short, and this stops on a malformed cycle.
    for _ in 0..16 {
        out.extend(class.must.iter().chain(class.may.iter()).copied());
        match class.sup.and_then(schema::object_class) {
            Some(sup) => class = sup,
            None => break,
        }
    }
    Some(out)
}

pub(crate) fn attribute_type_descriptions() -> Vec<String> {
    schema::attribute_type_descriptions()
}

pub(crate) fn object_class_descriptions() -> Vec<String> {
    schema::object_class_descriptions()
}

pub(crate) fn matching_rule_descriptions() -> Vec<String> {
    schema::matching_rule_descriptions()
}

pub(crate) fn ldap_syntax_descriptions() -> Vec<String> {
    schema::ldap_syntax_descriptions()
}
