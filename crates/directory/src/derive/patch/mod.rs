//! Delta rounds: re-deriving only the entries the changed Graph objects can affect, as a patch
//! on the previous snapshot, so a round's local work grows with the changes and not with the
//! tenant. `build_tenant` stays the definition of the directory: this module must produce
//! exactly the entries it would (the tests compare the two over random change sequences), and
//! it declines — returning [`Derivation::Full`] with the reason — where following one object's
//! consequences would need the whole tenant:
//!
//! - the domains or the organization changed (every DN and the root depend on them);
//! - numbers come from a Graph attribute (`uid_number_attribute`/`gid_number_attribute`: values
//!   compete across objects), or users share a primary group;
//! - a changed group feeds a merged group (`groups.map`, `[[tenant.local_group]]`), or is
//!   nested while groups are merged;
//! - the previous round left objects unnumbered or reported notices;
//! - more than a quarter of the tenant's users changed (a full derivation is then cheaper).
//!
//! What is followed: users created, changed, renamed, disabled, deleted and restored (their
//! entries, private groups and every member list showing them); groups created, changed,
//! renamed and deleted; membership changes, nesting included (the entries above and below a
//! changed group); changes in `users.*_members_of` groups (the users whose standing changed
//! are judged again).

use super::entries::{
    GroupShape, group_entry, merged_uuid, private_group_entry, stamp, user_entry,
};
use super::groups::{name_key, normalize_cn};
use super::users::ServedUser;
use super::{BuildError, BuildReport, TenantInput, base_dn};
use crate::dn;
use crate::entry::{Entry, EntryKind};
use crate::ids::{Allocations, Claim, NumberSpace, creation_order, unmatched};
use crate::policy::{self, Judge, UserVerdict, group_served_as, merged_key};
use crate::snapshot::Snapshot;
use config::PRIMARY_GROUP_PRIVATE;
use config::{NestedMode, TenantConfig};
use model::Mirror;
use model::graph::MemberKind;
use model::mirror::MemberIndex;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet};

/// What the previous round left: the snapshot being served, the mirror it was derived from,
/// that derivation's report and the membership index of that mirror.
pub struct Prior<'a> {
    pub snapshot: &'a Snapshot,
    pub mirror: &'a Mirror,
    pub report: &'a BuildReport,
    pub members: &'a MemberIndex,
}

/// Entries to add or replace and normalised DNs to remove, plus the tenant's new report.
#[derive(Debug, Default)]
pub struct Patch {
    pub upserts: Vec<Entry>,
    pub removals: Vec<Box<str>>,
    pub report: BuildReport,
    /// Graph groups whose membership the round changed (for `MemberIndex::update`).
    pub groups_changed: Vec<String>,
}

#[derive(Debug)]
pub enum Derivation {
    Patch(Patch),
    /// Derive everything instead, for this reason.
    Full(String),
}

/// A served user's facts as an entry of the previous snapshot shows them.
struct Shown<'s> {
    entry: &'s Entry,
    uid: &'s str,
}

/// Derive the patch turning the tenant's entries in `prior.snapshot` into what `build_tenant`
/// would derive from `input.mirror`, given that only the objects in `touched` (users and
/// groups whose Graph content or membership changed) differ from `prior.mirror`. `alloc` is
/// extended as `build_tenant` would extend it; it is untouched when the answer is `Full`.
pub fn derive_patch(
    input: &TenantInput<'_>,
    prior: &Prior<'_>,
    touched: &BTreeSet<String>,
    alloc: &mut Allocations,
) -> Result<Derivation, BuildError> {
    let d = match Delta::prepare(input, prior, touched)? {
        Ok(d) => d,
        Err(reason) => return Ok(Derivation::Full(reason)),
    };
    Ok(Derivation::Patch(d.apply(alloc)))
}

struct Delta<'a> {
    input: &'a TenantInput<'a>,
    prior: &'a Prior<'a>,
    people: String,
    groups_dn: String,
    old_judge: Judge<'a>,
    new_judge: Judge<'a>,
    /// Users whose entries are derived again.
    users: BTreeSet<&'a str>,
    /// Changed Graph groups (none feeds a merged group).
    groups: BTreeSet<&'a str>,
    /// Graph groups whose entries are derived again (the changed ones, those above them, and
    /// groups that joined or left one).
    dirty_groups: BTreeSet<&'a str>,
    /// Member id → the changed groups listing it after the round.
    joined: FxHashMap<&'a str, Vec<&'a str>>,
}

