//! The immutable `Snapshot` LDAP clients read: every tenant's entries in DIT order, with the
//! indexes that make equality and base lookups cost the same at 100 entries and at 300,000
//! (DESIGN.md §8). A sync builds a new one off to the side and swaps it in atomically;
//! searches in flight finish on the one they started with. A delta round derives the next
//! snapshot with `patch`: the flat base is shared and a small overlay of added, replaced and
//! removed leaves sits on top, so the round costs what changed, not the directory's size.

use super::derive::TenantBuild;
use super::dn;
use super::entry::{Entry, TenantInfo};
use super::filter::{self, Membership, Tri};
use super::matching;
use super::schema;
use ldap3_proto::proto::{LdapFilter, LdapSearchScope};
use rustc_hash::FxHashMap as HashMap;
use rustc_hash::FxHashSet as HashSet;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
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
/// Set on the ids of overlay entries. Base ids stay below it (a base never holds 2^31 entries),
/// so in every sorted id list the base ids come first and the overlay ids after them.
const OVERLAY: EntryId = 1 << 31;
/// An overlay larger than this (entries plus shadowed base ids) is folded into a new flat
/// base: past it, merging overlay answers into every search costs more than one rebuild.
const MIN_OVERLAY_LIMIT: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    /// The base DN is not in the directory; `matched_dn` is its closest existing ancestor.
    NoSuchObject { matched_dn: String },
}

pub struct Snapshot {
    pub tenants: Vec<TenantInfo>,
    /// Increases with every snapshot a server builds; tells paged searches the data changed.
    pub generation: u64,
    /// Shared with the snapshots patched from this one.
    base: Arc<Flat>,
    /// What `patch` changed on top of `base`; `None` for a snapshot built whole.
    overlay: Option<Overlay>,
}

/// Entries in DIT order with their tree and indexes: a whole directory.
struct Flat {
    entries: Vec<Entry>,
    /// Exclusive end of each entry's subtree: descendants of `i` are `i+1 .. subtree_end[i]`.
    subtree_end: Vec<u32>,
    parent: Vec<u32>,
    by_ndn: HashMap<Box<str>, EntryId>,
    /// canonical attribute name → normalised value → sorted entry ids. Each attribute's index
    /// is built on first use or by `warm` (see `new_lazy`).
    index: HashMap<&'static str, OnceLock<AttrIndex>>,
    /// group entry id → every entry that is a member directly or through nested groups (sorted).
    /// Only a snapshot without overlay reads it; a patched one answers in-chain matching from
    /// the `memberOf` indexes instead (see `members_of`).
    closure: OnceLock<Closure>,
}

/// Leaves added to, replaced in or removed from a shared base. Overlay entry `i` has id
/// `OVERLAY | i`; entries are in DIT order.
struct Overlay {
    entries: Vec<Arc<Entry>>,
    /// The base id each entry is served before: it comes after every base entry below `pos`.
    pos: Vec<u32>,
    /// Base id of each entry's parent (always a live base entry).
    parent: Vec<u32>,
    /// `dn::dit_order_key` of each entry: orders entries that share a `pos`.
    keys: Vec<Box<str>>,
    /// Each entry's indexed values, normalised once when it joined the overlay: the next
    /// patch re-indexes the overlay from these instead of normalising every value again.
    values: Vec<Normalised>,
    by_ndn: HashMap<Box<str>, u32>,
    /// Base ids not served any more (replaced or removed), sorted.
    shadowed: Vec<EntryId>,
    /// Base entries whose `has_children` the overlay changed (a child added or removed).
    has_children: HashMap<EntryId, bool>,
    /// Like `Flat::index`, over the overlay entries only (ids with `OVERLAY` set), built eagerly.
    index: HashMap<&'static str, OverlayIndex>,
}

