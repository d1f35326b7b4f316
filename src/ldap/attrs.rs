//! The attribute list of a search request (RFC 4511 §4.5.1.8): `*`, `+`, `1.1`, `@class`
//! (RFC 4529), names with aliases and options, and the `dn` pseudo-name, resolved once per
//! request.

use super::dir::{self, AttrInfo};
use std::collections::HashSet;

/// One attribute asked for by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// The name as asked, without options.
    pub base: String,
    /// The schema's attribute type, when the schema knows the name. Synthetic entries
    /// (rootDSE) have attributes outside the schema, matched by `base`.
    pub info: Option<&'static AttrInfo>,
    /// Options as given (`binary` in `userCertificate;binary`), returned to the client with the
    /// canonical name as OpenLDAP does.
    pub options: Option<String>,
}

impl Requested {
    fn is(&self, name: &str) -> bool {
        match self.info {
            Some(info) => info.name.eq_ignore_ascii_case(name),
            None => self.base.eq_ignore_ascii_case(name),
        }
    }

    fn returned_as(&self, name: &str) -> String {
        match &self.options {
            Some(o) => format!("{name};{o}"),
            None => name.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub all_user: bool,
    pub all_operational: bool,
    pub named: Vec<Requested>,
}

impl Selection {
    /// Resolve an attribute list. Linear in its length: duplicates are found with a set, not
    /// by scanning what was already kept (a list of 100,000 names once cost seconds). The
    /// caller caps the length first (`server.max_attributes`).
    pub fn parse(attrs: &[String]) -> Selection {
        let mut sel = Selection {
            all_user: attrs.is_empty(),
            ..Selection::default()
        };
        let mut seen: HashSet<(String, Option<String>)> = HashSet::new();
        for a in attrs {
            let a = a.trim();
            match a {
                "*" => sel.all_user = true,
                "+" => sel.all_operational = true,
                // `1.1` means "no attributes"; `dn` is not an attribute (the DN is in every
                // entry). Both are understood and contribute nothing.
                "1.1" | "" => {}
                _ if a.eq_ignore_ascii_case("dn") => {}
                _ if a.starts_with('@') => {
                    // Unknown classes select nothing, like unknown attribute names.
                    for name in
                        dir::object_class_attributes(a.get(1..).unwrap_or("")).unwrap_or_default()
                    {
                        sel.add(&mut seen, name, None);
                    }
                }
                _ => {
                    let (base, options) = match a.split_once(';') {
                        Some((b, o)) if !o.is_empty() => (b, Some(o.to_owned())),
                        Some((b, _)) => (b, None),
                        None => (a, None),
                    };
                    sel.add(&mut seen, base, options);
                }
            }
        }
        sel
    }

    fn add(
        &mut self,
        seen: &mut HashSet<(String, Option<String>)>,
        base: &str,
        options: Option<String>,
    ) {
        let info = dir::attribute(base);
        // Two spellings of one attribute type (`cn`, `commonName`, `CN`) are one request.
        let key = match info {
            Some(i) => i.name.to_ascii_lowercase(),
            None => base.to_ascii_lowercase(),
        };
        if seen.insert((key, options.clone())) {
            self.named.push(Requested {
                base: base.to_owned(),
                info,
                options,
            });
        }
    }

    /// Under which descriptions to return the attribute with canonical name `name`: none,
    /// usually one, two when asked as both `cert` and `cert;binary`.
    pub fn names_for(&self, name: &str, operational: bool) -> Vec<String> {
        let mut out: Vec<String> = self
            .named
            .iter()
            .filter(|r| r.is(name))
            .map(|r| r.returned_as(name))
            .collect();
        let all = if operational {
            self.all_operational
        } else {
            self.all_user
        };
        if all && !out.iter().any(|n| n == name) {
            out.insert(0, name.to_owned());
        }
        out
    }

    /// `names_for` without allocating for the usual descriptions: calls `f` with each name
    /// under which the attribute `name` is returned, in the same order. This runs per
    /// attribute per result entry.
    pub fn each_name(
        &self,
        name: &'static str,
        operational: bool,
        mut f: impl FnMut(std::borrow::Cow<'static, str>),
    ) {
        use std::borrow::Cow;
        let matches = |r: &Requested| match r.info {
            Some(info) => info.name.len() == name.len() && info.name.eq_ignore_ascii_case(name),
            None => r.base.len() == name.len() && r.base.eq_ignore_ascii_case(name),
        };
        let all = if operational {
            self.all_operational
        } else {
            self.all_user
        };
        let named_plain = self.named.iter().any(|r| r.options.is_none() && matches(r));
        if all && !named_plain {
            f(Cow::Borrowed(name));
        }
        for r in self.named.iter().filter(|r| matches(r)) {
            match &r.options {
                None => f(Cow::Borrowed(name)),
                Some(o) => f(Cow::Owned(format!("{name};{o}"))),
            }
        }
    }

    /// Whether an operational attribute is to be computed for each entry.
    pub fn operational_wanted(&self, name: &str) -> bool {
        self.all_operational || self.named.iter().any(|r| r.is(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(a: &[&str]) -> Selection {
        Selection::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn empty_list_means_all_user_attributes() {
        let s = sel(&[]);
        assert!(s.all_user && !s.all_operational);
        assert_eq!(s.names_for("cn", false), vec!["cn"]);
        assert!(s.names_for("entryDN", true).is_empty());
    }

    #[test]
    fn special_names() {
        let s = sel(&["1.1"]);
        assert!(!s.all_user && s.named.is_empty());
        let s = sel(&["dn", "DN"]);
        assert!(!s.all_user && s.named.is_empty());
        let s = sel(&["+"]);
        assert!(!s.all_user && s.all_operational);
        let s = sel(&["*", "+"]);
        assert!(s.all_user && s.all_operational);
    }

    #[test]
    fn names_are_canonicalised_and_options_kept() {
        let s = sel(&[
            "CN",
            "uidnumber",
            "userCertificate;binary",
            "noSuchAttr",
            "entrydn",
        ]);
        assert_eq!(s.names_for("cn", false), vec!["cn"]);
        assert_eq!(s.names_for("uidNumber", false), vec!["uidNumber"]);
        assert_eq!(
            s.names_for("userCertificate", false),
            vec!["userCertificate;binary"]
        );
        assert!(s.operational_wanted("entryDN"));
        assert!(!s.operational_wanted("createTimestamp"));
        assert!(s.names_for("mail", false).is_empty());
        // Names outside the schema still select attributes of synthetic entries.
        let s = sel(&["namingcontexts"]);
        assert_eq!(s.names_for("namingContexts", false), vec!["namingContexts"]);
    }

    #[test]
    fn object_class_shorthand() {
        let s = sel(&["@posixAccount"]);
        assert!(!s.all_user);
        assert_eq!(s.names_for("uidNumber", false), vec!["uidNumber"]);
        assert_eq!(s.names_for("homeDirectory", false), vec!["homeDirectory"]);
        // Inherited from top.
        assert_eq!(s.names_for("objectClass", false), vec!["objectClass"]);
        assert!(s.names_for("mail", false).is_empty());
        assert!(sel(&["@noSuchClass"]).named.is_empty());
    }

    #[test]
    fn each_name_agrees_with_names_for() {
        let lists: &[&[&str]] = &[
            &[],
            &["*"],
            &["+", "cn"],
            &["*", "CN", "cn;lang-en", "commonName"],
            &["userCertificate;binary", "userCertificate", "mail"],
            &["entryDN", "modifyTimestamp", "nosuchattr"],
        ];
        for list in lists {
            let s = sel(list);
            for (name, op) in [
                ("cn", false),
                ("mail", false),
                ("userCertificate", false),
                ("uid", false),
                ("entryDN", true),
                ("modifyTimestamp", true),
            ] {
                let mut got = Vec::new();
                s.each_name(name, op, |n| got.push(n.into_owned()));
                assert_eq!(got, s.names_for(name, op), "{list:?} {name}");
            }
        }
    }
}
