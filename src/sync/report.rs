//! What a round changed in the served directory: a diff of the tenant's entries in the
//! snapshot before and after (users keyed by `entryUUID`, groups by DN), and the history
//! record every round leaves in the store.

use directory::Snapshot;
use directory::entry::{Entry, EntryKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Names (uids, group cns) of what a round adds, updates, removes and inactivates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub users_added: Vec<String>,
    pub users_updated: Vec<String>,
    pub users_removed: Vec<String>,
    /// Users served locked (`nsAccountLock: TRUE`) after the round and not before.
    pub users_inactivated: Vec<String>,
    pub groups_added: Vec<String>,
    pub groups_updated: Vec<String>,
    pub groups_removed: Vec<String>,
    /// Users served before the round (the base of a percentage `max_deletions`).
    pub users_before: usize,
    pub users_active: usize,
    pub users_inactive: usize,
    pub groups: usize,
}

struct Side<'a> {
    users: BTreeMap<String, &'a Entry>,
    groups: BTreeMap<String, &'a Entry>,
}

fn side<'a>(s: &'a Snapshot, tenant: &str) -> Side<'a> {
    let mut out = Side {
        users: BTreeMap::new(),
        groups: BTreeMap::new(),
    };
    let Some(idx) = s.tenants.iter().position(|t| t.name == tenant) else {
        return out;
    };
    for (_, e) in s.iter().filter(|(_, e)| usize::from(e.tenant) == idx) {
        match e.kind {
            EntryKind::User => {
                let key = e.first("entryUUID").unwrap_or(e.ndn()).to_string();
                out.users.insert(key, e);
            }
            EntryKind::Group => {
                out.groups.insert(e.ndn().to_string(), e);
            }
            _ => {}
        }
    }
    out
}

pub(super) fn locked(e: &Entry) -> bool {
    e.first("nsAccountLock")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub(super) fn uid(e: &Entry) -> String {
    e.first("uid").unwrap_or(e.dn()).to_string()
}

pub(super) fn cn(e: &Entry) -> String {
    e.first("cn").unwrap_or(e.dn()).to_string()
}

/// Diff `tenant`'s users and groups between two snapshots.
pub(crate) fn diff(before: &Snapshot, after: &Snapshot, tenant: &str) -> Changes {
    let b = side(before, tenant);
    let a = side(after, tenant);
    let mut c = Changes {
        users_before: b.users.len(),
        groups: a.groups.len(),
        ..Changes::default()
    };
    for (k, e) in &a.users {
        if locked(e) {
            c.users_inactive += 1;
        } else {
            c.users_active += 1;
        }
        match b.users.get(k) {
            None => c.users_added.push(uid(e)),
            Some(old) => {
                if old.dn() != e.dn() || old.attrs != e.attrs {
                    c.users_updated.push(uid(e));
                }
                if locked(e) && !locked(old) {
                    c.users_inactivated.push(uid(e));
                }
            }
        }
        if !b.users.contains_key(k) && locked(e) {
            c.users_inactivated.push(uid(e));
        }
    }
    for (k, e) in &b.users {
        if !a.users.contains_key(k) {
            c.users_removed.push(uid(e));
        }
    }
    for (k, e) in &a.groups {
        match b.groups.get(k) {
            None => c.groups_added.push(cn(e)),
            Some(old) if old.attrs != e.attrs => c.groups_updated.push(cn(e)),
            Some(_) => {}
        }
    }
    for (k, e) in &b.groups {
        if !a.groups.contains_key(k) {
            c.groups_removed.push(cn(e));
        }
    }
    c
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Scheduled,
    #[default]
    Manual,
    Startup,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Full,
    Delta,
    /// A dry run (reads full or delta, commits nothing).
    DryRun,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Ok,
    Failed,
    Refused,
}

/// One round as recorded in history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub tenant: String,
    pub trigger: Trigger,
    pub mode: Mode,
    /// Whether Graph was read in full (a delta round that fell back to full says true).
    #[serde(default)]
    pub full_read: bool,
    /// Whether the directory was patched from the changed objects (a delta round) rather than
    /// derived in full.
    #[serde(default)]
    pub patched: bool,
    pub started: i64,
    pub ended: i64,
    pub users_read: usize,
    pub users_added: usize,
    pub users_updated: usize,
    pub users_removed: usize,
    pub users_inactivated: usize,
    pub groups: usize,
    pub groups_added: usize,
    pub groups_updated: usize,
    pub groups_removed: usize,
    pub memberships_changed: usize,
    pub users_active: usize,
    pub users_inactive: usize,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub credential: Option<usize>,
    pub collisions: Vec<String>,
}
