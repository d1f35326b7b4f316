//! Rounds applied as patches of the served directory (see `directory::derive::patch`): the basis
//! a committed round leaves for the next one — the report and membership index of the derivation being served,
//! and its counts — and what a patch changes, read off the patch alone, so nothing in a delta
//! round walks the whole tenant.

use super::report::{Changes, cn, locked, uid};
use crate::store::directory::DirectoryWrite;
use directory::derive::BuildReport;
use directory::entry::{Entry, EntryKind};
use directory::ids::Unmatched;
use directory::{Snapshot, TenantInfo};
use model::Mirror;
use model::mirror::MemberIndex;
use rustc_hash::FxHashMap;

/// What the served derivation of one tenant was, for the next round to patch.
#[derive(Debug, Clone)]
pub(crate) struct Basis {
    pub report: BuildReport,
    pub members: MemberIndex,
    /// Served users (locked ones included), locked users, directory groups.
    pub users: usize,
    pub locked: usize,
    pub groups: usize,
}

impl Basis {
    /// After a full derivation whose changes `c` were diffed from the snapshots.
    pub(crate) fn after_full(report: BuildReport, mirror: &Mirror, c: &Changes) -> Basis {
        Basis {
            report,
            members: MemberIndex::build(mirror),
            users: c.users_active + c.users_inactive,
            locked: c.users_inactive,
            groups: c.groups,
        }
    }
}

/// The part of a basis stored with the directory rows, as JSON: the report (collisions are
/// recomputed from `unmatched` by the next patch) and the counts. The membership index is
/// rebuilt from the mirror when the mirror is loaded.
pub(crate) fn record(report: &BuildReport, c: &Changes) -> serde_json::Value {
    record_of(
        report,
        c.users_active + c.users_inactive,
        c.users_inactive,
        c.groups,
    )
}

impl Basis {
    /// The stored form of this basis, for a replica that stops holding the mirror: the
    /// membership index is rebuilt from the mirror when it is read again (`from_record`).
    pub(crate) fn into_record(self) -> serde_json::Value {
        record_of(&self.report, self.users, self.locked, self.groups)
    }
}

fn record_of(
    report: &BuildReport,
    users: usize,
    locked: usize,
    groups: usize,
) -> serde_json::Value {
    serde_json::json!({
        "v": 1,
        "users_active": report.users_active,
        "users_inactive": report.users_inactive,
        "users_excluded": report.users_excluded,
        "groups": report.groups,
        "unmatched": report.unmatched.iter().map(|u| [u.namespace, &u.id, &u.name]).collect::<Vec<_>>(),
        "unnumbered": report.unnumbered,
        "notices": report.notices,
        "served_users": users,
        "served_locked": locked,
        "served_groups": groups,
    })
}

/// A basis from a stored record and the mirror it was derived from; `None` for a record this
/// version does not understand (the next round then derives in full).
pub(crate) fn from_record(v: &serde_json::Value, mirror: &Mirror) -> Option<Basis> {
    if v.get("v")?.as_u64()? != 1 {
        return None;
    }
    let n = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_u64)
            .map(|x| x as usize)
    };
    let strings = |k: &str| -> Option<Vec<String>> {
        v.get(k)?
            .as_array()?
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let mut unmatched = Vec::new();
    for u in v.get("unmatched")?.as_array()? {
        let [ns, id, name] = u.as_array()?.as_slice() else {
            return None;
        };
        let namespace = match ns.as_str()? {
            "u" => "u",
            "g" => "g",
            _ => return None,
        };
        unmatched.push(Unmatched {
            namespace,
            id: id.as_str()?.to_string(),
            name: name.as_str()?.to_string(),
        });
    }
    let report = BuildReport {
        users_active: n("users_active")?,
        users_inactive: n("users_inactive")?,
        users_excluded: n("users_excluded")?,
        groups: n("groups")?,
        collisions: Vec::new(),
        unmatched,
        unnumbered: strings("unnumbered")?,
        notices: strings("notices")?,
    };
    Some(Basis {
        report,
        members: MemberIndex::build(mirror),
        users: n("served_users")?,
        locked: n("served_locked")?,
        groups: n("served_groups")?,
    })
}

