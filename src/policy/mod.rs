//! Policy: a pure function of the tenant mirror and the tenant's config that decides who is in
//! the directory, who is inactive, which groups are served and under what names. No I/O, so a
//! dry run is a diff of two derivations and `explain` can replay the rules for one user.

use crate::config::{TenantConfig, UsernameFrom};
use crate::graph::models::{Group, User};
use crate::sync::mirror::Mirror;
use std::collections::BTreeMap;

/// Where a user stands after policy.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVerdict {
    pub included: bool,
    /// The directory group name this Graph group is served as (before collision resolution).
    pub name: Option<String>,
    pub trail: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub users: BTreeMap<String, UserVerdict>,
    pub groups: BTreeMap<String, GroupVerdict>,
}

impl Outcome {
    pub fn served_user(&self, id: &str) -> bool {
        self.users
            .get(id)
            .is_some_and(|v| v.status == UserStatus::Active)
    }
}

/// Apply the tenant's policy to its mirror.
pub fn apply(mirror: &Mirror, cfg: &TenantConfig) -> Outcome {
    let mut out = Outcome::default();
    for (id, u) in &mirror.users {
        out.users.insert(id.clone(), user_verdict(mirror, cfg, u));
    }
    for (id, g) in &mirror.groups {
        out.groups.insert(id.clone(), group_verdict(g));
    }
    out
}

fn user_verdict(mirror: &Mirror, cfg: &TenantConfig, u: &User) -> UserVerdict {
    let mut trail = Vec::new();
    let username = username(u, cfg.users.username_from);
    let mut status = UserStatus::Active;
    if username.is_none() {
        trail.push(format!(
            "users.username_from = {:?}: the user has no such attribute, so no uid can be derived",
            cfg.users.username_from
        ));
        status = UserStatus::Excluded;
    }
    if u.is_guest() {
        trail.push("guest account (userType Guest / #EXT# UPN): guests are not included".into());
        status = UserStatus::Excluded;
    }
    if !u.is_enabled() {
        trail.push("accountEnabled is false: disabled users are hidden".into());
        status = UserStatus::Excluded;
    }
    if let Some(domain) = upn_domain(u) {
        let verified = mirror
            .domains
            .iter()
            .any(|d| d.verified() && d.id.eq_ignore_ascii_case(domain));
        if !verified {
            trail.push(format!(
                "UPN domain {domain} is not a verified domain of the tenant"
            ));
            status = UserStatus::Excluded;
        }
    }
    if status == UserStatus::Active {
        trail.push("enabled member account in a verified domain: included".into());
    }
    UserVerdict {
        status,
        username,
        trail,
    }
}

fn group_verdict(g: &Group) -> GroupVerdict {
    match g.display_name.as_deref() {
        Some(n) if !n.trim().is_empty() => GroupVerdict {
            included: true,
            name: Some(n.to_string()),
            trail: vec![format!(
                "{:?} group: every group type is included",
                g.kind()
            )],
        },
        _ => GroupVerdict {
            included: false,
            name: None,
            trail: vec!["the group has no display name, so it has no directory name".into()],
        },
    }
}

/// The user's uid as `users.username_from` says, lower-cased (POSIX names are case-sensitive
/// and Microsoft 365 names are not, so one case is chosen).
pub fn username(u: &User, from: UsernameFrom) -> Option<String> {
    let raw = match from {
        UsernameFrom::Upn => u.user_principal_name.as_deref().map(local_part),
        UsernameFrom::Mail => u.mail.as_deref().map(local_part),
        UsernameFrom::MailNickname => u.mail_nickname.as_deref(),
        UsernameFrom::OnPremisesSamAccountName => u.on_premises_sam_account_name.as_deref(),
    }?;
    let name = raw.trim().to_lowercase();
    (!name.is_empty()).then_some(name)
}

fn local_part(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(l, _)| l).unwrap_or(addr)
}

fn upn_domain(u: &User) -> Option<&str> {
    u.user_principal_name
        .as_deref()
        .and_then(|upn| upn.rsplit_once('@'))
        .map(|(_, d)| d)
}
