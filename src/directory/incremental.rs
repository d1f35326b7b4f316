//! Delta rounds: re-deriving only the entries the changed Graph objects can affect, as a patch
//! on the previous snapshot, so a round's local work grows with the changes and not with the
//! tenant. `build_tenant` stays the definition of the directory: this module must produce
//! exactly the entries it would (the tests compare the two over random change sequences), and
//! it declines — returning [`Derivation::Full`] with the reason — wherever following one object's
//! consequences would need the whole tenant:
//!
//! - the domains or the organization changed (every DN and the root depend on them);
//! - numbers come from a Graph attribute (`uid_number_attribute`/`gid_number_attribute`: values
//!   compete across objects), or users share a primary group;
//! - a changed group is nested (has group members or is a member of a group), or feeds a merged
//!   group (`groups.map`, `[[tenant.local_group]]`);
//! - the previous round left objects unnumbered or reported notices;
//! - more than a quarter of the tenant's users changed (a full derivation is then cheaper).
//!
//! Policy changes through `users.*_members_of` groups are followed: the users whose standing
//! changed are re-judged one by one.

use super::build::{
    BuildError, BuildReport, GroupShape, ServedUser, TenantInput, base_dn, group_entry,
    merged_uuid, name_key, normalize_cn, private_group_entry, stamp, user_entry,
};
use super::dn;
use super::entry::{Entry, EntryKind};
use super::ids::{Allocations, Claim, NumberSpace, creation_order, unmatched};
use super::snapshot::Snapshot;
use crate::config::NestedMode;
use crate::config::PRIMARY_GROUP_PRIVATE;
use crate::graph::models::{MemberKind, User};
use crate::policy::{self, Judge, UserVerdict, group_served_as, merged_key};
use crate::sync::mirror::Mirror;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet};

/// Direct group memberships of users, by user id: the reverse of `Mirror::members`, which a
/// delta round needs for users whose entries it rebuilds (a re-enabled user's groups, say).
#[derive(Debug, Clone, Default)]
pub struct MemberIndex {
    groups_of: FxHashMap<Box<str>, Vec<Box<str>>>,
}

impl MemberIndex {
    pub fn build(mirror: &Mirror) -> MemberIndex {
        let mut groups_of: FxHashMap<Box<str>, Vec<Box<str>>> = FxHashMap::default();
        for (g, set) in &mirror.members {
            for m in set.iter().filter(|m| m.kind == MemberKind::User) {
                groups_of
                    .entry(Box::from(m.id.as_str()))
                    .or_default()
                    .push(Box::from(g.as_str()));
            }
        }
        MemberIndex { groups_of }
    }

    /// The index as sorted sets, to compare two indexes whatever order they were built in.
    #[cfg(test)]
    fn normalized(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        self.groups_of
            .iter()
            .map(|(u, gs)| (&**u, gs.iter().map(|g| &**g).collect()))
            .collect()
    }

