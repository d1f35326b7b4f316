//! The RFC 4512 descriptions of the catalogue: the values of `attributeTypes`, `objectClasses`,
//! `matchingRules` and `ldapSyntaxes` in `cn=Subschema`.

use super::catalog::{DSA_OPERATION, SYNTAXES, attributes, matching_rules, object_classes};
use super::{AttributeType, ClassKind, Matching, syntax};

fn is_description_syntax(syntax: &str) -> bool {
    matches!(
        syntax,
        syntax::ATTRIBUTE_TYPE_DESCRIPTION
            | syntax::OBJECT_CLASS_DESCRIPTION
            | syntax::MATCHING_RULE_DESCRIPTION
            | syntax::LDAP_SYNTAX_DESCRIPTION
    )
}

/// The EQUALITY rule published for an attribute (IA5 and OID syntaxes have their own rules).
pub fn equality_rule_name(at: &AttributeType) -> &'static str {
    let ia5 = at.syntax == syntax::IA5_STRING;
    match at.equality {
        Matching::CaseIgnore if ia5 => "caseIgnoreIA5Match",
        Matching::CaseIgnore if at.syntax == syntax::OID => "objectIdentifierMatch",
        Matching::CaseIgnore if is_description_syntax(at.syntax) => {
            "objectIdentifierFirstComponentMatch"
        }
        Matching::CaseIgnore => "caseIgnoreMatch",
        Matching::CaseExact if ia5 => "caseExactIA5Match",
        Matching::CaseExact => "caseExactMatch",
        Matching::Integer => "integerMatch",
        Matching::Dn => "distinguishedNameMatch",
        Matching::Boolean => "booleanMatch",
        Matching::GeneralizedTime => "generalizedTimeMatch",
        Matching::Uuid => "uuidMatch",
        Matching::OctetString => "octetStringMatch",
        Matching::TelephoneNumber => "telephoneNumberMatch",
    }
}

pub(super) fn ordering_rule_name(at: &AttributeType) -> Option<&'static str> {
    if !at.ordering {
        return None;
    }
    match at.equality {
        Matching::CaseIgnore => Some("caseIgnoreOrderingMatch"),
        Matching::CaseExact => Some("caseExactOrderingMatch"),
        Matching::Integer => Some("integerOrderingMatch"),
        Matching::GeneralizedTime => Some("generalizedTimeOrderingMatch"),
        Matching::Uuid => Some("uuidOrderingMatch"),
        Matching::OctetString => Some("octetStringOrderingMatch"),
        Matching::Dn | Matching::Boolean | Matching::TelephoneNumber => None,
    }
}

pub(super) fn substrings_rule_name(at: &AttributeType) -> Option<&'static str> {
    if !at.substrings {
        return None;
    }
    match at.equality {
        Matching::CaseIgnore if at.syntax == syntax::IA5_STRING => {
            Some("caseIgnoreIA5SubstringsMatch")
        }
        Matching::CaseIgnore => Some("caseIgnoreSubstringsMatch"),
        Matching::CaseExact => Some("caseExactSubstringsMatch"),
        Matching::TelephoneNumber => Some("telephoneNumberSubstringsMatch"),
        _ => None,
    }
}

