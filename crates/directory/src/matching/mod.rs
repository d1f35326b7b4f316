//! Values under matching rules: the equality key of a value (`normalize_value`), whether a stored
//! value equals an asserted one (`value_matches`) and how two values order (`compare`). Folding
//! text is in `fold`, parsing the other syntaxes in `syntax`.

use std::cmp::Ordering;

use crate::dn;
use crate::schema::{self, AttributeType, Matching, object_class};

mod fold;
mod syntax;

pub use fold::{Folded, fold, fold_component};
pub use syntax::{
    IntKey, parse_boolean, parse_generalized_time, parse_integer, valid, valid_integer,
};

use fold::plain_folded;
use syntax::{format_generalized_time, telephone};

/// The equality key of a value under a matching rule; `None` when the value is not valid for
/// the rule's syntax (a filter asserting it evaluates to Undefined).
pub fn normalize(m: Matching, v: &str) -> Option<String> {
    match m {
        Matching::CaseIgnore => Some(fold::prepare(v, true)),
        Matching::CaseExact => Some(fold::prepare(v, false)),
        Matching::TelephoneNumber => Some(telephone(v)),
        // The valid spelling of an INTEGER is its only one.
        Matching::Integer => syntax::valid_integer(v).then(|| v.to_string()),
        Matching::Dn => dn::normalize(v).ok(),
        Matching::Boolean => parse_boolean(v).map(|b| if b { "TRUE" } else { "FALSE" }.into()),
        Matching::GeneralizedTime => parse_generalized_time(v).and_then(format_generalized_time),
        Matching::Uuid => syntax::valid_uuid(v).then(|| v.to_ascii_lowercase()),
        Matching::OctetString => Some(v.to_string()),
    }
}

/// `normalize_value`, borrowing `v` when it already is its own key (the usual case for the
/// values this server builds: lower-case uids, plain DNs, canonical numbers), so building the
/// indexes of 100k entries does not allocate a key per value.
pub fn normalize_value_cow<'a>(
    at: &AttributeType,
    v: &'a str,
) -> Option<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    if !valid(at.syntax, v) {
        return None;
    }
    let unchanged = match at.equality {
        Matching::CaseIgnore if at.syntax != schema::syntax::OID => {
            plain_folded(v, true) || fold(v, true).eq(v.chars())
        }
        Matching::CaseExact => plain_folded(v, false) || fold(v, false).eq(v.chars()),
        Matching::OctetString => true,
        Matching::Dn => dn::is_plain_lowercase(v),
        Matching::Integer => syntax::valid_integer(v),
        Matching::Uuid => syntax::valid_uuid(v) && !v.bytes().any(|c| c.is_ascii_uppercase()),
        _ => false,
    };
    if unchanged {
        return Some(Cow::Borrowed(v));
    }
    let n = normalize_value(at, v)?;
    Some(if n == v {
        Cow::Borrowed(v)
    } else {
        Cow::Owned(n)
    })
}

/// The equality key of a value of a given attribute: `normalize` with the attribute's rule, and
/// object class OIDs mapped to names so `(objectClass=2.5.6.6)` finds persons. `None` when the
/// value is not valid for the attribute's syntax (`syntax::valid`) or rule.
pub fn normalize_value(at: &AttributeType, v: &str) -> Option<String> {
    if !valid(at.syntax, v) {
        return None;
    }
    if at.syntax == schema::syntax::OID
        && let Some(oc) = object_class(v)
    {
        return Some(oc.name.to_lowercase());
    }
    normalize(at.equality, v)
}

/// Whether a stored value equals an already normalised assertion value. Avoids allocating for
/// the common text and DN cases (this runs per value per candidate entry).
pub fn value_matches(m: Matching, stored: &str, key: &str) -> bool {
    match m {
        Matching::CaseIgnore => fold(stored, true).eq(key.chars()),
        Matching::CaseExact => fold(stored, false).eq(key.chars()),
        Matching::OctetString => stored == key,
        Matching::Dn => dn::eq_normalized(stored, key),
        _ => normalize(m, stored).is_some_and(|n| n == key),
    }
}

/// A value prepared for ordering comparisons; only keys of one matching rule are compared.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrderKey {
    Int(IntKey),
    /// Nanoseconds since the Unix epoch.
    Time(i128),
    Text(String),
}

/// The ordering key of a value, `None` when the rule has no ordering or the value is invalid.
pub fn order_key(m: Matching, v: &str) -> Option<OrderKey> {
    match m {
        Matching::Integer => IntKey::parse(v).map(OrderKey::Int),
        Matching::GeneralizedTime => parse_generalized_time(v).map(OrderKey::Time),
        Matching::CaseIgnore | Matching::CaseExact | Matching::Uuid | Matching::OctetString => {
            normalize(m, v).map(OrderKey::Text)
        }
        Matching::Dn | Matching::Boolean | Matching::TelephoneNumber => None,
    }
}

/// Compares two values under a matching rule's ordering; `None` if either is invalid.
pub fn compare(m: Matching, a: &str, b: &str) -> Option<Ordering> {
    Some(order_key(m, a)?.cmp(&order_key(m, b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::attribute;

    #[test]
    fn borrowed_keys_agree_with_normalised_ones() {
        let cases = [
            ("uid", "alice"),
            ("uid", " Alice  Smith "),
            ("cn", "R&D, Europe + \"Special\""),
            ("objectClass", "inetOrgPerson"),
            ("objectClass", "top"),
            ("objectClass", "2.5.6.6"),
            ("member", "uid=alice,ou=people,dc=contoso,dc=com"),
            ("member", "UID=Alice, OU=People,DC=Contoso,DC=Com"),
            ("uidNumber", "0042"),
            ("gecos", ""),
            ("objectClass", " person "),
            ("uidNumber", "42"),
            ("memberUid", "Alice"),
            ("entryUUID", "A1CE0000-0000-4000-8000-000000000001"),
            ("nsAccountLock", "true"),
            ("nsAccountLock", "TRUE"),
            ("entryUUID", "{a1ce0000-0000-4000-8000-000000000001}"),
            ("entryUUID", "a1ce0000-0000-4000-8000-000000000001"),
            ("uidNumber", "0"),
            ("uidNumber", "-5"),
            ("uid", "tab\there"),
            ("uid", "ünïcode"),
            ("memberOf", r"cn=r&d\, europe,ou=groups,dc=x"),
            ("memberOf", "cn=a  b,ou=groups,dc=x"),
        ];
        for (attr, v) in cases {
            let at = attribute(attr).expect("known attribute");
            assert_eq!(
                normalize_value_cow(at, v).map(|c| c.into_owned()),
                normalize_value(at, v),
                "{attr}: {v:?}"
            );
        }
    }

    #[test]
    fn object_class_oids_map_to_names() {
        let oc = attribute("objectClass");
        assert!(oc.is_some());
        if let Some(oc) = oc {
            assert_eq!(normalize_value(oc, "2.5.6.6").as_deref(), Some("person"));
            assert_eq!(
                normalize_value(oc, "PosixAccount").as_deref(),
                Some("posixaccount")
            );
            assert_eq!(normalize_value(oc, "sudoRole").as_deref(), Some("sudorole"));
        }
    }
}
