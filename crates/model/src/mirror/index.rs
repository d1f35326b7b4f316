use super::Mirror;
use crate::graph::MemberKind;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Direct group memberships of users and groups, by member id: the reverse of
/// `Mirror::members`, which a delta round needs for the entries it rebuilds (a re-enabled
/// user's groups, the groups above a changed one). Each group's id is shared by every list
/// naming it: a tenant has hundreds of thousands of memberships but only thousands of groups.
#[derive(Debug, Clone, Default)]
pub struct MemberIndex {
    groups_of: FxHashMap<Box<str>, Vec<Arc<str>>>,
}

impl MemberIndex {
    pub fn build(mirror: &Mirror) -> MemberIndex {
        let mut groups_of: FxHashMap<Box<str>, Vec<Arc<str>>> = FxHashMap::default();
        for (g, set) in &mirror.members {
            let g: Arc<str> = Arc::from(g.as_str());
            for m in set
                .iter()
                .filter(|m| matches!(m.kind, MemberKind::User | MemberKind::Group))
            {
                groups_of
                    .entry(Box::from(m.id.as_str()))
                    .or_default()
                    .push(Arc::clone(&g));
            }
        }
        MemberIndex { groups_of }
    }

    /// The index as sorted sets, to compare two indexes whatever order they were built in.
    pub fn normalized(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        self.groups_of
            .iter()
            .map(|(u, gs)| (&**u, gs.iter().map(|g| &**g).collect()))
            .collect()
    }

    /// Groups listing `user` (or group) directly.
    pub fn groups_of(&self, user: &str) -> &[Arc<str>] {
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
            let shared: Arc<str> = Arc::from(g);
            let before: BTreeSet<&str> = old.direct_members(g).into_iter().map(|m| m.0).collect();
            let after: BTreeSet<&str> = new.direct_members(g).into_iter().map(|m| m.0).collect();
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
                    .push(Arc::clone(&shared));
            }
        }
    }
}
