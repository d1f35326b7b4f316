//! Searching a snapshot: the indexes narrow a filter to a sorted superset of the entries it can
//! match (`Plan`), the scope bounds it to a range of the DIT order, and only what the indexes
//! did not settle (`residual`) is evaluated per entry.

use super::flat::{Flat, Live};
use super::overlay::Overlay;
use super::{EntryId, OVERLAY, SearchError, Snapshot};
use crate::dn;
use crate::filter::{self, Tri};
use crate::schema::IN_CHAIN_OID;
use ldap3_proto::proto::{LdapFilter, LdapSearchScope};
use std::borrow::Cow;

enum Plan<'a> {
    All,
    Ids(Cow<'a, [EntryId]>),
}

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
}

impl Snapshot {
    /// An upper bound of the entries a search would look at: what the indexes leave of the
    /// filter, or the size of the scope when they cannot narrow it. Cheap (no entry is
    /// evaluated), so a caller can decide where to run an expensive search.
    pub fn search_cost(&self, base_ndn: &str, scope: &LdapSearchScope, f: &LdapFilter) -> usize {
        let Some(base) = self.lookup(base_ndn) else {
            return 0;
        };
        if matches!(scope, LdapSearchScope::Base) {
            return 1;
        }
        self.cost_of(base, &self.plan(f))
    }

    /// `search` when its `search_cost` is at most `limit`, else `Ok(None)` (the caller runs
    /// it where an expensive search belongs). The indexes are asked once for both.
    pub fn search_if_cheap(
        &self,
        base_ndn: &str,
        scope: LdapSearchScope,
        f: &LdapFilter,
        limit: usize,
    ) -> Result<Option<Vec<EntryId>>, SearchError> {
        let Some(base) = self.lookup(base_ndn) else {
            return Err(SearchError::NoSuchObject {
                matched_dn: self.matched_dn(base_ndn),
            });
        };
        let plan = self.plan(f);
        if !matches!(scope, LdapSearchScope::Base) && self.cost_of(base, &plan) > limit {
            return Ok(None);
        }
        Ok(Some(match &self.overlay {
            None => self.search_flat(base, &scope, f, plan),
            Some(ov) => self.search_overlay(ov, base, &scope, f, plan),
        }))
    }

    /// The cost of a subtree or one-level search below `base` under `plan`.
    fn cost_of(&self, base: EntryId, plan: &Plan<'_>) -> usize {
        let in_scope = if base & OVERLAY != 0 {
            1
        } else {
            let end = self
                .base
                .subtree_end
                .get(base as usize)
                .copied()
                .unwrap_or(base);
            (end.saturating_sub(base) as usize)
                + self.overlay.as_ref().map_or(0, |ov| ov.entries.len())
        };
        match plan {
            Plan::All => in_scope,
            Plan::Ids(ids) => ids.len().min(in_scope),
        }
    }

    /// Every entry matching `filter` within `scope` of `base_ndn`, in DIT order.
    pub fn search(
        &self,
        base_ndn: &str,
        scope: LdapSearchScope,
        f: &LdapFilter,
    ) -> Result<Vec<EntryId>, SearchError> {
        // No cost is above `usize::MAX`, so this always searches.
        self.search_if_cheap(base_ndn, scope, f, usize::MAX)
            .map(Option::unwrap_or_default)
    }

    fn search_flat(
        &self,
        base: EntryId,
        scope: &LdapSearchScope,
        f: &LdapFilter,
        plan: Plan<'_>,
    ) -> Vec<EntryId> {
        let flat = &*self.base;
        let (lo, hi) = match scope {
            LdapSearchScope::Base => (base, base + 1),
            LdapSearchScope::OneLevel => (base + 1, flat.subtree_end[base as usize]),
            _ => (base, flat.subtree_end[base as usize]),
        };
        let one_level = matches!(scope, LdapSearchScope::OneLevel);
        // What the indexes did not settle; `None` when they answered the whole filter (a
        // listing of `(objectClass=posixAccount)` then costs no per-entry evaluation).
        // Compiled once per search, not once per candidate.
        let residual = self.residual(f).map(|r| filter::compile(&r));
        let keep = |id: EntryId| -> bool {
            (!one_level || flat.parent[id as usize] == base)
                && residual
                    .as_ref()
                    .is_none_or(|r| r.evaluate(&flat.entries[id as usize], self) == Tri::True)
        };
        flat.candidates(&plan, lo, hi, one_level, keep)
    }

    /// `search_flat` over base and overlay: base candidates not shadowed, overlay candidates
    /// whose parent is in scope, merged into DIT order.
    fn search_overlay(
        &self,
        ov: &Overlay,
        base: EntryId,
        scope: &LdapSearchScope,
        f: &LdapFilter,
        plan: Plan<'_>,
    ) -> Vec<EntryId> {
        let one_level = matches!(scope, LdapSearchScope::OneLevel);
        let residual = self.residual(f).map(|r| filter::compile(&r));
        let matches = |id: EntryId| -> bool {
            residual
                .as_ref()
                .is_none_or(|r| r.evaluate(self.entry(id), self) == Tri::True)
        };
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
                return self.entry(id).dn().to_string();
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
                if rule != IN_CHAIN_OID || m.dn_attributes {
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
        let (attr, value) = crate::ad::equality(attr, value);
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
        let (attr, value) = crate::ad::equality(attr, value);
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
                    let base = m.get(key.as_str()).unwrap_or(&[]);
                    let extra = self
                        .overlay
                        .as_ref()
                        .map_or(&[][..], |ov| ov.posting(canon, &key));
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
}
