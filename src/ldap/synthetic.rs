//! Entries the service makes up rather than the directory: the rootDSE and the subschema
//! subentry. Each is a directory entry of kind `EntryKind::Dse`, so filters are evaluated on it
//! by `directory::filter` like on every other entry, and each attribute says when it is
//! returned without being named.

use super::dir;
use directory::entry::{Attr, AttrRef, Attrs, Entry, EntryKind};
use directory::filter::{self, NoMembership};
use ldap3_proto::proto::LdapFilter;

/// When an attribute of a synthetic entry is returned without being named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    /// With no attribute list or `*`.
    User,
    /// With `+`.
    Operational,
    /// With no list, `*` or `+`: rootDSE attributes, which clients expect either way.
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntheticEntry {
    pub entry: Entry,
    /// When each attribute of `entry` is returned unnamed, in the order of `entry.attrs`.
    visibility: Vec<Visibility>,
}

impl SyntheticEntry {
    /// An entry at `dn` with no attributes yet.
    pub(crate) fn new(dn: &str) -> SyntheticEntry {
        SyntheticEntry {
            entry: Entry::new(
                dn,
                dir::normalize_dn(dn).unwrap_or_default(),
                EntryKind::Dse,
                0,
                Attrs::default(),
                "",
                "",
            ),
            visibility: Vec::new(),
        }
    }

    /// Add an attribute; one without values is left out.
    pub(crate) fn with(
        mut self,
        name: &'static str,
        values: Vec<String>,
        visibility: Visibility,
    ) -> SyntheticEntry {
        if !values.is_empty() {
            self.entry.attrs.push(Attr {
                name,
                values: values.into_iter().map(String::into_boxed_str).collect(),
            });
            self.visibility.push(visibility);
        }
        self
    }

    /// The attributes with their visibility, in the order they are returned.
    pub(crate) fn attrs(&self) -> impl Iterator<Item = (AttrRef<'_>, Visibility)> {
        self.entry.attrs.iter().zip(self.visibility.iter().copied())
    }

    /// Evaluate a filter against this entry (RFC 4511 §4.5.1.7, on the schema's matching
    /// rules); undefined counts as no match.
    pub(crate) fn matches(&self, f: &LdapFilter) -> bool {
        filter::evaluate(f, &self.entry, &NoMembership).is_true()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::parse_ldap_filter_str;

    fn entry() -> SyntheticEntry {
        SyntheticEntry::new("")
            .with("objectClass", vec!["top".into()], Visibility::Always)
            .with("vendorName", vec!["o365-ldap".into()], Visibility::Always)
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
