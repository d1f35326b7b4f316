//! The tenant mirror: Microsoft Graph's users, groups, direct memberships and domains as Graph
//! returned them. The directory is derived from it (policy is a pure function), so a config
//! change is re-applied without refetching and `explain` can reason over the raw facts.

mod index;
pub mod merge;

pub use index::MemberIndex;

use super::graph::{Domain, Group, MemberKind, MemberRef, Organization, User};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The mirror's maps are persistent (structure-sharing) B-trees: a delta round works on a copy
/// of the committed mirror, and copying or comparing a 100k-user tenant must cost what the
/// round changed, not the tenant.
pub type Map<K, V> = imbl::OrdMap<K, V>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mirror {
    /// Each user behind its own pointer: the persistent map's nodes hold a fixed number of
    /// slots, half of them empty after an ordered load, and a `User` is ~500 bytes inline.
    pub users: Map<String, Arc<User>>,
    pub groups: Map<String, Group>,
    /// Direct members per group id (users, groups and other directory objects).
    pub members: Map<String, BTreeSet<MemberRef>>,
    pub domains: Vec<Domain>,
    pub organization: Option<Organization>,
    /// When each object (user or group id) last changed in the mirror, as GeneralizedTime;
    /// served as `modifyTimestamp`.
    pub changed: Map<String, String>,
    /// Users Graph no longer lists (soft- or hard-deleted), kept while `users.keep_deleted_for`
    /// says so; policy serves them locked and never lets them bind.
    #[serde(default)]
    pub deleted_users: Map<String, DeletedUser>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedUser {
    pub user: Arc<User>,
    /// Unix time the sync first saw the user gone.
    pub deleted_at: i64,
}

impl Mirror {
    /// The tenant's default verified domain (`isDefault`), else its initial domain.
    pub fn default_domain(&self) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.is_default == Some(true) && d.verified())
            .or_else(|| self.domains.iter().find(|d| d.is_initial == Some(true)))
    }

    /// Stamp objects whose content differs from `previous` (or is new) with `now`, and carry
    /// the stamps of unchanged objects over, so `modifyTimestamp` moves only on real change.
    pub fn stamp_changes(&mut self, previous: &Mirror, now: &str) {
        let mut changed = Map::new();
        for (id, u) in &self.users {
            let same = previous.users.get(id) == Some(u);
            changed.insert(id.clone(), stamp(previous, id, same, now));
        }
        for (id, g) in &self.groups {
            let same = previous.groups.get(id) == Some(g)
                && previous.members.get(id) == self.members.get(id);
            changed.insert(id.clone(), stamp(previous, id, same, now));
        }
        self.changed = changed;
    }

    /// A group's direct user and group members.
    pub fn direct_members(&self, g: &str) -> BTreeSet<(&str, MemberKind)> {
        self.members
            .get(g)
            .into_iter()
            .flatten()
            .filter(|r| matches!(r.kind, MemberKind::User | MemberKind::Group))
            .map(|r| (r.id.as_str(), r.kind))
            .collect()
    }
}

fn stamp(previous: &Mirror, id: &str, same: bool, now: &str) -> String {
    match previous.changed.get(id) {
        Some(t) if same => t.clone(),
        _ => now.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_move_only_on_change() {
        let mut old = Mirror::default();
        old.users.insert(
            "1".into(),
            User {
                id: "1".into(),
                ..Default::default()
            }
            .into(),
        );
        old.changed.insert("1".into(), "20200101000000Z".into());
        let mut new = old.clone();
        new.users.insert(
            "2".into(),
            User {
                id: "2".into(),
                ..Default::default()
            }
            .into(),
        );
        new.stamp_changes(&old, "20250101000000Z");
        assert_eq!(new.changed["1"], "20200101000000Z");
        assert_eq!(new.changed["2"], "20250101000000Z");
        let mut changed = new.clone();
        if let Some(u) = changed.users.get_mut("1") {
            Arc::make_mut(u).display_name = Some("X".into());
        }
        changed.stamp_changes(&new, "20260101000000Z");
        assert_eq!(changed.changed["1"], "20260101000000Z");
    }
}
