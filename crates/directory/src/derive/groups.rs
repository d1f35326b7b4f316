//! The groups phase of `build_tenant`: the directory groups (included Graph groups and merged
//! ones), their cns and gidNumbers, and the group users take as primary group.

use super::BuildReport;
use super::full::Context;
use super::users::Users;
use crate::dn;
use crate::ids::{self, Allocations, Claim, NumberSpace, creation_order, name_key, normalize_cn};
use crate::posix;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// A directory group before it has a name and a number.
pub(super) struct DirGroup<'a> {
    pub name: &'a str,
    pub created: Option<&'a str>,
    /// Graph groups whose members it serves.
    pub sources: Vec<&'a str>,
    pub fixed_gid: Option<u32>,
}

pub(super) struct ServedGroup {
    pub cn: String,
    pub gid_number: u32,
    pub dn: String,
}

/// The directory groups, settled.
pub(super) struct Groups<'a> {
    /// Each included Graph group that no `groups.map`/local group folds, keyed by its object
    /// id, plus each merged group, keyed by `dir:<name>`.
    pub dir: BTreeMap<&'a str, DirGroup<'a>>,
    /// Granted cns: of directory groups by key, of user-private groups by user id.
    pub names: FxHashMap<String, String>,
    /// The directory groups that got a name and a number, by key.
    pub served: FxHashMap<&'a str, ServedGroup>,
    /// The gidNumber every user takes as primary group; `None` for user-private groups.
    pub primary: Option<u32>,
}

pub(super) fn derive<'a>(
    cx: &'a Context<'a>,
    users: &Users<'a>,
    alloc: &mut Allocations,
    report: &mut BuildReport,
) -> Groups<'a> {
    let dir = directory_groups(cx);
    let mut claims: Vec<Claim> = dir
        .iter()
        .map(|(&id, g)| Claim {
            id,
            created: g.created,
        })
        .collect();
    creation_order(&mut claims);
    let names = name_groups(users, &dir, &claims, alloc, report);
    let gid_attr = number_groups(cx, &dir, &claims, alloc, report);
    let mut served: FxHashMap<&str, ServedGroup> = FxHashMap::default();
    for c in &claims {
        let Some(dg) = dir.get(c.id) else {
            continue;
        };
        let number = dg
            .fixed_gid
            .or_else(|| gid_attr.get(c.id).or_else(|| alloc.gid.get(c.id)).copied());
        let (Some(cn), Some(n)) = (names.get(c.id), number) else {
            continue;
        };
        served.insert(
            c.id,
            ServedGroup {
                cn: cn.clone(),
                gid_number: n,
                dn: dn::build("cn", cn, &cx.groups_dn),
            },
        );
    }
    report.groups = served.len();
    let primary = posix::primary_group(
        cx.input.cfg,
        served.iter().map(|(key, g)| posix::GroupRef {
            key,
            cn: &g.cn,
            gid_number: g.gid_number,
            dn: &g.dn,
        }),
        &mut report.notices,
    )
    .map(|(gid, _)| gid);
    Groups {
        dir,
        names,
        served,
        primary,
    }
}

fn directory_groups<'a>(cx: &'a Context<'a>) -> BTreeMap<&'a str, DirGroup<'a>> {
    let mut dir = BTreeMap::new();
    for (id, v) in &cx.outcome.groups {
        if !v.included || v.merged_into.is_some() {
            continue;
        }
        let (Some(g), Some(name)) = (cx.input.mirror.groups.get(id), v.name.as_deref()) else {
            continue;
        };
        dir.insert(
            id.as_str(),
            DirGroup {
                name,
                created: g.created_date_time.as_deref(),
                sources: vec![id.as_str()],
                fixed_gid: None,
            },
        );
    }
    for (key, m) in &cx.outcome.merged {
        dir.insert(
            key.as_str(),
            DirGroup {
                name: m.name.as_str(),
                created: m.created.as_deref(),
                sources: m.sources.iter().map(String::as_str).collect(),
                fixed_gid: m.gid_number,
            },
        );
    }
    dir
}

/// cns: directory groups and user-private groups share the cn namespace under ou=groups, so
/// they claim names together, in creation order.
fn name_groups<'a>(
    users: &Users<'a>,
    dir: &BTreeMap<&'a str, DirGroup<'a>>,
    claims: &[Claim<'a>],
    alloc: &mut Allocations,
    report: &mut BuildReport,
) -> FxHashMap<String, String> {
    let mut wanted: Vec<(&str, String)> = Vec::new();
    let mut cn_claims: Vec<Claim> = claims.to_vec();
    cn_claims.extend(
        users
            .claims
            .iter()
            .filter(|c| users.served.contains_key(c.id))
            .cloned(),
    );
    creation_order(&mut cn_claims);
    for c in &cn_claims {
        if let Some(u) = users.served.get(c.id) {
            wanted.push((c.id, u.uid.clone()));
        } else if let Some(g) = dir.get(c.id) {
            wanted.push((c.id, g.name.to_string()));
        }
    }
    let (names, _) = alloc.assign_names("g", &wanted, normalize_cn);
    report
        .unmatched
        .extend(ids::unmatched("g", &wanted, &names));
    report.collisions = alloc.collisions(&report.unmatched, name_key);
    names
}

/// gidNumbers: from the configured attribute where it gives one, else allocated. Returns the
/// numbers the attribute gave.
fn number_groups<'a>(
    cx: &'a Context<'a>,
    dir: &BTreeMap<&'a str, DirGroup<'a>>,
    claims: &[Claim<'a>],
    alloc: &mut Allocations,
    report: &mut BuildReport,
) -> BTreeMap<String, u32> {
    let cfg = cx.input.cfg;
    let mirror = cx.input.mirror;
    let [gfirst, glast] = cfg.groups.gid_number_range;
    // Local groups with a configured gidNumber keep it; validation keeps those numbers out of
    // both allocation ranges, so they cannot meet an allocated number.
    let allocated: Vec<Claim> = claims
        .iter()
        .filter(|c| dir.get(c.id).is_some_and(|g| g.fixed_gid.is_none()))
        .cloned()
        .collect();
    // A merged group fed by exactly one Graph group (a `groups.map` rename) reads that group.
    let graph_group_of = |key: &str| {
        mirror
            .groups
            .get(key)
            .or_else(|| match dir.get(key)?.sources.as_slice() {
                [one] => mirror.groups.get(*one),
                _ => None,
            })
            .map(posix::Source::Group)
    };
    let (gid_attr, notices) = posix::numbers_from_attribute(
        alloc,
        NumberSpace::Gid,
        cfg.groups.gid_number_attribute.as_deref(),
        &allocated,
        graph_group_of,
        cfg.groups.gid_number_range,
    );
    report.notices.extend(notices);
    report
        .unnumbered
        .extend(alloc.assign_numbers(NumberSpace::Gid, &allocated, gfirst, glast));
    gid_attr
}
