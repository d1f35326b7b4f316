//! The POSIX side of the directory: numbers taken from a Graph attribute
//! (`users.uid_number_attribute`, `groups.gid_number_attribute`), the primary group
//! (`users.primary_group`), how nested groups appear in `member` (`groups.nested`), and the
//! `homeDirectory` / `gecos` templates. `derive` calls these; they hold no state of their own.
//!
//! Number attributes: a value that is a decimal integer inside the configured range and held by
//! no other object takes precedence over the derived number. The object still gets (and keeps)
//! its derived allocation, so it falls back to a stable number if the attribute is cleared or
//! becomes invalid; every number an attribute supplied is recorded as used by that object, so
//! neither the allocator nor another object's attribute is ever given it afterwards, even when
//! the attribute later changes. A value that is rejected is named in the build report and logged.

use super::dn;
use super::entry::Entry;
use super::ids::{Allocations, Claim, NumberSpace, normalize_cn};
use config::template::render_template;
use config::{NestedMode, PRIMARY_GROUP_PRIVATE, TenantConfig};
use model::graph::{Group, MemberKind, User, extension_value, is_extension_property};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `homeDirectory`: `{uid}`, `{upn}` (lower-cased, so a case change in Microsoft 365 does not
/// move the home) and `{mail_local}` (the local part of `mail`, else of the UPN, lower-cased).
pub fn home_directory(cfg: &TenantConfig, u: &User, uid: &str) -> String {
    render_template(&cfg.users.home_directory, |name| match name {
        "uid" => Some(uid.to_string()),
        "upn" => u.user_principal_name.as_deref().map(str::to_lowercase),
        "mail_local" => u
            .mail
            .as_deref()
            .or(u.user_principal_name.as_deref())
            .map(|m| m.split('@').next().unwrap_or(m).to_lowercase()),
        _ => None,
    })
}

/// `gecos` from `users.gecos`; falls back to `display` when the template renders blank.
pub fn gecos(cfg: &TenantConfig, u: &User, uid: &str, display: &str) -> String {
    let text = render_template(&cfg.users.gecos, |name| match name {
        "displayName" => Some(display.to_string()),
        "givenName" => u.given_name.clone(),
        "surname" => u.surname.clone(),
        "uid" => Some(uid.to_string()),
        "mail" => u.mail.clone(),
        "upn" => u.user_principal_name.clone(),
        "department" => u.department.clone(),
        "jobTitle" => u.job_title.clone(),
        "telephoneNumber" => u.business_phones.as_ref().and_then(|p| p.first().cloned()),
        "mobile" => u.mobile_phone.clone(),
        _ => None,
    });
    // GECOS is one line of /etc/passwd: `:` and newlines would break it.
    let text: String = text
        .chars()
        .map(|c| if c == ':' || c.is_control() { ' ' } else { c })
        .collect();
    if text.trim().is_empty() {
        display.to_string()
    } else {
        text.trim().to_string()
    }
}

/// The value at a dotted path in a JSON object, each segment matched ignoring case (Graph
/// property names are case-insensitive).
fn walk<'v>(mut v: &'v Value, path: &str) -> Option<&'v Value> {
    for seg in path.split('.') {
        let obj = v.as_object()?;
        v = obj
            .get(seg)
            .or_else(|| {
                obj.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                    .map(|(_, x)| x)
            })
            .filter(|x| !x.is_null())?;
    }
    Some(v)
}

/// A Graph object a number attribute is read from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    User(&'a User),
    Group(&'a Group),
}