fn full<T>(reason: impl Into<String>) -> Result<Result<T, String>, BuildError> {
    Ok(Err(reason.into()))
}

impl<'a> Delta<'a> {
    fn prepare(
        input: &'a TenantInput<'a>,
        prior: &'a Prior<'a>,
        touched: &'a BTreeSet<String>,
    ) -> Result<Result<Delta<'a>, String>, BuildError> {
        let cfg = input.cfg;
        let now = input.now;
        let (new, old) = (input.mirror, prior.mirror);
        if cfg.users.uid_number_attribute.is_some() || cfg.groups.gid_number_attribute.is_some() {
            return full("numbers come from a Graph attribute");
        }
        let primary = cfg.users.primary_group.trim();
        if !primary.is_empty() && !primary.eq_ignore_ascii_case(PRIMARY_GROUP_PRIVATE) {
            return full("users share a primary group");
        }
        if old.domains != new.domains || old.organization != new.organization {
            return full("the tenant's domains or organization changed");
        }
        if !prior.report.unnumbered.is_empty() || !prior.report.notices.is_empty() {
            return full("the previous round left notices or unnumbered objects");
        }
        let base = base_dn(cfg, new)?;
        let served_base = prior
            .snapshot
            .tenants
            .iter()
            .find(|t| t.name == cfg.name)
            .map(|t| t.base_dn.as_str());
        if served_base != Some(base.as_str()) {
            return full("the tenant is not served under the same base DN yet");
        }
        if touched.len().saturating_mul(4) > new.users.len().max(1000) {
            return full("a large share of the tenant changed");
        }
        let mut d = Delta {
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
                d.groups.insert(id.as_str());
            } else {
                d.users.insert(id.as_str());
            }
        }
        let merging = !cfg.groups.map.is_empty() || !cfg.local_group.is_empty();
        for &g in &d.groups {
            for r in new.members.get(g).into_iter().flatten() {
                d.joined.entry(r.id.as_str()).or_default().push(g);
            }
        }
        let groups: Vec<&str> = d.groups.iter().copied().collect();
        for g in groups {
            let old_as = old.groups.get(g).and_then(|x| group_served_as(cfg, x));
            let new_as = new.groups.get(g).and_then(|x| group_served_as(cfg, x));
            if old_as.as_ref().is_some_and(|a| a.1) || new_as.as_ref().is_some_and(|a| a.1) {
                return full(format!("changed group {g} feeds a merged group"));
            }
            let nested = |m: &Mirror| {
                m.members
                    .get(g)
                    .is_some_and(|s| s.iter().any(|r| r.kind == MemberKind::Group))
            };
            let has_parents =
                !prior.members.groups_of(g).is_empty() || !d.new_parents(g).is_empty();
            if merging && (nested(old) || nested(new) || has_parents) {
                return full(format!(
                    "changed group {g} is nested and groups.map or local groups merge groups"
                ));
            }
            // Groups above it show its members (flattened) or it (directly).
            for m in [old, new] {
                let up = d.ancestors(g, m);
                d.dirty_groups.extend(up);
            }
            d.dirty_groups.insert(g);
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
                        d.users.insert(x);
                    }
                    MemberKind::Group => {
                        d.dirty_groups.insert(x);
                        for m in [old, new] {
                            d.descend(x, m);
                        }
                    }
                    _ => {}
                }
            }
        }
        for (id, _) in old.deleted_users.iter().chain(new.deleted_users.iter()) {
            if old.deleted_users.get(id) != new.deleted_users.get(id) {
                d.users.insert(id.as_str());
            }
        }
        let ruled = d.old_judge.group_rule_changes(&d.new_judge);
        for id in &ruled {
            // Borrow the id from a mirror so the set keeps one lifetime.
            if let Some((k, _)) = new.users.get_key_value(id).or(old.users.get_key_value(id)) {
                d.users.insert(k.as_str());
            }
        }
        if d.users.len().saturating_mul(4) > new.users.len().max(1000) {
            return full("a large share of the tenant's users is affected");
        }
        Ok(Ok(d))
    }

    fn tenant(&self) -> u16 {
        self.input.index
    }

    /// Graph groups listing `x` (a user or a group) directly after the round: the committed
    /// index, with the changed groups' new member lists in place of their old ones.
    fn new_parents(&self, x: &str) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = self
            .prior
            .members
            .groups_of(x)
            .iter()
            .filter_map(|g| {
                self.input
                    .mirror
                    .groups
                    .get_key_value(&**g)
                    .map(|(k, _)| k.as_str())
            })
            .filter(|g| !self.groups.contains(g))
            .collect();
        if let Some(js) = self.joined.get(x) {
            out.extend(js.iter().copied());
        }
        out
    }

    /// Graph groups listing `x` directly before the round.
    fn old_parents(&self, x: &str) -> Vec<&'a str> {
        self.prior
            .members
            .groups_of(x)
            .iter()
            .filter_map(|g| {
                self.prior
                    .mirror
                    .groups
                    .get_key_value(&**g)
                    .map(|(k, _)| k.as_str())
            })
            .collect()
    }

    /// Every Graph group above `g` in `m` (the old or new mirror), through any nesting.
    fn ancestors(&self, g: &str, m: &Mirror) -> BTreeSet<&'a str> {
        let is_new = std::ptr::eq(m, self.input.mirror);
        let mut seen = BTreeSet::new();
        let mut stack = if is_new {
            self.new_parents(g)
        } else {
            self.old_parents(g)
        };
        while let Some(p) = stack.pop() {
            if seen.insert(p) {
                stack.extend(if is_new {
                    self.new_parents(p)
                } else {
                    self.old_parents(p)
                });
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

    fn shown_group(&self, key: &str) -> Option<&'a Entry> {
        self.shown(key, EntryKind::Group)
    }

    fn shown_user(&self, id: &str) -> Option<Shown<'a>> {
        let entry = self.shown(id, EntryKind::User)?;
        Some(Shown {
            entry,
            uid: entry.first("uid")?,
        })
    }

    /// Entries listing `dn` in `member`, of this tenant.
    fn listing(&self, dn_str: &str) -> Vec<&'a Entry> {
        let snap = self.prior.snapshot;
        let t = self.tenant();
        snap.find_eq("member", dn_str)
            .iter()
            .map(|id| snap.entry(*id))
            .filter(|e| e.tenant == t)
            .collect()
    }

    fn apply(self, alloc: &mut Allocations) -> Patch {
        let cfg = self.input.cfg;
        let new = self.input.mirror;
        let old = self.prior.mirror;
        let mut report = self.prior.report.clone();

        // Verdicts before and after, for the users re-derived.
        let mut verdicts: FxHashMap<&str, UserVerdict> = FxHashMap::default();
        for &u in &self.users {
            let before = self.old_judge.user(old, u);
            let after = self.new_judge.user(new, u);
            count(&mut report, before.as_ref(), -1);
            count(&mut report, after.as_ref(), 1);
            if let Some(v) = after {
                verdicts.insert(u, v);
            }
        }

        // uids: the changed users in creation order, with what they held and want.
        let shown_users: FxHashMap<&str, Shown> = self
            .users
            .iter()
            .filter_map(|u| Some((*u, self.shown_user(u)?)))
            .collect();
        let mut user_claims: Vec<Claim> = self
            .users
            .iter()
            .filter_map(|u| {
                let obj = policy::user_of(new, u).or_else(|| policy::user_of(old, u))?;
                Some(Claim {
                    id: u,
                    created: obj.created_date_time.as_deref(),
                })
            })
            .collect();
        creation_order(&mut user_claims);
        let wanted_uid = |id: &str| -> Option<String> {
            let v = verdicts.get(id)?;
            if !v.served {
                return None;
            }
            v.username.clone()
        };
        let changed_uids: Vec<(&str, Option<&str>, Option<String>)> = user_claims
            .iter()
            .map(|c| (c.id, shown_users.get(c.id).map(|s| s.uid), wanted_uid(c.id)))
            .collect();
        let (uids, _) = alloc.reassign_names("u", &changed_uids, |s| s.to_lowercase());
        let numbered: Vec<Claim> = user_claims
            .iter()
            .filter(|c| uids.contains_key(c.id))
            .cloned()
            .collect();
        let [ufirst, ulast] = cfg.users.uid_number_range;
        report
            .unnumbered
            .extend(alloc.assign_numbers(NumberSpace::Uid, &numbered, ufirst, ulast));
        let mut served: FxHashMap<&str, ServedUser> = FxHashMap::default();
        for c in &numbered {
            let (Some(u), Some(uid), Some(n), Some(v)) = (
                policy::user_of(new, c.id),
                uids.get(c.id),
                alloc.uid.get(c.id),
                verdicts.get(c.id),
            ) else {
                continue;
            };
            served.insert(
                c.id,
                ServedUser {
                    u,
                    uid: uid.clone(),
                    uid_number: *n,
                    dn: dn::build("uid", uid, &self.people),
                    locked: v.locked(),
                },
            );
        }
        for &u in &self.users {
            let was = shown_users.get(u).is_some_and(|s| !locked(s.entry));
            let is = served.get(u).is_some_and(|s| !s.locked);
            report.users_active = bump(report.users_active, was, is);
        }

        // Group cns: changed groups and the private groups of changed users, in creation order.
        let group_wants: BTreeMap<&str, Option<String>> = self
            .groups
            .iter()
            .map(|g| {
                let wants = new
                    .groups
                    .get(*g)
                    .and_then(|x| group_served_as(cfg, x))
                    .map(|a| a.0);
                (*g, wants)
            })
            .collect();
        let private_shown: FxHashMap<&str, &Entry> = shown_users
            .iter()
            .filter_map(|(u, s)| {
                let e = self
                    .listing(&s.entry.dn)
                    .into_iter()
                    .find(|e| e.kind == EntryKind::PrivateGroup)?;
                Some((*u, e))
            })
            .collect();
        let mut cn_claims: Vec<Claim> = user_claims.clone();
        cn_claims.extend(self.groups.iter().map(|g| {
            Claim {
                id: g,
                created: new
                    .groups
                    .get(*g)
                    .or_else(|| old.groups.get(*g))
                    .and_then(|x| x.created_date_time.as_deref()),
            }
        }));
        creation_order(&mut cn_claims);
        let changed_cns: Vec<(&str, Option<&str>, Option<String>)> = cn_claims
            .iter()
            .map(|c| match group_wants.get(c.id) {
                Some(wants) => (
                    c.id,
                    self.shown_group(c.id).and_then(|e| e.first("cn")),
                    wants.clone(),
                ),
                None => (
                    c.id,
                    private_shown.get(c.id).and_then(|e| e.first("cn")),
                    served.get(c.id).map(|s| s.uid.clone()),
                ),
            })
            .collect();
        let (cns, _) = alloc.reassign_names("g", &changed_cns, normalize_cn);
        let mut group_numbered: Vec<Claim> = cn_claims
            .iter()
            .filter(|c| group_wants.contains_key(c.id) && cns.contains_key(c.id))
            .cloned()
            .collect();
        creation_order(&mut group_numbered);
        let [gfirst, glast] = cfg.groups.gid_number_range;
        report.unnumbered.extend(alloc.assign_numbers(
            NumberSpace::Gid,
            &group_numbered,
            gfirst,
            glast,
        ));
        // Changed groups as served now: cn, gidNumber, DN.
        let mut served_groups: ServedGroups = FxHashMap::default();
        for c in &group_numbered {
            if let (Some(cn), Some(n)) = (cns.get(c.id), alloc.gid.get(c.id)) {
                let gdn = dn::build("cn", cn, &self.groups_dn);
                served_groups.insert(c.id, (cn.clone(), *n, gdn));
            }
        }
        for &g in &self.groups {
            let was = self.shown_group(g).is_some();
            let is = served_groups.contains_key(g);
            report.groups = bump(report.groups, was, is);
        }

        // Objects not served under the name they want: the unchanged ones as before, the
        // changed ones as just granted; a collision is one whose wanted name is held.
        let changed: FxHashSet<&str> = self.users.iter().chain(&self.groups).copied().collect();
        report
            .unmatched
            .retain(|u| !changed.contains(u.id.as_str()));
        let wanted_u: Vec<(&str, String)> = changed_uids
            .iter()
            .filter_map(|(id, _, w)| Some((*id, w.clone()?)))
            .collect();
        let wanted_g: Vec<(&str, String)> = changed_cns
            .iter()
            .filter_map(|(id, _, w)| Some((*id, w.clone()?)))
            .collect();
        report.unmatched.extend(unmatched("u", &wanted_u, &uids));
        report.unmatched.extend(unmatched("g", &wanted_g, &cns));
        report.collisions = alloc.collisions(&report.unmatched, name_key);

        let view = View {
            d: &self,
            users: &served,
            groups: &served_groups,
            merged: merged_sources(cfg, new),
        };
        let mut out = Out::default();
        // Directory groups whose entries are derived again, by key.
        let mut group_keys: BTreeSet<String> = BTreeSet::new();
        for g in &self.dirty_groups {
            if let Some(k) = view.dir_of(g) {
                group_keys.insert(k);
            }
        }
        let flatten = cfg.groups.nested == NestedMode::Flatten;
        let mut face_edits: BTreeMap<String, Vec<Edit<'_>>> = BTreeMap::new();
        for &u in &self.users {
            let before = shown_users.get(u);
            let now_served = served.get(u);
            if let Some(s) = before {
                out.remove(&s.entry.ndn);
                if let Some(p) = private_shown.get(u) {
                    out.remove(&p.ndn);
                }
            }
            let groups_of = if now_served.is_some() {
                view.member_of(Node::User(u))
            } else {
                BTreeSet::new()
            };
            if let Some(su) = now_served {
                let group_dns: Vec<String> =
                    groups_of.iter().filter_map(|k| view.dn_of(k)).collect();
                let mut dns: Vec<&str> = group_dns.iter().map(String::as_str).collect();
                let private_cn = cns.get(u).cloned().unwrap_or_else(|| su.uid.clone());
                let private_dn = dn::build("cn", &private_cn, &self.groups_dn);
                dns.push(&private_dn);
                dns.sort();
                out.upsert(user_entry(self.input, su, su.uid_number, &dns));
                out.upsert(private_group_entry(
                    self.input,
                    su,
                    &private_cn,
                    &self.groups_dn,
                ));
            }
            let old_face = before.map(|s| (&*s.entry.dn, s.uid));
            let new_face = now_served.map(|s| (s.dn.as_str(), s.uid.as_str()));
            if old_face == new_face {
                continue;
            }
            // The groups listing the user before and now show its new face. Their member
            // lists are edited rather than derived again (a department of thousands would
            // otherwise be rebuilt member by member for one renamed or disabled user).
            let mut listing_before: BTreeSet<String> = BTreeSet::new();
            if let Some(s) = before {
                for e in self.listing(&s.entry.dn) {
                    if e.kind == EntryKind::Group
                        && let Some(k) = view.key_of_entry(e)
                    {
                        listing_before.insert(k);
                    }
                }
            }
            let listing_now: BTreeSet<String> = match now_served {
                Some(_) if flatten => groups_of,
                Some(_) => view.dir_parents(Node::User(u)),
                None => BTreeSet::new(),
            };
            for k in listing_before.union(&listing_now) {
                face_edits.entry(k.clone()).or_default().push(Edit {
                    before: old_face.filter(|_| listing_before.contains(k)),
                    after: new_face
                        .filter(|_| listing_now.contains(k))
                        .map(|(d, n)| (d.to_string(), n.to_string())),
                });
            }
        }
        // Changed groups no longer served, or renamed, leave their old entries.
        for &g in &self.groups {
            if let Some(e) = self.shown_group(g) {
                out.remove(&e.ndn);
            }
        }
        for k in &group_keys {
            if let Some(e) = view.group_entry(k) {
                out.upsert(e);
            }
        }
        // Groups whose membership is as before, only with members renamed, disabled, removed
        // or newly served.
        for (k, edits) in &face_edits {
            // Changed groups are derived in full above, or gone.
            if group_keys.contains(k) || self.groups.contains(k.as_str()) {
                continue;
            }
            if let Some(prev) = view.shown(k) {
                out.upsert(edit_members(prev, edits));
            }
        }

        let mut groups_changed: Vec<String> = self.groups.iter().map(|g| g.to_string()).collect();
        groups_changed.sort();
        let (upserts, removals) = out.finish(self.prior.snapshot);
        Patch {
            upserts,
            removals,
            report,
            groups_changed,
        }
    }
}

