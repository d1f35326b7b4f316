//! The schema the directory serves: attribute types, object classes, matching rules and syntaxes,
//! with their real OIDs. The tables are in `catalog`; `describe` spells them as the RFC 4512
//! descriptions published in `cn=Subschema`. How values compare under a rule is in
//! `crate::matching`.

mod catalog;
mod describe;
mod files;

pub use catalog::{
    EMPTY_GROUP_CLASS, IN_CHAIN_OID, O365_OBJECT, attribute, attribute_by_id, attribute_id,
    attributes, matching_rule, matching_rules, object_class, object_classes,
};
pub use describe::{
    attribute_type_descriptions, equality_rule_name, ldap_syntax_descriptions,
    matching_rule_descriptions, object_class_descriptions,
};
pub use files::{ds389_schema, slapd_schema};

/// How values of an attribute compare for equality (and, where the type allows, ordering and
/// substrings). One variant per family of matching rules we evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matching {
    /// caseIgnoreMatch / caseIgnoreIA5Match / objectIdentifierMatch on names.
    CaseIgnore,
    /// caseExactMatch / caseExactIA5Match (memberUid per RFC 2307, homeDirectory, loginShell).
    CaseExact,
    Integer,
    /// distinguishedNameMatch: both sides go through `dn::normalize`.
    Dn,
    Boolean,
    GeneralizedTime,
    /// uuidMatch (RFC 4530); the hex digits compare case-insensitively.
    Uuid,
    OctetString,
    /// telephoneNumberMatch: case, spaces and hyphens are insignificant.
    TelephoneNumber,
}

#[derive(Debug, PartialEq, Eq)]
pub struct AttributeType {
    /// Canonical spelling, as returned to clients and stored in `Attr::name`.
    pub name: &'static str,
    pub oid: &'static str,
    pub aliases: &'static [&'static str],
    pub syntax: &'static str,
    pub equality: Matching,
    /// Whether `>=`/`<=` are defined; otherwise they evaluate to Undefined.
    pub ordering: bool,
    /// Whether substring filters are defined; otherwise they evaluate to Undefined.
    pub substrings: bool,
    pub single_value: bool,
    /// Operational: returned only when asked for by name or with `+`.
    pub operational: bool,
    pub desc: &'static str,
}

pub mod syntax {
    //! LDAP syntax OIDs (RFC 4517, RFC 4530).
    pub const ATTRIBUTE_TYPE_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.3";
    pub const BOOLEAN: &str = "1.3.6.1.4.1.1466.115.121.1.7";
    pub const DN: &str = "1.3.6.1.4.1.1466.115.121.1.12";
    pub const DIRECTORY_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.15";
    pub const GENERALIZED_TIME: &str = "1.3.6.1.4.1.1466.115.121.1.24";
    pub const IA5_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.26";
    pub const INTEGER: &str = "1.3.6.1.4.1.1466.115.121.1.27";
    pub const MATCHING_RULE_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.30";
    pub const OBJECT_CLASS_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.37";
    pub const OID: &str = "1.3.6.1.4.1.1466.115.121.1.38";
    pub const OCTET_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.40";
    pub const TELEPHONE_NUMBER: &str = "1.3.6.1.4.1.1466.115.121.1.50";
    pub const LDAP_SYNTAX_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.54";
    pub const SUBSTRING_ASSERTION: &str = "1.3.6.1.4.1.1466.115.121.1.58";
    pub const UUID: &str = "1.3.6.1.1.16.1";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassKind {
    Abstract,
    Structural,
    Auxiliary,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ObjectClass {
    pub name: &'static str,
    pub oid: &'static str,
    pub sup: Option<&'static str>,
    pub kind: ClassKind,
    /// Only attributes this schema knows are listed, so the published descriptions are
    /// self-consistent.
    pub must: &'static [&'static str],
    pub may: &'static [&'static str],
    pub desc: &'static str,
}

/// What a matching rule does when named in an extensible-match filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Equality(Matching),
    /// TRUE when the attribute value is less than the assertion value (RFC 4517 §4.1).
    Ordering(Matching),
    Substrings(Matching),
    /// 1.2.840.113556.1.4.803: every bit of the assertion is set in the value.
    BitAnd,
    /// 1.2.840.113556.1.4.804: at least one bit of the assertion is set in the value.
    BitOr,
    /// 1.2.840.113556.1.4.1941 (LDAP_MATCHING_RULE_IN_CHAIN): transitive DN membership.
    InChain,
    /// Published for completeness (referenced by descriptions) but not evaluated.
    Unsupported,
}

#[derive(Debug, PartialEq, Eq)]
pub struct MatchingRule {
    pub oid: &'static str,
    /// In-chain has no registered descriptor; it is known by its OID only.
    pub name: Option<&'static str>,
    pub syntax: &'static str,
    pub kind: RuleKind,
}

#[cfg(test)]
mod tests {
    use super::catalog::SYNTAXES;
    use super::describe::{ordering_rule_name, substrings_rule_name};
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for at in attributes() {
            assert!(
                seen.insert(at.name.to_ascii_lowercase()),
                "duplicate {}",
                at.name
            );
            assert!(seen.insert(at.oid.to_string()), "duplicate OID {}", at.oid);
            for a in at.aliases {
                assert!(seen.insert(a.to_ascii_lowercase()), "duplicate alias {a}");
            }
            assert!(!at.desc.is_empty(), "{} has no description", at.name);
            assert!(
                SYNTAXES.iter().any(|(o, _)| *o == at.syntax),
                "{} syntax",
                at.name
            );
        }
        for oc in object_classes() {
            for a in oc.must.iter().chain(oc.may) {
                assert!(attribute(a).is_some(), "{} names unknown {a}", oc.name);
            }
            if let Some(sup) = oc.sup {
                assert!(object_class(sup).is_some(), "{} has unknown SUP", oc.name);
            }
        }
        for at in attributes() {
            let eq = equality_rule_name(at);
            assert!(
                matching_rule(eq).is_some(),
                "{} uses unpublished {eq}",
                at.name
            );
            for r in [ordering_rule_name(at), substrings_rule_name(at)]
                .into_iter()
                .flatten()
            {
                assert!(
                    matching_rule(r).is_some(),
                    "{} uses unpublished {r}",
                    at.name
                );
            }
        }
    }
}