/// The raw value of the attribute at `path` on `src`: `None` when unset. The common paths
/// are read from the typed fields; anything else through the object's JSON form.
pub fn attribute_value(src: Source<'_>, path: &str) -> Option<Value> {
    let (first, rest) = match path.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (path, None),
    };
    if is_extension_property(first) && rest.is_none() {
        let ext = match src {
            Source::User(u) => &u.extensions,
            Source::Group(g) => &g.extensions,
        };
        return extension_value(ext, first)
            .filter(|v| !v.is_null())
            .cloned();
    }
    if let Source::User(u) = src {
        if first.eq_ignore_ascii_case("employeeId") && rest.is_none() {
            return u.employee_id.clone().map(Value::String);
        }
        if first.eq_ignore_ascii_case("onPremisesExtensionAttributes")
            && let Some(name) = rest
        {
            return u
                .on_premises_extension_attributes
                .as_ref()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.clone())
                .map(Value::String);
        }
    }
    let json = match src {
        Source::User(u) => serde_json::to_value(u).ok()?,
        Source::Group(g) => serde_json::to_value(g).ok()?,
    };
    walk(&json, path).cloned()
}

/// Why an attribute value was not used as a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotANumber(String),
    OutOfRange {
        value: u32,
        first: u32,
        last: u32,
    },
    /// Another object holds (or held) the number.
    Taken {
        value: u32,
        holder: String,
    },
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::NotANumber(v) => write!(f, "{v:?} is not a whole number"),
            Rejection::OutOfRange { value, first, last } => {
                write!(
                    f,
                    "{value} is outside the configured range [{first}, {last}]"
                )
            }
            Rejection::Taken { value, holder } => write!(
                f,
                "{value} is held by object {holder} (numbers are never shared or reused)"
            ),
        }
    }
}

fn parse_number(v: &Value) -> Result<u32, Rejection> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::NotANumber(text));
    }
    text.parse::<u32>().map_err(|_| Rejection::NotANumber(text))
}

/// Numbers from a configured attribute for one number space, decided in the order of
/// `claims` (creation order). Accepted numbers are recorded in `alloc`'s used map for the
/// object, before the derived allocation runs, so the allocator steps around them. Returns
/// object id → number for the accepted ones and one notice per rejected value.
pub fn numbers_from_attribute<'a>(
    alloc: &mut Allocations,
    space: NumberSpace,
    path: Option<&str>,
    claims: &[Claim<'a>],
    source: impl Fn(&str) -> Option<Source<'a>>,
    [first, last]: [u32; 2],
) -> (BTreeMap<String, u32>, Vec<String>) {
    let mut accepted = BTreeMap::new();
    let mut notices = Vec::new();
    let Some(path) = path else {
        return (accepted, notices);
    };
    let used = match space {
        NumberSpace::Uid => &mut alloc.uid_used,
        NumberSpace::Gid => &mut alloc.gid_used,
    };
    let mut rejected = 0usize;
    let what = match space {
        NumberSpace::Uid => "uidNumber",
        NumberSpace::Gid => "gidNumber",
    };
    for c in claims {
        let Some(raw) = source(c.id).and_then(|s| attribute_value(s, path)) else {
            continue;
        };
        let verdict = parse_number(&raw).and_then(|n| {
            if !(first..=last).contains(&n) {
                return Err(Rejection::OutOfRange {
                    value: n,
                    first,
                    last,
                });
            }
            match used.get(&n) {
                Some(holder) if holder != c.id => Err(Rejection::Taken {
                    value: n,
                    holder: holder.clone(),
                }),
                _ => Ok(n),
            }
        });
        match verdict {
            Ok(n) => {
                used.insert(n, c.id.to_string());
                accepted.insert(c.id.to_string(), n);
            }
            Err(why) => {
                rejected += 1;
                if notices.len() < MAX_NOTICES {
                    notices.push(format!(
                        "{} {}: {path} = {why}; the derived {what} is used",
                        if space == NumberSpace::Uid {
                            "user"
                        } else {
                            "group"
                        },
                        c.id
                    ));
                }
            }
        }
    }
    if rejected > 0 {
        // One line per round, not one per object: a tenant where the attribute is mostly
        // unset or free text would otherwise flood the log.
        tracing::warn!(
            rejected,
            example = %notices.first().map(String::as_str).unwrap_or(""),
            "{path}: {rejected} value(s) not used as {what}; the build report lists them"
        );
        if rejected > notices.len() {
            notices.push(format!(
                "... and {} more {path} values not used as {what}",
                rejected - notices.len()
            ));
        }
    }
    (accepted, notices)
}

