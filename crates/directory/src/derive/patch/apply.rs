//! Applying a prepared patch, in the order `build_tenant` allocates in: judge the changed users
//! again, settle their uids and numbers, then the cns and numbers of the changed groups and of
//! the changed users' private groups, then derive the entries they reach and edit the member
//! lists that only show a changed user.

use super::Patch;
use super::prepare::{Scope, Shown};
use super::view::{Node, ServedGroups, View};
use crate::derive::BuildReport;
use crate::derive::entries::{GroupShape, group_entry, private_group_entry, user_entry};
use crate::derive::users::ServedUser;
use crate::dn;
use crate::entry::{Entry, EntryKind};
use crate::ids::{
    Allocations, Claim, NumberSpace, creation_order, name_key, normalize_cn, unmatched,
};
use crate::policy::{self, UserVerdict, group_served_as};
use crate::snapshot::Snapshot;
use config::NestedMode;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet};

/// A name as one namespace's allocation sees it: (object id, name held before, name wanted).
type NameChange<'a> = (&'a str, Option<&'a str>, Option<String>);

/// The changed users after the round.
struct ChangedUsers<'a> {
    /// Their entries in the prior snapshot, for those served before.
    shown: FxHashMap<&'a str, Shown<'a>>,
    /// In creation order.
    claims: Vec<Claim<'a>>,
    uid_changes: Vec<NameChange<'a>>,
    /// Granted uids by object id.
    uids: FxHashMap<String, String>,
    /// Those served now.
    served: FxHashMap<&'a str, ServedUser<'a>>,
}

/// The changed groups, and the changed users' private groups, after the round.
struct ChangedGroups<'a> {
    /// The changed users' private groups in the prior snapshot.
    private_shown: FxHashMap<&'a str, &'a Entry>,
    cn_changes: Vec<NameChange<'a>>,
    /// Granted cns by object id (group or user).
    cns: FxHashMap<String, String>,
    /// The changed groups served now.
    served: ServedGroups<'a>,
}

impl<'a> Scope<'a> {
    pub(super) fn apply(self, alloc: &mut Allocations) -> Patch {
        let mut report = self.prior.report.clone();
        let verdicts = self.judge_users(&mut report);
        let users = self.settle_users(&verdicts, alloc, &mut report);
        let groups = self.settle_groups(&users, alloc, &mut report);
        self.report_names(&users, &groups, alloc, &mut report);
        let view = View::new(&self, &users.served, &groups.served);
        let mut out = Out::default();
        let face_edits = self.emit_users(&view, &users, &groups, &mut out);
        self.emit_groups(&view, &face_edits, &mut out);
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

    /// Verdicts before and after, for the users re-derived; the report's counts move with them.
    fn judge_users(&self, report: &mut BuildReport) -> FxHashMap<&'a str, UserVerdict> {
        let (new, old) = (self.input.mirror, self.prior.mirror);
        let mut verdicts: FxHashMap<&str, UserVerdict> = FxHashMap::default();
        for &u in &self.users {
            let before = self.old_judge.user(old, u);
            let after = self.new_judge.user(new, u);
            count(report, before.as_ref(), -1);
            count(report, after.as_ref(), 1);
            if let Some(v) = after {
                verdicts.insert(u, v);
            }
        }
        verdicts
    }

