//! The user controls: username, guests, domains, blocked addresses, group-based import and
//! activation, disabled and deleted accounts. Each rule is a pure function returning its
//! effect and the sentence `ctl explain` shows.

use super::membership::GroupSet;
use super::{UserStatus, UserVerdict, username};
use config::{InactiveMode, TenantConfig};
use model::Mirror;
use model::graph::User;

/// What one rule does to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    Pass,
    Inactivate,
    Exclude,
}

pub type Finding = (Effect, String);

/// Everything the user rules need, computed once per derivation.
pub struct Context<'a> {
    pub cfg: &'a TenantConfig,
    /// Lower-cased verified domain names of the tenant.
    pub verified: Vec<String>,
    /// Lower-cased `domains.allowed`.
    pub allowed: Vec<String>,
    /// Lower-cased `users.blocked_emails`.
    pub blocked: Vec<String>,
    pub only: GroupSet,
    pub active: GroupSet,
    pub inactive: GroupSet,
}

impl<'a> Context<'a> {
    pub fn new(mirror: &Mirror, cfg: &'a TenantConfig) -> Context<'a> {
        Context {
            cfg,
            verified: mirror
                .domains
                .iter()
                .filter(|d| d.verified())
                .map(|d| d.id.to_lowercase())
                .collect(),
            allowed: lower(&cfg.domains.allowed),
            blocked: lower(&cfg.users.blocked_emails),
            only: GroupSet::new(mirror, &cfg.users.only_members_of),
            active: GroupSet::new(mirror, &cfg.users.active_members_of),
            inactive: GroupSet::new(mirror, &cfg.users.inactive_members_of),
        }
    }
}

fn lower(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.trim().to_lowercase()).collect()
}

/// The verdict on one user; `deleted_at` is set for users kept after deletion.
pub fn verdict(ctx: &Context<'_>, u: &User, deleted_at: Option<i64>, now: i64) -> UserVerdict {
    let name = username(u, ctx.cfg.users.username_from);
    let findings = [
        username_rule(ctx, u, name.as_deref()),
        guests(ctx, u),
        domains(ctx, u),
        blocked_emails(ctx, u),
        only_members_of(ctx, u),
        disabled(u),
        active_members_of(ctx, u),
        inactive_members_of(ctx, u),
        deleted(ctx, deleted_at, now),
    ];
    let mut trail = Vec::new();
    let mut effect = Effect::Pass;
    for f in findings.into_iter().flatten() {
        effect = effect.max(f.0);
        trail.push(f.1);
    }
    let status = match effect {
        Effect::Pass => UserStatus::Active,
        Effect::Inactivate => UserStatus::Inactive,
        Effect::Exclude => UserStatus::Excluded,
    };
    let is_deleted = deleted_at.is_some();
    let lock = ctx.cfg.users.inactive == InactiveMode::Lock;
    let served = match status {
        UserStatus::Active => true,
        UserStatus::Inactive => lock || is_deleted,
        UserStatus::Excluded => false,
    };
    trail.push(match (status, served) {
        (UserStatus::Active, _) => "→ active: served, may bind".to_string(),
        (UserStatus::Inactive, true) if is_deleted => {
            "→ inactive: served with nsAccountLock: TRUE until users.keep_deleted_for runs out; never binds".to_string()
        }
        (UserStatus::Inactive, true) => {
            "→ inactive: users.inactive = \"lock\", so served with nsAccountLock: TRUE; never binds"
                .to_string()
        }
        (UserStatus::Inactive, false) => {
            "→ inactive: users.inactive = \"hide\", so not served; never binds".to_string()
        }
        (UserStatus::Excluded, _) => "→ excluded: not in the directory".to_string(),
    });
    UserVerdict {
        status,
        username: name,
        trail,
        deleted: is_deleted,
        served,
    }
}

pub fn username_rule(ctx: &Context<'_>, u: &User, name: Option<&str>) -> Option<Finding> {
    let from = ctx.cfg.users.username_from.as_str();
    Some(match name {
        Some(n) if u.is_guest() => (
            Effect::Pass,
            format!("uid {n:?}: a guest's uid is its mail local part, else its UPN before #EXT#"),
        ),
        Some(n) => (
            Effect::Pass,
            format!("users.username_from = {from:?}: uid {n:?}"),
        ),
        None => (
            Effect::Exclude,
            format!(
                "users.username_from = {from:?}: the user has no such attribute, so no uid can be derived → excluded"
            ),
        ),
    })
}

pub fn guests(ctx: &Context<'_>, u: &User) -> Option<Finding> {
    if !u.is_guest() {
        return None;
    }
    Some(if ctx.cfg.users.include_guests {
        (
            Effect::Pass,
            "guest account (userType Guest / #EXT# UPN): users.include_guests = true → included"
                .to_string(),
        )
    } else {
        (
            Effect::Exclude,
            "guest account (userType Guest / #EXT# UPN): users.include_guests = false → excluded"
                .to_string(),
        )
    })
}