/// RFC 4512 `qdstring`: `'` and `\` are escaped as `\27` and `\5C`.
fn qdstring(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\27"),
            '\\' => out.push_str("\\5C"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn qdescrs(names: &[&str]) -> String {
    match names {
        [one] => format!("'{one}'"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            format!("( {} )", quoted.join(" "))
        }
    }
}

fn oids(names: &[&str]) -> String {
    match names {
        [one] => (*one).to_string(),
        _ => format!("( {} )", names.join(" $ ")),
    }
}

/// The values of `attributeTypes` in `cn=Subschema`.
pub fn attribute_type_descriptions() -> Vec<String> {
    attributes()
        .iter()
        .map(|at| {
            let mut names = vec![at.name];
            names.extend_from_slice(at.aliases);
            let mut d = format!("( {} NAME {}", at.oid, qdescrs(&names));
            if !at.desc.is_empty() {
                d.push_str(" DESC ");
                d.push_str(&qdstring(at.desc));
            }
            d.push_str(" EQUALITY ");
            d.push_str(equality_rule_name(at));
            if let Some(r) = ordering_rule_name(at) {
                d.push_str(" ORDERING ");
                d.push_str(r);
            }
            if let Some(r) = substrings_rule_name(at) {
                d.push_str(" SUBSTR ");
                d.push_str(r);
            }
            d.push_str(" SYNTAX ");
            d.push_str(at.syntax);
            if at.single_value {
                d.push_str(" SINGLE-VALUE");
            }
            if at.operational {
                let usage = if DSA_OPERATION.contains(&at.name) {
                    "dSAOperation"
                } else {
                    "directoryOperation"
                };
                d.push_str(" NO-USER-MODIFICATION USAGE ");
                d.push_str(usage);
            }
            d.push_str(" )");
            d
        })
        .collect()
}

/// The values of `objectClasses` in `cn=Subschema`.
pub fn object_class_descriptions() -> Vec<String> {
    object_classes()
        .iter()
        .map(|oc| {
            let mut d = format!("( {} NAME '{}'", oc.oid, oc.name);
            if !oc.desc.is_empty() {
                d.push_str(" DESC ");
                d.push_str(&qdstring(oc.desc));
            }
            if let Some(sup) = oc.sup {
                d.push_str(" SUP ");
                d.push_str(sup);
            }
            d.push_str(match oc.kind {
                ClassKind::Abstract => " ABSTRACT",
                ClassKind::Structural => " STRUCTURAL",
                ClassKind::Auxiliary => " AUXILIARY",
            });
            if !oc.must.is_empty() {
                d.push_str(" MUST ");
                d.push_str(&oids(oc.must));
            }
            if !oc.may.is_empty() {
                d.push_str(" MAY ");
                d.push_str(&oids(oc.may));
            }
            d.push_str(" )");
            d
        })
        .collect()
}

/// The values of `matchingRules` in `cn=Subschema`.
pub fn matching_rule_descriptions() -> Vec<String> {
    matching_rules()
        .iter()
        .map(|r| match r.name {
            Some(name) => format!("( {} NAME '{}' SYNTAX {} )", r.oid, name, r.syntax),
            None => format!("( {} SYNTAX {} )", r.oid, r.syntax),
        })
        .collect()
}

/// The values of `ldapSyntaxes` in `cn=Subschema`.
pub fn ldap_syntax_descriptions() -> Vec<String> {
    SYNTAXES
        .iter()
        .map(|(oid, desc)| format!("( {oid} DESC {} )", qdstring(desc)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_descriptions_follow_rfc4512() {
        let all = attribute_type_descriptions();
        assert_eq!(all.len(), attributes().len());
        assert!(all.contains(
            &"( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) DESC 'RFC4519: user identifier' \
              EQUALITY caseIgnoreMatch ORDERING caseIgnoreOrderingMatch SUBSTR \
              caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )"
                .to_string()
        ));
        let member_uid = all.iter().find(|d| d.contains("'memberUid'"));
        assert!(member_uid.is_some_and(|d| d.contains("EQUALITY caseExactIA5Match")));
        let uid_number = all.iter().find(|d| d.contains("'uidNumber'"));
        assert!(uid_number.is_some_and(
            |d| d.contains("ORDERING integerOrderingMatch") && d.contains("SINGLE-VALUE")
        ));
        let entry_dn = all.iter().find(|d| d.contains("'entryDN'"));
        assert!(
            entry_dn
                .is_some_and(|d| d.ends_with("NO-USER-MODIFICATION USAGE directoryOperation )"))
        );
        let naming = all.iter().find(|d| d.contains("'namingContexts'"));
        assert!(naming.is_some_and(|d| d.contains("USAGE dSAOperation")));
        for d in &all {
            assert!(d.starts_with("( ") && d.ends_with(" )"), "{d}");
            assert_eq!(d.matches('\'').count() % 2, 0, "unbalanced quotes in {d}");
        }
    }

    #[test]
    fn object_class_descriptions_follow_rfc4512() {
        let all = object_class_descriptions();
        assert!(all.contains(
            &"( 1.3.6.1.1.1.2.2 NAME 'posixGroup' DESC 'RFC2307bis: A group of accounts' SUP top \
              AUXILIARY MUST gidNumber MAY ( memberUid $ description ) )"
                .to_string()
        ));
        let person = all.iter().find(|d| d.contains("NAME 'inetOrgPerson'"));
        assert!(person.is_some_and(|d| d.contains("SUP organizationalPerson STRUCTURAL")));
        let rules = matching_rule_descriptions();
        assert!(rules.contains(
            &"( 2.5.13.2 NAME 'caseIgnoreMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )".to_string()
        ));
        assert!(rules.contains(
            &"( 1.2.840.113556.1.4.1941 SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )".to_string()
        ));
        assert!(ldap_syntax_descriptions().contains(&"( 1.3.6.1.1.16.1 DESC 'UUID' )".to_string()));
        assert_eq!(qdstring("it's a\\b"), "'it\\27s a\\5Cb'");
    }
}
