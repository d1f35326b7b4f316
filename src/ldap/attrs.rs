//! The attribute list of a search request (RFC 4511 §4.5.1.8): `*`, `+`, `1.1`, `@class`
//! (RFC 4529), names with aliases, and the `dn` pseudo-name, resolved once per request. A name
//! with options (`cn;lang-en`, `cn;x-opt`) selects nothing: RFC 4512 §2.5 makes a description
//! with an option the server does not support unrecognised, and unrecognised names in the list
//! are ignored (RFC 4511 §4.5.1.8). This server supports none (it serves no tagged values and
//! no syntax that needs `;binary`).

use super::dir::{self, AttrInfo};
use std::collections::HashSet;
use std::sync::Arc;

/// One attribute asked for by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requested {
    /// The name as asked.
    pub base: String,
    /// The schema's attribute type, when the schema knows the name. Synthetic entries
    /// (rootDSE) have attributes outside the schema, matched by `base`.
    pub info: Option<&'static AttrInfo>,
}

impl Requested {
    /// The name the request stands for: the schema's canonical spelling, or the name as asked
    /// when the schema does not know it.
    fn canonical(&self) -> &str {
        self.info.map_or(self.base.as_str(), |i| i.name)
    }

    /// What makes two requests the same: the lower-cased canonical name.
    fn key(&self) -> String {
        self.canonical().to_ascii_lowercase()
    }

    /// Whether this request selects the attribute whose canonical name is `name`.
    fn matches(&self, name: &str) -> bool {
        let c = self.canonical();
        c.len() == name.len() && c.eq_ignore_ascii_case(name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Selection {
    pub all_user: bool,
    pub all_operational: bool,
    pub named: Vec<Requested>,
    /// The catalogue positions of the named attribute types, one bit each, so a directory
    /// entry's attributes are selected without comparing names.
    ids: Vec<u64>,
}

impl Selection {
    /// Resolve an attribute list. Linear in its length: duplicates are found with a set, not
    /// by scanning what was already kept (a list of 100,000 names once cost seconds). The
    /// caller caps the length first (`server.max_attributes`).
    pub(crate) fn parse(attrs: &[String]) -> Selection {
        let mut sel = Selection {
            all_user: attrs.is_empty(),
            ..Selection::default()
        };
        let mut seen: HashSet<String> = HashSet::new();
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
                        sel.add(&mut seen, name);
                    }
                }
                _ if a.contains(';') => {}
                _ => sel.add(&mut seen, a),
            }
        }
        sel
    }

    fn add(&mut self, seen: &mut HashSet<String>, base: &str) {
        let id = directory::schema::attribute_id(base);
        let r = Requested {
            base: base.to_owned(),
            info: id.and_then(directory::schema::attribute_by_id),
        };
        // Two spellings of one attribute type (`cn`, `commonName`, `CN`) are one request.
        if seen.insert(r.key()) {
            self.named.push(r);
            if let Some(id) = id.map(usize::from) {
                if self.ids.len() <= id / 64 {
                    self.ids.resize(id / 64 + 1, 0);
                }
                if let Some(word) = self.ids.get_mut(id / 64) {
                    *word |= 1 << (id % 64);
                }
            }
        }
    }

    /// Whether the list names the attribute type at catalogue position `id` (a directory
    /// entry's attribute, `AttrRef::id`); the same answer as `each_name` with `all` false.
    pub(crate) fn names_id(&self, id: u16) -> bool {
        let id = usize::from(id);
        self.ids
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }

    /// Whether `*` (user attributes) or `+` (operational ones) selects every attribute of the
    /// kind.
    #[cfg(test)]
    pub(crate) fn all(&self, operational: bool) -> bool {
        if operational {
            self.all_operational
        } else {
            self.all_user
        }
    }

    /// Calls `f` with the description under which the attribute with canonical name `name` is
    /// returned, if it is: when `all` says it is returned without being named (see
    /// [`Selection::all`]) or when the list names it.
    pub(crate) fn each_name(
        &self,
        name: &'static str,
        all: bool,
        mut f: impl FnMut(std::borrow::Cow<'static, str>),
    ) {
        if all || self.named.iter().any(|r| r.matches(name)) {
            f(std::borrow::Cow::Borrowed(name));
        }
    }

    /// Whether an operational attribute is to be computed for each entry.
    pub(crate) fn operational_wanted(&self, name: &str) -> bool {
        self.all_operational || self.named.iter().any(|r| r.matches(name))
    }
}

/// The attribute lists a connection asked for lately, resolved. Clients send the same list
/// with every search (SSSD's and nslcd's per map), and resolving one costs a catalogue lookup
/// and a few allocations per name, a tenth of an exact-match search's time.
#[derive(Debug, Default)]
pub(crate) struct SelectionCache {
    recent: Vec<(Vec<String>, Arc<Selection>)>,
    /// The slot the next new list replaces once all are taken.
    next: usize,
}

