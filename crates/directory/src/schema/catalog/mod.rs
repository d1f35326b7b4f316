//! The catalogue's lookups: attribute types by name, alias or OID, object classes and matching
//! rules. The tables themselves are in `attributes`, `classes` and `rules`.

use rustc_hash::FxHashMap;
use std::sync::LazyLock;

use super::{AttributeType, MatchingRule, ObjectClass};

mod attributes;
mod classes;
mod rules;

pub(super) use attributes::DSA_OPERATION;
pub use classes::{EMPTY_GROUP_CLASS, O365_OBJECT};
pub use rules::IN_CHAIN_OID;
pub(super) use rules::SYNTAXES;

use attributes::ATTRIBUTES;
use classes::OBJECT_CLASSES;
use rules::MATCHING_RULES;

/// Every attribute type the directory knows, in table order.
pub fn attributes() -> &'static [AttributeType] {
    ATTRIBUTES
}

/// Lower-cased names, aliases and OIDs → index into `ATTRIBUTES`. FxHash: the keys are the
/// catalogue's own, and this is asked per attribute of every entry built and per RDN of DNs
/// that are not plain.
static ATTRIBUTE_INDEX: LazyLock<FxHashMap<String, usize>> = LazyLock::new(|| {
    let mut map = FxHashMap::default();
    for (i, at) in ATTRIBUTES.iter().enumerate() {
        map.insert(at.name.to_ascii_lowercase(), i);
        map.insert(at.oid.to_string(), i);
        for alias in at.aliases {
            map.insert(alias.to_ascii_lowercase(), i);
        }
    }
    map
});

/// Looks an attribute type up by name, alias or OID, case-insensitively. A description with
/// options (`cn;lang-en`, `uid;x-opt`) is not recognised: RFC 4512 §2.5 makes a description
/// with an option the server does not support unrecognised, and this server supports none
/// (`;binary` belongs to syntaxes that need binary transfer, such as certificates, which it
/// does not serve; it serves no tagged values). Called per RDN by the DN fast path, so it
/// avoids allocating for the usual short names.
pub fn attribute(name: &str) -> Option<&'static AttributeType> {
    index_of(name).and_then(|i| ATTRIBUTES.get(i))
}

fn index_of(name: &str) -> Option<usize> {
    let name = name.trim();
    if name.contains(';') {
        return None;
    }
    let mut buf = [0u8; 64];
    if let Some(slot) = buf.get_mut(..name.len()) {
        slot.copy_from_slice(name.as_bytes());
        slot.make_ascii_lowercase();
        // Lower-casing ASCII bytes of a UTF-8 string leaves it valid UTF-8.
        let lower = std::str::from_utf8(slot).ok()?;
        ATTRIBUTE_INDEX.get(lower).copied()
    } else {
        ATTRIBUTE_INDEX.get(&name.to_ascii_lowercase()).copied()
    }
}

/// The position of an attribute type in `attributes()`, by name, alias or OID (as
/// `attribute`): the compact id packed entries store instead of the name.
pub fn attribute_id(name: &str) -> Option<u16> {
    index_of(name).and_then(|i| u16::try_from(i).ok())
}

/// The attribute type at position `id` in `attributes()`.
pub fn attribute_by_id(id: u16) -> Option<&'static AttributeType> {
    ATTRIBUTES.get(usize::from(id))
}

pub fn object_classes() -> &'static [ObjectClass] {
    OBJECT_CLASSES
}

/// Looks an object class up by name or OID, case-insensitively.
pub fn object_class(name_or_oid: &str) -> Option<&'static ObjectClass> {
    let key = name_or_oid.trim();
    OBJECT_CLASSES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(key) || c.oid == key)
}

pub fn matching_rules() -> &'static [MatchingRule] {
    MATCHING_RULES
}

/// Looks a matching rule up by OID or (case-insensitively) by name.
pub fn matching_rule(name_or_oid: &str) -> Option<&'static MatchingRule> {
    let key = name_or_oid.trim();
    MATCHING_RULES
        .iter()
        .find(|r| r.oid == key || r.name.is_some_and(|n| n.eq_ignore_ascii_case(key)))
}

#[cfg(test)]
mod tests {
    use super::super::RuleKind;
    use super::*;

    #[test]
    fn lookup_by_name_alias_oid_and_options() {
        let uid = attribute("uid").map(|a| a.name);
        assert_eq!(uid, Some("uid"));
        assert_eq!(attribute("USERID").map(|a| a.name), Some("uid"));
        assert_eq!(
            attribute("0.9.2342.19200300.100.1.1").map(|a| a.name),
            Some("uid")
        );
        assert_eq!(attribute("commonName;lang-en").map(|a| a.name), None);
        assert_eq!(
            attribute("MobileTelephoneNumber").map(|a| a.name),
            Some("mobile")
        );
        assert_eq!(
            attribute("SAMACCOUNTNAME").map(|a| a.name),
            Some("sAMAccountName")
        );
        assert_eq!(attribute("userCertificate;binary"), None);
        // Options make a description unrecognised, even on a known type.
        assert_eq!(attribute("cn;lang-en"), None);
        assert_eq!(attribute("uid;x-opt"), None);
        assert_eq!(attribute("cn;binary"), None);
        assert_eq!(attribute("sudoHost"), None);
        assert_eq!(attribute(""), None);
        // Longer than the stack buffer: still looked up, just not found.
        assert_eq!(attribute(&"x".repeat(200)), None);
    }

    #[test]
    fn classes_and_rules_are_found_by_name_or_oid() {
        assert_eq!(
            object_class("INETORGPERSON").map(|c| c.oid),
            Some("2.16.840.1.113730.3.2.2")
        );
        assert_eq!(
            matching_rule("CASEIGNOREMATCH").map(|r| r.oid),
            Some("2.5.13.2")
        );
        assert_eq!(
            matching_rule(IN_CHAIN_OID).map(|r| r.kind),
            Some(RuleKind::InChain)
        );
        assert_eq!(matching_rule("1.2.3.4"), None);
        assert_eq!(
            matching_rule("2.5.13.14").and_then(|r| r.name),
            Some("integerMatch")
        );
    }
}
