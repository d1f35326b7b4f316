//! Search filter evaluation (RFC 4511 §4.5.1.7, three-valued), filter size limits, the
//! operational attributes computed per entry, and the equality keys shared with the indexes.

use std::ops::Not;

use ldap3_proto::proto::{LdapFilter, LdapMatchingRuleAssertion, LdapSubstringFilter};
use thiserror::Error;

use super::dn;
use super::entry::{Entry, EntryKind, Values};
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

/// The structural object class of an entry (`structuralObjectClass`): by its kind, and for
/// groups by whether they have members (groupOfNames requires one).
pub fn structural_object_class(e: &Entry) -> &'static str {
    match e.kind {
        EntryKind::Root => "organization",
        EntryKind::Container => "organizationalUnit",
        EntryKind::User => "inetOrgPerson",
        EntryKind::Group | EntryKind::PrivateGroup if e.get("member").is_none() => {
            schema::EMPTY_GROUP_CLASS
        }
        EntryKind::Group | EntryKind::PrivateGroup => "groupOfNames",
        EntryKind::ServiceAccount => "applicationProcess",
        EntryKind::Dse => "",
    }
}

/// The values of an operational attribute computed from the entry (`entryDN`,
/// `createTimestamp`, `modifyTimestamp`, `structuralObjectClass`, `hasSubordinates`,
/// `subschemaSubentry`), by any spelling of its name; `None` for every other attribute.
pub fn operational_value(e: &Entry, canonical_name: &str) -> Option<Vec<String>> {
    if e.kind == EntryKind::Dse {
        return None;
    }
    let at = schema::attribute(canonical_name)?;
    let value = match at.name {
        "entryDN" => e.dn().to_string(),
        "createTimestamp" => e.created().to_string(),
        "modifyTimestamp" => e.modified().to_string(),
        "structuralObjectClass" => structural_object_class(e).to_string(),
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
    /// The syntax of the values the named rule applies to (`rule_value_syntax`); `None`
    /// when no rule was named (the type's own equality rule applies).
    syntax: Option<&'static str>,
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

/// The syntax of the attribute values a rule applies to (RFC 4512 §4.1.4 matchingRuleUse): a
/// rule's own syntax for equality and ordering rules; for substrings rules, whose assertion
/// syntax is Substring Assertion, the syntax of their equality counterpart.
fn rule_value_syntax(rule: &schema::MatchingRule) -> &'static str {
    use schema::syntax as s;
    match rule.oid {
        "2.5.13.4" | "2.5.13.7" => s::DIRECTORY_STRING,
        "1.3.6.1.4.1.1466.109.114.3" => s::IA5_STRING,
        "2.5.13.21" => s::TELEPHONE_NUMBER,
        _ => rule.syntax,
    }
}

impl Extensible {
    /// Whether the named rule may be applied to values of `at`: the attribute's syntax is the
    /// one the rule is for, so caseIgnoreIA5Match does not apply to cn (Directory String) nor
    /// caseIgnoreMatch to memberUid (IA5 String).
    fn applies_to(&self, at: &AttributeType) -> bool {
        match &self.test {
            Test::BitAnd(_) | Test::BitOr(_) => at.equality == Matching::Integer,
            Test::InChain(_) => at.equality == Matching::Dn,
            _ => self.syntax.is_none_or(|s| s == at.syntax),
        }
    }
}

impl Test {
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

/// The attribute description a request decoder gives a filter item whose assertion value is
/// not UTF-8 (RFC 4511 §4.1.6 allows any octets, and ldap3_proto's filter holds `String`s):
/// this prefix, then the description as sent; the value is dropped. No client can mean it
/// otherwise: a NUL is never part of a valid attribute description (RFC 4512 §2.5).
pub const UNDECODABLE_VALUE_PREFIX: &str = "\u{0}undecodable;";

/// The attribute description behind an [`UNDECODABLE_VALUE_PREFIX`] marker.
pub fn undecodable_attribute(desc: &str) -> Option<&str> {
    desc.strip_prefix(UNDECODABLE_VALUE_PREFIX)
}

/// What a filter item with a non-UTF-8 assertion value evaluates to. Every syntax this server
/// serves except Octet String is UTF-8 text, so there the value is invalid: Undefined (RFC 4511
/// §4.5.1.7). An Octet String takes any octets; it is a valid value that no stored value
/// (all UTF-8) equals or contains: False.
fn undecodable_value(desc: &str) -> Tri {
    match schema::attribute(desc) {
        Some(at) if at.syntax == schema::syntax::OCTET_STRING => Tri::False,
        _ => Tri::Undefined,
    }
}

fn compile_node(f: &LdapFilter) -> Node {
    let marked = match f {
        LdapFilter::Equality(a, _)
        | LdapFilter::Approx(a, _)
        | LdapFilter::GreaterOrEqual(a, _)
        | LdapFilter::LessOrEqual(a, _)
        | LdapFilter::Substring(a, _) => undecodable_attribute(a),
        _ => None,
    };
    if let Some(desc) = marked {
        return Node::Const(undecodable_value(desc));
    }
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
    if !at.ordering || !matching::valid(at.syntax, v) {
        return None;
    }
    let key = matching::order_key(at.equality, v)?;
    Some(Node::Ordering { at, key, greater })
}

/// Prepares a substring component with the values' own preparation (`matching::fold`),
/// without trimming: the space in `(cn=John *)` is significant.
fn prepare_component(m: Matching, s: &str) -> String {
    match m {
        Matching::CaseIgnore => matching::fold_component(s, true),
        Matching::CaseExact => matching::fold_component(s, false),
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
    // Each component must be a valid piece of a value (RFC 4517 §3.3.30): no non-ASCII in an
    // IA5 String, for instance.
    let components = s.initial.iter().chain(&s.any).chain(s.final_.iter());
    if !components
        .into_iter()
        .all(|c| c.is_empty() || matching::valid(at.syntax, c))
    {
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
    if let Some(t) = &mra.type_
        && let Some(real) = undecodable_attribute(t)
    {
        return Some(Node::Const(undecodable_value(real)));
    }
    let at = match &mra.type_ {
        Some(t) => Some(schema::attribute(t)?),
        None => None,
    };
    let v = mra.match_value.as_str();
    let rule = match &mra.matching_rule {
        Some(r) => Some(schema::matching_rule(r)?),
        None => None,
    };
    let kind = match (rule, at) {
        (Some(rule), _) => rule.kind,
        (None, Some(at)) => RuleKind::Equality(at.equality),
        // Neither a rule nor a type: nothing to compare with.
        (None, None) => return None,
    };
    let syntax = rule.map(rule_value_syntax);
    // The assertion must be valid for the rule's assertion syntax (or the type's).
    let assertion_syntax = rule.map_or_else(|| at.map_or("", |a| a.syntax), |r| r.syntax);
    if !matching::valid(assertion_syntax, v) {
        return None;
    }
    let test = match kind {
        RuleKind::Equality(m) => {
            let key = match at {
                // The type's own rule, named or not: its key, so `(objectClass:2.5.13.0:=2.5.6.6)`
                // maps the OID to the class name as `(objectClass=2.5.6.6)` does.
                Some(at) if at.equality == m && syntax.is_none_or(|s| s == at.syntax) => {
                    matching::normalize_value(at, v)?
                }
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
    let x = Extensible {
        at,
        test,
        syntax,
        dn_attributes: mra.dn_attributes,
    };
    if at.is_some_and(|at| !x.applies_to(at)) {
        return None;
    }
    Some(Node::Extensible(Box::new(x)))
}

fn stored_values<'e>(e: &'e Entry, at: &AttributeType) -> Values<'e> {
    e.attrs.get_type(at).map_or(Values::EMPTY, |a| a.values)
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
    stored_values(e, at).any(pred)
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
                && stored_values(e, at).iter().any(|v| v == &**key)
            {
                return Tri::True;
            }
            any_value(e, at, m, |v| matching::value_matches(at.equality, v, key)).into()
        }
        Node::EntryDn(key) => (*e.ndn() == **key).into(),
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
            schema::attribute(a.name).is_some_and(|at| x.applies_to(at))
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
    let Ok(parsed) = dn::parse(e.dn()) else {
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
            && x.applies_to(ava_at)
            && x.test.matches(ava.value())
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod throughput;
