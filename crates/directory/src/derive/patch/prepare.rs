//! Preparing a patch: whether the round can be followed object by object at all, and if so
//! which users and groups it re-derives. A changed group reaches the groups above it (they show
//! its members or it) and the objects that joined or left it (their `memberOf` changes).

use super::Prior;
use crate::derive::{BuildError, TenantInput, base_dn};
use crate::entry::{Entry, EntryKind};
use crate::policy::{Judge, group_served_as};
use config::PRIMARY_GROUP_PRIVATE;
use model::Mirror;
use model::graph::MemberKind;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// What a patch re-derives, and how policy judged the tenant before and after the round.
pub(super) struct Scope<'a> {
    pub input: &'a TenantInput<'a>,
    pub prior: &'a Prior<'a>,
    pub people: String,
    pub groups_dn: String,
    pub old_judge: Judge<'a>,
    pub new_judge: Judge<'a>,
    /// Users whose entries are derived again.
    pub users: BTreeSet<&'a str>,
    /// Changed Graph groups (none feeds a merged group).
    pub groups: BTreeSet<&'a str>,
    /// Graph groups whose entries are derived again (the changed ones, those above them, and
    /// groups that joined or left one).
    pub dirty_groups: BTreeSet<&'a str>,
    /// Member id → the changed groups listing it after the round.
    joined: FxHashMap<&'a str, Vec<&'a str>>,
}

/// A served user's facts as an entry of the previous snapshot shows them.
pub(super) struct Shown<'s> {
    pub entry: &'s Entry,
    pub uid: &'s str,
}

/// The scope, or why the round must be derived in full.
type Prepared<'a> = Result<Result<Scope<'a>, String>, BuildError>;

fn full<'a>(reason: impl Into<String>) -> Prepared<'a> {
    Ok(Err(reason.into()))
}

