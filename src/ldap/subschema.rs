//! The subschema subentry `cn=Subschema` (RFC 4512 §4.2): the attribute types and object
//! classes the directory serves, from the directory's schema.

use super::dir;
use super::synthetic::{SyntheticEntry, Visibility};

pub(crate) use directory::filter::SUBSCHEMA_DN;
pub(crate) const SUBSCHEMA_NDN: &str = "cn=subschema";

pub(crate) fn subschema_entry() -> SyntheticEntry {
    use Visibility::{Operational, User};
    SyntheticEntry::new(SUBSCHEMA_DN)
        .with(
            "objectClass",
            vec!["top".into(), "subentry".into(), "subschema".into()],
            User,
        )
        .with("cn", vec!["Subschema".into()], User)
        .with(
            "attributeTypes",
            dir::attribute_type_descriptions(),
            Operational,
        )
        .with(
            "objectClasses",
            dir::object_class_descriptions(),
            Operational,
        )
        .with(
            "matchingRules",
            dir::matching_rule_descriptions(),
            Operational,
        )
        .with("ldapSyntaxes", dir::ldap_syntax_descriptions(), Operational)
        .with(
            "structuralObjectClass",
            vec!["subentry".into()],
            Operational,
        )
        .with("entryDN", vec![SUBSCHEMA_DN.into()], Operational)
        .with("subschemaSubentry", vec![SUBSCHEMA_DN.into()], Operational)
}