type AttrIndex = HashMap<Box<str>, Vec<EntryId>>;
/// (canonical attribute in `INDEXED`, normalised value) for every indexed value of an entry.
type Normalised = Arc<[(&'static str, Arc<str>)]>;
/// An overlay's `AttrIndex`: keys shared with `Overlay::values`, so re-indexing the overlay at
/// each patch allocates no key.
type OverlayIndex = HashMap<Arc<str>, Vec<EntryId>>;
type Closure = HashMap<EntryId, Vec<EntryId>>;

impl Flat {
    /// The base ids in `lo..hi` that `plan` allows (its overlay ids aside) and `keep` accepts,
    /// in order. A one-level scope without an index hops from child to child over their
    /// subtrees: O(children), not O(subtree).
    fn candidates(
        &self,
        plan: &Plan<'_>,
        lo: EntryId,
        hi: EntryId,
        one_level: bool,
        mut keep: impl FnMut(EntryId) -> bool,
    ) -> Vec<EntryId> {
        match plan {
            Plan::All if one_level => {
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
                let base = &ids[..ids.partition_point(|x| *x < OVERLAY)];
                let start = base.partition_point(|x| *x < lo);
                let end = base.partition_point(|x| *x < hi);
                base[start..end]
                    .iter()
                    .copied()
                    .filter(|id| keep(*id))
                    .collect()
            }
        }
    }

    fn new(entries: Vec<Entry>) -> Flat {
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
        Flat {
            entries,
            subtree_end,
            parent,
            by_ndn,
            index: INDEXED.iter().map(|a| (*a, OnceLock::new())).collect(),
            closure: OnceLock::new(),
        }
    }

    fn numbered(&self) -> impl Iterator<Item = (EntryId, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i as EntryId, e))
    }

    fn attr_index(&self, canon: &str) -> Option<&AttrIndex> {
        let cell = self.index.get(canon)?;
        Some(cell.get_or_init(|| build_index(canon, self.numbered())))
    }

    fn closure(&self) -> &Closure {
        self.closure.get_or_init(|| {
            super::posix::member_closure(self.numbered(), |ndn| self.by_ndn.get(ndn).copied())
        })
    }

    fn has_children(&self, id: EntryId) -> bool {
        self.subtree_end
            .get(id as usize)
            .is_some_and(|end| *end > id + 1)
    }

    /// Where an entry whose `dn::dit_order_key` is `key` goes among the descendants of
    /// `parent`: the first of them that sorts after it.
    fn position(&self, parent: EntryId, key: &str) -> u32 {
        let mut lo = parent + 1;
        let mut hi = self.subtree_end.get(parent as usize).copied().unwrap_or(lo);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entries.get(mid as usize) {
                Some(e) if dn::dit_order_key(&e.ndn).as_str() < key => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

/// normalised value → sorted ids of the entries holding it, for one attribute.
fn build_index<'a>(canon: &str, entries: impl Iterator<Item = (EntryId, &'a Entry)>) -> AttrIndex {
    let mut slot = AttrIndex::default();
    let Some(at) = schema::attribute(canon) else {
        return slot;
    };
    for (id, e) in entries {
        for a in e.attrs.iter().filter(|a| a.name == at.name) {
            for v in &a.values {
                if let Some(key) = matching::normalize_value_cow(at, v) {
                    // Most values repeat (objectClass, gidNumber, member): find before
                    // inserting so the key is only boxed for a new value.
                    let ids = match slot.get_mut(&*key) {
                        Some(ids) => ids,
                        None => slot.entry(Box::from(&*key)).or_default(),
                    };
                    if ids.last() != Some(&id) {
                        ids.push(id);
                    }
                }
            }
        }
    }
    slot
}

/// The values `build_index` would index for `e`, in the same order.
fn normalised(e: &Entry) -> Normalised {
    let mut out = Vec::new();
    for canon in INDEXED {
        let Some(at) = schema::attribute(canon) else {
            continue;
        };
        for a in e.attrs.iter().filter(|a| a.name == at.name) {
            for v in &a.values {
                if let Some(key) = matching::normalize_value_cow(at, v) {
                    out.push((*canon, Arc::from(&*key)));
                }
            }
        }
    }
    out.into()
}

/// Drops shadowed base ids from an ascending run of base ids, in one pass over both lists.
struct Live<'a> {
    shadowed: &'a [EntryId],
    next: usize,
}

