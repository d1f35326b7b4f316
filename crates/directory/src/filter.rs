//! Search filter evaluation (RFC 4511 §4.5.1.7, three-valued), filter size limits, the
//! operational attributes computed per entry, and the equality keys shared with the indexes.

use std::ops::Not;

use ldap3_proto::proto::{LdapFilter, LdapMatchingRuleAssertion, LdapSubstringFilter};
use thiserror::Error;

use super::dn;
use super::entry::{Entry, EntryKind};
use super::matching::{self, OrderKey};
use super::schema::{self, AttributeType, Matching, RuleKind};

/// The result of evaluating a filter: RFC 4511 filters are three-valued, and only `True`
/// selects an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Undefined,
}

impl Tri {
    pub fn is_true(self) -> bool {
        self == Tri::True
    }
}

impl From<bool> for Tri {
    fn from(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }
}

impl Not for Tri {
    type Output = Tri;

    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Undefined => Tri::Undefined,
        }
    }
}

/// Group membership as the snapshot knows it, for the in-chain rule 1.2.840.113556.1.4.1941.
pub trait Membership {
    /// Whether `entry` is (transitively) a member of the group whose normalised DN is given.
    fn in_chain_member_of(&self, entry: &Entry, group_ndn: &str) -> bool;
    /// Whether the entry with normalised DN `member_ndn` is (transitively) a member of `group`.
    fn in_chain_member(&self, group: &Entry, member_ndn: &str) -> bool;
    /// Whether `entry` has children, when the caller knows the tree (a `Snapshot` does); `None`
    /// falls back to the entry kind, so filters and search results agree on `hasSubordinates`.
    fn has_subordinates(&self, _entry: &Entry) -> Option<bool> {
        None
    }
}

/// For callers without a group graph: in-chain matches only direct `member`/`memberOf` values.
pub struct NoMembership;

impl Membership for NoMembership {
    fn in_chain_member_of(&self, _entry: &Entry, _group_ndn: &str) -> bool {
        false
    }

    fn in_chain_member(&self, _group: &Entry, _member_ndn: &str) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FilterLimitError {
    #[error("the filter is nested more than {max} levels deep")]
    TooDeep { max: usize },
    #[error("the filter has more than {max} elements")]
    TooManyElements { max: usize },
}

/// Checks a decoded filter against the configured limits before any evaluation. Depth counts
/// filter levels (`(uid=a)` is 1, `(&(uid=a))` is 2); elements count every filter node.
/// Iterative, so a hostile nesting cannot exhaust the stack here.
pub fn check_limits(
    f: &LdapFilter,
    max_depth: usize,
    max_elements: usize,
) -> Result<(), FilterLimitError> {
    let mut stack = vec![(f, 1usize)];
    let mut count = 0usize;
    while let Some((node, depth)) = stack.pop() {
        count += 1;
        if depth > max_depth {
            return Err(FilterLimitError::TooDeep { max: max_depth });
        }
        if count > max_elements {
            return Err(FilterLimitError::TooManyElements { max: max_elements });
        }
        match node {
            LdapFilter::And(children) | LdapFilter::Or(children) => {
                if count + stack.len() + children.len() > max_elements {
                    return Err(FilterLimitError::TooManyElements { max: max_elements });
                }
                stack.extend(children.iter().map(|c| (c, depth + 1)));
            }
            LdapFilter::Not(child) => stack.push((child, depth + 1)),
            _ => {}
        }
    }
    Ok(())
}

/// The DN of the subschema entry, the value of `subschemaSubentry`.
pub const SUBSCHEMA_DN: &str = "cn=Subschema";

/// The structural object class of an entry of each kind (`structuralObjectClass`).
pub fn structural_object_class(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Root => "organization",
        EntryKind::Container => "organizationalUnit",
        EntryKind::User => "inetOrgPerson",
        EntryKind::Group | EntryKind::PrivateGroup => "groupOfNames",
        EntryKind::ServiceAccount => "applicationProcess",
    }
}

/// The values of an operational attribute computed from the entry (`entryDN`,
/// `createTimestamp`, `modifyTimestamp`, `structuralObjectClass`, `hasSubordinates`,
/// `subschemaSubentry`), by any spelling of its name; `None` for every other attribute.
pub fn operational_value(e: &Entry, canonical_name: &str) -> Option<Vec<String>> {
    let at = schema::attribute(canonical_name)?;
    let value = match at.name {
        "entryDN" => e.dn.to_string(),
        "createTimestamp" => e.created.to_string(),
        "modifyTimestamp" => e.modified.to_string(),
        "structuralObjectClass" => structural_object_class(e.kind).to_string(),
        // Containers and tenant roots hold entries; users, groups and services never do.
        "hasSubordinates" => match e.kind {
            EntryKind::Root | EntryKind::Container => "TRUE",
            _ => "FALSE",
        }
        .to_string(),
        "subschemaSubentry" => SUBSCHEMA_DN.to_string(),
        _ => return None,
    };
    // A builder that left a timestamp empty has no value to offer, not an empty one.
    Some(if value.is_empty() {
        vec![]
    } else {
        vec![value]
    })
}

/// The canonical attribute name and normalised value an equality filter `(attr=value)` looks
/// up. The index planner keys its indexes with this (for stored values too), so an index hit
/// and the evaluator agree. `None` when the attribute is unknown or the value is invalid for
/// its syntax (the filter is Undefined, so nothing matches).
pub fn equality_key(attr: &str, value: &str) -> Option<(&'static str, String)> {
    let at = schema::attribute(attr)?;
    let key = matching::normalize_value(at, value)?;
    Some((at.name, key))
}

/// A filter prepared for evaluation against many entries: attribute types resolved and
/// assertion values normalised once.
pub struct CompiledFilter {
    root: Node,
}

enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Const(Tri),
    Equality {
        at: &'static AttributeType,
        key: String,
    },
    /// `(entryDN=...)`, answered from the entry's stored normalised DN.
    EntryDn(String),
    Substrings {
        at: &'static AttributeType,
        sub: Substrings,
    },
    Ordering {
        at: &'static AttributeType,
        key: OrderKey,
        greater: bool,
    },
    Present(&'static AttributeType),
    Extensible(Box<Extensible>),
}

struct Substrings {
    initial: Option<String>,
    any: Vec<String>,
    final_: Option<String>,
}

struct Extensible {
    at: Option<&'static AttributeType>,
    test: Test,
    dn_attributes: bool,
}

/// One matching rule applied to one assertion value.
enum Test {
    Equality(Matching, String),
    /// Ordering rules hold when the attribute value is less than the assertion (RFC 4517 §4.1).
    Less(Matching, OrderKey),
    Substrings(Matching, Substrings),
    BitAnd(i64),
    BitOr(i64),
    /// The normalised group (for `memberOf`) or member (for `member`) DN.
    InChain(String),
}

