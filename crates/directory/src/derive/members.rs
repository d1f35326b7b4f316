//! The memberships phase of `build_tenant`: who is directly in which directory group, and the
//! closure upwards that `memberOf` shows.

use super::full::Context;
use super::groups::Groups;
use super::users::Users;
use model::graph::MemberKind;
use rustc_hash::{FxHashMap, FxHashSet};

pub(super) struct Members<'a> {
    /// Directory group key → its direct members among served objects.
    direct: FxHashMap<&'a str, FxHashSet<(&'a str, MemberKind)>>,
    /// Served user id or directory group key → the directory groups listing it directly.
    parents: FxHashMap<&'a str, FxHashSet<&'a str>>,
}

impl<'a> Members<'a> {
    /// Direct memberships among served objects, the union over a directory group's sources;
    /// other members (devices, service principals, contacts, excluded or hidden users) are not
    /// directory objects here and are dropped. Locked users stay members, so group views do
    /// not change when someone is disabled.
    pub fn derive(cx: &'a Context<'a>, users: &Users<'a>, groups: &Groups<'a>) -> Self {
        let mut direct: FxHashMap<&str, FxHashSet<(&str, MemberKind)>> = FxHashMap::default();
        let mut parents: FxHashMap<&str, FxHashSet<&str>> = FxHashMap::default();
        for key in groups.served.keys() {
            let list = direct.entry(*key).or_default();
            let sources = groups
                .dir
                .get(*key)
                .map(|g| g.sources.as_slice())
                .unwrap_or_default();
            for src in sources {
                for m in cx.input.mirror.members.get(*src).into_iter().flatten() {
                    let member: Option<&str> = match m.kind {
                        MemberKind::User => {
                            users.served.get_key_value(m.id.as_str()).map(|(k, _)| *k)
                        }
                        MemberKind::Group => cx
                            .outcome
                            .directory_group_of(&m.id)
                            .and_then(|d| groups.served.get_key_value(d))
                            .map(|(k, _)| *k)
                            .filter(|d| d != key),
                        _ => None,
                    };
                    if let Some(mid) = member {
                        let kind = if m.kind == MemberKind::User {
                            MemberKind::User
                        } else {
                            MemberKind::Group
                        };
                        list.insert((mid, kind));
                        parents.entry(mid).or_default().insert(*key);
                    }
                }
            }
        }
        Members { direct, parents }
    }

    /// A directory group's direct members.
    pub fn direct<'s>(
        &'s self,
        key: &str,
    ) -> Option<impl Iterator<Item = (&'a str, MemberKind)> + use<'s, 'a>> {
        self.direct.get(key).map(|s| s.iter().copied())
    }

    /// Every directory group above a served user or group: the upward closure over the
    /// member→group edges; `seen` stops membership cycles.
    pub fn member_of(&self, id: &str) -> FxHashSet<&'a str> {
        let mut seen = FxHashSet::default();
        let mut stack: Vec<&str> = self
            .parents
            .get(id)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default();
        while let Some(g) = stack.pop() {
            if seen.insert(g)
                && let Some(p) = self.parents.get(g)
            {
                stack.extend(p.iter().copied());
            }
        }
        seen
    }
}