impl<'a> Live<'a> {
    fn new(shadowed: &'a [EntryId]) -> Live<'a> {
        Live { shadowed, next: 0 }
    }

    /// Whether base id `id` is served; ids must be asked in ascending order.
    fn keeps(&mut self, id: EntryId) -> bool {
        while let Some(s) = self.shadowed.get(self.next)
            && *s < id
        {
            self.next += 1;
        }
        self.shadowed.get(self.next) != Some(&id)
    }
}

impl Overlay {
    fn pos_of(&self, id: EntryId) -> u32 {
        self.pos
            .get((id & !OVERLAY) as usize)
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// Live base ids (ascending) and overlay ids (ascending) as one list in DIT order.
    fn merge(&self, base: Vec<EntryId>, extra: &[EntryId]) -> Vec<EntryId> {
        if extra.is_empty() {
            return base;
        }
        let mut out = Vec::with_capacity(base.len() + extra.len());
        let mut rest = extra.iter().copied().peekable();
        for id in base {
            while let Some(o) = rest.next_if(|o| self.pos_of(*o) <= id) {
                out.push(o);
            }
            out.push(id);
        }
        out.extend(rest);
        out
    }
}

/// An overlay entry while `patch` assembles the next overlay.
struct Item {
    entry: Arc<Entry>,
    pos: u32,
    parent: EntryId,
    key: Box<str>,
    values: Normalised,
}

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
        Snapshot {
            tenants,
            generation,
            base: Arc::new(Flat::new(entries)),
            overlay: None,
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
    /// answer; a request that needs an index first builds (or waits for) just that one. A
    /// patched snapshot needs only its base's indexes: its overlay is indexed by `patch`.
    pub fn warm(&self) {
        for a in INDEXED {
            let _ = self.base.attr_index(a);
        }
        if self.overlay.is_none() {
            let _ = self.base.closure();
        }
    }

    /// Every entry that is a member of `g` directly or through nested groups, sorted by id.
    /// `memberOf` is transitive as built, so with an overlay these are the served entries
    /// other than `g` whose `memberOf` holds `g`: the two `memberOf` posting lists, with no
    /// closure over the whole merged directory to rebuild after each patch.
    fn members_of(&self, g: EntryId) -> Cow<'_, [EntryId]> {
        let Some(ov) = &self.overlay else {
            return Cow::Borrowed(
                self.base
                    .closure()
                    .get(&g)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            );
        };
        let gndn = &*self.entry(g).ndn;
        let base = self
            .base
            .attr_index("memberOf")
            .and_then(|m| m.get(gndn))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let extra = ov
            .index
            .get("memberOf")
            .and_then(|m| m.get(gndn))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut live = Live::new(&ov.shadowed);
        Cow::Owned(
            base.iter()
                .copied()
                .filter(|id| live.keeps(*id))
                .chain(extra.iter().copied())
                .filter(|id| *id != g)
                .collect(),
        )
    }

    /// Every group `m` is a member of directly or through nested groups, sorted by id.
    fn groups_of(&self, m: EntryId) -> Vec<EntryId> {
        let mut gs: Vec<EntryId> = match &self.overlay {
            None => self
                .base
                .closure()
                .iter()
                .filter(|(_, ms)| ms.binary_search(&m).is_ok())
                .map(|(g, _)| *g)
                .collect(),
            Some(_) => self
                .entry(m)
                .values("memberOf")
                .iter()
                .filter_map(|v| dn::normalize(v).ok().and_then(|n| self.lookup(&n)))
                .filter(|g| *g != m)
                .collect(),
        };
        gs.sort_unstable();
        gs.dedup();
        gs
    }