/// What applying `upserts` and `removals` to tenant `tenant`'s entries of `before` changes, as
/// `report::diff` would tell it (users keyed by entryUUID, groups by DN), with the counts after.
pub(crate) fn changes(
    before: &Snapshot,
    basis: &Basis,
    tenant: u16,
    upserts: &[Entry],
    removals: &[Box<str>],
) -> Changes {
    let old_user = |uuid: &str| {
        before
            .find_eq("entryUUID", uuid)
            .iter()
            .map(|id| before.entry(*id))
            .find(|e| e.tenant == tenant && e.kind == EntryKind::User)
    };
    let new_users: FxHashMap<&str, &Entry> = upserts
        .iter()
        .filter(|e| e.kind == EntryKind::User)
        .filter_map(|e| Some((e.first("entryUUID")?, e)))
        .collect();
    let mut c = Changes {
        users_before: basis.users,
        ..Changes::default()
    };
    let (mut users, mut locked_n, mut groups) = (basis.users, basis.locked, basis.groups);
    for r in removals {
        let Some(id) = before.lookup(r) else { continue };
        let e = before.entry(id);
        match e.kind {
            EntryKind::User => {
                let moved = e
                    .first("entryUUID")
                    .is_some_and(|u| new_users.contains_key(u));
                if !moved {
                    c.users_removed.push(uid(e));
                    users = users.saturating_sub(1);
                    if locked(e) {
                        locked_n = locked_n.saturating_sub(1);
                    }
                }
            }
            EntryKind::Group => {
                c.groups_removed.push(cn(e));
                groups = groups.saturating_sub(1);
            }
            _ => {}
        }
    }
    for e in upserts {
        match e.kind {
            EntryKind::User => {
                let old = e.first("entryUUID").and_then(old_user);
                match old {
                    None => {
                        c.users_added.push(uid(e));
                        users += 1;
                        if locked(e) {
                            locked_n += 1;
                            c.users_inactivated.push(uid(e));
                        }
                    }
                    Some(o) => {
                        if o.dn() != e.dn() || o.attrs != e.attrs {
                            c.users_updated.push(uid(e));
                        }
                        match (locked(o), locked(e)) {
                            (false, true) => {
                                locked_n += 1;
                                c.users_inactivated.push(uid(e));
                            }
                            (true, false) => locked_n = locked_n.saturating_sub(1),
                            _ => {}
                        }
                    }
                }
            }
            EntryKind::Group => match before.lookup(e.ndn()).map(|id| before.entry(id)) {
                None => {
                    c.groups_added.push(cn(e));
                    groups += 1;
                }
                Some(o) if o.attrs != e.attrs => c.groups_updated.push(cn(e)),
                Some(_) => {}
            },
            _ => {}
        }
    }
    for list in [
        &mut c.users_added,
        &mut c.users_updated,
        &mut c.users_removed,
        &mut c.users_inactivated,
        &mut c.groups_added,
        &mut c.groups_updated,
        &mut c.groups_removed,
    ] {
        list.sort();
    }
    c.users_active = users.saturating_sub(locked_n);
    c.users_inactive = locked_n;
    c.groups = groups;
    c
}

/// The basis after a patch: the new report and counts, the membership index moved forward.
pub(crate) fn advance(
    mut basis: Basis,
    report: BuildReport,
    c: &Changes,
    groups_changed: &[String],
    old: &Mirror,
    new: &Mirror,
) -> Basis {
    basis
        .members
        .update(groups_changed.iter().map(String::as_str), old, new);
    Basis {
        report,
        users: c.users_active + c.users_inactive,
        locked: c.users_inactive,
        groups: c.groups,
        ..basis
    }
}

/// The stored rows a patch rewrites.
pub(crate) fn rows<'a>(
    fingerprint: &'a str,
    info: &'a TenantInfo,
    upserts: &'a [Entry],
    removals: &'a [Box<str>],
) -> DirectoryWrite<'a> {
    DirectoryWrite {
        fingerprint,
        info,
        replace_all: false,
        upserts: upserts.iter().collect(),
        removals: removals.iter().map(|r| &**r).collect(),
        basis: None,
    }
}
