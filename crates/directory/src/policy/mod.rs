//! Policy: a pure function of the tenant mirror and the tenant's config that decides who is in
//! the directory, who is inactive, which groups are served and under what names. No I/O, so a
//! dry run is a diff of two derivations and `explain` can replay the rules for one user.
//!
//! Every control (the `[tenant.users]` and `[tenant.groups]` settings of docs/configuration.md)
//! is one small function in `users.rs` or `groups.rs` that returns an `Effect` and a
//! sentence; a verdict is every rule's sentence in order (the trail `ctl explain` prints) and the
//! strongest effect (excluded beats inactive beats active).

mod groups;
mod membership;
mod users;

#[cfg(test)]
mod tests;

use config::{TenantConfig, UsernameFrom};
use model::Mirror;
use model::graph::User;
use std::collections::{BTreeMap, BTreeSet};

pub use groups::{merged_key, served_as as group_served_as};

/// Where a user stands after policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserStatus {
    /// Served and may bind.
    Active,
    /// Served locked (`nsAccountLock: TRUE`) or hidden, per `users.inactive`; never binds.
    Inactive,
    /// Not in the directory at all.
    Excluded,
}

/// The verdict on one user, with the rule-by-rule trail `explain` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserVerdict {
    pub status: UserStatus,
    /// The name the user wants (before collision resolution); `None` if none can be derived.
    pub username: Option<String>,
    pub trail: Vec<String>,
    /// The user is gone from Microsoft 365 and kept for `users.keep_deleted_for`.
    pub deleted: bool,
    /// Whether the user has an entry: active users, inactive users under
    /// `users.inactive = "lock"`, and kept deleted users (always locked).
    pub served: bool,
}

impl UserVerdict {
    /// Served with `nsAccountLock: TRUE`.
    pub fn locked(&self) -> bool {
        self.served && self.status != UserStatus::Active
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVerdict {
    pub included: bool,
    /// The directory group name this Graph group is served as (before collision resolution).
    pub name: Option<String>,
    pub trail: Vec<String>,
    /// Set when `groups.map` or a `[[tenant.local_group]]` folds this Graph group into a
    /// directory group of its own: the key of that group in [`Outcome::merged`].
    pub merged_into: Option<String>,
}

/// A directory group named by `groups.map` or `[[tenant.local_group]]`: its identity is its
/// name, not any one Graph group, so adding or removing a source keeps its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedGroup {
    pub name: String,
    /// `local_group.gid_number`, used as is; otherwise allocated from the range under the key.
    pub gid_number: Option<u32>,
    pub description: Option<String>,
    /// Declared by a `[[tenant.local_group]]` (exists even without sources).
    pub local: bool,
    /// Included Graph groups whose members it gets.
    pub sources: BTreeSet<String>,
    /// Earliest `createdDateTime` among the sources (name collisions are resolved in creation
    /// order); `None` for a local group without sources.
    pub created: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Every user of the mirror, and every kept deleted user, by object id.
    pub users: BTreeMap<String, UserVerdict>,
    /// Every Graph group of the mirror, by object id.
    pub groups: BTreeMap<String, GroupVerdict>,
    /// Directory groups made by `groups.map` / `[[tenant.local_group]]`, by [`merged_key`].
    pub merged: BTreeMap<String, MergedGroup>,
}

impl Outcome {
    /// Whether the user has an entry (possibly locked).
    pub fn served_user(&self, id: &str) -> bool {
        self.users.get(id).is_some_and(|v| v.served)
    }

    pub fn count(&self, status: UserStatus) -> usize {
        self.users.values().filter(|v| v.status == status).count()
    }
}

/// Whether the user may bind: only active users. Inactive, deleted, excluded and unknown users
/// never do, whatever the password says.
pub fn may_bind(outcome: &Outcome, user_id: &str) -> bool {
    outcome
        .users
        .get(user_id)
        .is_some_and(|v| v.status == UserStatus::Active)
}

/// The user object behind a verdict: a live user, or a kept deleted one.
pub fn user_of<'m>(mirror: &'m Mirror, id: &str) -> Option<&'m User> {
    mirror
        .users
        .get(id)
        .or_else(|| mirror.deleted_users.get(id).map(|d| &d.user))
        .map(|u| &**u)
}