    /// uids and uidNumbers: the changed users in creation order, with what they held and want.
    fn settle_users(
        &self,
        verdicts: &FxHashMap<&'a str, UserVerdict>,
        alloc: &mut Allocations,
        report: &mut BuildReport,
    ) -> ChangedUsers<'a> {
        let cfg = self.input.cfg;
        let (new, old) = (self.input.mirror, self.prior.mirror);
        let shown: FxHashMap<&str, Shown> = self
            .users
            .iter()
            .filter_map(|u| Some((*u, self.shown_user(u)?)))
            .collect();
        let mut claims: Vec<Claim> = self
            .users
            .iter()
            .filter_map(|&u| {
                let obj = policy::user_of(new, u).or_else(|| policy::user_of(old, u))?;
                Some(Claim {
                    id: u,
                    created: obj.created_date_time.as_deref(),
                })
            })
            .collect();
        creation_order(&mut claims);
        let wanted_uid = |id: &str| -> Option<String> {
            let v = verdicts.get(id)?;
            if !v.served {
                return None;
            }
            v.username.clone()
        };
        let uid_changes: Vec<NameChange> = claims
            .iter()
            .map(|c| (c.id, shown.get(c.id).map(|s| s.uid), wanted_uid(c.id)))
            .collect();
        let (uids, _) = alloc.reassign_names("u", &uid_changes, |s| s.to_lowercase());
        let numbered: Vec<Claim> = claims
            .iter()
            .filter(|c| uids.contains_key(c.id))
            .cloned()
            .collect();
        let [ufirst, ulast] = cfg.users.uid_number_range;
        report
            .unnumbered
            .extend(alloc.assign_numbers(NumberSpace::Uid, &numbered, ufirst, ulast));
        let served = self.serve_users(&numbered, &uids, verdicts, alloc);
        for &u in &self.users {
            let was = shown.get(u).is_some_and(|s| !locked(s.entry));
            let is = served.get(u).is_some_and(|s| !s.locked);
            report.users_active = bump(report.users_active, was, is);
        }
        ChangedUsers {
            shown,
            claims,
            uid_changes,
            uids,
            served,
        }
    }

    /// The numbered users with their uid, number and DN.
    fn serve_users(
        &self,
        numbered: &[Claim<'a>],
        uids: &FxHashMap<String, String>,
        verdicts: &FxHashMap<&'a str, UserVerdict>,
        alloc: &Allocations,
    ) -> FxHashMap<&'a str, ServedUser<'a>> {
        let mut served: FxHashMap<&str, ServedUser> = FxHashMap::default();
        for c in numbered {
            let (Some(u), Some(uid), Some(n), Some(v)) = (
                policy::user_of(self.input.mirror, c.id),
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
        served
    }

    /// Group cns and gidNumbers: changed groups and the private groups of changed users, in
    /// creation order.
    fn settle_groups(
        &self,
        users: &ChangedUsers<'a>,
        alloc: &mut Allocations,
        report: &mut BuildReport,
    ) -> ChangedGroups<'a> {
        let cfg = self.input.cfg;
        let (new, old) = (self.input.mirror, self.prior.mirror);
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
        let private_shown: FxHashMap<&str, &Entry> = users
            .shown
            .iter()
            .filter_map(|(u, s)| {
                let e = self
                    .listing(s.entry.dn())
                    .into_iter()
                    .find(|e| e.kind == EntryKind::PrivateGroup)?;
                Some((*u, e))
            })
            .collect();
        let mut cn_claims: Vec<Claim> = users.claims.clone();
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
        let cn_changes: Vec<NameChange> = cn_claims
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
                    users.served.get(c.id).map(|s| s.uid.clone()),
                ),
            })
            .collect();
        let (cns, _) = alloc.reassign_names("g", &cn_changes, normalize_cn);
        let mut numbered: Vec<Claim> = cn_claims
            .iter()
            .filter(|c| group_wants.contains_key(c.id) && cns.contains_key(c.id))
            .cloned()
            .collect();
        creation_order(&mut numbered);
        let [gfirst, glast] = cfg.groups.gid_number_range;
        report
            .unnumbered
            .extend(alloc.assign_numbers(NumberSpace::Gid, &numbered, gfirst, glast));
        // Changed groups as served now: cn, gidNumber, DN.
        let mut served: ServedGroups = FxHashMap::default();
        for c in &numbered {
            if let (Some(cn), Some(n)) = (cns.get(c.id), alloc.gid.get(c.id)) {
                let gdn = dn::build("cn", cn, &self.groups_dn);
                served.insert(c.id, (cn.clone(), *n, gdn));
            }
        }
        for &g in &self.groups {
            let was = self.shown_group(g).is_some();
            let is = served.contains_key(g);
            report.groups = bump(report.groups, was, is);
        }
        ChangedGroups {
            private_shown,
            cn_changes,
            cns,
            served,
        }
    }

    /// Objects not served under the name they want: the unchanged ones as before, the changed
    /// ones as just granted; a collision is one whose wanted name is held.
    fn report_names(
        &self,
        users: &ChangedUsers<'a>,
        groups: &ChangedGroups<'a>,
        alloc: &Allocations,
        report: &mut BuildReport,
    ) {
        let changed: FxHashSet<&str> = self.users.iter().chain(&self.groups).copied().collect();
        report
            .unmatched
            .retain(|u| !changed.contains(u.id.as_str()));
        let wanted = |changes: &[NameChange<'a>]| -> Vec<(&'a str, String)> {
            changes
                .iter()
                .filter_map(|(id, _, w)| Some((*id, w.clone()?)))
                .collect()
        };
        let (wanted_u, wanted_g) = (wanted(&users.uid_changes), wanted(&groups.cn_changes));
        report
            .unmatched
            .extend(unmatched("u", &wanted_u, &users.uids));
        report
            .unmatched
            .extend(unmatched("g", &wanted_g, &groups.cns));
        report.collisions = alloc.collisions(&report.unmatched, name_key);
    }

    /// The changed users' entries and private groups, derived again (or removed), and the edits
    /// every group listing a user whose DN or uid changed needs, by group key.
    fn emit_users(
        &self,
        view: &View<'_, 'a>,
        users: &ChangedUsers<'a>,
        groups: &ChangedGroups<'a>,
        out: &mut Out,
    ) -> BTreeMap<String, Vec<Edit<'a>>> {
        let flatten = self.input.cfg.groups.nested == NestedMode::Flatten;
        let mut face_edits: BTreeMap<String, Vec<Edit<'_>>> = BTreeMap::new();
        for &u in &self.users {
            let before = users.shown.get(u);
            let now_served = users.served.get(u);
            if let Some(s) = before {
                out.remove(s.entry.ndn());
                if let Some(p) = groups.private_shown.get(u) {
                    out.remove(p.ndn());
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
                let private_cn = groups.cns.get(u).cloned().unwrap_or_else(|| su.uid.clone());
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
            let old_face = before.map(|s| (s.entry.dn(), s.uid));
            let new_face = now_served.map(|s| (s.dn.as_str(), s.uid.as_str()));
            if old_face == new_face {
                continue;
            }
            // The groups listing the user before and now show its new face. Their member
            // lists are edited rather than derived again (a department of thousands would
            // otherwise be rebuilt member by member for one renamed or disabled user).
            let mut listing_before: BTreeSet<String> = BTreeSet::new();
            if let Some(s) = before {
                for e in self.listing(s.entry.dn()) {
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
        face_edits
    }

    /// The group entries the round reaches: changed groups and those above or below them in
    /// full, groups that only list a changed user by editing their member lists.
    fn emit_groups(
        &self,
        view: &View<'_, 'a>,
        face_edits: &BTreeMap<String, Vec<Edit<'a>>>,
        out: &mut Out,
    ) {
        // Directory groups whose entries are derived again, by key.
        let mut group_keys: BTreeSet<String> = BTreeSet::new();
        for g in &self.dirty_groups {
            if let Some(k) = view.dir_of(g) {
                group_keys.insert(k);
            }
        }
        // Changed groups no longer served, or renamed, leave their old entries.
        for &g in &self.groups {
            if let Some(e) = self.shown_group(g) {
                out.remove(e.ndn());
            }
        }
        for k in &group_keys {
            if let Some(e) = view.group_entry(k) {
                out.upsert(e);
            }
        }
        // Groups whose membership is as before, only with members renamed, disabled, removed
        // or newly served.
        for (k, edits) in face_edits {
            // Changed groups are derived in full above, or gone.
            if group_keys.contains(k) || self.groups.contains(k.as_str()) {
                continue;
            }
            if let Some(prev) = view.shown(k) {
                out.upsert(edit_members(prev, edits));
            }
        }
    }
}

/// A change to one user in a group's `member`/`memberUid` lists: (DN, uid) before and after.
struct Edit<'s> {
    before: Option<(&'s str, &'s str)>,
    after: Option<(String, String)>,
}

/// An unchanged group's entry with `edits` applied to its member lists.
fn edit_members(prev: &Entry, edits: &[Edit<'_>]) -> Entry {
    let mut dns: Vec<&str> = prev.values("member").collect();
    let mut uids: Vec<&str> = prev.values("memberUid").collect();
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
    group_entry(
        prev.dn(),
        shape,
        prev.tenant,
        prev.created(),
        prev.modified(),
    )
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
        self.removals.remove(e.ndn());
        self.upserts.insert(e.ndn().into(), e);
    }

    /// The patch, without upserts equal to what is served already.
    fn finish(self, prior: &Snapshot) -> (Vec<Entry>, Vec<Box<str>>) {
        let mut upserts: Vec<Entry> = self
            .upserts
            .into_values()
            .filter(|e| prior.lookup(e.ndn()).map(|id| prior.entry(id)) != Some(e))
            .collect();
        upserts.sort_by_cached_key(|e| dn::dit_order_key(e.ndn()));
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
