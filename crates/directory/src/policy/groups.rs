//! The group controls: `groups.sync`, `types`, `include_without_mail`, `name_prefixes`,
//! `select`, and the naming ones, `groups.map` and `[[tenant.local_group]]`, which fold
//! Graph groups into directory groups identified by name.

use super::membership::names_group;
use super::{GroupVerdict, MergedGroup, Outcome};
use config::{GroupType, TenantConfig};
use model::Mirror;
use model::graph::{Group, GroupKind};
use std::collections::BTreeMap;

/// The key of a directory group made by `groups.map` or a local group: `dir:` and the name
/// compared as LDAP compares `cn` (trimmed, inner spaces collapsed, case folded). It is also
/// the object key its `gidNumber` is allocated under, so the number follows the name.
pub fn merged_key(name: &str) -> String {
    format!(
        "dir:{}",
        name.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    )
}

pub type Finding = (bool, String);

fn kind_type(k: GroupKind) -> GroupType {
    match k {
        GroupKind::Microsoft365 => GroupType::Microsoft365,
        GroupKind::Security => GroupType::Security,
        GroupKind::MailEnabledSecurity => GroupType::MailEnabledSecurity,
        GroupKind::Distribution => GroupType::Distribution,
    }
}

pub fn has_name(g: &Group) -> Finding {
    match g.display_name.as_deref() {
        Some(n) if !n.trim().is_empty() => (true, format!("display name {n:?}")),
        _ => (
            false,
            "the group has no display name, so it has no directory name → excluded".into(),
        ),
    }
}

pub fn sync(cfg: &TenantConfig) -> Option<Finding> {
    (!cfg.groups.sync).then(|| {
        (
            false,
            "groups.sync = false: no Microsoft 365 group is served → excluded".to_string(),
        )
    })
}

pub fn types(cfg: &TenantConfig, g: &Group) -> Finding {
    let t = kind_type(g.kind());
    let dynamic = if g.is_dynamic() { "dynamic " } else { "" };
    let listed: Vec<&str> = cfg.groups.types.iter().map(|t| t.as_str()).collect();
    if cfg.groups.types.contains(&t) {
        (
            true,
            format!("groups.types: {dynamic}{} group, listed", t.as_str()),
        )
    } else {
        (
            false,
            format!(
                "groups.types: {dynamic}{} group, not in {listed:?} → excluded",
                t.as_str()
            ),
        )
    }
}

pub fn include_without_mail(cfg: &TenantConfig, g: &Group) -> Option<Finding> {
    let has_mail = g.mail.as_deref().is_some_and(|m| !m.trim().is_empty());
    (!has_mail && !cfg.groups.include_without_mail).then(|| {
        (
            false,
            "groups.include_without_mail = false and the group has no mail address → excluded"
                .to_string(),
        )
    })
}

pub fn name_prefixes(cfg: &TenantConfig, g: &Group) -> Option<Finding> {
    if cfg.groups.name_prefixes.is_empty() {
        return None;
    }
    let name = g.display_name.as_deref().unwrap_or_default();
    let lname = name.to_lowercase();
    Some(
        match cfg
            .groups
            .name_prefixes
            .iter()
            .find(|p| lname.starts_with(&p.to_lowercase()))
        {
            Some(p) => (
                true,
                format!("groups.name_prefixes: {name:?} starts with {p:?}"),
            ),
            None => (
                false,
                format!(
                    "groups.name_prefixes: {name:?} starts with none of {:?} → excluded",
                    cfg.groups.name_prefixes
                ),
            ),
        },
    )
}

pub fn select(cfg: &TenantConfig, g: &Group) -> Option<Finding> {
    if cfg.groups.select.is_empty() {
        return None;
    }
    Some(match cfg.groups.select.iter().find(|e| names_group(e, g)) {
        Some(e) => (true, format!("groups.select: selected as {e:?}")),
        None => (
            false,
            "groups.select: not among the selected groups → excluded".to_string(),
        ),
    })
}