/// Changed groups as served after the round: cn, gidNumber, DN.
type ServedGroups<'s> = FxHashMap<&'s str, (String, u32, String)>;

/// A change to one user in a group's `member`/`memberUid` lists: (DN, uid) before and after.
struct Edit<'s> {
    before: Option<(&'s str, &'s str)>,
    after: Option<(String, String)>,
}

/// An unchanged group's entry with `edits` applied to its member lists.
fn edit_members(prev: &Entry, edits: &[Edit<'_>]) -> Entry {
    let mut dns: Vec<&str> = prev.values("member").iter().map(|v| &**v).collect();
    let mut uids: Vec<&str> = prev.values("memberUid").iter().map(|v| &**v).collect();
    for e in edits {
        if let Some((d, u)) = e.before {
            dns.retain(|x| *x != d);
            uids.retain(|x| *x != u);
        }
    }
    for e in edits {
        if let Some((d, u)) = &e.after {
            dns.push(d);
            uids.push(u);
        }
    }
    dns.sort_unstable();
    dns.dedup();
    uids.sort_unstable();
    uids.dedup();
    let first = |n: &str| prev.first(n);
    let shape = GroupShape {
        cn: first("cn").unwrap_or_default(),
        gid_number: first("gidNumber")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default(),
        member_dns: dns.into_iter().map(str::to_string).collect(),
        member_uids: uids.into_iter().map(str::to_string).collect(),
        description: first("description"),
        mail: first("mail"),
        uuid: first("entryUUID").unwrap_or_default(),
        parent_dns: prev
            .values("memberOf")
            .iter()
            .map(|v| v.to_string())
            .collect(),
    };
    group_entry(&prev.dn, shape, prev.tenant, &prev.created, &prev.modified)
}

/// A member in the membership graph: a user, or a directory group by key.
#[derive(Clone, Copy)]
enum Node<'n> {
    User(&'n str),
    Group(&'n str),
}

/// Merged directory groups (`groups.map`, local groups) by key → their Graph source groups.
fn merged_sources<'m>(cfg: &TenantConfig, m: &'m Mirror) -> BTreeMap<String, Vec<&'m str>> {
    let mut out: BTreeMap<String, Vec<&'m str>> = BTreeMap::new();
    if cfg.groups.map.is_empty() && cfg.local_group.is_empty() {
        return out;
    }
    for (id, g) in &m.groups {
        if let Some((name, true)) = group_served_as(cfg, g) {
            out.entry(merged_key(&name)).or_default().push(id.as_str());
        }
    }
    out
}

