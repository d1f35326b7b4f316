//! Merging Graph delta pages into the mirror (docs/graph-behaviour.md §8): `@removed` users and
//! groups, `members@delta` additions and removals, groups split across pages, replays, and
//! properties a delta omits (kept) versus properties sent as `null` (cleared). Work is proportional
//! to the objects in the delta (a deleted user is found in its groups through the engine's
//! membership index; without one, one pass over the groups per deleted user).

use super::MemberIndex;
use crate::graph::{Group, MemberKind, MemberRef, User};
use crate::{DeletedUser, Mirror};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("delta object {id}: {message}")]
    Object { id: String, message: String },
}

/// What a delta round changed in the mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeltaStats {
    pub users_added: usize,
    pub users_updated: usize,
    pub users_removed: usize,
    pub groups_added: usize,
    pub groups_updated: usize,
    pub groups_removed: usize,
    pub memberships_changed: usize,
    /// Object ids whose mirror content changed (their `modifyTimestamp` moves).
    #[serde(skip)]
    pub touched: BTreeSet<String>,
}

/// Apply user delta objects. `keep_deleted`: deleted users go to `Mirror::deleted_users`
/// (stamped `now`) instead of vanishing.
pub fn apply_users(
    m: &mut Mirror,
    objects: &[Value],
    keep_deleted: bool,
    now: i64,
    stats: &mut DeltaStats,
) -> Result<(), DeltaError> {
    apply_users_indexed(m, objects, keep_deleted, now, stats, None)
}

/// `apply_users` with the membership index of `m` (the sync engine keeps one), so a deleted
/// user is looked for only in the groups that list it instead of in every group.
pub fn apply_users_indexed(
    m: &mut Mirror,
    objects: &[Value],
    keep_deleted: bool,
    now: i64,
    stats: &mut DeltaStats,
    index: Option<&MemberIndex>,
) -> Result<(), DeltaError> {
    for obj in objects {
        let Some(id) = obj.get("id").and_then(Value::as_str) else {
            tracing::warn!("user delta object without an id ignored");
            continue;
        };
        if obj.get("@removed").is_some() {
            remove_user_from(m, id, keep_deleted, now, stats, index);
            continue;
        }
        let existing = m.users.get(id);
        let folded = fold_delta_extensions(existing.map(|u| &u.extensions), obj);
        let merged: User = merge(existing.map(|u| &**u), folded.as_ref().unwrap_or(obj), id)?;
        match existing {
            Some(old) if **old == merged => {}
            Some(_) => {
                stats.users_updated += 1;
                stats.touched.insert(id.to_string());
            }
            None => {
                stats.users_added += 1;
                stats.touched.insert(id.to_string());
            }
        }
        // A restored user reappears without annotation (docs/graph-behaviour.md §8).
        m.deleted_users.remove(id);
        m.users.insert(id.to_string(), merged.into());
    }
    Ok(())
}

/// Drop a user from the mirror and from every group: Graph often sends no `members@delta`
/// removal for a deleted user (docs/graph-behaviour.md §8).
pub fn remove_user(m: &mut Mirror, id: &str, keep_deleted: bool, now: i64, stats: &mut DeltaStats) {
    remove_user_from(m, id, keep_deleted, now, stats, None);
}

fn remove_user_from(
    m: &mut Mirror,
    id: &str,
    keep_deleted: bool,
    now: i64,
    stats: &mut DeltaStats,
    index: Option<&MemberIndex>,
) {
    if let Some(user) = m.users.remove(id) {
        stats.users_removed += 1;
        stats.touched.insert(id.to_string());
        if keep_deleted {
            m.deleted_users.insert(
                id.to_string(),
                DeletedUser {
                    user,
                    deleted_at: now,
                },
            );
        }
    }
    match index {
        Some(ix) => {
            let groups: Vec<String> = ix.groups_of(id).iter().map(|g| g.to_string()).collect();
            drop_member(m, id, groups, stats);
        }
        None => drop_member_everywhere(m, id, stats),
    }
}