/// Most rejected attribute values listed one by one in a build report.
pub const MAX_NOTICES: usize = 1000;

/// A served directory group, as `primary_group` sees it.
pub struct GroupRef<'a> {
    /// Graph object id, or `dir:<name>` for merged and local groups.
    pub key: &'a str,
    pub cn: &'a str,
    pub gid_number: u32,
    pub dn: &'a str,
}

/// The group every user takes as primary group: `None` for user-private groups (the default,
/// and the fallback when the named group is not served this round, which adds a notice).
/// The name matches a group's `cn` ignoring case and spaces, or its Graph object id.
pub fn primary_group<'a>(
    cfg: &TenantConfig,
    groups: impl Iterator<Item = GroupRef<'a>>,
    notices: &mut Vec<String>,
) -> Option<(u32, &'a str)> {
    let wanted = cfg.users.primary_group.trim();
    if wanted.is_empty() || wanted.eq_ignore_ascii_case(PRIMARY_GROUP_PRIVATE) {
        return None;
    }
    let target = normalize_cn(wanted);
    let mut by_id = None;
    for g in groups {
        if normalize_cn(g.cn) == target {
            return Some((g.gid_number, g.dn));
        }
        if g.key.eq_ignore_ascii_case(wanted) {
            by_id = Some((g.gid_number, g.dn));
        }
    }
    if by_id.is_none() {
        let msg = format!(
            "users.primary_group = {wanted:?}: no such group is served in tenant {}; users get \
             user-private groups this round",
            cfg.name
        );
        tracing::warn!("{msg}");
        notices.push(msg);
    }
    by_id
}

/// The `member`/`memberUid` sources of one group: its direct members (`direct` gives a group's
/// direct members), or with `flatten` every user reached through nested groups, each once
/// (cycles are walked once).
pub fn member_list<'a, I>(
    mode: NestedMode,
    group: &str,
    direct: impl Fn(&str) -> Option<I>,
) -> Vec<(&'a str, MemberKind)>
where
    I: IntoIterator<Item = (&'a str, MemberKind)>,
{
    let Some(first) = direct(group) else {
        return Vec::new();
    };
    match mode {
        NestedMode::Direct => first.into_iter().collect(),
        NestedMode::Flatten => {
            let mut users: BTreeSet<&'a str> = BTreeSet::new();
            let mut seen: BTreeSet<&'a str> = BTreeSet::new();
            let mut stack: Vec<(&'a str, MemberKind)> = first.into_iter().collect();
            while let Some((id, kind)) = stack.pop() {
                if kind == MemberKind::User {
                    users.insert(id);
                } else if id != group
                    && seen.insert(id)
                    && let Some(sub) = direct(id)
                {
                    stack.extend(sub);
                }
            }
            users.into_iter().map(|u| (u, MemberKind::User)).collect()
        }
    }
}

/// Group → every entry that is a member of it directly or through nested groups (sorted),
/// read from the entries' `memberOf`, which is transitive whatever `groups.nested` says. So the
/// in-chain rule finds nested groups also when `member` is flattened to users only. `entries`
/// are the served entries with their ids; `lookup` maps a normalised DN to its entry id.
pub fn member_closure<'a>(
    entries: impl IntoIterator<Item = (u32, &'a Entry)>,
    lookup: impl Fn(&str) -> Option<u32>,
) -> FxHashMap<u32, Vec<u32>> {
    let mut out: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    // The builder spells a group's DN the same way in every memberOf: normalise each once.
    let mut resolved: FxHashMap<&str, Option<u32>> = FxHashMap::default();
    for (id, e) in entries {
        for g in e.values("memberOf") {
            let gid = *resolved
                .entry(g)
                .or_insert_with(|| dn::normalize(g).ok().and_then(|n| lookup(&n)));
            let Some(gid) = gid else {
                continue;
            };
            // A group in a membership cycle lists itself in memberOf; it is not its own member.
            if gid != id {
                out.entry(gid).or_default().push(id);
            }
        }
    }
    for members in out.values_mut() {
        members.sort_unstable();
        members.dedup();
    }
    out
}

#[cfg(test)]
mod tests;
