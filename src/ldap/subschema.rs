//! The subschema subentry `cn=Subschema` (RFC 4512 §4.2): the attribute types and object
//! classes the directory serves, from the directory's schema.

use super::dir;
use super::synthetic::{SyntheticAttr, SyntheticEntry, Visibility};

pub const SUBSCHEMA_DN: &str = "cn=Subschema";
pub const SUBSCHEMA_NDN: &str = "cn=subschema";

pub fn subschema_entry() -> SyntheticEntry {
    let attr = |name, values: Vec<String>, visibility| SyntheticAttr {
        name,
        values,
        visibility,
    };
    let mut attrs = vec![
        attr(
            "objectClass",
            vec!["top".into(), "subentry".into(), "subschema".into()],
            Visibility::User,
        ),
        attr("cn", vec!["Subschema".into()], Visibility::User),
        attr(
            "attributeTypes",
            dir::attribute_type_descriptions(),
            Visibility::Operational,
        ),
        attr(
            "objectClasses",
            dir::object_class_descriptions(),
            Visibility::Operational,
        ),
        attr(
            "matchingRules",
            dir::matching_rule_descriptions(),
            Visibility::Operational,
        ),
        attr(
            "ldapSyntaxes",
            dir::ldap_syntax_descriptions(),
            Visibility::Operational,
        ),
        attr(
            "structuralObjectClass",
            vec!["subentry".into()],
            Visibility::Operational,
        ),
        attr(
            "entryDN",
            vec![SUBSCHEMA_DN.into()],
            Visibility::Operational,
        ),
        attr(
            "subschemaSubentry",
            vec![SUBSCHEMA_DN.into()],
            Visibility::Operational,
        ),
    ];
    attrs.retain(|a| !a.values.is_empty());
    SyntheticEntry {
        dn: SUBSCHEMA_DN.into(),
        attrs,
    }
}
