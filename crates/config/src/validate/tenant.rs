//! Tenant-level keys: the tenant id, the base DN, the SSH-key attribute, the policy and POSIX
//! keys.

use super::Problems;
use crate::TenantConfig;
use model::dn::DnError;
use std::collections::HashMap;

/// `users.ssh_keys_attribute`: `onPremisesExtensionAttributes.extensionAttribute1..15` or a
/// directory extension `extension_<appid>_<name>` (optionally `.path` into a JSON value). Other
/// Graph properties are read into typed fields and never hold keys.
pub(super) fn ssh_keys_attribute(attr: &str) -> Result<(), String> {
    const EXAMPLE: &str = "write e.g. \"onPremisesExtensionAttributes.extensionAttribute10\" or \
                           \"extension_<app id without dashes>_sshPublicKey\"";
    let parts: Vec<&str> = attr.split('.').collect();
    if parts.iter().any(|p| {
        p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(format!(
            "`{attr}` is not a dotted Graph property path; {EXAMPLE}"
        ));
    }
    let first = parts.first().copied().unwrap_or_default();
    if first.eq_ignore_ascii_case("onPremisesExtensionAttributes") {
        let n = match parts.as_slice() {
            [_, name] => name
                .to_ascii_lowercase()
                .strip_prefix("extensionattribute")
                .and_then(|n| n.parse::<u8>().ok()),
            _ => None,
        };
        return match n {
            Some(1..=15) => Ok(()),
            _ => Err(format!(
                "`{attr}`: onPremisesExtensionAttributes holds extensionAttribute1 to \
                 extensionAttribute15; write e.g. \"onPremisesExtensionAttributes.extensionAttribute10\""
            )),
        };
    }
    if !model::graph::is_extension_property(first) {
        return Err(format!(
            "`{attr}` is not a property that can hold SSH keys; {EXAMPLE}"
        ));
    }
    Ok(())
}

pub(super) fn tenant_id(key: &str, id: &str, p: &mut Problems) {
    if id.trim().is_empty() {
        p.push(
            format!("{key}.tenant_id"),
            "is empty; set the Directory (tenant) ID from the Entra admin center (a GUID) or \
             the tenant's domain, e.g. \"contoso.onmicrosoft.com\"",
        );
    } else if !is_guid(id) && !is_domain(id) {
        p.push(
            format!("{key}.tenant_id"),
            format!(
                "`{id}` is neither a GUID nor a domain name; set the Directory (tenant) ID from \
                 the Entra admin center, e.g. \"5f3c2a1e-7b4d-4e9a-8c6f-2d1b0a9e8c7d\" (\"common\" \
                 and \"organizations\" do not work for a daemon)"
            ),
        );
    }
}

/// Check a base DN is made of `dc=`, `o=` and `ou=` RDNs (RFC 4514 escapes allowed in values)
/// and return a normal form (lower case, unescaped) for the uniqueness check.
pub(crate) fn parse_base_dn(dn: &str) -> Result<String, String> {
    if dn.trim().is_empty() {
        return Err("is empty".into());
    }
    let parsed = model::dn::parse(dn).map_err(|e| match e {
        DnError::MissingEquals(at) => {
            format!("has a part without `=` (`{}`)", part_around(dn, at))
        }
        e => format!("is not a valid DN: {e}"),
    })?;
    let mut normal = Vec::new();
    for rdn in parsed.rdns() {
        let [ava] = rdn.avas() else {
            return Err("has a multi-valued RDN (`+`), which a base DN cannot use".into());
        };
        let attr = ava.attr().to_ascii_lowercase();
        if !matches!(attr.as_str(), "dc" | "o" | "ou") {
            return Err(format!(
                "uses `{attr}=`; only dc=, o= and ou= parts are allowed"
            ));
        }
        if ava.is_hex() {
            return Err(format!(
                "has `{attr}={}`, a BER hex string; write the value as text",
                ava.value()
            ));
        }
        let value = ava.value();
        if value.is_empty() {
            return Err(format!("has an empty `{attr}=` value"));
        }
        if attr == "dc" && !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "has `dc={}`; a dc= value is one domain label (letters, digits, `-`)",
                model::dn::escape_value(value)
            ));
        }
        normal.push(format!("{attr}={}", value.to_lowercase()));
    }
    Ok(normal.join(","))
}

/// The RDN text around byte `at` of `dn`, to show which part is malformed.
pub(super) fn part_around(dn: &str, at: usize) -> &str {
    let sep = |c: char| matches!(c, ',' | ';' | '+');
    let at = (0..=at.min(dn.len()))
        .rev()
        .find(|&i| dn.is_char_boundary(i))
        .unwrap_or(0);
    let (before, after) = dn.split_at(at);
    let start = before.rfind(sep).map_or(0, |i| i + 1);
    let end = after.find(sep).map_or(dn.len(), |i| at + i);
    dn.get(start..end).unwrap_or("").trim()
}

