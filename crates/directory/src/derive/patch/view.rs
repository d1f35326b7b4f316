//! The directory as a patch sees it after the round: changed objects as just derived, the
//! rest as the prior snapshot serves them, and memberships from the committed index with the
//! changed groups' new member lists. Re-derived group entries are built from this view.

use super::prepare::Scope;
use crate::derive::entries::{GroupShape, group_entry, merged_uuid, stamp};
use crate::derive::users::ServedUser;
use crate::entry::Entry;
use crate::policy::{group_served_as, merged_key};
use config::{NestedMode, TenantConfig};
use model::Mirror;
use model::graph::MemberKind;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

/// Changed groups as served after the round: cn, gidNumber, DN.
pub(super) type ServedGroups<'s> = FxHashMap<&'s str, (String, u32, String)>;

/// A member in the membership graph: a user, or a directory group by key.
#[derive(Clone, Copy)]
pub(super) enum Node<'n> {
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
pub(super) struct View<'v, 'a> {
    s: &'v Scope<'a>,
    users: &'v FxHashMap<&'a str, ServedUser<'a>>,
    groups: &'v ServedGroups<'a>,
    merged: BTreeMap<String, Vec<&'a str>>,
}

impl<'v, 'a> View<'v, 'a> {
    pub(super) fn new(
        s: &'v Scope<'a>,
        users: &'v FxHashMap<&'a str, ServedUser<'a>>,
        groups: &'v ServedGroups<'a>,
    ) -> Self {
        View {
            s,
            users,
            groups,
            merged: merged_sources(s.input.cfg, s.input.mirror),
        }
    }

    /// The directory group a Graph group is served as (its key), if policy includes it.
    pub(super) fn dir_of(&self, g: &str) -> Option<String> {
        let graph = self.s.input.mirror.groups.get(g)?;
        let (name, merged) = group_served_as(self.s.input.cfg, graph)?;
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
    pub(super) fn shown(&self, key: &str) -> Option<&'a Entry> {
        if self.merged.contains_key(key)
            || self
                .s
                .input
                .cfg
                .local_group
                .iter()
                .any(|l| merged_key(&l.name) == key)
        {
            return self
                .s
                .shown_group(&merged_uuid(&self.s.input.cfg.tenant_id, key));
        }
        self.s.shown_group(key)
    }

    pub(super) fn key_of_entry(&self, e: &Entry) -> Option<String> {
        let uuid = e.first("entryUUID")?;
        if self.s.input.mirror.groups.contains_key(uuid)
            || self.s.prior.mirror.groups.contains_key(uuid)
        {
            return Some(uuid.to_string());
        }
        let cfg = self.s.input.cfg;
        self.merged
            .keys()
            .cloned()
            .chain(cfg.local_group.iter().map(|l| merged_key(&l.name)))
            .find(|k| merged_uuid(&cfg.tenant_id, k) == uuid)
    }

    /// A served directory group's DN after the round; `None` when it is not served.
    pub(super) fn dn_of(&self, key: &str) -> Option<String> {
        if self.s.groups.contains(key) {
            return self.groups.get(key).map(|g| g.2.clone());
        }
        self.shown(key).map(|e| e.dn().to_string())
    }

    fn served_group(&self, key: &str) -> bool {
        if self.s.groups.contains(key) {
            self.groups.contains_key(key)
        } else {
            self.shown(key).is_some()
        }
    }

    /// A served user's DN and uid after the round.
    fn user_face(&self, u: &str) -> Option<(String, String)> {
        if self.s.users.contains(u) {
            return self.users.get(u).map(|s| (s.dn.clone(), s.uid.clone()));
        }
        let s = self.s.shown_user(u)?;
        Some((s.entry.dn().to_string(), s.uid.to_string()))
    }

    /// Served directory groups listing `node` directly (a group never lists itself).
    pub(super) fn dir_parents(&self, node: Node<'_>) -> BTreeSet<String> {
        let (ids, own): (Vec<&str>, Option<&str>) = match node {
            Node::User(u) => (vec![u], None),
            Node::Group(k) => (self.sources(k), Some(k)),
        };
        let mut out = BTreeSet::new();
        for id in ids {
            for p in self.s.new_parents(id) {
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
    pub(super) fn member_of(&self, node: Node<'_>) -> BTreeSet<String> {
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
            for r in self.s.input.mirror.members.get(src).into_iter().flatten() {
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
    pub(super) fn group_entry(&self, key: &str) -> Option<Entry> {
        let cfg = self.s.input.cfg;
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
        let tenant = self.s.tenant();
        if self.s.groups.contains(key) {
            let (cn, gid, gdn) = self.groups.get(key)?;
            let graph = self.s.input.mirror.groups.get(key);
            let (created, modified) = stamp(
                self.s.input,
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
            prev.dn(),
            shape,
            tenant,
            prev.created(),
            prev.modified(),
        ))
    }
}