/// Remove `id` from every group's members (the groups it leaves are touched).
fn drop_member_everywhere(m: &mut Mirror, id: &str, stats: &mut DeltaStats) {
    let holding: Vec<String> = m
        .members
        .iter()
        .filter(|(_, set)| set.iter().any(|r| r.id == id))
        .map(|(g, _)| g.clone())
        .collect();
    drop_member(m, id, holding, stats);
}

fn drop_member(m: &mut Mirror, id: &str, holding: Vec<String>, stats: &mut DeltaStats) {
    for gid in holding {
        if let Some(set) = m.members.get_mut(&gid) {
            let before = set.len();
            set.retain(|r| r.id != id);
            if set.len() != before {
                stats.memberships_changed += before - set.len();
                stats.touched.insert(gid);
            }
        }
    }
}

/// Apply group delta objects, merging slices of one group's `members@delta` across pages.
/// `removed_users`: users deleted this round, kept out of any membership a group delta re-adds.
pub fn apply_groups(
    m: &mut Mirror,
    objects: &[Value],
    removed_users: &BTreeSet<String>,
    stats: &mut DeltaStats,
) -> Result<(), DeltaError> {
    let mut seen_new: BTreeSet<String> = BTreeSet::new();
    for obj in objects {
        let Some(id) = obj.get("id").and_then(Value::as_str) else {
            tracing::warn!("group delta object without an id ignored");
            continue;
        };
        if obj.get("@removed").is_some() {
            if m.groups.remove(id).is_some() {
                stats.groups_removed += 1;
                stats.touched.insert(id.to_string());
            }
            m.members.remove(id);
            // Nested membership of the deleted group elsewhere goes too.
            drop_member_everywhere(m, id, stats);
            continue;
        }
        let existing = m.groups.get(id);
        let folded = fold_delta_extensions(existing.map(|g| &g.extensions), obj);
        let merged: Group = merge(existing, folded.as_ref().unwrap_or(obj), id)?;
        match existing {
            Some(old) if *old == merged => {}
            Some(_) => {
                if !seen_new.contains(id) {
                    stats.groups_updated += 1;
                }
                stats.touched.insert(id.to_string());
            }
            None => {
                stats.groups_added += 1;
                seen_new.insert(id.to_string());
                stats.touched.insert(id.to_string());
            }
        }
        m.groups.insert(id.to_string(), merged);
        let set = m.members.entry(id.to_string()).or_default();
        if let Some(list) = obj.get("members@delta").and_then(Value::as_array) {
            for entry in list {
                let Some(mid) = entry.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let changed = if entry.get("@removed").is_some() {
                    let before = set.len();
                    set.retain(|r| r.id != mid);
                    before != set.len()
                } else if removed_users.contains(mid) {
                    false
                } else {
                    let kind = MemberKind::from_odata_type(
                        entry.get("@odata.type").and_then(Value::as_str),
                    );
                    // Same id with another kind would be a Graph bug; the id is what counts.
                    if set.iter().any(|r| r.id == mid) {
                        false
                    } else {
                        set.insert(MemberRef {
                            id: mid.to_string(),
                            kind,
                        })
                    }
                };
                if changed {
                    stats.memberships_changed += 1;
                    stats.touched.insert(id.to_string());
                }
            }
        }
    }
    Ok(())
}

/// A user or group delta object with its directory extension properties moved into
/// `extensions` on top of the existing object's (`None`: the object has none, use it as is). A
/// delta carries only the extension properties that changed, so the others are kept.
fn fold_delta_extensions(existing: Option<&BTreeMap<String, Value>>, obj: &Value) -> Option<Value> {
    let o = obj.as_object()?;
    if !o.keys().any(|k| crate::graph::is_extension_property(k)) {
        return None;
    }
    let mut o = o.clone();
    let kept: serde_json::Map<String, Value> = existing
        .map(|e| e.clone().into_iter().collect())
        .unwrap_or_default();
    o.insert("extensions".into(), Value::Object(kept));
    crate::graph::fold_extensions(&mut o);
    Some(Value::Object(o))
}