    /// Groups listing `user` directly.
    pub fn groups_of(&self, user: &str) -> &[Box<str>] {
        self.groups_of.get(user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Follow the membership changes of `groups` from `old` to `new`.
    pub fn update<'a>(
        &mut self,
        groups: impl IntoIterator<Item = &'a str>,
        old: &Mirror,
        new: &Mirror,
    ) {
        for g in groups {
            let before = user_members(old, g);
            let after = user_members(new, g);
            for u in before.difference(&after) {
                if let Some(list) = self.groups_of.get_mut(*u) {
                    list.retain(|x| &**x != g);
                    if list.is_empty() {
                        self.groups_of.remove(*u);
                    }
                }
            }
            for u in after.difference(&before) {
                self.groups_of
                    .entry(Box::from(*u))
                    .or_default()
                    .push(Box::from(g));
            }
        }
    }
}

fn user_members<'m>(m: &'m Mirror, g: &str) -> BTreeSet<&'m str> {
    m.members
        .get(g)
        .into_iter()
        .flatten()
        .filter(|r| r.kind == MemberKind::User)
        .map(|r| r.id.as_str())
        .collect()
}

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
    now: i64,
    alloc: &mut Allocations,
) -> Result<Derivation, BuildError> {
    let d = match Delta::prepare(input, prior, touched, now)? {
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
    /// Changed Graph groups (all are unnested and unmerged).
    groups: BTreeSet<&'a str>,
}

fn full<T>(reason: impl Into<String>) -> Result<Result<T, String>, BuildError> {
    Ok(Err(reason.into()))
}

impl<'a> Delta<'a> {
    fn prepare(
        input: &'a TenantInput<'a>,
        prior: &'a Prior<'a>,
        touched: &'a BTreeSet<String>,
        now: i64,
    ) -> Result<Result<Delta<'a>, String>, BuildError> {
        let cfg = input.cfg;
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
        for &g in &d.groups {
            let nested = |m: &Mirror| {
                m.members
                    .get(g)
                    .is_some_and(|s| s.iter().any(|r| r.kind == MemberKind::Group))
            };
            if nested(old) || nested(new) {
                return full(format!("changed group {g} has nested groups"));
            }
            if d.shown_group(g)
                .is_some_and(|e| !e.values("memberOf").is_empty())
            {
                return full(format!("changed group {g} is nested in another group"));
            }
            let old_as = old.groups.get(g).and_then(|x| group_served_as(cfg, x));
            let new_as = new.groups.get(g).and_then(|x| group_served_as(cfg, x));
            if old_as.as_ref().is_some_and(|a| a.1) || new_as.as_ref().is_some_and(|a| a.1) {
                return full(format!("changed group {g} feeds a merged group"));
            }
            // Members whose memberOf changes: all of them when the group appears, goes or is
            // renamed, else those who joined or left.
            let (before, after) = (user_members(old, g), user_members(new, g));
            if old_as.map(|a| a.0) != new_as.map(|a| a.0) {
                d.users.extend(before.union(&after).copied());
            } else {
                d.users.extend(before.symmetric_difference(&after).copied());
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

    fn user_obj(&self, m: &'a Mirror, id: &str) -> Option<&'a User> {
        policy::user_of(m, id)
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
                let obj = self.user_obj(new, u).or_else(|| self.user_obj(old, u))?;
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
                self.user_obj(new, c.id),
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

        let mut out = Out::default();
        // Entries of changed users, and the groups whose member lists show them.
        let mut member_edits: BTreeMap<&'a str, Vec<Edit>> = BTreeMap::new();
        for &u in &self.users {
            let before = shown_users.get(u);
            let now_served = served.get(u);
            if let Some(s) = before {
                out.remove(&s.entry.ndn);
                if let Some(p) = private_shown.get(u) {
                    out.remove(&p.ndn);
                }
            }
            if let Some(su) = now_served {
                let groups_of = self.member_of(u, Some(su), &served_groups);
                let mut dns: Vec<&str> = groups_of.iter().map(|(dn, _, _)| dn.as_str()).collect();
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
            // Groups listing the user before (directly, or flattened) and now.
            let mut listing_before: BTreeSet<&'a str> = BTreeSet::new();
            if let Some(s) = before {
                for e in self.listing(&s.entry.dn) {
                    if e.kind == EntryKind::Group {
                        listing_before.insert(&e.ndn);
                    }
                }
            }
            let mut listing_now: BTreeSet<&'a str> = BTreeSet::new();
            if now_served.is_some() {
                let flatten = cfg.groups.nested == NestedMode::Flatten;
                for (_, shown, direct) in self.member_of(u, now_served, &served_groups) {
                    // Ancestors list the user too when members are flattened.
                    if let Some(e) = shown.filter(|_| direct || flatten) {
                        listing_now.insert(&e.ndn);
                    }
                }
            }
            for g in listing_before.union(&listing_now) {
                member_edits.entry(g).or_default().push(Edit {
                    before: old_face.filter(|_| listing_before.contains(g)),
                    after: new_face
                        .filter(|_| listing_now.contains(g))
                        .map(|(a, b)| (a.to_string(), b.to_string())),
                });
            }
        }

        // Changed groups: their entries from the mirror.
        let mut changed_group_ndns: FxHashSet<Box<str>> = FxHashSet::default();
        for &g in &self.groups {
            if let Some(e) = self.shown_group(g) {
                out.remove(&e.ndn);
                changed_group_ndns.insert(e.ndn.clone());
            }
            let Some((cn, gid, gdn)) = served_groups.get(g) else {
                continue;
            };
            let graph = new.groups.get(g);
            let mut member_dns = Vec::new();
            let mut member_uids = Vec::new();
            for m in user_members(new, g) {
                if let Some(su) = served.get(m) {
                    member_dns.push(su.dn.clone());
                    member_uids.push(su.uid.clone());
                } else if !self.users.contains(m)
                    && let Some(s) = self.shown_user(m)
                {
                    member_dns.push(s.entry.dn.to_string());
                    member_uids.push(s.uid.to_string());
                }
            }
            member_dns.sort();
            member_uids.sort();
            let (created, modified) = stamp(
                self.input,
                g,
                graph.and_then(|x| x.created_date_time.as_deref()),
            );
            let shape = GroupShape {
                cn,
                gid_number: *gid,
                member_dns,
                member_uids,
                description: graph.and_then(|x| x.description.as_deref()),
                mail: graph.and_then(|x| x.mail.as_deref()),
                uuid: g,
                parent_dns: Vec::new(),
            };
            let e = group_entry(gdn, shape, self.tenant(), &created, &modified);
            changed_group_ndns.insert(e.ndn.clone());
            out.upsert(e);
        }

        // Unchanged groups whose member lists show a changed user.
        for (ndn, edits) in member_edits {
            if changed_group_ndns.contains(ndn) {
                continue;
            }
            let Some(id) = self.prior.snapshot.lookup(ndn) else {
                continue;
            };
            let prev = self.prior.snapshot.entry(id);
            out.upsert(edit_members(prev, &edits));
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

    fn by_dn(&self, dn_str: &str) -> Option<&'a Entry> {
        let ndn = dn::normalize(dn_str).ok()?;
        let snap = self.prior.snapshot;
        snap.lookup(&ndn).map(|id| snap.entry(id))
    }

    /// The served groups user `u` is in now, transitively, by DN, each with its entry in the
    /// prior snapshot when it is an unchanged group (changed groups are unnested, so only
    /// unchanged ones contribute ancestors).
    fn member_of(
        &self,
        u: &str,
        su: Option<&ServedUser<'_>>,
        changed_groups: &ServedGroups<'_>,
    ) -> Vec<(String, Option<&'a Entry>, bool)> {
        let cfg = self.input.cfg;
        let new = self.input.mirror;
        // DN → (entry in the prior snapshot, whether the user is a direct member).
        let mut out: BTreeMap<String, (Option<&'a Entry>, bool)> = BTreeMap::new();
        if su.is_none() {
            return Vec::new();
        }
        let mut direct: BTreeSet<&str> = self
            .prior
            .members
            .groups_of(u)
            .iter()
            .map(|g| &**g)
            .filter(|g| !self.groups.contains(g))
            .collect();
        for &g in &self.groups {
            if new
                .members
                .get(g)
                .is_some_and(|s| s.iter().any(|r| r.kind == MemberKind::User && r.id == u))
            {
                direct.insert(g);
            }
        }
        for g in direct {
            if self.groups.contains(g) {
                // A changed group: served as derived this round (unnested, so no ancestors).
                if let Some((_, _, dn_str)) = changed_groups.get(g) {
                    out.insert(dn_str.clone(), (None, true));
                }
                continue;
            }
            let Some(graph) = new.groups.get(g) else {
                continue;
            };
            let Some((name, merged)) = group_served_as(cfg, graph) else {
                continue;
            };
            let entry = if merged {
                self.shown_group(&merged_uuid(&cfg.tenant_id, &merged_key(&name)))
            } else {
                self.shown_group(g)
            };
            let Some(e) = entry else { continue };
            for p in e.values("memberOf") {
                out.entry(p.to_string())
                    .or_insert_with(|| (self.by_dn(p), false));
            }
            out.insert(e.dn.to_string(), (Some(e), true));
        }
        out.into_iter()
            .map(|(d, (e, direct))| (d, e, direct))
            .collect()
    }
}

/// Changed groups as served after the round: cn, gidNumber, DN.
type ServedGroups<'s> = FxHashMap<&'s str, (String, u32, String)>;

/// A change to one member in a group's `member`/`memberUid` lists: (DN, uid) before and after.
struct Edit<'s> {
    before: Option<(&'s str, &'s str)>,
    after: Option<(String, String)>,
}

fn edit_members(prev: &Entry, edits: &[Edit<'_>]) -> Entry {
    let mut dns: Vec<String> = prev
        .values("member")
        .iter()
        .map(|v| v.to_string())
        .collect();
    let mut uids: Vec<String> = prev
        .values("memberUid")
        .iter()
        .map(|v| v.to_string())
        .collect();
    for e in edits {
        if let Some((d, u)) = e.before {
            dns.retain(|x| x != d);
            uids.retain(|x| x != u);
        }
    }
    for e in edits {
        if let Some((d, u)) = &e.after {
            dns.push(d.clone());
            uids.push(u.clone());
        }
    }
    dns.sort();
    dns.dedup();
    uids.sort();
    uids.dedup();
    let first = |n: &str| prev.first(n);
    let shape = GroupShape {
        cn: first("cn").unwrap_or_default(),
        gid_number: first("gidNumber")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default(),
        member_dns: dns,
        member_uids: uids,
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
#[path = "incremental_tests.rs"]
mod tests;