    /// Whether `m` is a member of `g` directly or through nested groups.
    fn is_member(&self, m: EntryId, g: EntryId) -> bool {
        match &self.overlay {
            None => self
                .base
                .closure()
                .get(&g)
                .is_some_and(|ms| ms.binary_search(&m).is_ok()),
            // A binary search in the posting list of `g` in `m`'s half: as cheap as the
            // closure's, where reading `m`'s memberOf would normalise escaped DNs per call.
            Some(ov) => {
                let gndn = &*self.entry(g).ndn;
                let ids = if m & OVERLAY != 0 {
                    ov.index.get("memberOf").and_then(|x| x.get(gndn))
                } else {
                    self.base.attr_index("memberOf").and_then(|x| x.get(gndn))
                };
                m != g && ids.is_some_and(|ids| ids.binary_search(&m).is_ok())
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.overlay {
            None => self.base.entries.len(),
            Some(ov) => self.base.entries.len() - ov.shadowed.len() + ov.entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry behind an id handed out by `lookup`, `search` or `iter` on this snapshot.
    pub fn entry(&self, id: EntryId) -> &Entry {
        if id & OVERLAY != 0
            && let Some(ov) = &self.overlay
        {
            return &ov.entries[(id & !OVERLAY) as usize];
        }
        &self.base.entries[id as usize]
    }

    fn get(&self, id: EntryId) -> Option<&Entry> {
        match &self.overlay {
            Some(ov) if id & OVERLAY != 0 => ov.entries.get((id & !OVERLAY) as usize).map(|e| &**e),
            _ => self.base.entries.get(id as usize),
        }
    }

    /// Every served entry with its id, in DIT order (`dn::dit_order_key` within each tenant,
    /// tenants in `tenants` order).
    pub fn iter(&self) -> impl Iterator<Item = (EntryId, &Entry)> + '_ {
        Iter {
            snap: self,
            base: 0,
            over: 0,
            live: Live::new(self.overlay.as_ref().map_or(&[], |ov| &ov.shadowed)),
        }
    }

    pub fn lookup(&self, ndn: &str) -> Option<EntryId> {
        match &self.overlay {
            None => self.base.by_ndn.get(ndn).copied(),
            Some(ov) => match ov.by_ndn.get(ndn) {
                Some(i) => Some(OVERLAY | i),
                None => self
                    .base
                    .by_ndn
                    .get(ndn)
                    .copied()
                    .filter(|id| ov.shadowed.binary_search(id).is_err()),
            },
        }
    }

    pub fn has_children(&self, id: EntryId) -> bool {
        if let Some(ov) = &self.overlay {
            if id & OVERLAY != 0 {
                return false;
            }
            if let Some(has) = ov.has_children.get(&id) {
                return *has;
            }
        }
        self.base.has_children(id)
    }

    pub fn tenant_of(&self, id: EntryId) -> u16 {
        self.get(id).map(|e| e.tenant).unwrap_or(0)
    }

    /// Entries whose equality index holds `value` for `attr`, in DIT order (empty if none or
    /// not indexed).
    pub fn find_eq(&self, attr: &str, value: &str) -> Cow<'_, [EntryId]> {
        let Some((canon, key)) = filter::equality_key(attr, value) else {
            return Cow::Borrowed(&[]);
        };
        let base = self
            .base
            .attr_index(canon)
            .and_then(|m| m.get(key.as_str()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let Some(ov) = &self.overlay else {
            return Cow::Borrowed(base);
        };
        let extra = ov
            .index
            .get(canon)
            .and_then(|m| m.get(key.as_str()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut live = Live::new(&ov.shadowed);
        let base = base.iter().copied().filter(|id| live.keeps(*id)).collect();
        Cow::Owned(ov.merge(base, extra))
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
        Ok(match &self.overlay {
            None => self.search_flat(base, &scope, f),
            Some(ov) => self.search_overlay(ov, base, &scope, f),
        })
    }

    fn search_flat(&self, base: EntryId, scope: &LdapSearchScope, f: &LdapFilter) -> Vec<EntryId> {
        let flat = &*self.base;
        let (lo, hi) = match scope {
            LdapSearchScope::Base => (base, base + 1),
            LdapSearchScope::OneLevel => (base + 1, flat.subtree_end[base as usize]),
            _ => (base, flat.subtree_end[base as usize]),
        };
        let one_level = matches!(scope, LdapSearchScope::OneLevel);
        // What the indexes did not settle; `None` when they answered the whole filter (a
        // listing of `(objectClass=posixAccount)` then costs no per-entry evaluation).
        let residual = self.residual(f);
        let keep = |id: EntryId| -> bool {
            (!one_level || flat.parent[id as usize] == base)
                && residual.as_ref().is_none_or(|r| {
                    filter::evaluate(r, &flat.entries[id as usize], self) == Tri::True
                })
        };
        flat.candidates(&self.plan(f), lo, hi, one_level, keep)
    }

    /// `search_flat` over base and overlay: base candidates not shadowed, overlay candidates
    /// whose parent is in scope, merged into DIT order.
    fn search_overlay(
        &self,
        ov: &Overlay,
        base: EntryId,
        scope: &LdapSearchScope,
        f: &LdapFilter,
    ) -> Vec<EntryId> {
        let one_level = matches!(scope, LdapSearchScope::OneLevel);
        let residual = self.residual(f);
        let matches = |id: EntryId| -> bool {
            residual
                .as_ref()
                .is_none_or(|r| filter::evaluate(r, self.entry(id), self) == Tri::True)
        };
        let plan = self.plan(f);
        if base & OVERLAY != 0 {
            // Overlay entries are leaves: base and subtree scope hold the entry alone.
            let planned = match &plan {
                Plan::All => true,
                Plan::Ids(ids) => ids.binary_search(&base).is_ok(),
            };
            return if !one_level && planned && matches(base) {
                vec![base]
            } else {
                Vec::new()
            };
        }
        let flat = &*self.base;
        let end = flat.subtree_end[base as usize];
        let (lo, hi) = match scope {
            LdapSearchScope::Base => (base, base + 1),
            LdapSearchScope::OneLevel => (base + 1, end),
            _ => (base, end),
        };
        let mut live = Live::new(&ov.shadowed);
        let mut keep = |id: EntryId| -> bool {
            live.keeps(id) && (!one_level || flat.parent[id as usize] == base) && matches(id)
        };
        let in_scope = |id: EntryId| -> bool {
            let p = ov.parent[(id & !OVERLAY) as usize];
            match scope {
                LdapSearchScope::Base => false,
                LdapSearchScope::OneLevel => p == base,
                _ => lo <= p && p < hi,
            }
        };
        let found = flat.candidates(&plan, lo, hi, one_level, &mut keep);
        let extra: Vec<EntryId> = match &plan {
            Plan::All => (0..ov.entries.len() as u32)
                .map(|i| OVERLAY | i)
                .filter(|id| in_scope(*id) && matches(*id))
                .collect(),
            Plan::Ids(ids) => ids[ids.partition_point(|x| *x < OVERLAY)..]
                .iter()
                .copied()
                .filter(|id| in_scope(*id) && matches(*id))
                .collect(),
        };
        ov.merge(found, &extra)
    }

    fn matched_dn(&self, ndn: &str) -> String {
        let mut cur = dn::parent_ndn(ndn);
        while let Some(p) = cur {
            if let Some(id) = self.lookup(p) {
                return self.entry(id).dn.to_string();
            }
            cur = dn::parent_ndn(p);
        }
        String::new()
    }

    /// A sorted superset of the entries `f` can match, from the indexes, or `All` when the
    /// indexes cannot narrow it (the filter is then evaluated over the whole scope). With an
    /// overlay the ids may include shadowed base ids; searches drop those.
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
                    Plan::Ids(self.members_of(tid))
                } else if attr.eq_ignore_ascii_case("member") {
                    // Groups that contain the target, transitively.
                    Plan::Ids(Cow::Owned(self.groups_of(tid)))
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
                .is_some_and(|(canon, _)| self.base.index.contains_key(canon))
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
            Some((canon, key)) => match self.base.attr_index(canon) {
                Some(m) => {
                    let base = m.get(key.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                    let extra = self
                        .overlay
                        .as_ref()
                        .and_then(|ov| ov.index.get(canon))
                        .and_then(|m| m.get(key.as_str()))
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    if extra.is_empty() {
                        Plan::Ids(Cow::Borrowed(base))
                    } else {
                        // Overlay ids sort after every base id.
                        Plan::Ids(Cow::Owned([base, extra].concat()))
                    }
                }
                None => Plan::All,
            },
            // Unknown attribute or a value invalid for its syntax: Undefined, so no entry
            // can match this item; `evaluate` agrees, the index only saves the scan.
            None => Plan::Ids(Cow::Borrowed(&[])),
        }
    }

    /// `self` with the entries whose normalised DNs are in `removals` gone and `upserts` added
    /// (an upsert whose DN is served replaces that entry; removals apply first, so a DN both
    /// removed and upserted is served as upserted; of two upserts of one DN the last wins).
    /// The base is shared and the changes kept as an overlay, so this costs
    /// O(patch + overlay · log n). It builds a new flat snapshot instead (O(n)) when the
    /// overlay would outgrow max(1024, n / 16), or when a change is not to a leaf whose parent
    /// is a served base entry (a container, a root, an orphan). Tenants are kept.
    pub fn patch(&self, generation: u64, upserts: Vec<Entry>, removals: Vec<Box<str>>) -> Snapshot {
        let upserts: Vec<Arc<Entry>> = upserts.into_iter().map(Arc::new).collect();
        match self.overlaid(&upserts, &removals) {
            Some(overlay) => Snapshot {
                tenants: self.tenants.clone(),
                generation,
                base: Arc::clone(&self.base),
                overlay: Some(overlay),
            },
            None => self.compacted(generation, upserts, &removals),
        }
    }

    /// Whether the overlay has grown enough that a flat copy should replace this snapshot:
    /// beyond max(1024, n / 64) changed entries. Each patch re-indexes its overlay, so a
    /// compaction done off the request path (see `compact`) keeps patches small; `patch`
    /// itself compacts only at n / 16.
    pub fn wants_compaction(&self) -> bool {
        self.overlay.as_ref().is_some_and(|ov| {
            ov.entries.len() + ov.shadowed.len()
                > MIN_OVERLAY_LIMIT.max(self.base.entries.len() / 64)
        })
    }

    /// The same entries as a flat, fully indexed snapshot of the same generation (O(n)).
    pub fn compact(&self) -> Snapshot {
        self.compacted(self.generation, Vec::new(), &[])
    }

    /// The overlay `patch` keeps, or `None` when the patch has to be compacted.
    fn overlaid(&self, upserts: &[Arc<Entry>], removals: &[Box<str>]) -> Option<Overlay> {
        let flat = &*self.base;
        let mut items: HashMap<Box<str>, Item> = HashMap::default();
        let mut shadowed: HashSet<EntryId> = HashSet::default();
        if let Some(ov) = &self.overlay {
            shadowed.extend(ov.shadowed.iter().copied());
            for (i, e) in ov.entries.iter().enumerate() {
                let item = Item {
                    entry: Arc::clone(e),
                    pos: ov.pos[i],
                    parent: ov.parent[i],
                    key: ov.keys[i].clone(),
                    values: Arc::clone(&ov.values[i]),
                };
                items.insert(e.ndn.clone(), item);
            }
        }
        // Overlay entries per base parent, for whether a base entry still has children.
        let mut children: HashMap<EntryId, u32> = HashMap::default();
        for it in items.values() {
            *children.entry(it.parent).or_default() += 1;
        }
        let has_live_children =
            |id: EntryId, shadowed: &HashSet<EntryId>, children: &HashMap<EntryId, u32>| {
                if children.get(&id).is_some_and(|n| *n > 0) {
                    return true;
                }
                // Hop over the base children; a shadowed one has no served descendants, so
                // this stops at the first served child: O(shadowed children + 1).
                let end = flat.subtree_end.get(id as usize).copied().unwrap_or(0);
                let mut i = id + 1;
                while i < end {
                    if !shadowed.contains(&i) {
                        return true;
                    }
                    i = flat.subtree_end[i as usize].max(i + 1);
                }
                false
            };

        for ndn in removals {
            if let Some(it) = items.remove(ndn) {
                if let Some(n) = children.get_mut(&it.parent) {
                    *n -= 1;
                }
                continue;
            }
            let Some(&id) = flat.by_ndn.get(ndn) else {
                continue;
            };
            if shadowed.contains(&id) {
                continue;
            }
            if has_live_children(id, &shadowed, &children) {
                return None;
            }
            shadowed.insert(id);
        }
        for e in upserts {
            if let Some(it) = items.get_mut(&e.ndn) {
                it.entry = Arc::clone(e);
                it.values = normalised(e);
                continue;
            }
            let parent = dn::parent_ndn(&e.ndn)
                .and_then(|p| flat.by_ndn.get(p).copied())
                .filter(|p| !shadowed.contains(p))?;
            let key: Box<str> = dn::dit_order_key(&e.ndn).into();
            let pos = match flat.by_ndn.get(&e.ndn).copied() {
                Some(old) => {
                    if !shadowed.contains(&old) {
                        if has_live_children(old, &shadowed, &children) {
                            return None;
                        }
                        shadowed.insert(old);
                    }
                    old
                }
                None => flat.position(parent, &key),
            };
            *children.entry(parent).or_default() += 1;
            let item = Item {
                entry: Arc::clone(e),
                pos,
                parent,
                key,
                values: normalised(e),
            };
            items.insert(e.ndn.clone(), item);
        }
        if items.len() + shadowed.len() > MIN_OVERLAY_LIMIT.max(flat.entries.len() / 16) {
            return None;
        }

        let mut has_children = HashMap::default();
        let touched = items.values().map(|it| it.parent).chain(
            shadowed
                .iter()
                .filter_map(|s| flat.parent.get(*s as usize).copied()),
        );
        for p in touched {
            if p != NO_PARENT && !has_children.contains_key(&p) {
                has_children.insert(p, has_live_children(p, &shadowed, &children));
            }
        }
        let mut shadowed: Vec<EntryId> = shadowed.into_iter().collect();
        shadowed.sort_unstable();
        let mut items: Vec<Item> = items.into_values().collect();
        items.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.key.cmp(&b.key)));

        let n = items.len();
        let mut ov = Overlay {
            entries: Vec::with_capacity(n),
            pos: Vec::with_capacity(n),
            parent: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            by_ndn: HashMap::with_capacity_and_hasher(n, Default::default()),
            shadowed,
            has_children,
            index: HashMap::default(),
        };
        for (i, it) in items.into_iter().enumerate() {
            ov.by_ndn.insert(it.entry.ndn.clone(), i as u32);
            ov.entries.push(it.entry);
            ov.pos.push(it.pos);
            ov.parent.push(it.parent);
            ov.keys.push(it.key);
            ov.values.push(it.values);
        }
        let mut sizes: HashMap<&'static str, usize> = HashMap::default();
        for (canon, _) in ov.values.iter().flat_map(|v| v.iter()) {
            *sizes.entry(canon).or_default() += 1;
        }
        for (canon, n) in sizes {
            ov.index.insert(
                canon,
                HashMap::with_capacity_and_hasher(n, Default::default()),
            );
        }
        for (i, values) in ov.values.iter().enumerate() {
            let id = OVERLAY | i as EntryId;
            for (canon, key) in values.iter() {
                let Some(slot) = ov.index.get_mut(canon) else {
                    continue;
                };
                let ids = slot.entry(Arc::clone(key)).or_default();
                if ids.last() != Some(&id) {
                    ids.push(id);
                }
            }
        }
        Some(ov)
    }

    /// The patched entry set as a new flat, fully indexed snapshot.
    fn compacted(
        &self,
        generation: u64,
        upserts: Vec<Arc<Entry>>,
        removals: &[Box<str>],
    ) -> Snapshot {
        // The last upsert of a DN wins.
        let mut seen: HashSet<Box<str>> = HashSet::default();
        let mut fresh: Vec<Entry> = Vec::with_capacity(upserts.len());
        for e in upserts.into_iter().rev() {
            if seen.insert(e.ndn.clone()) {
                fresh.push(Arc::unwrap_or_clone(e));
            }
        }
        let removed: HashSet<&str> = removals.iter().map(|r| &**r).collect();
        let kept: Vec<Entry> = self
            .iter()
            .filter(|(_, e)| !seen.contains(&e.ndn) && !removed.contains(&*e.ndn))
            .map(|(_, e)| e.clone())
            .collect();
        let order = |e: &Entry| (e.tenant, dn::dit_order_key(&e.ndn));
        fresh.sort_by_cached_key(order);
        // Where each new entry goes among the kept ones (already in order): a binary search
        // each, so only O(fresh · log n) order keys are computed.
        let cuts: Vec<usize> = fresh
            .iter()
            .map(|e| {
                let at = order(e);
                kept.partition_point(|k| order(k) < at)
            })
            .collect();
        let mut entries = Vec::with_capacity(kept.len() + fresh.len());
        let mut fresh = cuts.into_iter().zip(fresh).peekable();
        for (i, k) in kept.into_iter().enumerate() {
            while let Some((_, e)) = fresh.next_if(|(cut, _)| *cut <= i) {
                entries.push(e);
            }
            entries.push(k);
        }
        entries.extend(fresh.map(|(_, e)| e));
        let snap = Snapshot {
            tenants: self.tenants.clone(),
            generation,
            base: Arc::new(Flat::new(entries)),
            overlay: None,
        };
        snap.warm();
        snap
    }
}

enum Plan<'a> {
    All,
    Ids(Cow<'a, [EntryId]>),
}

/// `Snapshot::iter`: base entries not shadowed, with overlay entries merged in at their
/// positions.
struct Iter<'a> {
    snap: &'a Snapshot,
    base: u32,
    over: usize,
    live: Live<'a>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (EntryId, &'a Entry);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(ov) = &self.snap.overlay
                && let Some(pos) = ov.pos.get(self.over)
                && *pos <= self.base
            {
                let i = self.over;
                self.over += 1;
                return ov.entries.get(i).map(|e| (OVERLAY | i as EntryId, &**e));
            }
            let id = self.base;
            let e = self.snap.base.entries.get(id as usize)?;
            self.base += 1;
            if self.live.keeps(id) {
                return Some((id, e));
            }
        }
    }
}

impl Membership for Snapshot {
    fn in_chain_member_of(&self, entry: &Entry, group_ndn: &str) -> bool {
        let (Some(g), Some(e)) = (self.lookup(group_ndn), self.lookup(&entry.ndn)) else {
            return false;
        };
        self.is_member(e, g)
    }

    fn has_subordinates(&self, entry: &Entry) -> Option<bool> {
        self.lookup(&entry.ndn).map(|id| self.has_children(id))
    }

    fn in_chain_member(&self, group: &Entry, member_ndn: &str) -> bool {
        let (Some(g), Some(m)) = (self.lookup(&group.ndn), self.lookup(member_ndn)) else {
            return false;
        };
        self.is_member(m, g)
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
