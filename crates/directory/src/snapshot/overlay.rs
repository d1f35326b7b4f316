//! A patched snapshot's overlay: the leaves a patch added, replaced or removed on top of a
//! shared flat base, indexed on their own; `patch` builds the next overlay from the previous one
//! and the changes, and compacts into a new flat base when the overlay grows too large or a
//! change is not to a leaf.

use super::flat::{Flat, Normalised, normalised};
use super::{EntryId, NO_PARENT, OVERLAY, Snapshot};
use crate::dn;
use crate::entry::Entry;
use rustc_hash::FxHashMap as HashMap;
use rustc_hash::FxHashSet as HashSet;
use std::sync::Arc;

/// An overlay larger than this (entries plus shadowed base ids) is folded into a new flat
/// base: past it, merging overlay answers into every search costs more than one rebuild.
const MIN_OVERLAY_LIMIT: usize = 1024;

/// Leaves added to, replaced in or removed from a shared base. Overlay entry `i` has id
/// `OVERLAY | i`; entries are in DIT order.
pub(super) struct Overlay {
    pub(super) entries: Vec<Arc<Entry>>,
    /// The base id each entry is served before: it comes after every base entry below `pos`.
    pub(super) pos: Vec<u32>,
    /// Base id of each entry's parent (always a live base entry).
    pub(super) parent: Vec<u32>,
    /// `dn::dit_order_key` of each entry: orders entries that share a `pos`.
    pub(super) keys: Vec<Box<str>>,
    /// Each entry's indexed values, normalised once when it joined the overlay: the next
    /// patch re-indexes the overlay from these instead of normalising every value again.
    pub(super) values: Vec<Normalised>,
    pub(super) by_ndn: HashMap<Box<str>, u32>,
    /// Base ids not served any more (replaced or removed), sorted.
    pub(super) shadowed: Vec<EntryId>,
    /// Base entries whose `has_children` the overlay changed (a child added or removed).
    pub(super) has_children: HashMap<EntryId, bool>,
    /// Like `Flat::index`, over the overlay entries only (ids with `OVERLAY` set), built eagerly.
    pub(super) index: HashMap<&'static str, OverlayIndex>,
}

/// An overlay's `AttrIndex`: keys shared with `Overlay::values`, so re-indexing the overlay at
/// each patch allocates no key.
type OverlayIndex = HashMap<Arc<str>, Vec<EntryId>>;

impl Overlay {
    fn pos_of(&self, id: EntryId) -> u32 {
        self.pos
            .get((id & !OVERLAY) as usize)
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// The overlay of `items`, in DIT order, with `shadowed` sorted and every entry's values
    /// indexed.
    fn assemble(
        items: HashMap<Box<str>, Item>,
        shadowed: HashSet<EntryId>,
        has_children: HashMap<EntryId, bool>,
    ) -> Overlay {
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
            ov.by_ndn.insert(it.entry.ndn().into(), i as u32);
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
        ov
    }

    /// `Flat::posting` over the overlay entries.
    pub(super) fn posting(&self, canon: &str, key: &str) -> &[EntryId] {
        self.index
            .get(canon)
            .and_then(|m| m.get(key))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Live base ids (ascending) and overlay ids (ascending) as one list in DIT order.
    pub(super) fn merge(&self, base: Vec<EntryId>, extra: &[EntryId]) -> Vec<EntryId> {
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
                items.insert(e.ndn().into(), item);
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
            let Some(id) = flat.lookup(ndn) else {
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
            if let Some(it) = items.get_mut(e.ndn()) {
                it.entry = Arc::clone(e);
                it.values = normalised(e);
                continue;
            }
            let parent = dn::parent_ndn(e.ndn())
                .and_then(|p| flat.lookup(p))
                .filter(|p| !shadowed.contains(p))?;
            let key: Box<str> = dn::dit_order_key(e.ndn()).into();
            let pos = match flat.lookup(e.ndn()) {
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
            items.insert(e.ndn().into(), item);
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
        Some(Overlay::assemble(items, shadowed, has_children))
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
            if seen.insert(e.ndn().into()) {
                fresh.push(Arc::unwrap_or_clone(e));
            }
        }
        let removed: HashSet<&str> = removals.iter().map(|r| &**r).collect();
        let kept: Vec<Entry> = self
            .iter()
            .filter(|(_, e)| !seen.contains(e.ndn()) && !removed.contains(e.ndn()))
            .map(|(_, e)| e.clone())
            .collect();
        let order = |e: &Entry| (e.tenant, dn::dit_order_key(e.ndn()));
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
