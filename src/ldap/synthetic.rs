//! Entries the service makes up rather than the directory: the rootDSE and the subschema
//! subentry. Holds their shape and a small filter evaluator for them.

use ldap3_proto::proto::{LdapFilter, LdapSubstringFilter};

/// When an attribute of a synthetic entry is returned without being named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// With no attribute list or `*`.
    User,
    /// With `+`.
    Operational,
    /// With no list, `*` or `+`: rootDSE attributes, which clients expect either way.
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticAttr {
    pub name: &'static str,
    pub values: Vec<String>,
    pub visibility: Visibility,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticEntry {
    pub dn: String,
    pub attrs: Vec<SyntheticAttr>,
}

impl SyntheticEntry {
    pub fn values(&self, name: &str) -> Vec<String> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map(|a| a.values.clone())
            .unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<&SyntheticAttr> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Evaluate a filter against this entry; undefined counts as no match.
    pub fn matches(&self, filter: &LdapFilter) -> bool {
        matches(filter, &|n| self.values(n)) == Some(true)
    }
}

/// Three-valued filter evaluation (RFC 4511 §4.5.1.7) with case-insensitive string matching,
/// enough for the few, fixed attributes of synthetic entries. `None` is Undefined.
pub fn matches(filter: &LdapFilter, get: &dyn Fn(&str) -> Vec<String>) -> Option<bool> {
    let base = |a: &str| a.split(';').next().unwrap_or(a).to_owned();
    match filter {
        LdapFilter::And(fs) => {
            let mut out = Some(true);
            for f in fs {
                match matches(f, get) {
                    Some(false) => return Some(false),
                    None => out = None,
                    Some(true) => {}
                }
            }
            out
        }
        LdapFilter::Or(fs) => {
            let mut out = Some(false);
            for f in fs {
                match matches(f, get) {
                    Some(true) => return Some(true),
                    None => out = None,
                    Some(false) => {}
                }
            }
            out
        }
        LdapFilter::Not(f) => matches(f, get).map(|b| !b),
        LdapFilter::Present(a) => Some(!get(&base(a)).is_empty()),
        LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) => {
            let vals = get(&base(a));
            if vals.is_empty() {
                return None;
            }
            let v = v.to_lowercase();
            Some(vals.iter().any(|x| x.to_lowercase() == v))
        }
        LdapFilter::Substring(a, sub) => {
            let vals = get(&base(a));
            if vals.is_empty() {
                return None;
            }
            Some(vals.iter().any(|x| substring_match(&x.to_lowercase(), sub)))
        }
        LdapFilter::GreaterOrEqual(..)
        | LdapFilter::LessOrEqual(..)
        | LdapFilter::Extensible(_) => None,
    }
}

fn substring_match(value: &str, sub: &LdapSubstringFilter) -> bool {
    let mut rest = value;
    if let Some(init) = &sub.initial {
        match rest.strip_prefix(init.to_lowercase().as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for any in &sub.any {
        let any = any.to_lowercase();
        match rest.find(any.as_str()) {
            Some(i) => rest = rest.get(i + any.len()..).unwrap_or(""),
            None => return false,
        }
    }
    match &sub.final_ {
        Some(fin) => rest.ends_with(fin.to_lowercase().as_str()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::parse_ldap_filter_str;

    fn entry() -> SyntheticEntry {
        SyntheticEntry {
            dn: String::new(),
            attrs: vec![
                SyntheticAttr {
                    name: "objectClass",
                    values: vec!["top".into()],
                    visibility: Visibility::Always,
                },
                SyntheticAttr {
                    name: "vendorName",
                    values: vec!["o365-ldap".into()],
                    visibility: Visibility::Always,
                },
            ],
        }
    }

    #[test]
    fn evaluates_common_probe_filters() {
        let e = entry();
        for (f, want) in [
            ("(objectClass=*)", true),
            ("(objectclass=TOP)", true),
            ("(vendorName=o365*)", true),
            ("(vendorName=*ldap)", true),
            ("(vendorName=*x*)", false),
            ("(!(objectClass=top))", false),
            ("(sudoHost=ALL)", false),
            ("(!(sudoHost=ALL))", false),
            ("(|(sudoHost=ALL)(objectClass=*))", true),
        ] {
            let filter = parse_ldap_filter_str(f).unwrap();
            assert_eq!(e.matches(&filter), want, "{f}");
        }
        // RFC 4526 absolute true and false.
        assert!(e.matches(&LdapFilter::And(vec![])));
        assert!(!e.matches(&LdapFilter::Or(vec![])));
    }
}