/// A user's domain is its UPN's domain: it must be a verified domain of the tenant, and one of
/// `domains.allowed` (or under one, with `include_subdomains`) when that list is set.
pub fn domains(ctx: &Context<'_>, u: &User) -> Option<Finding> {
    let Some(domain) = u
        .user_principal_name
        .as_deref()
        .and_then(|upn| upn.rsplit_once('@'))
        .map(|(_, d)| d.to_lowercase())
    else {
        return Some((
            Effect::Exclude,
            "domains: the user has no userPrincipalName, so no domain → excluded".into(),
        ));
    };
    if !ctx.verified.contains(&domain) {
        return Some((
            Effect::Exclude,
            format!(
                "domains: UPN domain {domain} is not a verified domain of the tenant → excluded"
            ),
        ));
    }
    if ctx.allowed.is_empty() {
        return Some((
            Effect::Pass,
            format!(
                "domains: UPN domain {domain} is verified (domains.allowed is empty: every verified domain)"
            ),
        ));
    }
    if ctx.allowed.contains(&domain) {
        return Some((
            Effect::Pass,
            format!("domains.allowed: UPN domain {domain} is allowed"),
        ));
    }
    let parent = ctx
        .allowed
        .iter()
        .find(|a| domain.ends_with(&format!(".{a}")));
    Some(match parent {
        Some(p) if ctx.cfg.domains.include_subdomains => (
            Effect::Pass,
            format!(
                "domains.allowed: UPN domain {domain} is a subdomain of {p} and domains.include_subdomains = true"
            ),
        ),
        Some(p) => (
            Effect::Exclude,
            format!(
                "domains.allowed: UPN domain {domain} is a subdomain of {p} but domains.include_subdomains = false → excluded"
            ),
        ),
        None => (
            Effect::Exclude,
            format!(
                "domains.allowed: UPN domain {domain} is not in {:?} → excluded",
                ctx.cfg.domains.allowed
            ),
        ),
    })
}

/// The addresses `users.blocked_emails` is matched on: mail, UPN and every SMTP proxy
/// address (the `smtp:`/`SMTP:` prefix stripped; X500:, SIP: and other kinds are not mail).
pub fn addresses(u: &User) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if let Some(m) = u.mail.as_deref() {
        out.push(("mail", m));
    }
    if let Some(p) = u.user_principal_name.as_deref() {
        out.push(("userPrincipalName", p));
    }
    for p in u.proxy_addresses.iter().flatten() {
        if let Some((kind, addr)) = p.split_once(':')
            && kind.eq_ignore_ascii_case("smtp")
        {
            out.push(("proxy address", addr));
        }
    }
    out
}

pub fn blocked_emails(ctx: &Context<'_>, u: &User) -> Option<Finding> {
    if ctx.blocked.is_empty() {
        return None;
    }
    for (what, addr) in addresses(u) {
        let a = addr.trim().to_lowercase();
        if let Some((i, _)) = ctx
            .blocked
            .iter()
            .enumerate()
            .find(|(_, g)| glob_match::glob_match(g, &a))
        {
            let glob = ctx
                .cfg
                .users
                .blocked_emails
                .get(i)
                .map(String::as_str)
                .unwrap_or_default();
            return Some((
                Effect::Exclude,
                format!("users.blocked_emails: {what} {addr} matches {glob:?} → excluded"),
            ));
        }
    }
    Some((
        Effect::Pass,
        "users.blocked_emails: no address matches".into(),
    ))
}

fn membership_sentence(key: &str, set: &GroupSet, u: &User) -> (bool, String) {
    match set.users.get(&u.id) {
        Some(names) => (true, format!("{key}: member of {}", quoted(names))),
        None => {
            let names: Vec<String> = set.groups.values().cloned().collect();
            let mut s = format!("{key}: not a member of {}", quoted(&names));
            if !set.unresolved.is_empty() {
                s.push_str(&format!(
                    " (no group of the tenant is named {})",
                    quoted(&set.unresolved)
                ));
            }
            (false, s)
        }
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn only_members_of(ctx: &Context<'_>, u: &User) -> Option<Finding> {
    if ctx.only.is_empty() {
        return None;
    }
    let (member, s) = membership_sentence("users.only_members_of", &ctx.only, u);
    Some(if member {
        (Effect::Pass, s)
    } else {
        (Effect::Exclude, format!("{s} → excluded"))
    })
}

pub fn disabled(u: &User) -> Option<Finding> {
    (!u.is_enabled()).then(|| {
        (
            Effect::Inactivate,
            "accountEnabled is false: disabled in Microsoft 365 → inactive".to_string(),
        )
    })
}

pub fn active_members_of(ctx: &Context<'_>, u: &User) -> Option<Finding> {
    if ctx.active.is_empty() {
        return None;
    }
    let (member, s) = membership_sentence("users.active_members_of", &ctx.active, u);
    Some(if member {
        (Effect::Pass, s)
    } else {
        (Effect::Inactivate, format!("{s} → inactive"))
    })
}

pub fn inactive_members_of(ctx: &Context<'_>, u: &User) -> Option<Finding> {
    if ctx.inactive.is_empty() {
        return None;
    }
    let (member, s) = membership_sentence("users.inactive_members_of", &ctx.inactive, u);
    Some(if member {
        (Effect::Inactivate, format!("{s} → inactive"))
    } else {
        (Effect::Pass, s)
    })
}

pub fn deleted(ctx: &Context<'_>, deleted_at: Option<i64>, now: i64) -> Option<Finding> {
    let at = deleted_at?;
    let keep = ctx.cfg.users.keep_deleted_for;
    let age = now.saturating_sub(at).max(0);
    let keep_secs = i64::try_from(keep.get().as_secs()).unwrap_or(i64::MAX);
    Some(if age < keep_secs {
        (
            Effect::Inactivate,
            format!(
                "deleted in Microsoft 365 {age}s ago; users.keep_deleted_for = \"{keep}\" keeps it, locked → inactive"
            ),
        )
    } else {
        (
            Effect::Exclude,
            format!(
                "deleted in Microsoft 365 {age}s ago, longer than users.keep_deleted_for = \"{keep}\" → excluded"
            ),
        )
    })
}