/// Lists kept per connection.
const CACHED_LISTS: usize = 8;
/// Longer lists are resolved every time, so a hostile client's lists cost no memory kept.
const CACHED_NAMES: usize = 64;

impl SelectionCache {
    /// `attrs` resolved, from the cache when this connection asked for the same list lately.
    pub(crate) fn get(&mut self, attrs: &[String]) -> Arc<Selection> {
        if let Some((_, sel)) = self.recent.iter().find(|(k, _)| k.as_slice() == attrs) {
            return Arc::clone(sel);
        }
        let sel = Arc::new(Selection::parse(attrs));
        if attrs.len() <= CACHED_NAMES {
            let item = (attrs.to_vec(), Arc::clone(&sel));
            if self.recent.len() < CACHED_LISTS {
                self.recent.push(item);
            } else if let Some(slot) = self.recent.get_mut(self.next) {
                *slot = item;
                self.next = (self.next + 1) % CACHED_LISTS;
            }
        }
        sel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(a: &[&str]) -> Selection {
        Selection::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    impl Selection {
        /// `each_name` collected, with `*` or `+` deciding as for directory entries.
        fn names_for(&self, name: &'static str, operational: bool) -> Vec<String> {
            let mut out = Vec::new();
            self.each_name(name, self.all(operational), |n| out.push(n.into_owned()));
            out
        }
    }

    /// The rule `each_name` implements, spelled out: the name once when `all` selects it or
    /// a request names it.
    fn reference_names(s: &Selection, name: &str, operational: bool) -> Vec<String> {
        let named = s
            .named
            .iter()
            .any(|r| r.canonical().eq_ignore_ascii_case(name));
        if s.all(operational) || named {
            vec![name.to_owned()]
        } else {
            vec![]
        }
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
    fn names_are_canonicalised_and_options_unrecognised() {
        let s = sel(&[
            "CN",
            "uidnumber",
            "userCertificate;binary",
            "noSuchAttr",
            "entrydn",
        ]);
        assert_eq!(s.names_for("cn", false), vec!["cn"]);
        assert_eq!(s.names_for("uidNumber", false), vec!["uidNumber"]);
        // RFC 4512 §2.5: a description with an unsupported option is unrecognised.
        assert!(s.names_for("userCertificate", false).is_empty());
        assert!(s.operational_wanted("entryDN"));
        assert!(!s.operational_wanted("createTimestamp"));
        assert!(s.names_for("mail", false).is_empty());
        let s = sel(&["cn;lang-en", "uid;x-opt", "objectClass;x-foo", "mail"]);
        assert!(s.names_for("cn", false).is_empty());
        assert!(s.names_for("uid", false).is_empty());
        assert!(s.names_for("objectClass", false).is_empty());
        assert_eq!(s.names_for("mail", false), vec!["mail"]);
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
    fn each_name_agrees_with_the_reference_rule() {
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
                s.each_name(name, s.all(op), |n| got.push(n.into_owned()));
                assert_eq!(got, reference_names(&s, name, op), "{list:?} {name}");
            }
        }
    }

    #[test]
    fn names_id_agrees_with_each_name_for_every_catalogue_attribute() {
        let lists: &[&[&str]] = &[
            &["cn"],
            &[
                "CN",
                "commonName",
                "uidnumber",
                "gidNumber",
                "memberUid",
                "userCertificate;binary",
            ],
            &["@posixAccount", "mail", "nosuchattr", "2.5.4.3"],
            &["entryDN", "modifyTimestamp", "sshPublicKey"],
        ];
        for list in lists {
            let s = sel(list);
            for (i, at) in directory::schema::attributes().iter().enumerate() {
                let id = u16::try_from(i).unwrap();
                let mut by_name = false;
                s.each_name(at.name, false, |_| by_name = true);
                assert_eq!(s.names_id(id), by_name, "{list:?} {}", at.name);
            }
        }
    }

    #[test]
    fn a_connection_resolves_a_list_it_repeats_once() {
        let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut cache = SelectionCache::default();
        let a = cache.get(&list(&["uid", "cn"]));
        assert!(Arc::ptr_eq(&a, &cache.get(&list(&["uid", "cn"]))));
        // Another order is another list: the cache compares what was asked.
        let b = cache.get(&list(&["cn", "uid"]));
        assert!(!Arc::ptr_eq(&a, &b));
        // Older lists give way once eight are kept; the answer is the same either way.
        for i in 0..20 {
            let l = list(&["uid", &format!("x{i}")]);
            assert_eq!(*cache.get(&l), Selection::parse(&l));
        }
        assert_eq!(cache.recent.len(), CACHED_LISTS);
        // A list longer than a client sends is resolved but not kept.
        let long: Vec<String> = (0..CACHED_NAMES + 1).map(|i| format!("a{i}")).collect();
        let first = cache.get(&long);
        assert!(!Arc::ptr_eq(&first, &cache.get(&long)));
        assert!(cache.recent.iter().all(|(k, _)| k.len() <= CACHED_NAMES));
    }
}
