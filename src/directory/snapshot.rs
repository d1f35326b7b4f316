//! The immutable `Snapshot` LDAP clients read: every tenant's entries in DIT order, with the
//! indexes that make equality and base lookups cost the same at 100 entries and at 300,000
//! (DESIGN.md §8). A sync builds a new one off to the side and swaps it in atomically;
//! searches in flight finish on the one they started with.

use super::build::TenantBuild;
use super::dn;
use super::entry::Entry;
use super::filter::{self, Membership, Tri};
use super::schema;
use ldap3_proto::proto::{LdapFilter, LdapSearchScope};
use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::sync::OnceLock;
// FxHash instead of SipHash: keys come from the tenant's own directory data (not from LDAP
// clients, whose values are only looked up), and hashing ~3M index values per build with
// SipHash was a visible share of a sync round.

pub type EntryId = u32;

/// Attributes with an equality index (DESIGN.md §8, plus the AD-style names appliances use).
pub const INDEXED: &[&str] = &[
    "objectClass",
    "uid",
    "mail",
    "cn",
    "uidNumber",
    "gidNumber",
    "member",
    "memberUid",
    "memberOf",
    "entryUUID",
    "sAMAccountName",
    "userPrincipalName",
];

const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
const NO_PARENT: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: String,
    pub base_dn: String,
    pub base_ndn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    /// The base DN is not in the directory; `matched_dn` is its closest existing ancestor.
    NoSuchObject { matched_dn: String },
}

pub struct Snapshot {
    pub tenants: Vec<TenantInfo>,
    /// Increases with every snapshot a server builds; tells paged searches the data changed.
    pub generation: u64,
    entries: Vec<Entry>,
    /// Exclusive end of each entry's subtree: descendants of `i` are `i+1 .. subtree_end[i]`.
    subtree_end: Vec<u32>,
    parent: Vec<u32>,
    by_ndn: HashMap<Box<str>, EntryId>,
    /// canonical attribute name → normalised value → sorted entry ids. Each attribute's index
    /// is built on first use or by `warm` (see `new_lazy`).
    index: HashMap<&'static str, OnceLock<AttrIndex>>,
    /// group entry id → every entry that is a member directly or through nested groups (sorted).
    closure: OnceLock<HashMap<EntryId, Vec<EntryId>>>,
}

type AttrIndex = HashMap<Box<str>, Vec<EntryId>>;

impl Snapshot {
    pub fn empty() -> Snapshot {
        Snapshot::new(0, Vec::new())
    }

    /// A snapshot whose indexes are built on first use (or by `warm`): what a start from the
    /// stored directory serves, so the first answer does not wait for all of them.
    pub fn new_lazy(generation: u64, builds: Vec<TenantBuild>) -> Snapshot {
        let mut tenants = Vec::new();
        let mut entries = Vec::new();
        for b in builds {
            tenants.push(b.info);
            entries.extend(b.entries);
        }
        let n = entries.len();
        let mut by_ndn = HashMap::with_capacity_and_hasher(n, Default::default());
        for (i, e) in entries.iter().enumerate() {
            by_ndn.entry(e.ndn.clone()).or_insert(i as EntryId);
        }
        let mut parent = vec![NO_PARENT; n];
        for (i, e) in entries.iter().enumerate() {
            if let Some(p) = dn::parent_ndn(&e.ndn).and_then(|p| by_ndn.get(p)) {
                parent[i] = *p;
            }
        }
        // Builders emit each subtree contiguously after its root, so one backwards pass
        // propagates subtree ends up the tree.
        let mut subtree_end: Vec<u32> = (1..=n as u32).collect();
        for i in (0..n).rev() {
            let p = parent[i];
            if p != NO_PARENT && (p as usize) < i {
                subtree_end[p as usize] = subtree_end[p as usize].max(subtree_end[i]);
            }
        }
        Snapshot {
            tenants,
            generation,
            entries,
            subtree_end,
            parent,
            by_ndn,
            index: INDEXED.iter().map(|a| (*a, OnceLock::new())).collect(),
            closure: OnceLock::new(),
        }
    }

    /// A snapshot with every index built: what a sync round swaps in, so no client request
    /// ever waits for an index.
    pub fn new(generation: u64, builds: Vec<TenantBuild>) -> Snapshot {
        let snap = Snapshot::new_lazy(generation, builds);
        snap.warm();
        snap
    }

    /// Build every index and the nested-group closure that is not built yet. After a start
    /// from the stored directory this runs on a background thread while the listeners already
    /// answer; a request that needs an index first builds (or waits for) just that one.
    pub fn warm(&self) {
        for a in INDEXED {
            let _ = self.attr_index(a);
        }
        let _ = self.closure();
    }

    fn attr_index(&self, canon: &str) -> Option<&AttrIndex> {
        let cell = self.index.get(canon)?;
        Some(cell.get_or_init(|| self.build_index(canon)))
    }

