//! Stable POSIX numbers and names.
//!
//! A number's first assignment is derived from the Graph object id (SHA-256 into the configured
//! range), so two servers with empty data directories fed by the same tenant agree. Collisions
//! probe upwards deterministically, objects being allocated in Microsoft 365 creation order
//! (`createdDateTime`, then id). Every number handed out is remembered forever and never given
//! to another object, even after the holder is deleted.
//!
//! Names work the same way: whoever holds a name keeps it; among newcomers in one round the one
//! created first in Microsoft 365 wins; a loser gets `<name>-<first 8 characters of its id>`
//! and the collision is reported.

use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

/// Persistent (structure-sharing) maps, like the mirror's: a round works on a copy, and a
/// copy of 100k users' allocations must not cost a copy of them.
pub type Map<K, V> = imbl::OrdMap<K, V>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allocations {
    /// uidNumber per user object id.
    pub uid: Map<String, u32>,
    /// gidNumber per group object id.
    pub gid: Map<String, u32>,
    /// Every uidNumber ever assigned, with the object it went to.
    pub uid_used: Map<u32, String>,
    pub gid_used: Map<u32, String>,
    /// Name holders: `u:<normalised uid>` or `g:<normalised cn>` → object id.
    pub names: Map<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeFull {
    pub first: u32,
    pub last: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberSpace {
    Uid,
    Gid,
}

/// A candidate for a number or a name, in the order allocation must consider them.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub id: &'a str,
    /// `createdDateTime` as Graph sent it (ISO 8601 sorts chronologically as a string).
    pub created: Option<&'a str>,
}

/// Sort claims into creation order: `createdDateTime`, then id; objects without a creation
/// time go last (they are rare: Graph sets it on every user and group).
pub fn creation_order(claims: &mut [Claim<'_>]) {
    claims.sort_by(|a, b| match (a.created, b.created) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.id.cmp(b.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id.cmp(b.id),
    });
}

/// The deterministic first choice for `object_id` in `[first, last]`.
pub fn preferred_number(object_id: &str, first: u32, last: u32) -> u32 {
    let size = u64::from(last.saturating_sub(first)) + 1;
    let digest = Sha256::digest(object_id.to_ascii_lowercase().as_bytes());
    let mut eight = [0u8; 8];
    eight.copy_from_slice(&digest[..8]);
    first + (u64::from_be_bytes(eight) % size) as u32
}

impl Allocations {
    /// Assign numbers to every claim that has none, in the order given (callers sort with
    /// `creation_order`). `fixed` gives numbers that come from a source attribute and must be
    /// used as they are. Returns the ids that could not get a number (range exhausted).
    pub fn assign_numbers(
        &mut self,
        space: NumberSpace,
        claims: &[Claim<'_>],
        first: u32,
        last: u32,
    ) -> Vec<String> {
        let (map, used) = match space {
            NumberSpace::Uid => (&mut self.uid, &mut self.uid_used),
            NumberSpace::Gid => (&mut self.gid, &mut self.gid_used),
        };
        let size = u64::from(last.saturating_sub(first)) + 1;
        let mut failed = Vec::new();
        for c in claims {
            if map.contains_key(c.id) {
                continue;
            }
            let start = preferred_number(c.id, first, last);
            let mut n = start;
            let mut probes = 0u64;
            let found = loop {
                if !used.contains_key(&n) {
                    break Some(n);
                }
                probes += 1;
                if probes >= size {
                    break None;
                }
                n = if n >= last { first } else { n + 1 };
            };
            match found {
                Some(n) => {
                    map.insert(c.id.to_string(), n);
                    used.insert(n, c.id.to_string());
                }
                None => failed.push(c.id.to_string()),
            }
        }
        failed
    }

    /// Resolve names for one namespace (`"u"` or `"g"`). `wanted` maps object id → desired
    /// name, in creation order. Current holders keep their names; a name freed by its holder
    /// (deleted or renamed) goes to the next claimant. Returns id → granted name plus the list
    /// of collisions (loser id, wanted name, holder id).
    pub fn assign_names(
        &mut self,
        namespace: &'static str,
        wanted: &[(&str, String)],
        normalize: impl Fn(&str) -> String,
    ) -> (FxHashMap<String, String>, Vec<Collision>) {
        let prefix = format!("{namespace}:");
        let key = |name: &str| format!("{prefix}{}", normalize(name));
        // Each wanted name's key is computed once: at 100k objects per namespace the
        // per-comparison formatting used to dominate the whole derivation.
        let keys: Vec<String> = wanted.iter().map(|(_, n)| key(n)).collect();
        let live: FxHashMap<&str, usize> = wanted
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        // Drop holders that no longer exist or no longer want the name they hold.
        let released: Vec<String> = self
            .names
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, holder)| match live.get(holder.as_str()) {
                Some(&i) => {
                    !(keys.get(i).is_some_and(|main| main == *k)
                        || wanted.get(i).is_some_and(|(id, n)| {
                            key(&suffixed(n, id)) == **k || key(&long_suffixed(n, id)) == **k
                        }))
                }
                None => true,
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in released {
            self.names.remove(&k);
        }
        self.grant(namespace, wanted, &keys, key)
    }

    /// Grant names once holders that no longer want theirs are released: holders keep their
    /// names (plain or suffixed), then newcomers in the order given (creation order) take the
    /// name they want or, when it is held, a suffixed one. Every object not served under the
    /// name it wants is a collision, reported every round while it lasts. `keys[i]` is the
    /// key of `wanted[i]`'s name.
    fn grant(
        &mut self,
        namespace: &'static str,
        wanted: &[(&str, String)],
        keys: &[String],
        key: impl Fn(&str) -> String,
    ) -> (FxHashMap<String, String>, Vec<Collision>) {
        let mut granted: FxHashMap<String, String> =
            FxHashMap::with_capacity_and_hasher(wanted.len(), Default::default());
        let mut collisions = Vec::new();
        for ((id, name), k) in wanted.iter().zip(keys) {
            if self.names.get(k).map(String::as_str) == Some(*id) {
                granted.insert(id.to_string(), name.clone());
                continue;
            }
            for alt in [suffixed(name, id), long_suffixed(name, id)] {
                if self.names.get(&key(&alt)).map(String::as_str) == Some(*id) {
                    granted.insert(id.to_string(), alt);
                    break;
                }
            }
        }
        for ((id, name), k) in wanted.iter().zip(keys) {
            if granted.contains_key(*id) {
                continue;
            }
            if self.names.contains_key(k) {
                let mut alt = suffixed(name, id);
                if self.names.contains_key(&key(&alt)) {
                    // Someone really is called "<name>-<id prefix>": fall back to the full id.
                    alt = long_suffixed(name, id);
                }
                self.names.insert(key(&alt), id.to_string());
                granted.insert(id.to_string(), alt);
            } else {
                self.names.insert(k.clone(), id.to_string());
                granted.insert(id.to_string(), name.clone());
            }
        }
        for ((id, name), k) in wanted.iter().zip(keys) {
            if granted.get(*id) != Some(name)
                && let Some(holder) = self.names.get(k)
            {
                collisions.push(Collision {
                    namespace,
                    loser: id.to_string(),
                    name: name.clone(),
                    holder: holder.clone(),
                });
            }
        }
        (granted, collisions)
    }
}

impl Allocations {
    /// `assign_names` for a round in which only some objects changed. `changed` lists each of
    /// them with the name it held before (if any) and the name it wants now (`None`: no longer
    /// served), in creation order. Every other object keeps what it holds, which is what
    /// `assign_names` decides for it too: a holder keeps its name, and the only newcomers —
    /// objects holding no name — are among the changed ones. Returns the grants and
    /// collisions of the changed objects.
    pub fn reassign_names(
        &mut self,
        namespace: &'static str,
        changed: &[(&str, Option<&str>, Option<String>)],
        normalize: impl Fn(&str) -> String,
    ) -> (FxHashMap<String, String>, Vec<Collision>) {
        let key = |name: &str| format!("{namespace}:{}", normalize(name));
        // Release what a changed object holds unless it still wants it (plainly or suffixed).
        for (id, held, wanted) in changed {
            let Some(held) = held else { continue };
            let k = key(held);
            if self.names.get(&k).map(String::as_str) != Some(*id) {
                continue;
            }
            let keep = wanted.as_deref().is_some_and(|w| {
                key(w) == k || key(&suffixed(w, id)) == k || key(&long_suffixed(w, id)) == k
            });
            if !keep {
                self.names.remove(&k);
            }
        }
        let wanted: Vec<(&str, String)> = changed
            .iter()
            .filter_map(|(id, _, w)| Some((*id, w.clone()?)))
            .collect();
        let keys: Vec<String> = wanted.iter().map(|(_, n)| key(n)).collect();
        self.grant(namespace, &wanted, &keys, key)
    }

    /// The collisions of `unmatched` objects: those whose wanted name someone holds.
    /// `normalize` gives a namespace's comparison form of a name.
    pub fn collisions(
        &self,
        unmatched: &[Unmatched],
        normalize: impl Fn(&str, &str) -> String,
    ) -> Vec<Collision> {
        unmatched
            .iter()
            .filter_map(|u| {
                let k = format!("{}:{}", u.namespace, normalize(u.namespace, &u.name));
                let holder = self.names.get(&k)?;
                Some(Collision {
                    namespace: u.namespace,
                    loser: u.id.clone(),
                    name: u.name.clone(),
                    holder: holder.clone(),
                })
            })
            .collect()
    }
}

/// The comparison form of a name in namespace `"u"` (uids) or `"g"` (group cns).
pub fn name_key(namespace: &str, name: &str) -> String {
    match namespace {
        "u" => name.to_lowercase(),
        _ => normalize_cn(name),
    }
}

/// The comparison key for group names: caseIgnoreMatch (trim, collapse spaces, fold case).
pub fn normalize_cn(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// An object not served under the name it wants: a collision while another object holds that
/// name. Kept with the report so a patch can tell when a collision reappears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub namespace: &'static str,
    pub id: String,
    pub name: String,
}

/// The objects of `wanted` (id, wanted name) not granted that name.
pub fn unmatched(
    namespace: &'static str,
    wanted: &[(&str, String)],
    granted: &FxHashMap<String, String>,
) -> Vec<Unmatched> {
    wanted
        .iter()
        .filter(|(id, name)| granted.get(*id) != Some(name))
        .map(|(id, name)| Unmatched {
            namespace,
            id: id.to_string(),
            name: name.clone(),
        })
        .collect()
}

/// A name two objects wanted; `holder` kept it and `loser` got a suffixed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// `"u"` (uids) or `"g"` (group cns, user-private groups included).
    pub namespace: &'static str,
    pub loser: String,
    pub name: String,
    pub holder: String,
}

/// The fallback when `<name>-<id prefix>` is taken too; kept by its holder like any name.
fn long_suffixed(name: &str, id: &str) -> String {
    format!("{name}-{id}")
}

fn suffixed(name: &str, id: &str) -> String {
    let short: String = id.chars().filter(|c| *c != '-').take(8).collect();
    format!("{name}-{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims<'a>(v: &'a [(&'a str, &'a str)]) -> Vec<Claim<'a>> {
        v.iter()
            .map(|(id, c)| Claim {
                id,
                created: Some(c),
            })
            .collect()
    }

    #[test]
    fn numbers_are_deterministic_across_fresh_allocators() {
        let objs = [
            ("b2", "2021-01-02T00:00:00Z"),
            ("a1", "2021-01-01T00:00:00Z"),
            ("c3", "2021-01-03T00:00:00Z"),
        ];
        let mut c1 = claims(&objs);
        creation_order(&mut c1);
        let mut a = Allocations::default();
        a.assign_numbers(NumberSpace::Uid, &c1, 1000, 1002);
        let mut rev: Vec<_> = objs.iter().rev().copied().collect();
        rev.rotate_left(1);
        let mut c2 = claims(&rev);
        creation_order(&mut c2);
        let mut b = Allocations::default();
        b.assign_numbers(NumberSpace::Uid, &c2, 1000, 1002);
        assert_eq!(a.uid, b.uid);
        let mut nums: Vec<_> = a.uid.values().copied().collect();
        nums.sort();
        assert_eq!(
            nums,
            vec![1000, 1001, 1002],
            "a full range is used without duplicates"
        );
    }

    #[test]
    fn numbers_are_never_reused_and_exhaustion_is_reported() {
        let mut a = Allocations::default();
        let first = claims(&[("x", "2020-01-01T00:00:00Z")]);
        a.assign_numbers(NumberSpace::Gid, &first, 5000, 5000);
        assert_eq!(a.gid.get("x"), Some(&5000));
        // x is deleted: its number stays used.
        a.gid.remove("x");
        let second = claims(&[("y", "2020-01-02T00:00:00Z")]);
        let failed = a.assign_numbers(NumberSpace::Gid, &second, 5000, 5000);
        assert_eq!(failed, vec!["y".to_string()]);
        assert!(!a.gid.contains_key("y"));
    }

    #[test]
    fn first_holder_keeps_a_name_and_newcomers_are_ordered() {
        let mut a = Allocations::default();
        let lc = |s: &str| s.to_lowercase();
        let (g, c) = a.assign_names("u", &[("id-old", "alice".into())], lc);
        assert_eq!(g["id-old"], "alice");
        assert!(c.is_empty());
        // A newcomer wants the same name, even earlier in the list: the holder keeps it.
        let (g, c) = a.assign_names(
            "u",
            &[("id-new", "Alice".into()), ("id-old", "alice".into())],
            lc,
        );
        assert_eq!(g["id-old"], "alice");
        assert_eq!(g["id-new"], "Alice-idnew");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].holder, "id-old");
        // Stable on the next round.
        let (g2, c2) = a.assign_names(
            "u",
            &[("id-new", "Alice".into()), ("id-old", "alice".into())],
            lc,
        );
        assert_eq!(g, g2);
        assert_eq!(c2, c, "a collision is reported every round while it lasts");
    }

    #[test]
    fn a_loser_keeps_its_suffixed_name_when_the_holder_leaves() {
        let mut a = Allocations::default();
        let lc = |s: &str| s.to_lowercase();
        a.assign_names("g", &[("g1", "Sales".into()), ("g2", "Sales".into())], lc);
        let (g, _) = a.assign_names("g", &[("g2", "Sales".into())], lc);
        // g2 holds its suffixed name: nobody's entry silently changes identity.
        assert_eq!(g["g2"], "Sales-g2");
    }
}