/// Apply the tenant's policy as of `now` (Unix seconds; only `users.keep_deleted_for` reads it).
pub fn apply_at(mirror: &Mirror, cfg: &TenantConfig, now: i64) -> Outcome {
    let ctx = users::Context::new(mirror, cfg);
    let mut out = Outcome::default();
    for (id, u) in &mirror.users {
        out.users
            .insert(id.clone(), users::verdict(&ctx, u, None, now));
    }
    for (id, d) in &mirror.deleted_users {
        if mirror.users.contains_key(id) {
            // Restored in Microsoft 365: the live object wins.
            continue;
        }
        out.users.insert(
            id.clone(),
            users::verdict(&ctx, &d.user, Some(d.deleted_at), now),
        );
    }
    let (verdicts, merged) = groups::derive(mirror, cfg);
    out.groups = verdicts;
    out.merged = merged;
    out
}

/// The user rules of one tenant set up once (domains, group sets), to judge single users: what
/// a patch (`derive::patch`) uses for the users it touched instead of applying policy to everyone.
pub struct Judge<'a> {
    ctx: users::Context<'a>,
    now: i64,
}

impl<'a> Judge<'a> {
    pub fn new(mirror: &Mirror, cfg: &'a TenantConfig, now: i64) -> Judge<'a> {
        Judge {
            ctx: users::Context::new(mirror, cfg),
            now,
        }
    }

    /// The verdict `apply_at` gives user `id` of `mirror` (a live user, else a kept deleted
    /// one), `None` for an id the mirror does not have.
    pub fn user(&self, mirror: &Mirror, id: &str) -> Option<UserVerdict> {
        if let Some(u) = mirror.users.get(id) {
            return Some(users::verdict(&self.ctx, u, None, self.now));
        }
        let d = mirror.deleted_users.get(id)?;
        Some(users::verdict(
            &self.ctx,
            &d.user,
            Some(d.deleted_at),
            self.now,
        ))
    }

    /// Users whose standing under `users.only_members_of`, `active_members_of` or
    /// `inactive_members_of` differs between two judges (a membership change in one of those
    /// groups, or under them).
    pub fn group_rule_changes(&self, other: &Judge<'_>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (a, b) in [
            (&self.ctx.only, &other.ctx.only),
            (&self.ctx.active, &other.ctx.active),
            (&self.ctx.inactive, &other.ctx.inactive),
        ] {
            for (id, names) in &a.users {
                if b.users.get(id) != Some(names) {
                    out.insert(id.clone());
                }
            }
            for id in b.users.keys() {
                if !a.users.contains_key(id) {
                    out.insert(id.clone());
                }
            }
        }
        out
    }
}

/// The user's uid as `users.username_from` says, lower-cased (POSIX names are case-sensitive
/// and Microsoft 365 names are not, so one case is chosen). Guests, whose UPN is
/// `gina_partner.example#EXT#@tenant.onmicrosoft.com`, take the local part of their mail
/// address instead, else the UPN before `#EXT#`.
pub fn username(u: &User, from: UsernameFrom) -> Option<String> {
    let raw = if u.is_guest() {
        guest_name(u)
    } else {
        match from {
            UsernameFrom::Upn => u.user_principal_name.as_deref().map(local_part),
            UsernameFrom::Mail => u.mail.as_deref().map(local_part),
            UsernameFrom::MailNickname => u.mail_nickname.as_deref(),
            UsernameFrom::OnPremisesSamAccountName => u.on_premises_sam_account_name.as_deref(),
        }
    }?;
    let name = raw.trim().to_lowercase();
    (!name.is_empty()).then_some(name)
}

fn guest_name(u: &User) -> Option<&str> {
    let from_mail = u
        .mail
        .as_deref()
        .map(local_part)
        .filter(|s| !s.trim().is_empty());
    from_mail.or_else(|| {
        let upn = u.user_principal_name.as_deref()?;
        let cut = upn.to_ascii_uppercase().find("#EXT#")?;
        upn.get(..cut)
    })
}

fn local_part(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(l, _)| l).unwrap_or(addr)
}