/// Merge a delta object into the existing one field by field: a property present in the delta
/// overwrites (`null` clears it), an absent one is kept. Annotations (`@odata.type`,
/// `members@delta`, ...) are not properties.
fn merge<T: Serialize + DeserializeOwned>(
    existing: Option<&T>,
    delta: &Value,
    id: &str,
) -> Result<T, DeltaError> {
    let err = |e: serde_json::Error| DeltaError::Object {
        id: id.to_string(),
        message: e.to_string(),
    };
    let mut base = match existing {
        Some(e) => serde_json::to_value(e).map_err(err)?,
        None => Value::Object(serde_json::Map::new()),
    };
    if let (Value::Object(b), Value::Object(d)) = (&mut base, delta) {
        for (k, v) in d {
            if !k.contains('@') {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(base).map_err(err)
}

/// Stamp the objects a delta touched with `now`; drop stamps of removed objects.
pub fn stamp_touched(m: &mut Mirror, touched: &BTreeSet<String>, now: &str) {
    for id in touched {
        if m.users.contains_key(id) || m.groups.contains_key(id) {
            m.changed.insert(id.clone(), now.to_string());
        } else {
            m.changed.remove(id);
        }
    }
}

/// Forget deleted users older than `keep_secs` (all of them with 0).
pub fn purge_deleted(m: &mut Mirror, keep_secs: i64, now: i64) {
    let expired: Vec<String> = m
        .deleted_users
        .iter()
        .filter(|(_, d)| keep_secs <= 0 || now.saturating_sub(d.deleted_at) >= keep_secs)
        .map(|(id, _)| id.clone())
        .collect();
    for id in expired {
        m.deleted_users.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mirror() -> Mirror {
        let mut m = Mirror::default();
        for (id, upn, dept) in [
            ("u1", "ann@contoso.com", Some("Sales, EMEA")),
            ("u2", "bob@contoso.com", None),
        ] {
            m.users.insert(
                id.into(),
                User {
                    id: id.into(),
                    user_principal_name: Some(upn.into()),
                    department: dept.map(Into::into),
                    account_enabled: Some(true),
                    ..Default::default()
                }
                .into(),
            );
        }
        m.groups.insert(
            "g1".into(),
            Group {
                id: "g1".into(),
                display_name: Some("R&D \"Core\"".into()),
                ..Default::default()
            },
        );
        m.members.insert(
            "g1".into(),
            ["u1", "u2"]
                .iter()
                .map(|i| MemberRef {
                    id: (*i).into(),
                    kind: MemberKind::User,
                })
                .collect(),
        );
        m
    }

    #[test]
    fn omitted_properties_are_kept_and_null_clears() {
        let mut m = mirror();
        let mut s = DeltaStats::default();
        apply_users(
            &mut m,
            &[
                json!({"id":"u1","accountEnabled":false}),
                json!({"id":"u2","department":null}),
            ],
            false,
            0,
            &mut s,
        )
        .unwrap();
        assert_eq!(m.users["u1"].department.as_deref(), Some("Sales, EMEA"));
        assert_eq!(m.users["u1"].account_enabled, Some(false));
        assert_eq!(m.users["u2"].department, None);
        assert_eq!(s.users_updated, 1, "u2's null equals its absent value");
    }

    #[test]
    fn directory_extensions_merge_per_property() {
        let mut m = mirror();
        let mut s = DeltaStats::default();
        let keys = "extension_0123456789abcdef0123456789abcdef_sshPublicKey";
        let other = "extension_0123456789abcdef0123456789abcdef_badge";
        apply_users(
            &mut m,
            &[json!({"id":"u1", keys: "ssh-ed25519 AAAA one", other: "42"})],
            false,
            0,
            &mut s,
        )
        .unwrap();
        assert_eq!(
            m.users["u1"].extensions[keys],
            json!("ssh-ed25519 AAAA one")
        );
        assert_eq!(m.users["u1"].department.as_deref(), Some("Sales, EMEA"));
        // Only the changed extension is sent; the other one stays.
        apply_users(&mut m, &[json!({"id":"u1", keys: "k2"})], false, 0, &mut s).unwrap();
        assert_eq!(m.users["u1"].extensions[keys], json!("k2"));
        assert_eq!(m.users["u1"].extensions[other], json!("42"));
        // A delta without extensions keeps them; null clears one.
        apply_users(
            &mut m,
            &[json!({"id":"u1","jobTitle":"CTO"})],
            false,
            0,
            &mut s,
        )
        .unwrap();
        assert_eq!(m.users["u1"].extensions.len(), 2);
        apply_users(&mut m, &[json!({"id":"u1", keys: null})], false, 0, &mut s).unwrap();
        assert!(!m.users["u1"].extensions.contains_key(keys));
        assert_eq!(s.users_updated, 4);
    }

    #[test]
    fn group_directory_extensions_merge_per_property() {
        let mut m = mirror();
        let mut s = DeltaStats::default();
        let gid = "extension_0123456789abcdef0123456789abcdef_gidNumber";
        let other = "extension_0123456789abcdef0123456789abcdef_owner";
        let none = BTreeSet::new();
        apply_groups(
            &mut m,
            &[json!({"id":"g1", gid: 4242, other: "ops"})],
            &none,
            &mut s,
        )
        .unwrap();
        assert_eq!(m.groups["g1"].extensions[gid], json!(4242));
        // The name is not in the delta, so it is kept.
        assert!(m.groups["g1"].display_name.is_some());
        apply_groups(&mut m, &[json!({"id":"g1", gid: 4343})], &none, &mut s).unwrap();
        assert_eq!(m.groups["g1"].extensions[gid], json!(4343));
        assert_eq!(m.groups["g1"].extensions[other], json!("ops"));
        apply_groups(&mut m, &[json!({"id":"g1", gid: null})], &none, &mut s).unwrap();
        assert!(!m.groups["g1"].extensions.contains_key(gid));
        assert_eq!(m.groups["g1"].extensions.len(), 1);
    }

    #[test]
    fn deleted_user_leaves_every_group_and_is_kept_when_asked() {
        let mut m = mirror();
        let mut s = DeltaStats::default();
        apply_users(
            &mut m,
            &[json!({"id":"u2","@removed":{"reason":"deleted"}})],
            true,
            42,
            &mut s,
        )
        .unwrap();
        assert!(!m.users.contains_key("u2"));
        assert_eq!(m.deleted_users["u2"].deleted_at, 42);
        assert!(m.members["g1"].iter().all(|r| r.id != "u2"));
        purge_deleted(&mut m, 10, 100);
        assert!(m.deleted_users.is_empty());
    }

    #[test]
    fn split_groups_merge_and_replays_are_idempotent() {
        let mut m = mirror();
        let pages = [
            json!({"id":"g2","displayName":"Ops+Infra","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u1"}]}),
            json!({"id":"g2","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u2"}]}),
            json!({"id":"g1","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u1","@removed":{"reason":"deleted"}}]}),
        ];
        let mut s = DeltaStats::default();
        apply_groups(&mut m, &pages, &BTreeSet::new(), &mut s).unwrap();
        let once = m.clone();
        apply_groups(&mut m, &pages, &BTreeSet::new(), &mut DeltaStats::default()).unwrap();
        assert_eq!(m, once, "a replay changes nothing");
        assert_eq!(m.members["g2"].len(), 2);
        assert_eq!(m.groups["g2"].display_name.as_deref(), Some("Ops+Infra"));
        assert!(m.members["g1"].iter().all(|r| r.id != "u1"));
        assert_eq!(s.groups_added, 1);
        apply_groups(
            &mut m,
            &[json!({"id":"g2","@removed":{"reason":"changed"}})],
            &BTreeSet::new(),
            &mut s,
        )
        .unwrap();
        assert!(!m.groups.contains_key("g2") && !m.members.contains_key("g2"));
    }
}
