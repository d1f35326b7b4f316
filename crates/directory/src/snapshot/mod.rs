//! The immutable `Snapshot` LDAP clients read: every tenant's entries in DIT order, with the
//! indexes that make equality and base lookups cost the same at 100 entries and at 300,000.
//! A sync builds a new one off to the side and swaps it in atomically; searches in flight
//! finish on the one they started with. A patched round derives the next snapshot with
//! `patch`: the flat base (`flat`) is shared and a small overlay of added, replaced and removed
//! leaves (`overlay`) sits on top, so the round costs what changed, not the directory's size.
//! Searches narrow their candidates with the indexes before evaluating the filter (`plan`).

mod flat;
mod index;
mod overlay;
mod plan;

#[cfg(test)]
mod tests;

use crate::derive::TenantBuild;
use crate::dn;
use crate::entry::{Entry, TenantInfo};
use crate::filter::{self, Membership};
use flat::{Flat, Live};
use overlay::Overlay;
use std::borrow::Cow;
use std::sync::Arc;

pub type EntryId = u32;

/// Attributes with an equality index: those POSIX and LDAP clients filter on, plus the AD-style
/// names appliances use.
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

const NO_PARENT: u32 = u32::MAX;
/// Set on the ids of overlay entries. Base ids stay below it (a base never holds 2^31 entries),
/// so in every sorted id list the base ids come first and the overlay ids after them.
const OVERLAY: EntryId = 1 << 31;

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
        let gndn = self.entry(g).ndn();
        let base = self.base.posting("memberOf", gndn);
        let extra = ov.posting("memberOf", gndn);
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
                let gndn = self.entry(g).ndn();
                let ids = if m & OVERLAY != 0 {
                    ov.posting("memberOf", gndn)
                } else {
                    self.base.posting("memberOf", gndn)
                };
                m != g && ids.binary_search(&m).is_ok()
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
            None => self.base.lookup(ndn),
            Some(ov) => match ov.by_ndn.get(ndn) {
                Some(i) => Some(OVERLAY | i),
                None => self
                    .base
                    .lookup(ndn)
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
        let base = self.base.posting(canon, &key);
        let Some(ov) = &self.overlay else {
            return Cow::Borrowed(base);
        };
        let extra = ov.posting(canon, &key);
        let mut live = Live::new(&ov.shadowed);
        let base = base.iter().copied().filter(|id| live.keeps(*id)).collect();
        Cow::Owned(ov.merge(base, extra))
    }
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
        let (Some(g), Some(e)) = (self.lookup(group_ndn), self.lookup(entry.ndn())) else {
            return false;
        };
        self.is_member(e, g)
    }

    fn has_subordinates(&self, entry: &Entry) -> Option<bool> {
        self.lookup(entry.ndn()).map(|id| self.has_children(id))
    }

    fn in_chain_member(&self, group: &Entry, member_ndn: &str) -> bool {
        let (Some(g), Some(m)) = (self.lookup(group.ndn()), self.lookup(member_ndn)) else {
            return false;
        };
        self.is_member(m, g)
    }
}