impl<'a> Scope<'a> {
    pub(super) fn prepare(
        input: &'a TenantInput<'a>,
        prior: &'a Prior<'a>,
        touched: &'a BTreeSet<String>,
    ) -> Prepared<'a> {
        let cfg = input.cfg;
        let now = input.now;
        let (new, old) = (input.mirror, prior.mirror);
        let base = match Self::patchable(input, prior, touched)? {
            Ok(base) => base,
            Err(reason) => return full(reason),
        };
        let mut scope = Scope {
            input,
            prior,
            people: format!("ou=people,{base}"),
            groups_dn: format!("ou=groups,{base}"),
            old_judge: Judge::new(old, cfg, now),
            new_judge: Judge::new(new, cfg, now),
            users: BTreeSet::new(),
            groups: BTreeSet::new(),
            dirty_groups: BTreeSet::new(),
            joined: FxHashMap::default(),
        };
        for id in touched {
            let is_group = old.groups.contains_key(id)
                || new.groups.contains_key(id)
                || old.members.contains_key(id)
                || new.members.contains_key(id);
            if is_group {
                scope.groups.insert(id.as_str());
            } else {
                scope.users.insert(id.as_str());
            }
        }
        for &g in &scope.groups {
            for r in new.members.get(g).into_iter().flatten() {
                scope.joined.entry(r.id.as_str()).or_default().push(g);
            }
        }
        let groups: Vec<&str> = scope.groups.iter().copied().collect();
        for g in groups {
            if let Err(reason) = scope.follow_group(g) {
                return full(reason);
            }
        }
        for (id, _) in old.deleted_users.iter().chain(new.deleted_users.iter()) {
            if old.deleted_users.get(id) != new.deleted_users.get(id) {
                scope.users.insert(id.as_str());
            }
        }
        let ruled = scope.old_judge.group_rule_changes(&scope.new_judge);
        for id in &ruled {
            // Borrow the id from a mirror so the set keeps one lifetime.
            if let Some((k, _)) = new.users.get_key_value(id).or(old.users.get_key_value(id)) {
                scope.users.insert(k.as_str());
            }
        }
        if scope.users.len().saturating_mul(4) > new.users.len().max(1000) {
            return full("a large share of the tenant's users is affected");
        }
        Ok(Ok(scope))
    }

    /// The tenant's base DN if nothing rules a patch out before looking at single objects;
    /// otherwise why not.
    fn patchable(
        input: &TenantInput<'_>,
        prior: &Prior<'_>,
        touched: &BTreeSet<String>,
    ) -> Result<Result<String, String>, BuildError> {
        let cfg = input.cfg;
        let (new, old) = (input.mirror, prior.mirror);
        let decline = |reason: &str| Ok(Err(reason.to_string()));
        if cfg.users.uid_number_attribute.is_some() || cfg.groups.gid_number_attribute.is_some() {
            return decline("numbers come from a Graph attribute");
        }
        let primary = cfg.users.primary_group.trim();
        if !primary.is_empty() && !primary.eq_ignore_ascii_case(PRIMARY_GROUP_PRIVATE) {
            return decline("users share a primary group");
        }
        if old.domains != new.domains || old.organization != new.organization {
            return decline("the tenant's domains or organization changed");
        }
        if !prior.report.unnumbered.is_empty() || !prior.report.notices.is_empty() {
            return decline("the previous round left notices or unnumbered objects");
        }
        let base = base_dn(cfg, new)?;
        let served_base = prior
            .snapshot
            .tenants
            .iter()
            .find(|t| t.name == cfg.name)
            .map(|t| t.base_dn.as_str());
        if served_base != Some(base.as_str()) {
            return decline("the tenant is not served under the same base DN yet");
        }
        if touched.len().saturating_mul(4) > new.users.len().max(1000) {
            return decline("a large share of the tenant changed");
        }
        Ok(Ok(base))
    }

    /// Adds what changed group `g` reaches to the scope, or says why it needs the whole
    /// tenant.
    fn follow_group(&mut self, g: &'a str) -> Result<(), String> {
        let cfg = self.input.cfg;
        let (new, old) = (self.input.mirror, self.prior.mirror);
        let merging = !cfg.groups.map.is_empty() || !cfg.local_group.is_empty();
        let old_as = old.groups.get(g).and_then(|x| group_served_as(cfg, x));
        let new_as = new.groups.get(g).and_then(|x| group_served_as(cfg, x));
        if old_as.as_ref().is_some_and(|a| a.1) || new_as.as_ref().is_some_and(|a| a.1) {
            return Err(format!("changed group {g} feeds a merged group"));
        }
        let nested = |m: &Mirror| {
            m.members
                .get(g)
                .is_some_and(|s| s.iter().any(|r| r.kind == MemberKind::Group))
        };
        let has_parents =
            !self.prior.members.groups_of(g).is_empty() || !self.new_parents(g).is_empty();
        if merging && (nested(old) || nested(new) || has_parents) {
            return Err(format!(
                "changed group {g} is nested and groups.map or local groups merge groups"
            ));
        }
        // Groups above it show its members (flattened) or it (directly).
        for m in [old, new] {
            let up = self.ancestors(g, m);
            self.dirty_groups.extend(up);
        }
        self.dirty_groups.insert(g);
        // Entries below it whose memberOf changes: all of them when the group appears,
        // goes or is renamed, else the members that joined or left and what is under them.
        let (before, after) = (old.direct_members(g), new.direct_members(g));
        let moved: Vec<(&str, MemberKind)> = if old_as.map(|a| a.0) != new_as.map(|a| a.0) {
            before.union(&after).copied().collect()
        } else {
            before.symmetric_difference(&after).copied().collect()
        };
        for (x, kind) in moved {
            match kind {
                MemberKind::User => {
                    self.users.insert(x);
                }
                MemberKind::Group => {
                    self.dirty_groups.insert(x);
                    for m in [old, new] {
                        self.descend(x, m);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn tenant(&self) -> u16 {
        self.input.index
    }

    /// Graph groups of `m` (the old or new mirror) the committed index lists `x` in.
    fn indexed_parents(&self, x: &str, m: &'a Mirror) -> impl Iterator<Item = &'a str> {
        self.prior
            .members
            .groups_of(x)
            .iter()
            .filter_map(move |g| m.groups.get_key_value(&**g).map(|(k, _)| k.as_str()))
    }

    /// Graph groups listing `x` (a user or a group) directly after the round: the committed
    /// index, with the changed groups' new member lists in place of their old ones.
    pub(super) fn new_parents(&self, x: &str) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = self
            .indexed_parents(x, self.input.mirror)
            .filter(|g| !self.groups.contains(g))
            .collect();
        if let Some(js) = self.joined.get(x) {
            out.extend(js.iter().copied());
        }
        out
    }

    /// Every Graph group above `g` in `m` (the old or new mirror), through any nesting.
    fn ancestors(&self, g: &str, m: &Mirror) -> BTreeSet<&'a str> {
        let is_new = std::ptr::eq(m, self.input.mirror);
        let parents = |x: &str| -> Vec<&'a str> {
            if is_new {
                self.new_parents(x)
            } else {
                self.indexed_parents(x, self.prior.mirror).collect()
            }
        };
        let mut seen = BTreeSet::new();
        let mut stack = parents(g);
        while let Some(p) = stack.pop() {
            if seen.insert(p) {
                stack.extend(parents(p));
            }
        }
        seen
    }

    /// Mark everything under group `g` in `m` as derived again: its users, and its groups.
    fn descend(&mut self, g: &str, m: &'a Mirror) {
        let mut seen: BTreeSet<&'a str> = BTreeSet::new();
        let mut stack: Vec<&'a str> = m
            .groups
            .get_key_value(g)
            .map(|(k, _)| k.as_str())
            .into_iter()
            .collect();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            self.dirty_groups.insert(x);
            for r in m.members.get(x).into_iter().flatten() {
                match r.kind {
                    MemberKind::User => {
                        self.users.insert(r.id.as_str());
                    }
                    MemberKind::Group => stack.push(r.id.as_str()),
                    _ => {}
                }
            }
        }
    }

    /// The entry of kind `kind` whose entryUUID is `uuid`, in this tenant of the prior snapshot.
    fn shown(&self, uuid: &str, kind: EntryKind) -> Option<&'a Entry> {
        let snap = self.prior.snapshot;
        let t = self.tenant();
        snap.find_eq("entryUUID", uuid)
            .iter()
            .map(|id| snap.entry(*id))
            .find(|e| e.tenant == t && e.kind == kind)
    }

    pub(super) fn shown_group(&self, key: &str) -> Option<&'a Entry> {
        self.shown(key, EntryKind::Group)
    }

    pub(super) fn shown_user(&self, id: &str) -> Option<Shown<'a>> {
        let entry = self.shown(id, EntryKind::User)?;
        Some(Shown {
            entry,
            uid: entry.first("uid")?,
        })
    }

    /// Entries listing `dn` in `member`, of this tenant.
    pub(super) fn listing(&self, dn_str: &str) -> Vec<&'a Entry> {
        let snap = self.prior.snapshot;
        let t = self.tenant();
        snap.find_eq("member", dn_str)
            .iter()
            .map(|id| snap.entry(*id))
            .filter(|e| e.tenant == t)
            .collect()
    }
}