/// The directory as it stands after the round, for the entries being derived again: changed
/// users and groups as just derived, everything else as the prior snapshot shows it, and the
/// membership graph from the committed index with the changed groups' new member lists.
struct View<'v, 'a> {
    d: &'v Delta<'a>,
    users: &'v FxHashMap<&'a str, ServedUser<'a>>,
    groups: &'v ServedGroups<'a>,
    merged: BTreeMap<String, Vec<&'a str>>,
}

impl<'v, 'a> View<'v, 'a> {
    /// The directory group a Graph group is served as (its key), if policy includes it.
    fn dir_of(&self, g: &str) -> Option<String> {
        let graph = self.d.input.mirror.groups.get(g)?;
        let (name, merged) = group_served_as(self.d.input.cfg, graph)?;
        Some(if merged {
            merged_key(&name)
        } else {
            g.to_string()
        })
    }

    fn sources<'k>(&'k self, key: &'k str) -> Vec<&'k str> {
        match self.merged.get(key) {
            Some(s) => s.clone(),
            None => vec![key],
        }
    }

    /// The served entry of an unchanged directory group, from the prior snapshot.
    fn shown(&self, key: &str) -> Option<&'a Entry> {
        if self.merged.contains_key(key)
            || self
                .d
                .input
                .cfg
                .local_group
                .iter()
                .any(|l| merged_key(&l.name) == key)
        {
            return self
                .d
                .shown_group(&merged_uuid(&self.d.input.cfg.tenant_id, key));
        }
        self.d.shown_group(key)
    }

    fn key_of_entry(&self, e: &Entry) -> Option<String> {
        let uuid = e.first("entryUUID")?;
        if self.d.input.mirror.groups.contains_key(uuid)
            || self.d.prior.mirror.groups.contains_key(uuid)
        {
            return Some(uuid.to_string());
        }
        let cfg = self.d.input.cfg;
        self.merged
            .keys()
            .cloned()
            .chain(cfg.local_group.iter().map(|l| merged_key(&l.name)))
            .find(|k| merged_uuid(&cfg.tenant_id, k) == uuid)
    }

    /// A served directory group's DN after the round; `None` when it is not served.
    fn dn_of(&self, key: &str) -> Option<String> {
        if self.d.groups.contains(key) {
            return self.groups.get(key).map(|g| g.2.clone());
        }
        self.shown(key).map(|e| e.dn.to_string())
    }

    fn served_group(&self, key: &str) -> bool {
        if self.d.groups.contains(key) {
            self.groups.contains_key(key)
        } else {
            self.shown(key).is_some()
        }
    }

    /// A served user's DN and uid after the round.
    fn user_face(&self, u: &str) -> Option<(String, String)> {
        if self.d.users.contains(u) {
            return self.users.get(u).map(|s| (s.dn.clone(), s.uid.clone()));
        }
        let s = self.d.shown_user(u)?;
        Some((s.entry.dn.to_string(), s.uid.to_string()))
    }

    /// Served directory groups listing `node` directly (a group never lists itself).
    fn dir_parents(&self, node: Node<'_>) -> BTreeSet<String> {
        let (ids, own): (Vec<&str>, Option<&str>) = match node {
            Node::User(u) => (vec![u], None),
            Node::Group(k) => (self.sources(k), Some(k)),
        };
        let mut out = BTreeSet::new();
        for id in ids {
            for p in self.d.new_parents(id) {
                if let Some(k) = self.dir_of(p)
                    && Some(k.as_str()) != own
                    && self.served_group(&k)
                {
                    out.insert(k);
                }
            }
        }
        out
    }

    /// Every served directory group above `node`, through any nesting (as `build_tenant`'s
    /// closure: a group in a cycle is above itself).
    fn member_of(&self, node: Node<'_>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = self.dir_parents(node).into_iter().collect();
        while let Some(k) = stack.pop() {
            if seen.insert(k.clone()) {
                stack.extend(self.dir_parents(Node::Group(&k)));
            }
        }
        seen
    }

    /// A served directory group's direct members: served users and served groups.
    fn direct(&self, key: &str) -> BTreeSet<(String, MemberKind)> {
        let mut out = BTreeSet::new();
        for src in self.sources(key) {
            for r in self.d.input.mirror.members.get(src).into_iter().flatten() {
                match r.kind {
                    MemberKind::User if self.user_face(&r.id).is_some() => {
                        out.insert((r.id.clone(), MemberKind::User));
                    }
                    MemberKind::Group => {
                        if let Some(k) = self.dir_of(&r.id)
                            && k != key
                            && self.served_group(&k)
                        {
                            out.insert((k, MemberKind::Group));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// A directory group's entry after the round: a changed group from the mirror, an
    /// unchanged one from its prior entry, both with member lists and memberOf derived again.
    fn group_entry(&self, key: &str) -> Option<Entry> {
        let cfg = self.d.input.cfg;
        let members: Vec<(String, MemberKind)> = match cfg.groups.nested {
            NestedMode::Direct => self.direct(key).into_iter().collect(),
            NestedMode::Flatten => {
                let mut users: BTreeSet<String> = BTreeSet::new();
                let mut seen: BTreeSet<String> = BTreeSet::new();
                let mut stack: Vec<(String, MemberKind)> = self.direct(key).into_iter().collect();
                while let Some((id, kind)) = stack.pop() {
                    if kind == MemberKind::User {
                        users.insert(id);
                    } else if id != key && seen.insert(id.clone()) {
                        stack.extend(self.direct(&id));
                    }
                }
                users.into_iter().map(|u| (u, MemberKind::User)).collect()
            }
        };
        let mut member_dns = Vec::new();
        let mut member_uids = Vec::new();
        for (id, kind) in members {
            if kind == MemberKind::User {
                if let Some((d, u)) = self.user_face(&id) {
                    member_dns.push(d);
                    member_uids.push(u);
                }
            } else if let Some(d) = self.dn_of(&id) {
                member_dns.push(d);
            }
        }
        member_dns.sort();
        member_uids.sort();
        let mut parent_dns: Vec<String> = self
            .member_of(Node::Group(key))
            .iter()
            .filter_map(|k| self.dn_of(k))
            .collect();
        parent_dns.sort();
        let tenant = self.d.tenant();
        if self.d.groups.contains(key) {
            let (cn, gid, gdn) = self.groups.get(key)?;
            let graph = self.d.input.mirror.groups.get(key);
            let (created, modified) = stamp(
                self.d.input,
                key,
                graph.and_then(|x| x.created_date_time.as_deref()),
            );
            let shape = GroupShape {
                cn,
                gid_number: *gid,
                member_dns,
                member_uids,
                description: graph.and_then(|x| x.description.as_deref()),
                mail: graph.and_then(|x| x.mail.as_deref()),
                uuid: key,
                parent_dns,
            };
            return Some(group_entry(gdn, shape, tenant, &created, &modified));
        }
        let prev = self.shown(key)?;
        let first = |n: &str| prev.first(n);
        let shape = GroupShape {
            cn: first("cn")?,
            gid_number: first("gidNumber")?.parse().ok()?,
            member_dns,
            member_uids,
            description: first("description"),
            mail: first("mail"),
            uuid: first("entryUUID")?,
            parent_dns,
        };
        Some(group_entry(
            &prev.dn,
            shape,
            tenant,
            &prev.created,
            &prev.modified,
        ))
    }
}

#[derive(Default)]
struct Out {
    upserts: FxHashMap<Box<str>, Entry>,
    removals: FxHashSet<Box<str>>,
}

impl Out {
    fn remove(&mut self, ndn: &str) {
        if !self.upserts.contains_key(ndn) {
            self.removals.insert(Box::from(ndn));
        }
    }

    fn upsert(&mut self, e: Entry) {
        self.removals.remove(&e.ndn);
        self.upserts.insert(e.ndn.clone(), e);
    }

    /// The patch, without upserts equal to what is served already.
    fn finish(self, prior: &Snapshot) -> (Vec<Entry>, Vec<Box<str>>) {
        let mut upserts: Vec<Entry> = self
            .upserts
            .into_values()
            .filter(|e| prior.lookup(&e.ndn).map(|id| prior.entry(id)) != Some(e))
            .collect();
        upserts.sort_by_cached_key(|e| dn::dit_order_key(&e.ndn));
        let mut removals: Vec<Box<str>> = self
            .removals
            .into_iter()
            .filter(|n| prior.lookup(n).is_some())
            .collect();
        removals.sort();
        (upserts, removals)
    }
}

fn locked(e: &Entry) -> bool {
    e.first("nsAccountLock")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn bump(n: usize, was: bool, is: bool) -> usize {
    match (was, is) {
        (true, false) => n.saturating_sub(1),
        (false, true) => n + 1,
        _ => n,
    }
}

/// Move a verdict in or out of the report's status counts.
fn count(report: &mut BuildReport, v: Option<&UserVerdict>, sign: i8) {
    let Some(v) = v else { return };
    let slot = match v.status {
        policy::UserStatus::Inactive => &mut report.users_inactive,
        policy::UserStatus::Excluded => &mut report.users_excluded,
        policy::UserStatus::Active => return,
    };
    *slot = if sign < 0 {
        slot.saturating_sub(1)
    } else {
        *slot + 1
    };
}

#[cfg(test)]
mod tests;