impl Test {
    /// Whether the rule may be applied to values of `at` (RFC 4512 matchingRuleUse, simplified:
    /// text rules apply to text attributes, the others to attributes of their own syntax).
    fn applies_to(&self, at: &AttributeType) -> bool {
        let same_family = |m: Matching| {
            if m.is_text() {
                at.equality.is_text()
            } else {
                at.equality == m
            }
        };
        match self {
            Test::Equality(m, _) | Test::Less(m, _) | Test::Substrings(m, _) => same_family(*m),
            Test::BitAnd(_) | Test::BitOr(_) => at.equality == Matching::Integer,
            Test::InChain(_) => at.equality == Matching::Dn,
        }
    }

    fn matches(&self, v: &str) -> bool {
        match self {
            Test::Equality(m, key) => matching::value_matches(*m, v, key),
            Test::Less(m, key) => matching::order_key(*m, v).is_some_and(|k| k < *key),
            Test::Substrings(m, sub) => {
                matching::normalize(*m, v).is_some_and(|n| substrings_match(&n, sub))
            }
            Test::BitAnd(mask) => matching::parse_integer(v).is_some_and(|x| x & mask == *mask),
            Test::BitOr(mask) => matching::parse_integer(v).is_some_and(|x| x & mask != 0),
            Test::InChain(ndn) => dn::eq_normalized(v, ndn),
        }
    }
}

/// Prepares a filter for evaluation. Unknown attributes, invalid assertion values and unknown
/// or inapplicable matching rules become constant Undefined leaves.
pub fn compile(f: &LdapFilter) -> CompiledFilter {
    CompiledFilter {
        root: compile_node(f),
    }
}

/// Evaluates a filter against one entry. Compiles it first; when testing many entries, use
/// [`compile`] once and [`CompiledFilter::evaluate`].
pub fn evaluate(f: &LdapFilter, e: &Entry, m: &dyn Membership) -> Tri {
    compile(f).evaluate(e, m)
}

impl CompiledFilter {
    pub fn evaluate(&self, e: &Entry, m: &dyn Membership) -> Tri {
        eval(&self.root, e, m)
    }

    pub fn matches(&self, e: &Entry, m: &dyn Membership) -> bool {
        self.evaluate(e, m).is_true()
    }
}

const UNDEFINED: Node = Node::Const(Tri::Undefined);

fn compile_node(f: &LdapFilter) -> Node {
    match f {
        LdapFilter::And(children) => Node::And(children.iter().map(compile_node).collect()),
        LdapFilter::Or(children) => Node::Or(children.iter().map(compile_node).collect()),
        LdapFilter::Not(child) => Node::Not(Box::new(compile_node(child))),
        // Approximate matching is equality: there is no phonetic index to offer.
        LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) => {
            compile_equality(a, v).unwrap_or(UNDEFINED)
        }
        LdapFilter::Substring(a, s) => compile_substrings(a, s).unwrap_or(UNDEFINED),
        LdapFilter::GreaterOrEqual(a, v) => compile_ordering(a, v, true).unwrap_or(UNDEFINED),
        LdapFilter::LessOrEqual(a, v) => compile_ordering(a, v, false).unwrap_or(UNDEFINED),
        LdapFilter::Present(a) => match schema::attribute(super::ad::presence(a)) {
            None => UNDEFINED,
            // Every entry has an object class; no need to look.
            Some(at) if at.name == "objectClass" => Node::Const(Tri::True),
            Some(at) => Node::Present(at),
        },
        LdapFilter::Extensible(mra) => compile_extensible(mra).unwrap_or(UNDEFINED),
    }
}

fn compile_equality(a: &str, v: &str) -> Option<Node> {
    let (a, v) = super::ad::equality(a, v);
    let at = schema::attribute(a)?;
    let key = matching::normalize_value(at, &v)?;
    Some(if at.name == "entryDN" {
        Node::EntryDn(key)
    } else {
        Node::Equality { at, key }
    })
}

fn compile_ordering(a: &str, v: &str, greater: bool) -> Option<Node> {
    let at = schema::attribute(a)?;
    if !at.ordering {
        return None;
    }
    let key = matching::order_key(at.equality, v)?;
    Some(Node::Ordering { at, key, greater })
}

