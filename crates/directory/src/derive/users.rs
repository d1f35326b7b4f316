//! The users phase of `build_tenant`: which users are served, under which uid and uidNumber,
//! and whether locked.

use super::BuildReport;
use super::full::Context;
use crate::dn;
use crate::ids::{self, Allocations, Claim, NumberSpace, creation_order};
use crate::policy::{self, UserStatus};
use crate::posix;
use model::graph::User;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

pub(super) struct ServedUser<'a> {
    pub u: &'a User,
    pub uid: String,
    pub uid_number: u32,
    pub dn: String,
    /// Inactive but served: `nsAccountLock: TRUE`.
    pub locked: bool,
}

/// The served users, settled.
pub(super) struct Users<'a> {
    /// In Microsoft 365 creation order: the order names and numbers are allocated in.
    pub claims: Vec<Claim<'a>>,
    /// By object id. Hash maps keyed by borrowed object ids: at 100k users the ordered maps'
    /// string comparisons and key copies dominated a round.
    pub served: FxHashMap<&'a str, ServedUser<'a>>,
}

pub(super) fn derive<'a>(
    cx: &'a Context<'a>,
    alloc: &mut Allocations,
    report: &mut BuildReport,
) -> Users<'a> {
    let cfg = cx.input.cfg;
    let mirror = cx.input.mirror;
    let outcome = &cx.outcome;
    // Served users include locked ones (inactive under `users.inactive = "lock"`, or deleted
    // and kept): they keep their names and numbers while locked.
    let mut claims: Vec<Claim> = outcome
        .users
        .iter()
        .filter(|(_, v)| v.served)
        .filter_map(|(id, _)| policy::user_of(mirror, id))
        .map(|u| Claim {
            id: &u.id,
            created: u.created_date_time.as_deref(),
        })
        .collect();
    creation_order(&mut claims);
    report.users_inactive = outcome.count(UserStatus::Inactive);
    report.users_excluded = outcome.count(UserStatus::Excluded);
    let wanted: Vec<(&str, String)> = claims
        .iter()
        .filter_map(|c| {
            let name = outcome.users.get(c.id)?.username.clone()?;
            Some((c.id, name))
        })
        .collect();
    let (names, _) = alloc.assign_names("u", &wanted, |s| s.to_lowercase());
    report
        .unmatched
        .extend(ids::unmatched("u", &wanted, &names));
    let [ufirst, ulast] = cfg.users.uid_number_range;
    let (uid_attr, notices) = posix::numbers_from_attribute(
        alloc,
        NumberSpace::Uid,
        cfg.users.uid_number_attribute.as_deref(),
        &claims,
        |id| policy::user_of(mirror, id).map(posix::Source::User),
        cfg.users.uid_number_range,
    );
    report.notices.extend(notices);
    report
        .unnumbered
        .extend(alloc.assign_numbers(NumberSpace::Uid, &claims, ufirst, ulast));
    let served = serve(cx, &claims, &names, &uid_attr, alloc);
    report.users_active = served.values().filter(|u| !u.locked).count();
    Users { claims, served }
}

/// The users that got a name and a number, with them.
fn serve<'a>(
    cx: &'a Context<'a>,
    claims: &[Claim<'a>],
    names: &FxHashMap<String, String>,
    uid_attr: &BTreeMap<String, u32>,
    alloc: &Allocations,
) -> FxHashMap<&'a str, ServedUser<'a>> {
    let mirror = cx.input.mirror;
    let mut served: FxHashMap<&str, ServedUser> =
        FxHashMap::with_capacity_and_hasher(claims.len(), Default::default());
    for c in claims {
        let (Some(u), Some(uid), Some(n), Some(v)) = (
            policy::user_of(mirror, c.id),
            names.get(c.id),
            uid_attr.get(c.id).or_else(|| alloc.uid.get(c.id)),
            cx.outcome.users.get(c.id),
        ) else {
            continue;
        };
        served.insert(
            u.id.as_str(),
            ServedUser {
                u,
                uid: uid.clone(),
                uid_number: *n,
                dn: dn::build("uid", uid, &cx.people),
                locked: v.locked(),
            },
        );
    }
    served
}