    fn build_index(&self, canon: &str) -> AttrIndex {
        let mut slot = AttrIndex::default();
        let Some(at) = schema::attribute(canon) else {
            return slot;
        };
        for (i, e) in self.entries.iter().enumerate() {
            for a in e.attrs.iter().filter(|a| a.name == at.name) {
                for v in &a.values {
                    if let Some(key) = schema::normalize_value_cow(at, v) {
                        // Most values repeat (objectClass, gidNumber, member): find before
                        // inserting so the key is only boxed for a new value.
                        let ids = match slot.get_mut(&*key) {
                            Some(ids) => ids,
                            None => slot.entry(Box::from(&*key)).or_default(),
                        };
                        if ids.last() != Some(&(i as EntryId)) {
                            ids.push(i as EntryId);
                        }
                    }
                }
            }
        }
        slot
    }

    fn closure(&self) -> &HashMap<EntryId, Vec<EntryId>> {
        self.closure.get_or_init(|| self.member_closure())
    }

    fn member_closure(&self) -> HashMap<EntryId, Vec<EntryId>> {
        super::posix::member_closure(&self.entries, |ndn| self.by_ndn.get(ndn).copied())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry behind an id handed out by `lookup` or `search` on this snapshot.
    pub fn entry(&self, id: EntryId) -> &Entry {
        &self.entries[id as usize]
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn lookup(&self, ndn: &str) -> Option<EntryId> {
        self.by_ndn.get(ndn).copied()
    }

    pub fn has_children(&self, id: EntryId) -> bool {
        self.subtree_end
            .get(id as usize)
            .is_some_and(|end| *end > id + 1)
    }

    pub fn tenant_of(&self, id: EntryId) -> u16 {
        self.entries.get(id as usize).map(|e| e.tenant).unwrap_or(0)
    }

    /// Entries whose equality index holds `value` for `attr` (empty if none or not indexed).
    pub fn find_eq(&self, attr: &str, value: &str) -> &[EntryId] {
        match filter::equality_key(attr, value) {
            Some((canon, key)) => self
                .attr_index(canon)
                .and_then(|m| m.get(key.as_str()))
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            None => &[],
        }
    }

    /// Every entry matching `filter` within `scope` of `base_ndn`, in DIT order.
    pub fn search(
        &self,
        base_ndn: &str,
        scope: LdapSearchScope,
        f: &LdapFilter,
    ) -> Result<Vec<EntryId>, SearchError> {
        let Some(base) = self.lookup(base_ndn) else {
            return Err(SearchError::NoSuchObject {
                matched_dn: self.matched_dn(base_ndn),
            });
        };
        let (lo, hi) = match scope {
            LdapSearchScope::Base => (base, base + 1),
            LdapSearchScope::OneLevel => (base + 1, self.subtree_end[base as usize]),
            _ => (base, self.subtree_end[base as usize]),
        };
        let one_level = matches!(scope, LdapSearchScope::OneLevel);
        // What the indexes did not settle; `None` when they answered the whole filter (a
        // listing of `(objectClass=posixAccount)` then costs no per-entry evaluation).
        let residual = self.residual(f);
        let keep = |id: EntryId| -> bool {
            (!one_level || self.parent[id as usize] == base)
                && residual.as_ref().is_none_or(|r| {
                    filter::evaluate(r, &self.entries[id as usize], self) == Tri::True
                })
        };
        Ok(match self.plan(f) {
            Plan::All if one_level => {
                // Hop from child to child over their subtrees: O(children), not O(subtree).
                let mut out = Vec::new();
                let mut i = lo;
                while i < hi {
                    if keep(i) {
                        out.push(i);
                    }
                    i = self.subtree_end[i as usize].max(i + 1);
                }
                out
            }
            Plan::All => (lo..hi).filter(|id| keep(*id)).collect(),
            Plan::Ids(ids) => {
                let start = ids.partition_point(|x| *x < lo);
                let end = ids.partition_point(|x| *x < hi);
                ids[start..end]
                    .iter()
                    .copied()
                    .filter(|id| keep(*id))
                    .collect()
            }
        })
    }

    fn matched_dn(&self, ndn: &str) -> String {
        let mut cur = dn::parent_ndn(ndn);
        while let Some(p) = cur {
            if let Some(id) = self.lookup(p) {
                return self.entries[id as usize].dn.to_string();
            }
            cur = dn::parent_ndn(p);
        }
        String::new()
    }

    /// A sorted superset of the entries `f` can match, from the indexes, or `All` when the
    /// indexes cannot narrow it (the filter is then evaluated over the whole scope).
    fn plan<'a>(&'a self, f: &LdapFilter) -> Plan<'a> {
        match f {
            LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) => self.plan_eq(a, v),
            LdapFilter::And(fs) => {
                let mut plans: Vec<Cow<'a, [EntryId]>> = fs
                    .iter()
                    .filter_map(|f| match self.plan(f) {
                        Plan::Ids(ids) => Some(ids),
                        Plan::All => None,
                    })
                    .collect();
                if plans.is_empty() {
                    return Plan::All;
                }
                plans.sort_by_key(|p| p.len());
                let mut acc = plans.swap_remove(0);
                for p in plans {
                    if acc.is_empty() {
                        break;
                    }
                    acc = Cow::Owned(
                        acc.iter()
                            .copied()
                            .filter(|x| p.binary_search(x).is_ok())
                            .collect(),
                    );
                }
                Plan::Ids(acc)
            }
            LdapFilter::Or(fs) => {
                let mut all: Vec<EntryId> = Vec::new();
                for f in fs {
                    match self.plan(f) {
                        Plan::Ids(ids) => all.extend_from_slice(&ids),
                        Plan::All => return Plan::All,
                    }
                }
                all.sort_unstable();
                all.dedup();
                Plan::Ids(Cow::Owned(all))
            }
            LdapFilter::Extensible(m) => {
                let (Some(rule), Some(attr)) = (m.matching_rule.as_deref(), m.type_.as_deref())
                else {
                    return Plan::All;
                };
                if rule != IN_CHAIN || m.dn_attributes {
                    return Plan::All;
                }
                let Ok(target) = dn::normalize(&m.match_value) else {
                    return Plan::Ids(Cow::Borrowed(&[]));
                };
                let Some(tid) = self.lookup(&target) else {
                    return Plan::Ids(Cow::Borrowed(&[]));
                };
                if attr.eq_ignore_ascii_case("memberOf") {
                    // Members of the group, transitively.
                    Plan::Ids(Cow::Borrowed(
                        self.closure().get(&tid).map(Vec::as_slice).unwrap_or(&[]),
                    ))
                } else if attr.eq_ignore_ascii_case("member") {
                    // Groups that contain the target, transitively.
                    let mut gs: Vec<EntryId> = self
                        .closure()
                        .iter()
                        .filter(|(_, ms)| ms.binary_search(&tid).is_ok())
                        .map(|(g, _)| *g)
                        .collect();
                    gs.sort_unstable();
                    Plan::Ids(Cow::Owned(gs))
                } else {
                    Plan::All
                }
            }
            _ => Plan::All,
        }
    }

    /// Whether `(attr=value)` is answered exactly by an equality index: its posting list is
    /// precisely the set of entries the filter item is True for.
    fn exact_eq(&self, attr: &str, value: &str) -> bool {
        let (attr, value) = super::ad::equality(attr, value);
        let value = value.as_ref();
        !attr.eq_ignore_ascii_case("entryDN")
            && filter::equality_key(attr, value)
                .is_some_and(|(canon, _)| self.index.contains_key(canon))
    }

    /// The part of `f` candidates from `plan(f)` still have to be checked against: `None`
    /// when the indexes answered all of it. Only items whose ids `plan` intersected are
    /// dropped, so the two always agree.
    fn residual(&self, f: &LdapFilter) -> Option<LdapFilter> {
        match f {
            LdapFilter::Equality(a, v) if self.exact_eq(a, v) => None,
            LdapFilter::And(fs) => {
                let mut rest: Vec<LdapFilter> =
                    fs.iter().filter_map(|c| self.residual(c)).collect();
                match rest.len() {
                    0 => None,
                    1 => rest.pop(),
                    _ => Some(LdapFilter::And(rest)),
                }
            }
            LdapFilter::Or(fs) if fs.iter().all(|c| self.residual(c).is_none()) => None,
            _ => Some(f.clone()),
        }
    }

    fn plan_eq<'a>(&'a self, attr: &str, value: &str) -> Plan<'a> {
        let (attr, value) = super::ad::equality(attr, value);
        let value = value.as_ref();
        if attr.eq_ignore_ascii_case("entryDN") {
            return match dn::normalize(value).ok().and_then(|n| self.lookup(&n)) {
                Some(id) => Plan::Ids(Cow::Owned(vec![id])),
                None => Plan::Ids(Cow::Borrowed(&[])),
            };
        }
        match filter::equality_key(attr, value) {
            Some((canon, key)) => match self.attr_index(canon) {
                Some(m) => Plan::Ids(Cow::Borrowed(
                    m.get(key.as_str()).map(Vec::as_slice).unwrap_or(&[]),
                )),
                None => Plan::All,
            },
            // Unknown attribute or a value invalid for its syntax: Undefined, so no entry
            // can match this item; `evaluate` agrees, the index only saves the scan.
            None => Plan::Ids(Cow::Borrowed(&[])),
        }
    }
}

enum Plan<'a> {
    All,
    Ids(Cow<'a, [EntryId]>),
}

impl Membership for Snapshot {
    fn in_chain_member_of(&self, entry: &Entry, group_ndn: &str) -> bool {
        let (Some(g), Some(e)) = (self.lookup(group_ndn), self.lookup(&entry.ndn)) else {
            return false;
        };
        self.closure()
            .get(&g)
            .is_some_and(|ms| ms.binary_search(&e).is_ok())
    }

    fn has_subordinates(&self, entry: &Entry) -> Option<bool> {
        self.lookup(&entry.ndn).map(|id| self.has_children(id))
    }

    fn in_chain_member(&self, group: &Entry, member_ndn: &str) -> bool {
        let (Some(g), Some(m)) = (self.lookup(&group.ndn), self.lookup(member_ndn)) else {
            return false;
        };
        self.closure()
            .get(&g)
            .is_some_and(|ms| ms.binary_search(&m).is_ok())
    }
}