/// Which directory group name this Graph group is folded into, if any, and the sentence.
/// `groups.map` by object id wins over `groups.map` by name, which wins over a local group's
/// `members_from` (first local group in file order): a Graph group feeds one directory group.
pub fn target(cfg: &TenantConfig, g: &Group) -> Option<(String, String)> {
    let by_id = cfg
        .groups
        .map
        .iter()
        .find(|(k, _)| g.id.eq_ignore_ascii_case(k.trim()));
    let by_name = || cfg.groups.map.iter().find(|(k, _)| names_group(k, g));
    if let Some((k, v)) = by_id.or_else(by_name) {
        return Some((
            v.clone(),
            format!("groups.map: {k:?} → served as directory group {v:?}"),
        ));
    }
    cfg.local_group
        .iter()
        .find(|l| l.members_from.iter().any(|e| names_group(e, g)))
        .map(|l| {
            (
                l.name.clone(),
                format!(
                    "local_group {:?}: members_from names this group → its members join it",
                    l.name
                ),
            )
        })
}

fn findings(cfg: &TenantConfig, g: &Group, named: &Finding) -> Vec<Finding> {
    [
        Some(named.clone()),
        sync(cfg),
        Some(types(cfg, g)),
        include_without_mail(cfg, g),
        name_prefixes(cfg, g),
        select(cfg, g),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// How one Graph group is served, judged alone: `None` when excluded, else its directory name
/// (the merged group's name when folded) and whether `groups.map` or a `[[tenant.local_group]]` folds it into a merged group (whose
/// shape depends on its other sources, so a round touching it derives everything instead of patching).
pub fn served_as(cfg: &TenantConfig, g: &Group) -> Option<(String, bool)> {
    let named = has_name(g);
    if !findings(cfg, g, &named).iter().all(|f| f.0) {
        return None;
    }
    match target(cfg, g) {
        Some((dir_name, _)) => Some((dir_name, true)),
        None => Some((g.display_name.clone()?, false)),
    }
}

/// Verdicts for every Graph group, and the merged directory groups.
pub fn derive(
    mirror: &Mirror,
    cfg: &TenantConfig,
) -> (
    BTreeMap<String, GroupVerdict>,
    BTreeMap<String, MergedGroup>,
) {
    let mut merged: BTreeMap<String, MergedGroup> = BTreeMap::new();
    for l in &cfg.local_group {
        merged
            .entry(merged_key(&l.name))
            .or_insert_with(|| MergedGroup {
                name: l.name.clone(),
                gid_number: l.gid_number,
                description: l.description.clone(),
                local: true,
                sources: Default::default(),
                created: None,
            });
    }
    let mut verdicts = BTreeMap::new();
    for (id, g) in &mirror.groups {
        let named = has_name(g);
        let findings = findings(cfg, g, &named);
        let included = findings.iter().all(|f| f.0);
        let mut trail: Vec<String> = findings.into_iter().map(|f| f.1).collect();
        let mut name = named.0.then(|| g.display_name.clone()).flatten();
        let mut merged_into = None;
        if included {
            if let Some((dir_name, sentence)) = target(cfg, g) {
                trail.push(sentence);
                let key = merged_key(&dir_name);
                let m = merged.entry(key.clone()).or_insert_with(|| MergedGroup {
                    name: dir_name.clone(),
                    gid_number: None,
                    description: None,
                    local: false,
                    sources: Default::default(),
                    created: None,
                });
                m.sources.insert(id.clone());
                if let Some(c) = g.created_date_time.as_deref()
                    && m.created.as_deref().is_none_or(|old| c < old)
                {
                    m.created = Some(c.to_string());
                }
                name = Some(m.name.clone());
                merged_into = Some(key);
            }
            trail.push(format!(
                "→ included as {:?}",
                name.as_deref().unwrap_or_default()
            ));
        } else {
            trail.push("→ excluded: not in the directory".into());
        }
        verdicts.insert(
            id.clone(),
            GroupVerdict {
                included,
                name,
                trail,
                merged_into,
            },
        );
    }
    (verdicts, merged)
}

impl Outcome {
    /// The directory group key a Graph group's members and nesting belong to: its merged
    /// group's key, or its own id; `None` when the group is not served.
    pub fn directory_group_of<'a>(&'a self, graph_id: &'a str) -> Option<&'a str> {
        let v = self.groups.get(graph_id).filter(|v| v.included)?;
        Some(v.merged_into.as_deref().unwrap_or(graph_id))
    }
}
