//! Group references in the config (display names or object ids) and transitive membership:
//! the facts `users.*_members_of` and `groups.select`/`groups.map` are decided on.

use model::Mirror;
use model::graph::{Group, MemberKind};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a config entry names this group: its object id, or its display name (both
/// case-insensitive; the name trimmed, as Entra keeps stray spaces in display names).
pub fn names_group(entry: &str, g: &Group) -> bool {
    let e = entry.trim();
    g.id.eq_ignore_ascii_case(e)
        || g.display_name
            .as_deref()
            .is_some_and(|n| n.trim().to_lowercase() == e.to_lowercase())
}

/// A named set of Graph groups from a config list, and the users under them transitively.
pub struct GroupSet {
    /// Group id → display name (for sentences), for every group the list names.
    pub groups: BTreeMap<String, String>,
    /// Entries that name no group of the tenant.
    pub unresolved: Vec<String>,
    /// User id → the names of the listed groups the user is in, directly or through nesting.
    pub users: BTreeMap<String, Vec<String>>,
}

impl GroupSet {
    pub fn new(mirror: &Mirror, entries: &[String]) -> GroupSet {
        let mut groups = BTreeMap::new();
        let mut unresolved = Vec::new();
        for e in entries {
            let mut found = false;
            for g in mirror.groups.values().filter(|g| names_group(e, g)) {
                found = true;
                groups.insert(g.id.clone(), display(g));
            }
            if !found {
                unresolved.push(e.clone());
            }
        }
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (gid, name) in &groups {
            for uid in transitive_users(mirror, gid) {
                users.entry(uid).or_default().push(name.clone());
            }
        }
        GroupSet {
            groups,
            unresolved,
            users,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.unresolved.is_empty()
    }
}

pub fn display(g: &Group) -> String {
    g.display_name.clone().unwrap_or_else(|| g.id.clone())
}

/// Users under `group` through any depth of nesting; cycles are visited once.
pub fn transitive_users(mirror: &Mirror, group: &str) -> BTreeSet<String> {
    let mut users = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![group.to_string()];
    while let Some(g) = stack.pop() {
        if !seen.insert(g.clone()) {
            continue;
        }
        for m in mirror.members.get(&g).into_iter().flatten() {
            match m.kind {
                MemberKind::User => {
                    users.insert(m.id.clone());
                }
                MemberKind::Group => stack.push(m.id.clone()),
                _ => {}
            }
        }
    }
    users
}