/// Prepares a substring component like the values it is matched against (case folding,
/// whitespace collapsing), without trimming: the space in `(cn=John *)` is significant.
fn prepare_component(m: Matching, s: &str) -> String {
    match m {
        Matching::CaseIgnore | Matching::CaseExact => {
            let mut out = String::with_capacity(s.len());
            let mut in_space = false;
            for c in s.chars() {
                if c.is_whitespace() {
                    if !in_space {
                        out.push(' ');
                    }
                    in_space = true;
                    continue;
                }
                in_space = false;
                if m == Matching::CaseIgnore {
                    out.extend(c.to_lowercase());
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => matching::normalize(m, s).unwrap_or_default(),
    }
}

fn prepare_substrings(
    m: Matching,
    initial: Option<&str>,
    any: &[String],
    final_: Option<&str>,
) -> Substrings {
    // Stored values are trimmed, so spaces before the initial or after the final component
    // could never match; drop them rather than make such filters match nothing.
    let initial = initial
        .map(|s| prepare_component(m, s).trim_start().to_string())
        .filter(|s| !s.is_empty());
    let final_ = final_
        .map(|s| prepare_component(m, s).trim_end().to_string())
        .filter(|s| !s.is_empty());
    let any = any
        .iter()
        .map(|s| prepare_component(m, s))
        .filter(|s| !s.is_empty())
        .collect();
    Substrings {
        initial,
        any,
        final_,
    }
}

fn compile_substrings(a: &str, s: &LdapSubstringFilter) -> Option<Node> {
    let at = schema::attribute(a)?;
    if !at.substrings {
        return None;
    }
    let sub = prepare_substrings(
        at.equality,
        s.initial.as_deref(),
        &s.any,
        s.final_.as_deref(),
    );
    Some(Node::Substrings { at, sub })
}

fn substrings_match(value: &str, sub: &Substrings) -> bool {
    let mut rest = value;
    if let Some(initial) = &sub.initial {
        match rest.strip_prefix(initial.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for part in &sub.any {
        match rest
            .find(part.as_str())
            .and_then(|i| rest.get(i + part.len()..))
        {
            Some(r) => rest = r,
            None => return false,
        }
    }
    match &sub.final_ {
        Some(f) => rest.ends_with(f.as_str()),
        None => true,
    }
}

/// A SubstringAssertion as an extensible-match value (RFC 4517 §3.3.30): `*` separates the
/// components, `\2A` and `\5C` stand for a literal `*` and `\`.
fn parse_substring_assertion(m: Matching, v: &str) -> Option<Substrings> {
    let mut parts = vec![String::new()];
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => parts.push(String::new()),
            '\\' => {
                let hex: String = chars.clone().take(2).collect();
                let literal = match hex.to_ascii_lowercase().as_str() {
                    "2a" => Some('*'),
                    "5c" => Some('\\'),
                    _ => None,
                };
                let current = parts.last_mut()?;
                match literal {
                    Some(l) => {
                        current.push(l);
                        chars.next();
                        chars.next();
                    }
                    None => current.push('\\'),
                }
            }
            _ => parts.last_mut()?.push(c),
        }
    }
    if parts.len() < 2 {
        return None;
    }
    let last = parts.pop();
    let first = parts.first().cloned();
    let any = parts.get(1..).unwrap_or_default();
    let sub = prepare_substrings(
        m,
        first.as_deref().filter(|s| !s.is_empty()),
        any,
        last.as_deref().filter(|s| !s.is_empty()),
    );
    Some(sub)
}

fn compile_extensible(mra: &LdapMatchingRuleAssertion) -> Option<Node> {
    let at = match &mra.type_ {
        Some(t) => Some(schema::attribute(t)?),
        None => None,
    };
    let v = mra.match_value.as_str();
    let kind = match (&mra.matching_rule, at) {
        (Some(rule), _) => schema::matching_rule(rule)?.kind,
        (None, Some(at)) => RuleKind::Equality(at.equality),
        // Neither a rule nor a type: nothing to compare with.
        (None, None) => return None,
    };
    let test = match kind {
        RuleKind::Equality(m) => {
            let key = match (&mra.matching_rule, at) {
                (None, Some(at)) => matching::normalize_value(at, v)?,
                _ => matching::normalize(m, v)?,
            };
            Test::Equality(m, key)
        }
        RuleKind::Ordering(m) => Test::Less(m, matching::order_key(m, v)?),
        RuleKind::Substrings(m) => Test::Substrings(m, parse_substring_assertion(m, v)?),
        RuleKind::BitAnd => Test::BitAnd(matching::parse_integer(v)?),
        RuleKind::BitOr => Test::BitOr(matching::parse_integer(v)?),
        // AD only defines in-chain on a named DN attribute.
        RuleKind::InChain => Test::InChain(dn::normalize(v).ok().filter(|_| at.is_some())?),
        RuleKind::Unsupported => return None,
    };
    if at.is_some_and(|at| !test.applies_to(at)) {
        return None;
    }
    Some(Node::Extensible(Box::new(Extensible {
        at,
        test,
        dn_attributes: mra.dn_attributes,
    })))
}

fn stored_values<'e>(e: &'e Entry, at: &AttributeType) -> &'e [Box<str>] {
    e.attrs
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(at.name))
        .map_or(&[], |a| a.values.as_slice())
}

/// Whether any value of `at` in the entry (stored, or computed for operational attributes)
/// satisfies `pred`.
fn any_value(
    e: &Entry,
    at: &AttributeType,
    m: &dyn Membership,
    mut pred: impl FnMut(&str) -> bool,
) -> bool {
    if at.name == "hasSubordinates"
        && let Some(b) = m.has_subordinates(e)
    {
        return pred(if b { "TRUE" } else { "FALSE" });
    }
    if at.operational
        && let Some(values) = operational_value(e, at.name)
    {
        return values.iter().any(|v| pred(v));
    }
    stored_values(e, at).iter().any(|v| pred(v))
}

fn eval(n: &Node, e: &Entry, m: &dyn Membership) -> Tri {
    match n {
        Node::And(children) => {
            let mut result = Tri::True;
            for c in children {
                match eval(c, e, m) {
                    Tri::False => return Tri::False,
                    Tri::Undefined => result = Tri::Undefined,
                    Tri::True => {}
                }
            }
            result
        }
        Node::Or(children) => {
            let mut result = Tri::False;
            for c in children {
                match eval(c, e, m) {
                    Tri::True => return Tri::True,
                    Tri::Undefined => result = Tri::Undefined,
                    Tri::False => {}
                }
            }
            result
        }
        Node::Not(child) => !eval(child, e, m),
        Node::Const(t) => *t,
        Node::Equality { at, key } => {
            // The DNs this server stores (`member`, `memberOf`) are built in normalised form,
            // so an exact hit settles it without normalising every value: a candidate group
            // from the `member` index can hold thousands of them.
            if at.equality == Matching::Dn
                && !at.operational
                && stored_values(e, at).iter().any(|v| **v == **key)
            {
                return Tri::True;
            }
            any_value(e, at, m, |v| matching::value_matches(at.equality, v, key)).into()
        }
        Node::EntryDn(key) => (*e.ndn == **key).into(),
        Node::Substrings { at, sub } => any_value(e, at, m, |v| {
            matching::normalize(at.equality, v).is_some_and(|n| substrings_match(&n, sub))
        })
        .into(),
        Node::Ordering { at, key, greater } => any_value(e, at, m, |v| {
            matching::order_key(at.equality, v)
                .is_some_and(|k| if *greater { k >= *key } else { k <= *key })
        })
        .into(),
        Node::Present(at) => any_value(e, at, m, |_| true).into(),
        Node::Extensible(x) => eval_extensible(x, e, m).into(),
    }
}

fn eval_extensible(x: &Extensible, e: &Entry, m: &dyn Membership) -> bool {
    let hit = match x.at {
        Some(at) => {
            let chained = match (&x.test, at.name) {
                (Test::InChain(ndn), "memberOf") => m.in_chain_member_of(e, ndn),
                (Test::InChain(ndn), "member") => m.in_chain_member(e, ndn),
                _ => false,
            };
            chained || any_value(e, at, m, |v| x.test.matches(v))
        }
        None => e.attrs.iter().any(|a| {
            schema::attribute(a.name).is_some_and(|at| x.test.applies_to(at))
                && a.values.iter().any(|v| x.test.matches(v))
        }),
    };
    hit || (x.dn_attributes && dn_attributes_match(x, e))
}