/// The policy keys (users.*_members_of, groups.*, local groups): empty entries, map targets
/// that cannot be group names, duplicate local groups and fixed numbers that could meet an
/// allocated one.
pub(super) fn policy_keys(key: &str, t: &TenantConfig, p: &mut Problems) {
    let lists = [
        ("users.only_members_of", &t.users.only_members_of),
        ("users.active_members_of", &t.users.active_members_of),
        ("users.inactive_members_of", &t.users.inactive_members_of),
        ("groups.name_prefixes", &t.groups.name_prefixes),
        ("groups.select", &t.groups.select),
    ];
    for (name, list) in lists {
        for (i, v) in list.iter().enumerate() {
            if v.trim().is_empty() {
                p.push(
                    format!("{key}.{name}[{i}]"),
                    "is empty; remove it or write a group display name or object id",
                );
            }
        }
    }
    for (from, to) in &t.groups.map {
        if from.trim().is_empty() || to.trim().is_empty() {
            p.push(
                format!("{key}.groups.map"),
                format!(
                    "entry {from:?} = {to:?} has an empty side; write \"Graph group name or id\" = \"directory group name\""
                ),
            );
        }
    }
    let [u0, u1] = t.users.uid_number_range;
    let [g0, g1] = t.groups.gid_number_range;
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut numbers: HashMap<u32, usize> = HashMap::new();
    for (i, l) in t.local_group.iter().enumerate() {
        let lkey = format!("{key}.local_group[{i}]");
        let norm = l
            .name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if norm.is_empty() {
            p.push(
                format!("{lkey}.name"),
                "is empty; give the group a name such as \"staff\"",
            );
        } else if let Some(first) = names.insert(norm, i) {
            p.push(
                format!("{lkey}.name"),
                format!("`{}` is also the name of local_group number {first}; names are compared ignoring case and spaces", l.name),
            );
        }
        if let Some(n) = l.gid_number {
            if (u0..=u1).contains(&n) || (g0..=g1).contains(&n) {
                p.push(
                    format!("{lkey}.gid_number"),
                    format!(
                        "{n} is inside users.uid_number_range [{u0}, {u1}] or groups.gid_number_range [{g0}, {g1}], where it could meet an allocated number; pick one outside both or leave it out"
                    ),
                );
            } else if n == 0 {
                p.push(
                    format!("{lkey}.gid_number"),
                    "0 is the root group; pick another number",
                );
            } else if let Some(first) = numbers.insert(n, i) {
                p.push(
                    format!("{lkey}.gid_number"),
                    format!("{n} is also the gid_number of local_group number {first}"),
                );
            }
        }
        for (j, m) in l.members_from.iter().enumerate() {
            if m.trim().is_empty() {
                p.push(
                    format!("{lkey}.members_from[{j}]"),
                    "is empty; write a group display name or object id",
                );
            }
        }
    }
}

/// The POSIX keys: templates, number attributes, primary group.
pub(super) fn posix_keys(key: &str, t: &TenantConfig, p: &mut Problems) {
    use crate::template::{
        GECOS_PLACEHOLDERS, HOME_PLACEHOLDERS, check_attribute_path, template_placeholders,
    };
    let users = &t.users;
    match template_placeholders(&users.home_directory, HOME_PLACEHOLDERS) {
        Err(why) => p.push(
            format!("{key}.users.home_directory"),
            format!(
                "{why}; placeholders are {{uid}}, {{upn}} and {{mail_local}}, e.g. \"/home/{{uid}}\""
            ),
        ),
        Ok(used) if used.is_empty() => p.push(
            format!("{key}.users.home_directory"),
            "does not contain {uid} (or {upn}, {mail_local}), so every user would share one \
             home directory; write e.g. \"/home/{uid}\"",
        ),
        Ok(_) if !users.home_directory.starts_with('/') => p.push(
            format!("{key}.users.home_directory"),
            "is not an absolute path; write e.g. \"/home/{uid}\"",
        ),
        Ok(_) => {}
    }
    if let Err(why) = template_placeholders(&users.gecos, GECOS_PLACEHOLDERS) {
        p.push(
            format!("{key}.users.gecos"),
            format!("{why}; placeholders are {}", braced(GECOS_PLACEHOLDERS)),
        );
    }
    for (name, value) in [
        ("users.uid_number_attribute", &users.uid_number_attribute),
        (
            "groups.gid_number_attribute",
            &t.groups.gid_number_attribute,
        ),
    ] {
        if let Some(path) = value
            && let Err(why) = check_attribute_path(path)
        {
            p.push(
                format!("{key}.{name}"),
                format!(
                    "{why}; name a Graph property holding the number, e.g. \
                     \"onPremisesExtensionAttributes.extensionAttribute1\", \"employeeId\" or \
                     \"extension_<appid>_uidNumber\", or leave the key out"
                ),
            );
        }
    }
    if let Some(path) = &t.groups.gid_number_attribute
        && path
            .split('.')
            .next()
            .is_some_and(|top| top.eq_ignore_ascii_case("onPremisesExtensionAttributes"))
    {
        // Graph answers 400 to the whole group listing for a property groups lack.
        p.push(
            format!("{key}.groups.gid_number_attribute"),
            "Microsoft Graph groups have no onPremisesExtensionAttributes (only users do); use a \
             directory extension such as \"extension_<appid>_gidNumber\"",
        );
    }
    if users.primary_group.trim().is_empty() {
        p.push(
            format!("{key}.users.primary_group"),
            "is empty; write \"private\" (a user-private group per user, the default) or the \
             name of a directory group every user should have as primary group",
        );
    }
}

pub(super) fn braced(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The 8-4-4-4-12 hexadecimal form Entra shows; braces, URNs and unhyphenated forms are
/// rejected because Entra's endpoints do not accept them.
pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

/// A DNS name of at least two labels (`contoso.com`, `contoso.onmicrosoft.com`).
pub(crate) fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}
