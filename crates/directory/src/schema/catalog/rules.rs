//! The syntaxes and matching rules published in `cn=Subschema`.

use super::super::{Matching, MatchingRule, RuleKind, syntax};

/// Syntaxes published in `ldapSyntaxes`: (OID, description).
pub(in crate::schema) const SYNTAXES: &[(&str, &str)] = &[
    (
        syntax::ATTRIBUTE_TYPE_DESCRIPTION,
        "Attribute Type Description",
    ),
    (syntax::BOOLEAN, "Boolean"),
    (syntax::DN, "DN"),
    (syntax::DIRECTORY_STRING, "Directory String"),
    (syntax::GENERALIZED_TIME, "Generalized Time"),
    (syntax::IA5_STRING, "IA5 String"),
    (syntax::INTEGER, "INTEGER"),
    (
        syntax::MATCHING_RULE_DESCRIPTION,
        "Matching Rule Description",
    ),
    (syntax::OBJECT_CLASS_DESCRIPTION, "Object Class Description"),
    (syntax::OID, "OID"),
    (syntax::OCTET_STRING, "Octet String"),
    (syntax::TELEPHONE_NUMBER, "Telephone Number"),
    (syntax::LDAP_SYNTAX_DESCRIPTION, "LDAP Syntax Description"),
    (syntax::SUBSTRING_ASSERTION, "Substring Assertion"),
    (syntax::UUID, "UUID"),
];

pub const IN_CHAIN_OID: &str = "1.2.840.113556.1.4.1941";

// One rule per line reads as the table it is.
#[rustfmt::skip]
pub(super) static MATCHING_RULES: &[MatchingRule] = {
    use Matching::*;
    use RuleKind::*;
    const fn rule(oid: &'static str, name: &'static str, syntax: &'static str, kind: RuleKind) -> MatchingRule {
        MatchingRule { oid, name: Some(name), syntax, kind }
    }
    &[
        rule("2.5.13.0", "objectIdentifierMatch", syntax::OID, Equality(CaseIgnore)),
        rule("2.5.13.1", "distinguishedNameMatch", syntax::DN, Equality(Dn)),
        rule("2.5.13.2", "caseIgnoreMatch", syntax::DIRECTORY_STRING, Equality(CaseIgnore)),
        rule("2.5.13.3", "caseIgnoreOrderingMatch", syntax::DIRECTORY_STRING, Ordering(CaseIgnore)),
        rule("2.5.13.4", "caseIgnoreSubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(CaseIgnore)),
        rule("2.5.13.5", "caseExactMatch", syntax::DIRECTORY_STRING, Equality(CaseExact)),
        rule("2.5.13.6", "caseExactOrderingMatch", syntax::DIRECTORY_STRING, Ordering(CaseExact)),
        rule("2.5.13.7", "caseExactSubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(CaseExact)),
        rule("2.5.13.13", "booleanMatch", syntax::BOOLEAN, Equality(Boolean)),
        rule("2.5.13.14", "integerMatch", syntax::INTEGER, Equality(Integer)),
        rule("2.5.13.15", "integerOrderingMatch", syntax::INTEGER, Ordering(Integer)),
        rule("2.5.13.17", "octetStringMatch", syntax::OCTET_STRING, Equality(OctetString)),
        rule("2.5.13.18", "octetStringOrderingMatch", syntax::OCTET_STRING, Ordering(OctetString)),
        rule("2.5.13.20", "telephoneNumberMatch", syntax::TELEPHONE_NUMBER, Equality(TelephoneNumber)),
        rule("2.5.13.21", "telephoneNumberSubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(TelephoneNumber)),
        rule("2.5.13.27", "generalizedTimeMatch", syntax::GENERALIZED_TIME, Equality(GeneralizedTime)),
        rule("2.5.13.28", "generalizedTimeOrderingMatch", syntax::GENERALIZED_TIME, Ordering(GeneralizedTime)),
        rule("2.5.13.30", "objectIdentifierFirstComponentMatch", syntax::OID, Unsupported),
        rule("1.3.6.1.4.1.1466.109.114.1", "caseExactIA5Match", syntax::IA5_STRING, Equality(CaseExact)),
        rule("1.3.6.1.4.1.1466.109.114.2", "caseIgnoreIA5Match", syntax::IA5_STRING, Equality(CaseIgnore)),
        rule("1.3.6.1.4.1.1466.109.114.3", "caseIgnoreIA5SubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(CaseIgnore)),
        rule("1.3.6.1.1.16.2", "uuidMatch", syntax::UUID, Equality(Uuid)),
        rule("1.3.6.1.1.16.3", "uuidOrderingMatch", syntax::UUID, Ordering(Uuid)),
        rule("1.2.840.113556.1.4.803", "integerBitAndMatch", syntax::INTEGER, BitAnd),
        rule("1.2.840.113556.1.4.804", "integerBitOrMatch", syntax::INTEGER, BitOr),
        MatchingRule { oid: IN_CHAIN_OID, name: None, syntax: syntax::DN, kind: InChain },
    ]
};
