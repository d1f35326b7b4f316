//! A snapshot's flat base: entries in DIT order with their tree (parents, subtree ends) and
//! their equality indexes, built whole. A patched snapshot shares its base and serves the
//! entries its overlay does not shadow (`Live`).

use super::index::AttrIndex;
use super::{EntryId, INDEXED, NO_PARENT};
use crate::dn;
use crate::entry::Entry;
use crate::matching;
use crate::schema;
use hashbrown::HashTable;
use rustc_hash::FxHashMap as HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};
// FxHash instead of SipHash: keys come from the tenant's own directory data (not from LDAP
// clients, whose values are only looked up), and hashing ~3M index values per build with
// SipHash was a visible share of a sync round.

/// Entries in DIT order with their tree and indexes: a whole directory.
pub(super) struct Flat {
    pub(super) entries: Vec<Entry>,
    /// Exclusive end of each entry's subtree: descendants of `i` are `i+1 .. subtree_end[i]`.
    pub(super) subtree_end: Vec<u32>,
    pub(super) parent: Vec<u32>,
    /// Entry ids by normalised DN, compared against the entries' own `ndn` (no key copies).
    by_ndn: HashTable<EntryId>,
    /// canonical attribute name → normalised value → sorted entry ids. Each attribute's index
    /// is built on first use or by `warm` (see `new_lazy`).
    pub(super) index: HashMap<&'static str, OnceLock<AttrIndex>>,
    /// group entry id → every entry that is a member directly or through nested groups (sorted).
    /// Only a snapshot without overlay reads it; a patched one answers in-chain matching from
    /// the `memberOf` indexes instead (see `members_of`).
    closure: OnceLock<Closure>,
}

/// (canonical attribute in `INDEXED`, normalised value) for every indexed value of an entry.
pub(super) type Normalised = Arc<[(&'static str, Arc<str>)]>;
type Closure = HashMap<EntryId, Vec<EntryId>>;

impl Flat {
    pub(super) fn new(entries: Vec<Entry>) -> Flat {
        let n = entries.len();
        let mut by_ndn = HashTable::with_capacity(n);
        let ndn_of = |id: EntryId| entries.get(id as usize).map_or("", |e| e.ndn());
        for (i, e) in entries.iter().enumerate() {
            let h = ndn_hash(e.ndn());
            // The first entry with a DN wins (builders never emit two).
            if by_ndn.find(h, |id| ndn_of(*id) == e.ndn()).is_none() {
                by_ndn.insert_unique(h, i as EntryId, |id| ndn_hash(ndn_of(*id)));
            }
        }
        let find = |ndn: &str| by_ndn.find(ndn_hash(ndn), |id| ndn_of(*id) == ndn).copied();
        let mut parent = vec![NO_PARENT; n];
        for (i, e) in entries.iter().enumerate() {
            if let Some(p) = dn::parent_ndn(e.ndn()).and_then(find) {
                parent[i] = p;
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

    /// The id of the entry whose normalised DN is `ndn`.
    pub(super) fn lookup(&self, ndn: &str) -> Option<EntryId> {
        self.by_ndn
            .find(ndn_hash(ndn), |id| {
                self.entries
                    .get(*id as usize)
                    .is_some_and(|e| e.ndn() == ndn)
            })
            .copied()
    }

    pub(super) fn attr_index(&self, canon: &str) -> Option<&AttrIndex> {
        let cell = self.index.get(canon)?;
        Some(cell.get_or_init(|| build_index(canon, self.numbered())))
    }

    /// The sorted ids whose `canon` values include the normalised `key`; none when `canon` is
    /// not indexed.
    pub(super) fn posting(&self, canon: &str, key: &str) -> &[EntryId] {
        self.attr_index(canon)
            .and_then(|m| m.get(key))
            .unwrap_or(&[])
    }

    pub(super) fn closure(&self) -> &Closure {
        self.closure
            .get_or_init(|| crate::posix::member_closure(self.numbered(), |ndn| self.lookup(ndn)))
    }

    pub(super) fn has_children(&self, id: EntryId) -> bool {
        self.subtree_end
            .get(id as usize)
            .is_some_and(|end| *end > id + 1)
    }

    /// Where an entry whose `dn::dit_order_key` is `key` goes among the descendants of
    /// `parent`: the first of them that sorts after it.
    pub(super) fn position(&self, parent: EntryId, key: &str) -> u32 {
        let mut lo = parent + 1;
        let mut hi = self.subtree_end.get(parent as usize).copied().unwrap_or(lo);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entries.get(mid as usize) {
                Some(e) if dn::dit_order_key(e.ndn()).as_str() < key => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

fn ndn_hash(ndn: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(ndn)
}

/// normalised value → sorted ids of the entries holding it, for one attribute: gathered in a
/// map, then laid out compactly (the map is dropped).
fn build_index<'a>(canon: &str, entries: impl Iterator<Item = (EntryId, &'a Entry)>) -> AttrIndex {
    let mut slot: HashMap<Box<str>, Vec<EntryId>> = HashMap::default();
    let Some(at) = schema::attribute(canon) else {
        return AttrIndex::default();
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
    AttrIndex::build(slot.iter().map(|(k, ids)| (&**k, ids.as_slice())))
}

/// The values `build_index` would index for `e`, in the same order.
pub(super) fn normalised(e: &Entry) -> Normalised {
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
pub(super) struct Live<'a> {
    shadowed: &'a [EntryId],
    next: usize,
}

impl<'a> Live<'a> {
    pub(super) fn new(shadowed: &'a [EntryId]) -> Live<'a> {
        Live { shadowed, next: 0 }
    }

    /// Whether base id `id` is served; ids must be asked in ascending order.
    pub(super) fn keeps(&mut self, id: EntryId) -> bool {
        while let Some(s) = self.shadowed.get(self.next)
            && *s < id
        {
            self.next += 1;
        }
        self.shadowed.get(self.next) != Some(&id)
    }
}