/// The `:dn` part of an extensible match: the assertion also holds if an AVA of the entry's
/// own DN satisfies it.
fn dn_attributes_match(x: &Extensible, e: &Entry) -> bool {
    if matches!(x.test, Test::InChain(_)) {
        return false;
    }
    let Ok(parsed) = dn::parse(&e.dn) else {
        return false;
    };
    parsed.rdns().iter().flat_map(|r| r.avas()).any(|ava| {
        if ava.is_hex() {
            return false;
        }
        let Some(ava_at) = schema::attribute(ava.attr()) else {
            return false;
        };
        x.at.is_none_or(|at| std::ptr::eq(at, ava_at))
            && x.test.applies_to(ava_at)
            && x.test.matches(ava.value())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Attr;
    use ldap3_proto::parse_ldap_filter_str;
    use std::collections::HashMap;

    const ALICE: &str = "uid=alice,ou=people,dc=contoso,dc=com";
    const ENGINEERING: &str = "cn=Engineering,ou=groups,dc=contoso,dc=com";
    const ALL_STAFF: &str = "cn=All Staff,ou=groups,dc=contoso,dc=com";
    const RND_NAME: &str = "R&D, Europe + \"Special\"";

    fn rnd_dn() -> String {
        dn::build("cn", RND_NAME, "ou=groups,dc=contoso,dc=com")
    }

    fn entry(kind: EntryKind, dn_str: &str, attrs: &[(&'static str, &[&str])]) -> Entry {
        Entry {
            dn: dn_str.into(),
            ndn: dn::normalize(dn_str).unwrap_or_default().into(),
            kind,
            tenant: 0,
            attrs: attrs
                .iter()
                .map(|(name, values)| Attr {
                    name,
                    values: values.iter().map(|v| (*v).into()).collect(),
                })
                .collect(),
            created: "20240115093000Z".into(),
            modified: "20250301120000Z".into(),
        }
    }

    fn alice() -> Entry {
        let rnd = rnd_dn();
        entry(
            EntryKind::User,
            ALICE,
            &[
                (
                    "objectClass",
                    &[
                        "top",
                        "person",
                        "organizationalPerson",
                        "inetOrgPerson",
                        "posixAccount",
                    ],
                ),
                ("uid", &["alice"]),
                ("cn", &["Alice Smith"]),
                ("sn", &["Smith"]),
                ("givenName", &["Alice"]),
                ("displayName", &["Alice Smith"]),
                ("mail", &["Alice.Smith@contoso.com"]),
                ("userPrincipalName", &["alice@contoso.com"]),
                ("uidNumber", &["10001"]),
                ("gidNumber", &["10001"]),
                ("homeDirectory", &["/home/alice"]),
                ("loginShell", &["/bin/bash"]),
                ("memberOf", &[rnd.as_str(), ENGINEERING]),
                ("entryUUID", &["6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60"]),
                ("telephoneNumber", &["+1 555-0100"]),
                ("sAMAccountName", &["alice"]),
            ],
        )
    }

    fn disabled_guest() -> Entry {
        entry(
            EntryKind::User,
            "uid=guest_fabrikam.com#ext#,ou=people,dc=contoso,dc=com",
            &[
                (
                    "objectClass",
                    &[
                        "top",
                        "person",
                        "organizationalPerson",
                        "inetOrgPerson",
                        "posixAccount",
                    ],
                ),
                ("uid", &["guest_fabrikam.com#ext#"]),
                ("cn", &["Guest User"]),
                ("sn", &["User"]),
                ("uidNumber", &["0"]),
                ("gidNumber", &["0"]),
                ("homeDirectory", &["/home/guest"]),
                ("nsAccountLock", &["TRUE"]),
            ],
        )
    }

    fn rnd_group() -> Entry {
        let rnd = rnd_dn();
        entry(
            EntryKind::Group,
            &rnd,
            &[
                ("objectClass", &["top", "groupOfNames", "posixGroup"]),
                ("cn", &[RND_NAME]),
                ("gidNumber", &["20001"]),
                // Same DN as ENGINEERING, spelled differently: still one member.
                (
                    "member",
                    &[
                        "UID=Alice, OU=People, DC=Contoso, DC=Com",
                        "CN=engineering,OU=Groups,dc=contoso,dc=com",
                    ],
                ),
                ("memberUid", &["alice", "Bob"]),
                ("description", &["Research; and development"]),
            ],
        )
    }

    fn people() -> Entry {
        entry(
            EntryKind::Container,
            "ou=people,dc=contoso,dc=com",
            &[
                ("objectClass", &["top", "organizationalUnit"]),
                ("ou", &["people"]),
            ],
        )
    }

    fn defaults_group() -> Entry {
        entry(
            EntryKind::Group,
            "cn=defaults,ou=groups,dc=contoso,dc=com",
            &[
                ("objectClass", &["top", "groupOfNames", "posixGroup"]),
                ("cn", &["defaults"]),
                ("gidNumber", &["20002"]),
            ],
        )
    }

    /// Transitive membership from explicit closure tables, keyed by normalised DNs.
    struct Graph {
        groups_of: HashMap<String, Vec<String>>,
        members_of: HashMap<String, Vec<String>>,
    }

    impl Graph {
        fn new() -> Graph {
            let n = |s: &str| dn::normalize(s).unwrap_or_default();
            let rnd = n(&rnd_dn());
            // alice ∈ R&D ⊂ Engineering ⊂ All Staff
            Graph {
                groups_of: HashMap::from([
                    (n(ALICE), vec![rnd.clone(), n(ENGINEERING), n(ALL_STAFF)]),
                    (rnd.clone(), vec![n(ENGINEERING), n(ALL_STAFF)]),
                ]),
                members_of: HashMap::from([
                    (n(ALL_STAFF), vec![n(ENGINEERING), rnd.clone(), n(ALICE)]),
                    (n(ENGINEERING), vec![rnd.clone(), n(ALICE)]),
                    (rnd, vec![n(ALICE)]),
                ]),
            }
        }
    }

    impl Membership for Graph {
        fn in_chain_member_of(&self, entry: &Entry, group_ndn: &str) -> bool {
            self.groups_of
                .get(&*entry.ndn)
                .is_some_and(|g| g.iter().any(|x| x == group_ndn))
        }

        fn in_chain_member(&self, group: &Entry, member_ndn: &str) -> bool {
            self.members_of
                .get(&*group.ndn)
                .is_some_and(|m| m.iter().any(|x| x == member_ndn))
        }
    }

    fn eq(a: &str, v: &str) -> LdapFilter {
        LdapFilter::Equality(a.into(), v.into())
    }

    fn present(a: &str) -> LdapFilter {
        LdapFilter::Present(a.into())
    }

    fn not(f: LdapFilter) -> LdapFilter {
        LdapFilter::Not(Box::new(f))
    }

    fn sub(a: &str, initial: Option<&str>, any: &[&str], final_: Option<&str>) -> LdapFilter {
        LdapFilter::Substring(
            a.into(),
            LdapSubstringFilter {
                initial: initial.map(Into::into),
                any: any.iter().map(|s| (*s).into()).collect(),
                final_: final_.map(Into::into),
            },
        )
    }

    fn ext(rule: Option<&str>, attr: Option<&str>, value: &str, dn_attributes: bool) -> LdapFilter {
        LdapFilter::Extensible(LdapMatchingRuleAssertion {
            matching_rule: rule.map(Into::into),
            type_: attr.map(Into::into),
            match_value: value.into(),
            dn_attributes,
        })
    }

    fn parsed(s: &str) -> LdapFilter {
        match parse_ldap_filter_str(s) {
            Ok(f) => f,
            Err(e) => panic!("test filter {s} does not parse: {e}"),
        }
    }

    fn ev(f: &LdapFilter, e: &Entry) -> Tri {
        evaluate(f, e, &Graph::new())
    }

    use Tri::{False as F, True as T, Undefined as U};

    #[test]
    fn three_valued_logic() {
        let e = alice();
        let t = present("objectClass");
        let f = eq("uid", "nobody");
        let u = eq("sudoHost", "ALL");
        assert_eq!(ev(&t, &e), T);
        assert_eq!(ev(&f, &e), F);
        assert_eq!(ev(&u, &e), U);
        assert_eq!(ev(&not(t.clone()), &e), F);
        assert_eq!(ev(&not(f.clone()), &e), T);
        assert_eq!(ev(&not(u.clone()), &e), U);
        let and = |v: Vec<LdapFilter>| LdapFilter::And(v);
        let or = |v: Vec<LdapFilter>| LdapFilter::Or(v);
        assert_eq!(ev(&and(vec![t.clone(), t.clone()]), &e), T);
        assert_eq!(ev(&and(vec![t.clone(), u.clone()]), &e), U);
        assert_eq!(ev(&and(vec![u.clone(), f.clone()]), &e), F);
        assert_eq!(ev(&and(vec![f.clone(), u.clone()]), &e), F);
        assert_eq!(ev(&or(vec![u.clone(), t.clone()]), &e), T);
        assert_eq!(ev(&or(vec![f.clone(), u.clone()]), &e), U);
        assert_eq!(ev(&or(vec![f.clone(), f.clone()]), &e), F);
        assert_eq!(ev(&and(vec![]), &e), T);
        assert_eq!(ev(&or(vec![]), &e), F);
        assert_eq!(ev(&not(and(vec![u.clone(), t.clone()])), &e), U);
        assert_eq!(ev(&not(or(vec![u, f])), &e), U);
    }

    #[test]
    fn unknown_attributes_are_undefined() {
        let e = alice();
        for f in [
            eq("sudoHost", "ALL"),
            present("sudoHost"),
            not(present("sudoHost")),
            present("userCertificate;binary"),
            sub("sudoUser", Some("a"), &[], None),
            LdapFilter::GreaterOrEqual("x-unknown".into(), "1".into()),
            ext(None, Some("sudoHost"), "ALL", false),
            ext(Some("1.2.3.4.5"), Some("uid"), "alice", false),
            ext(
                Some("objectIdentifierFirstComponentMatch"),
                Some("uid"),
                "alice",
                false,
            ),
        ] {
            assert_eq!(ev(&f, &e), U, "{f:?}");
        }
    }

    #[test]
    fn sssd_sudo_filter_never_matches() {
        let f = parsed(
            "(&(objectClass=sudoRole)(|(&(!(sudoHost=*))(cn=defaults))(sudoHost=ALL)\
             (sudoHost=web01)(sudoHost=web01.contoso.com)(sudoHost=192.168.1.10)\
             (sudoHost=192.168.1.0/24)(sudoHost=+*)))",
        );
        for e in [
            alice(),
            disabled_guest(),
            rnd_group(),
            people(),
            defaults_group(),
        ] {
            assert_ne!(ev(&f, &e), T, "{}", e.dn);
        }
        // The inner disjunction alone is Undefined, even for an entry named cn=defaults.
        if let LdapFilter::And(parts) = &f {
            assert_eq!(parts.get(1).map(|p| ev(p, &defaults_group())), Some(U));
        }
    }

    #[test]
    fn sssd_and_nslcd_lookups() {
        let user = parsed(
            "(&(uid=alice)(objectClass=posixAccount)(uid=*)(&(uidNumber=*)(!(uidNumber=0))))",
        );
        assert_eq!(ev(&user, &alice()), T);
        assert_eq!(ev(&user, &disabled_guest()), F);
        assert_eq!(ev(&user, &rnd_group()), F);
        let by_gid = parsed(
            "(&(gidNumber=20001)(objectClass=posixGroup)(cn=*)(&(gidNumber=*)(!(gidNumber=0))))",
        );
        assert_eq!(ev(&by_gid, &rnd_group()), T);
        assert_eq!(ev(&by_gid, &alice()), F);
        let base = parsed("(objectClass=posixAccount)");
        assert_eq!(ev(&base, &alice()), T);
        assert_eq!(ev(&base, &people()), F);
        // initgroups, with the member DN spelled differently from the stored value.
        let initgroups = LdapFilter::And(vec![
            eq("member", "uid=ALICE,ou=people, dc=contoso,dc=com"),
            eq("objectClass", "posixGroup"),
            present("cn"),
        ]);
        assert_eq!(ev(&initgroups, &rnd_group()), T);
        let nslcd = LdapFilter::And(vec![
            eq("objectClass", "posixGroup"),
            LdapFilter::Or(vec![eq("memberUid", "alice"), eq("member", ALICE)]),
        ]);
        assert_eq!(ev(&nslcd, &rnd_group()), T);
        assert_eq!(ev(&nslcd, &defaults_group()), F);
        // pfSense browsing containers.
        let pfsense = parsed("(|(ou=*)(cn=Users))");
        assert_eq!(ev(&pfsense, &people()), T);
        assert_eq!(ev(&pfsense, &alice()), F);
    }

    #[test]
    fn attribute_names_any_spelling() {
        let e = alice();
        for a in [
            "uid",
            "UID",
            "userid",
            "UserID",
            "0.9.2342.19200300.100.1.1",
            "uid;x-tag",
        ] {
            assert_eq!(ev(&eq(a, "alice"), &e), T, "{a}");
        }
        assert_eq!(ev(&eq("commonName", "ALICE   SMITH"), &e), T);
        assert_eq!(ev(&eq("surname", "smith"), &e), T);
        assert_eq!(ev(&eq("samaccountname", "Alice"), &e), T);
        assert_eq!(ev(&eq("mail", "alice.smith@CONTOSO.com"), &e), T);
        assert_eq!(ev(&eq("objectClass", "INETORGPERSON"), &e), T);
        assert_eq!(ev(&eq("objectClass", "2.5.6.6"), &e), T);
        assert_eq!(ev(&eq("objectClass", "groupOfNames"), &e), F);
        assert_eq!(
            ev(&LdapFilter::Approx("cn".into(), "alice smith".into()), &e),
            T
        );
    }

    #[test]
    fn case_rules_per_attribute() {
        let g = rnd_group();
        assert_eq!(ev(&eq("memberUid", "alice"), &g), T);
        assert_eq!(ev(&eq("memberUid", "ALICE"), &g), F);
        assert_eq!(ev(&eq("memberUid", "Bob"), &g), T);
        assert_eq!(ev(&eq("memberUid", "bob"), &g), F);
        assert_eq!(ev(&eq("cn", "r&d, europe + \"special\""), &g), T);
        assert_eq!(ev(&eq("homeDirectory", "/home/ALICE"), &alice()), F);
        assert_eq!(ev(&eq("homeDirectory", "/home/alice"), &alice()), T);
        // A known attribute the entry lacks is False, not Undefined.
        assert_eq!(ev(&eq("mail", "x@y"), &g), F);
        assert_eq!(ev(&present("mail"), &g), F);
        assert_eq!(ev(&not(present("mail")), &g), T);
    }

    #[test]
    fn integers_compare_numerically() {
        let e = alice();
        let ge = |v: &str| LdapFilter::GreaterOrEqual("uidNumber".into(), v.into());
        let le = |v: &str| LdapFilter::LessOrEqual("uidNumber".into(), v.into());
        assert_eq!(ev(&ge("1000"), &e), T);
        assert_eq!(ev(&ge("10001"), &e), T);
        assert_eq!(ev(&ge("10002"), &e), F);
        assert_eq!(ev(&le("9999"), &e), F); // lexically "10001" < "9999"
        assert_eq!(ev(&le("10001"), &e), T);
        assert_eq!(ev(&ge("abc"), &e), U);
        assert_eq!(ev(&eq("uidNumber", "abc"), &e), U);
        assert_eq!(ev(&not(eq("uidNumber", "abc")), &e), U);
        assert_eq!(ev(&eq("uidNumber", "010001"), &e), T);
        assert_eq!(ev(&eq("uidNumber", "+10001"), &e), T);
        assert_eq!(ev(&eq("gidNumber", "10002"), &e), F);
        // Text ordering for strings; none for DNs.
        assert_eq!(
            ev(&LdapFilter::GreaterOrEqual("cn".into(), "B".into()), &e),
            F
        );
        assert_eq!(ev(&LdapFilter::LessOrEqual("cn".into(), "b".into()), &e), T);
        assert_eq!(
            ev(
                &LdapFilter::GreaterOrEqual("member".into(), "cn=a".into()),
                &rnd_group()
            ),
            U
        );
    }

    #[test]
    fn substrings() {
        let e = alice();
        assert_eq!(ev(&sub("cn", None, &[], Some("SMITH")), &e), T);
        assert_eq!(ev(&sub("cn", Some("al"), &["sm"], None), &e), T);
        assert_eq!(ev(&sub("cn", Some("al"), &["ice", "sm"], Some("h")), &e), T);
        // Components may not overlap: "alice smith" has one 'h' at the end.
        assert_eq!(ev(&sub("cn", None, &["smith"], Some("h")), &e), F);
        assert_eq!(ev(&sub("cn", Some("alice "), &[], None), &e), T);
        assert_eq!(ev(&sub("cn", Some("alices"), &[], None), &e), F);
        assert_eq!(ev(&sub("cn", None, &["ALICE   SMITH"], None), &e), T);
        assert_eq!(ev(&sub("cn", None, &[], Some("Jones")), &e), F);
        assert_eq!(ev(&sub("mail", None, &[], Some("@contoso.com")), &e), T);
        assert_eq!(ev(&sub("telephoneNumber", None, &[], Some("0100")), &e), T);
        assert_eq!(ev(&sub("telephoneNumber", Some("+1555"), &[], None), &e), T);
        let g = rnd_group();
        assert_eq!(ev(&sub("memberUid", None, &[], Some("ob")), &g), T);
        assert_eq!(ev(&sub("memberUid", None, &[], Some("OB")), &g), F);
        assert_eq!(ev(&sub("memberUid", Some("b"), &[], None), &g), F);
        // No substring rule for DNs, integers or object classes.
        assert_eq!(ev(&sub("member", Some("uid="), &[], None), &g), U);
        assert_eq!(ev(&sub("uidNumber", Some("1"), &[], None), &e), U);
        assert_eq!(ev(&sub("objectClass", Some("posix"), &[], None), &e), U);
        assert_eq!(ev(&sub("sn", None, &[], None), &e), T);
    }

    #[test]
    fn dn_valued_attributes() {
        let e = alice();
        assert_eq!(
            ev(
                &eq("memberOf", "CN=Engineering, OU=Groups, DC=Contoso, DC=Com"),
                &e
            ),
            T
        );
        assert_eq!(
            ev(
                &eq(
                    "memberOf",
                    "cn=R\\26D\\2C Europe \\2B \\22Special\\22,ou=groups,dc=contoso,dc=com"
                ),
                &e
            ),
            T
        );
        assert_eq!(
            ev(&eq("memberOf", "cn=R&D,ou=groups,dc=contoso,dc=com"), &e),
            F
        );
        assert_eq!(ev(&eq("memberOf", "not a dn"), &e), U);
        assert_eq!(ev(&eq("member", ENGINEERING), &rnd_group()), T);
    }

    #[test]
    fn operational_attributes_in_filters() {
        let e = alice();
        assert_eq!(
            ev(&eq("entryDN", "UID=Alice,OU=People,DC=Contoso,DC=Com"), &e),
            T
        );
        assert_eq!(
            ev(&eq("entrydn", "uid=bob,ou=people,dc=contoso,dc=com"), &e),
            F
        );
        assert_eq!(ev(&present("entryDN"), &e), T);
        assert_eq!(ev(&eq("structuralObjectClass", "inetOrgPerson"), &e), T);
        assert_eq!(
            ev(
                &eq("structuralObjectClass", "organizationalUnit"),
                &people()
            ),
            T
        );
        assert_eq!(ev(&eq("hasSubordinates", "true"), &people()), T);
        assert_eq!(ev(&eq("hasSubordinates", "TRUE"), &e), F);
        assert_eq!(ev(&eq("subschemaSubentry", "CN=SUBSCHEMA"), &e), T);
        let ts = |a: &str, ge: bool, v: &str| {
            if ge {
                LdapFilter::GreaterOrEqual(a.into(), v.into())
            } else {
                LdapFilter::LessOrEqual(a.into(), v.into())
            }
        };
        assert_eq!(ev(&ts("createTimestamp", true, "20240101000000Z"), &e), T);
        assert_eq!(
            ev(&ts("createTimestamp", true, "20240115103000+0100"), &e),
            T
        );
        assert_eq!(
            ev(&ts("createTimestamp", true, "20240115103001+0100"), &e),
            F
        );
        assert_eq!(ev(&ts("modifyTimestamp", false, "20200101000000Z"), &e), F);
        assert_eq!(ev(&ts("modifyTimestamp", false, "yesterday"), &e), U);
        assert_eq!(ev(&eq("modifyTimestamp", "202503011200Z"), &e), T);

        assert_eq!(
            operational_value(&e, "entryDN"),
            Some(vec![ALICE.to_string()])
        );
        assert_eq!(
            operational_value(&e, "HASSUBORDINATES"),
            Some(vec!["FALSE".to_string()])
        );
        assert_eq!(
            operational_value(&people(), "hasSubordinates"),
            Some(vec!["TRUE".to_string()])
        );
        assert_eq!(
            operational_value(&e, "subschemaSubentry"),
            Some(vec![SUBSCHEMA_DN.to_string()])
        );
        assert_eq!(operational_value(&e, "uid"), None);
        assert_eq!(operational_value(&e, "namingContexts"), None);
        assert_eq!(
            structural_object_class(EntryKind::ServiceAccount),
            "applicationProcess"
        );
        assert_eq!(
            structural_object_class(EntryKind::PrivateGroup),
            "groupOfNames"
        );
        assert_eq!(structural_object_class(EntryKind::Root), "organization");
    }

    #[test]
    fn other_syntaxes() {
        let e = alice();
        let guest = disabled_guest();
        assert_eq!(ev(&eq("nsAccountLock", "true"), &guest), T);
        assert_eq!(ev(&eq("nsAccountLock", "TRUE"), &e), F);
        assert_eq!(ev(&not(eq("nsAccountLock", "TRUE")), &e), T);
        assert_eq!(ev(&eq("nsAccountLock", "1"), &guest), U);
        assert_eq!(
            ev(&eq("entryUUID", "6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60"), &e),
            T
        );
        assert_eq!(
            ev(&eq("entryUUID", "6f2c1b6e8a3d4c599e072b1d3c4e5f60"), &e),
            T
        );
        assert_eq!(ev(&eq("entryUUID", "alice"), &e), U);
        assert_eq!(ev(&eq("telephoneNumber", "+15550100"), &e), T);
        assert_eq!(ev(&eq("mobile", "+15550100"), &e), F);
    }

    #[test]
    fn in_chain_membership() {
        let g = Graph::new();
        let e = alice();
        let chain = |attr: &str, v: &str| ext(Some(IN_CHAIN), Some(attr), v, false);
        const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
        // All Staff is reached only through nesting: not among alice's memberOf values.
        assert_eq!(evaluate(&chain("memberOf", ALL_STAFF), &e, &g), T);
        assert_eq!(
            evaluate(
                &chain("memberOf", "CN=ALL STAFF,OU=GROUPS,DC=CONTOSO,DC=COM"),
                &e,
                &g
            ),
            T
        );
        assert_eq!(evaluate(&eq("memberOf", ALL_STAFF), &e, &g), F);
        assert_eq!(
            evaluate(&chain("memberOf", ALL_STAFF), &disabled_guest(), &g),
            F
        );
        // Without a group graph, direct values still match.
        assert_eq!(
            evaluate(&chain("memberOf", ENGINEERING), &e, &NoMembership),
            T
        );
        assert_eq!(
            evaluate(&chain("memberOf", ALL_STAFF), &e, &NoMembership),
            F
        );
        // The member side: alice is (directly) in R&D; is she in Engineering via R&D?
        let engineering = entry(
            EntryKind::Group,
            ENGINEERING,
            &[
                ("objectClass", &["top", "groupOfNames", "posixGroup"]),
                ("member", &[rnd_dn().as_str()]),
            ],
        );
        assert_eq!(evaluate(&chain("member", ALICE), &engineering, &g), T);
        assert_eq!(evaluate(&eq("member", ALICE), &engineering, &g), F);
        assert_eq!(
            evaluate(
                &chain("member", "uid=bob,ou=people,dc=contoso,dc=com"),
                &engineering,
                &g
            ),
            F
        );
        // Misuse is Undefined, never an error.
        assert_eq!(evaluate(&chain("memberOf", "garbage"), &e, &g), U);
        assert_eq!(evaluate(&chain("uid", "uid=alice"), &e, &g), U);
        assert_eq!(
            evaluate(&ext(Some(IN_CHAIN), None, ALL_STAFF, false), &e, &g),
            U
        );
        assert_eq!(evaluate(&chain("sudoUser", ALL_STAFF), &e, &g), U);
    }

    #[test]
    fn extensible_rules() {
        let e = alice();
        let x =
            |rule: Option<&str>, attr: Option<&str>, v: &str| ev(&ext(rule, attr, v, false), &e);
        assert_eq!(x(Some("caseExactMatch"), Some("uid"), "alice"), T);
        assert_eq!(x(Some("2.5.13.5"), Some("uid"), "Alice"), F);
        assert_eq!(x(Some("2.5.13.2"), Some("cn"), "ALICE SMITH"), T);
        assert_eq!(x(None, Some("cn"), "alice smith"), T);
        assert_eq!(x(None, Some("objectClass"), "2.5.6.6"), T);
        assert_eq!(x(Some("integerMatch"), Some("uidNumber"), "10001"), T);
        assert_eq!(
            x(Some("integerOrderingMatch"), Some("uidNumber"), "10002"),
            T
        );
        assert_eq!(
            x(Some("integerOrderingMatch"), Some("uidNumber"), "10001"),
            F
        );
        assert_eq!(x(Some("integerMatch"), Some("cn"), "5"), U);
        assert_eq!(x(Some("integerMatch"), Some("uidNumber"), "five"), U);
        assert_eq!(
            x(
                Some("distinguishedNameMatch"),
                Some("memberOf"),
                "cn=engineering,ou=groups,dc=contoso,dc=com"
            ),
            T
        );
        // 10001 = 0b10_0111_0001_0001
        assert_eq!(
            x(Some("1.2.840.113556.1.4.803"), Some("uidNumber"), "17"),
            T
        );
        assert_eq!(x(Some("1.2.840.113556.1.4.803"), Some("uidNumber"), "2"), F);
        assert_eq!(x(Some("1.2.840.113556.1.4.804"), Some("uidNumber"), "6"), F);
        assert_eq!(x(Some("1.2.840.113556.1.4.804"), Some("uidNumber"), "3"), T);
        assert_eq!(x(Some("1.2.840.113556.1.4.803"), Some("uid"), "3"), U);
        assert_eq!(
            x(Some("caseIgnoreSubstringsMatch"), Some("cn"), "AL*SM*H"),
            T
        );
        assert_eq!(
            x(Some("caseIgnoreSubstringsMatch"), Some("cn"), "*jones"),
            F
        );
        assert_eq!(
            x(Some("caseIgnoreSubstringsMatch"), Some("cn"), "no star"),
            U
        );
        // No attribute type: every attribute the rule applies to.
        assert_eq!(x(Some("caseIgnoreMatch"), None, "SMITH"), T);
        assert_eq!(x(Some("caseExactMatch"), None, "smith"), F);
        assert_eq!(x(Some("integerMatch"), None, "10001"), T);
        assert_eq!(x(None, None, "alice"), U);
        // dnAttributes: the entry's own DN takes part.
        let d = |rule: Option<&str>, attr: Option<&str>, v: &str| ev(&ext(rule, attr, v, true), &e);
        assert_eq!(x(None, Some("ou"), "people"), F);
        assert_eq!(d(None, Some("ou"), "People"), T);
        assert_eq!(d(None, Some("ou"), "groups"), F);
        assert_eq!(d(Some("caseExactMatch"), None, "people"), T);
        assert_eq!(d(Some("caseExactMatch"), None, "People"), F);
        assert_eq!(d(Some("caseIgnoreMatch"), Some("dc"), "CONTOSO"), T);
        let parsed_ext = parsed("(ou:dn:=people)");
        assert_eq!(ev(&parsed_ext, &e), T);
    }

    #[test]
    fn limits() {
        let leaf = eq("uid", "a");
        assert_eq!(check_limits(&leaf, 1, 1), Ok(()));
        let mut deep = leaf.clone();
        for _ in 0..9 {
            deep = not(deep);
        }
        assert_eq!(check_limits(&deep, 10, 100), Ok(()));
        assert_eq!(
            check_limits(&deep, 9, 100),
            Err(FilterLimitError::TooDeep { max: 9 })
        );
        let wide = LdapFilter::Or(vec![leaf.clone(); 100]);
        assert_eq!(check_limits(&wide, 2, 101), Ok(()));
        assert_eq!(
            check_limits(&wide, 2, 100),
            Err(FilterLimitError::TooManyElements { max: 100 })
        );
        assert_eq!(
            check_limits(&wide, 1, 1000),
            Err(FilterLimitError::TooDeep { max: 1 })
        );
        // Very deep input is rejected without recursion.
        let mut very_deep = leaf;
        for _ in 0..10_000 {
            very_deep = not(very_deep);
        }
        assert_eq!(
            check_limits(&very_deep, 64, 1_000_000),
            Err(FilterLimitError::TooDeep { max: 64 })
        );
        // Unwind the chain iteratively so dropping it does not recurse 10k frames either.
        while let LdapFilter::Not(inner) = very_deep {
            very_deep = *inner;
        }
    }

    #[test]
    fn equality_keys_agree_with_evaluation() {
        assert_eq!(
            equality_key("UID", " ALICE "),
            Some(("uid", "alice".to_string()))
        );
        assert_eq!(
            equality_key("member", "UID=Alice, OU=People,DC=Contoso,DC=Com"),
            Some(("member", ALICE.to_string()))
        );
        assert_eq!(
            equality_key("objectClass", "2.5.6.6"),
            Some(("objectClass", "person".to_string()))
        );
        assert_eq!(
            equality_key("uidNumber", "0100"),
            Some(("uidNumber", "100".to_string()))
        );
        assert_eq!(
            equality_key("memberUid", "Bob"),
            Some(("memberUid", "Bob".to_string()))
        );
        assert_eq!(equality_key("uidNumber", "abc"), None);
        assert_eq!(equality_key("sudoHost", "ALL"), None);
        // Indexing each stored value with equality_key finds what the evaluator matches.
        let m = Graph::new();
        for e in [alice(), disabled_guest(), rnd_group(), people()] {
            for a in &e.attrs {
                for v in &a.values {
                    let Some((name, key)) = equality_key(a.name, v) else {
                        continue;
                    };
                    assert_eq!(name, a.name);
                    // Asserting the normalised key finds the entry.
                    assert_eq!(evaluate(&eq(name, &key), &e, &m), T, "{name}={key}");
                    assert_eq!(equality_key(name, &key).map(|k| k.1), Some(key));
                }
            }
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    fn random_filter(rng: &mut Rng, depth: usize) -> LdapFilter {
        const ATTRS: &[&str] = &[
            "uid",
            "CN",
            "memberUid",
            "uidNumber",
            "member",
            "memberOf",
            "objectClass",
            "entryDN",
            "sudoHost",
            "mail;x",
            "nsAccountLock",
            "createTimestamp",
            "hasSubordinates",
        ];
        const VALUES: &[&str] = &[
            "alice",
            "Bob",
            "10001",
            "abc",
            "",
            "*",
            "TRUE",
            ALICE,
            ENGINEERING,
            "cn=\\",
            "é",
            "20240101000000Z",
            "posixAccount",
            " ",
            "\\2A",
            "R&D",
        ];
        const RULES: &[&str] = &[
            "2.5.13.2",
            "caseExactMatch",
            "1.2.840.113556.1.4.1941",
            "1.2.840.113556.1.4.803",
            "caseIgnoreSubstringsMatch",
            "bogus",
            "integerOrderingMatch",
        ];
        let a = rng.pick(ATTRS).to_string();
        let v = rng.pick(VALUES).to_string();
        let choice = if depth == 0 {
            3 + rng.next() % 7
        } else {
            rng.next() % 10
        };
        match choice {
            0 => LdapFilter::And(
                (0..rng.next() % 4)
                    .map(|_| random_filter(rng, depth - 1))
                    .collect(),
            ),
            1 => LdapFilter::Or(
                (0..rng.next() % 4)
                    .map(|_| random_filter(rng, depth - 1))
                    .collect(),
            ),
            2 => not(random_filter(rng, depth - 1)),
            3 => LdapFilter::Equality(a, v),
            4 => sub(&a, Some(&v), &[rng.pick(VALUES)], Some(rng.pick(VALUES))),
            5 => LdapFilter::GreaterOrEqual(a, v),
            6 => LdapFilter::LessOrEqual(a, v),
            7 => LdapFilter::Present(a),
            8 => LdapFilter::Approx(a, v),
            _ => ext(
                (!rng.next().is_multiple_of(3)).then(|| rng.pick(RULES)),
                (!rng.next().is_multiple_of(3)).then_some(a.as_str()),
                &v,
                rng.next().is_multiple_of(2),
            ),
        }
    }

    #[test]
    fn random_filters_never_panic_and_negate_consistently() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        let g = Graph::new();
        let entries = [
            alice(),
            disabled_guest(),
            rnd_group(),
            people(),
            defaults_group(),
        ];
        let mut seen = [0usize; 3];
        for _ in 0..3_000 {
            let f = random_filter(&mut rng, 3);
            let compiled = compile(&f);
            let negated = compile(&not(f.clone()));
            for e in &entries {
                let r = compiled.evaluate(e, &g);
                assert_eq!(negated.evaluate(e, &g), !r, "{f:?} on {}", e.dn);
                assert_eq!(evaluate(&f, e, &g), r);
                seen[match r {
                    T => 0,
                    F => 1,
                    U => 2,
                }] += 1;
            }
        }
        // All three outcomes were exercised.
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    #[test]
    fn compiled_filter_reuse() {
        let f = compile(&parsed("(&(objectClass=posixAccount)(uidNumber>=1000))"));
        let matched: Vec<_> = [alice(), disabled_guest(), rnd_group(), people()]
            .iter()
            .filter(|e| f.matches(e, &NoMembership))
            .map(|e| e.dn.to_string())
            .collect();
        assert_eq!(matched, vec![ALICE.to_string()]);
    }
}
