//! Building a tenant's entries from its mirror and policy: DNs, POSIX numbers and names,
//! memberships (`member`, `memberUid`, transitive `memberOf`). Pure apart from the
//! `Allocations` it extends, which the sync persists in the same transaction as the mirror.

use super::dn;
use super::entry::{Attr, Entry, EntryKind};
use super::ids::{Allocations, Claim, Collision, NumberSpace, Unmatched, creation_order};
use super::posix;
use super::snapshot::TenantInfo;
use crate::policy::{self, UserStatus};
use config::{ServiceAccount, TenantConfig};
use model::Mirror;
use model::graph::{MemberKind, User};
use model::time::{generalized_from_iso, generalized_time};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;

pub struct TenantInput<'a> {
    pub index: u16,
    pub cfg: &'a TenantConfig,
    pub mirror: &'a Mirror,
    /// Service accounts allowed to read this tenant (served under `ou=services`).
    pub services: Vec<&'a ServiceAccount>,
    /// Unix time of the derivation: what policy judges against, and the timestamp of entries
    /// Graph gives none for.
    pub now: i64,
    /// Admin-managed SSH keys (`ctl ssh-key add`), merged with Graph keys.
    pub admin_ssh_keys: &'a super::ssh_keys::AdminKeys,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildReport {
    /// Users served unlocked.
    pub users_active: usize,
    /// Users policy marks inactive, served locked or hidden per `users.inactive`.
    pub users_inactive: usize,
    pub users_excluded: usize,
    pub groups: usize,
    pub collisions: Vec<Collision>,
    /// Every object served under another name than it wants (the collisions are those whose
    /// wanted name is held by someone).
    pub unmatched: Vec<Unmatched>,
    /// Objects left out because their number range is exhausted.
    pub unnumbered: Vec<String>,
    /// POSIX settings that could not be honoured this round (a number attribute rejected, the
    /// primary group not served), each naming the object or key and why.
    pub notices: Vec<String>,
}

pub struct TenantBuild {
    pub info: TenantInfo,
    /// Entries in DIT order: the root, then each container followed by its children.
    pub entries: Vec<Entry>,
    pub report: BuildReport,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "tenant {tenant}: no base_dn is configured and the tenant has no verified default domain yet; set tenant.base_dn or wait for the first sync"
    )]
    NoBaseDn { tenant: String },
    #[error("tenant {tenant}: base_dn {base_dn:?} is not a valid DN: {message}")]
    BadBaseDn {
        tenant: String,
        base_dn: String,
        message: String,
    },
}

/// The naming context: `tenant.base_dn`, else the `dc=` parts of the default verified domain.
pub fn base_dn(cfg: &TenantConfig, mirror: &Mirror) -> Result<String, BuildError> {
    if let Some(b) = &cfg.base_dn {
        return Ok(b.clone());
    }
    let domain = mirror
        .default_domain()
        .ok_or_else(|| BuildError::NoBaseDn {
            tenant: cfg.name.clone(),
        })?;
    Ok(domain
        .id
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| format!("dc={}", dn::escape_value(&p.to_lowercase())))
        .collect::<Vec<_>>()
        .join(","))
}

pub(super) struct ServedUser<'a> {
    pub u: &'a User,
    pub uid: String,
    pub uid_number: u32,
    pub dn: String,
    /// Inactive but served: `nsAccountLock: TRUE`.
    pub locked: bool,
}

struct DirGroup<'a> {
    name: &'a str,
    created: Option<&'a str>,
    /// Graph groups whose members it serves.
    sources: Vec<&'a str>,
    fixed_gid: Option<u32>,
}

struct ServedGroup {
    cn: String,
    gid_number: u32,
    dn: String,
}

pub fn build_tenant(
    input: &TenantInput<'_>,
    alloc: &mut Allocations,
) -> Result<TenantBuild, BuildError> {
    let cfg = input.cfg;
    let mirror = input.mirror;
    let base = base_dn(cfg, mirror)?;
    let base_ndn = dn::normalize(&base).map_err(|e| BuildError::BadBaseDn {
        tenant: cfg.name.clone(),
        base_dn: base.clone(),
        message: e.to_string(),
    })?;
    let people = format!("ou=people,{base}");
    let groups_dn = format!("ou=groups,{base}");
    let services_dn = format!("ou=services,{base}");
    let outcome = policy::apply_at(mirror, cfg, input.now);
    let now = generalized_time(input.now);
    let mut report = BuildReport::default();

    // Users in Microsoft 365 creation order: the order names and numbers are allocated in.
    // Served users include locked ones (inactive under `users.inactive = "lock"`, or deleted
    // and kept): they keep their names and numbers while locked.
    let mut user_claims: Vec<Claim> = outcome
        .users
        .iter()
        .filter(|(_, v)| v.served)
        .filter_map(|(id, _)| policy::user_of(mirror, id))
        .map(|u| Claim {
            id: &u.id,
            created: u.created_date_time.as_deref(),
        })
        .collect();
    creation_order(&mut user_claims);
    report.users_inactive = outcome.count(UserStatus::Inactive);
    report.users_excluded = outcome.count(UserStatus::Excluded);
    let wanted_users: Vec<(&str, String)> = user_claims
        .iter()
        .filter_map(|c| {
            let name = outcome.users.get(c.id)?.username.clone()?;
            Some((c.id, name))
        })
        .collect();
    let (user_names, _) = alloc.assign_names("u", &wanted_users, |s| s.to_lowercase());
    report
        .unmatched
        .extend(super::ids::unmatched("u", &wanted_users, &user_names));
    let [ufirst, ulast] = cfg.users.uid_number_range;
    let (uid_attr, notices) = posix::numbers_from_attribute(
        alloc,
        NumberSpace::Uid,
        cfg.users.uid_number_attribute.as_deref(),
        &user_claims,
        |id| policy::user_of(mirror, id).map(posix::Source::User),
        cfg.users.uid_number_range,
    );
    report.notices.extend(notices);
    report
        .unnumbered
        .extend(alloc.assign_numbers(NumberSpace::Uid, &user_claims, ufirst, ulast));

    // Hash maps keyed by borrowed object ids: at 100k users the ordered maps' string
    // comparisons and key copies dominated a round.
    let mut users: FxHashMap<&str, ServedUser> =
        FxHashMap::with_capacity_and_hasher(user_claims.len(), Default::default());
    for c in &user_claims {
        let (Some(u), Some(uid), Some(n), Some(v)) = (
            policy::user_of(mirror, c.id),
            user_names.get(c.id),
            uid_attr.get(c.id).or_else(|| alloc.uid.get(c.id)),
            outcome.users.get(c.id),
        ) else {
            continue;
        };
        users.insert(
            u.id.as_str(),
            ServedUser {
                u,
                uid: uid.clone(),
                uid_number: *n,
                dn: dn::build("uid", uid, &people),
                locked: v.locked(),
            },
        );
    }
    report.users_active = users.values().filter(|u| !u.locked).count();

    // Directory groups: each included Graph group that no `groups.map`/local group folds, keyed
    // by its object id, plus each merged group, keyed by `dir:<name>`. They and the
    // user-private groups share the cn namespace under ou=groups.
    let mut dir_groups: BTreeMap<&str, DirGroup> = BTreeMap::new();
    for (id, v) in &outcome.groups {
        if !v.included || v.merged_into.is_some() {
            continue;
        }
        let (Some(g), Some(name)) = (mirror.groups.get(id), v.name.as_deref()) else {
            continue;
        };
        dir_groups.insert(
            id.as_str(),
            DirGroup {
                name,
                created: g.created_date_time.as_deref(),
                sources: vec![id.as_str()],
                fixed_gid: None,
            },
        );
    }
    for (key, m) in &outcome.merged {
        dir_groups.insert(
            key.as_str(),
            DirGroup {
                name: m.name.as_str(),
                created: m.created.as_deref(),
                sources: m.sources.iter().map(String::as_str).collect(),
                fixed_gid: m.gid_number,
            },
        );
    }
    let mut group_claims: Vec<Claim> = dir_groups
        .iter()
        .map(|(k, g)| Claim {
            id: k,
            created: g.created,
        })
        .collect();
    creation_order(&mut group_claims);
    let mut wanted_groups: Vec<(&str, String)> = Vec::new();
    let mut cn_claims: Vec<Claim> = group_claims.clone();
    cn_claims.extend(
        user_claims
            .iter()
            .filter(|c| users.contains_key(c.id))
            .cloned(),
    );
    creation_order(&mut cn_claims);
    for c in &cn_claims {
        if let Some(u) = users.get(c.id) {
            wanted_groups.push((c.id, u.uid.clone()));
        } else if let Some(g) = dir_groups.get(c.id) {
            wanted_groups.push((c.id, g.name.to_string()));
        }
    }
    let (group_names, _) = alloc.assign_names("g", &wanted_groups, normalize_cn);
    report
        .unmatched
        .extend(super::ids::unmatched("g", &wanted_groups, &group_names));
    report.collisions = alloc.collisions(&report.unmatched, name_key);
    let [gfirst, glast] = cfg.groups.gid_number_range;
    // Local groups with a configured gidNumber keep it; validation keeps those numbers out of
    // both allocation ranges, so they cannot meet an allocated number.
    let allocated: Vec<Claim> = group_claims
        .iter()
        .filter(|c| dir_groups.get(c.id).is_some_and(|g| g.fixed_gid.is_none()))
        .cloned()
        .collect();
    // A merged group fed by exactly one Graph group (a `groups.map` rename) reads that group.
    let graph_group_of = |key: &str| {
        mirror
            .groups
            .get(key)
            .or_else(|| match dir_groups.get(key)?.sources.as_slice() {
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

    let mut groups: FxHashMap<&str, ServedGroup> = FxHashMap::default();
    for c in &group_claims {
        let Some(dg) = dir_groups.get(c.id) else {
            continue;
        };
        let number = dg
            .fixed_gid
            .or_else(|| gid_attr.get(c.id).or_else(|| alloc.gid.get(c.id)).copied());
        let (Some(cn), Some(n)) = (group_names.get(c.id), number) else {
            continue;
        };
        groups.insert(
            c.id,
            ServedGroup {
                cn: cn.clone(),
                gid_number: n,
                dn: dn::build("cn", cn, &groups_dn),
            },
        );
    }
    report.groups = groups.len();
    let primary = posix::primary_group(
        cfg,
        groups.iter().map(|(key, g)| posix::GroupRef {
            key,
            cn: &g.cn,
            gid_number: g.gid_number,
            dn: &g.dn,
        }),
        &mut report.notices,
    );

    // Direct memberships among served objects, the union over a directory group's sources;
    // other members (devices, service principals, contacts, excluded or hidden users) are not
    // directory objects here and are dropped. Locked users stay members, so group views do not
    // change when someone is disabled.
    let mut direct: FxHashMap<&str, FxHashSet<(&str, MemberKind)>> = FxHashMap::default();
    let mut parents: FxHashMap<&str, FxHashSet<&str>> = FxHashMap::default();
    for key in groups.keys() {
        let list = direct.entry(*key).or_default();
        let sources = dir_groups
            .get(*key)
            .map(|g| g.sources.as_slice())
            .unwrap_or_default();
        for src in sources {
            for m in mirror.members.get(*src).into_iter().flatten() {
                let member: Option<&str> = match m.kind {
                    MemberKind::User => users.get_key_value(m.id.as_str()).map(|(k, _)| *k),
                    MemberKind::Group => outcome
                        .directory_group_of(&m.id)
                        .and_then(|d| groups.get_key_value(d))
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
    let member_of = |id: &str| -> FxHashSet<&str> {
        // Upward closure over the member→group edges; `seen` stops membership cycles.
        let mut seen = FxHashSet::default();
        let mut stack: Vec<&str> = parents
            .get(id)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default();
        while let Some(g) = stack.pop() {
            if seen.insert(g)
                && let Some(p) = parents.get(g)
            {
                stack.extend(p.iter().copied());
            }
        }
        seen
    };

    let stamp = |id: &str, created: Option<&str>| stamp(input, id, created);
    let tenant = input.index;
    let mut entries = Vec::with_capacity(4 + users.len() * 2 + groups.len() + input.services.len());

    // Root and containers.
    let first_rdn_value = base
        .split(',')
        .next()
        .and_then(|r| r.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let org = mirror
        .organization
        .as_ref()
        .and_then(|o| o.display_name.clone())
        .unwrap_or_else(|| cfg.name.clone());
    let mut root_attrs = vec![attr("objectClass", ["top", "dcObject", "organization"])];
    if base.to_ascii_lowercase().starts_with("dc=") {
        root_attrs.push(attr("dc", [first_rdn_value.as_str()]));
    }
    root_attrs.push(attr("o", [org.as_str()]));
    entries.push(entry(
        &base,
        EntryKind::Root,
        tenant,
        root_attrs,
        &now,
        &now,
    ));

    // ou=people
    entries.push(container(&people, "people", tenant, &now));
    let mut by_uid: Vec<&ServedUser> = users.values().collect();
    by_uid.sort_by(|a, b| a.uid.cmp(&b.uid));
    for su in &by_uid {
        let mut groups_of: Vec<&str> = member_of(&su.u.id)
            .into_iter()
            .filter_map(|g| groups.get(g).map(|x| x.dn.as_str()))
            .collect();
        let private_cn = group_names.get(&su.u.id).cloned().unwrap_or(su.uid.clone());
        let private_dn = dn::build("cn", &private_cn, &groups_dn);
        if primary.is_none() {
            groups_of.push(&private_dn);
        }
        groups_of.sort();
        let gid = primary.map_or(su.uid_number, |p| p.0);
        entries.push(user_entry(input, su, gid, &groups_of));
    }

    // ou=groups: real groups and user-private groups, sorted by cn.
    entries.push(container(&groups_dn, "groups", tenant, &now));
    let mut group_entries: Vec<(String, Entry)> = Vec::new();
    for (id, g) in &groups {
        let graph = mirror.groups.get(*id);
        let mut member_dns = Vec::new();
        let mut member_uids = Vec::new();
        for (mid, kind) in posix::member_list(cfg.groups.nested, id, |g| {
            direct.get(g).map(|s| s.iter().copied())
        }) {
            match kind {
                MemberKind::User => {
                    if let Some(u) = users.get(mid) {
                        member_dns.push(u.dn.clone());
                        member_uids.push(u.uid.clone());
                    }
                }
                _ => {
                    if let Some(x) = groups.get(mid) {
                        member_dns.push(x.dn.clone());
                    }
                }
            }
        }
        member_dns.sort();
        member_uids.sort();
        let mut parent_dns: Vec<String> = member_of(id)
            .into_iter()
            .filter_map(|p| groups.get(p).map(|x| x.dn.clone()))
            .collect();
        parent_dns.sort();
        let merged = outcome.merged.get(*id);
        // A merged group fed by exactly one Graph group shows that group's description and
        // mail; one fed by several has no single address to show.
        let single = match merged {
            Some(m) if m.sources.len() == 1 => m.sources.first().and_then(|s| mirror.groups.get(s)),
            Some(_) => None,
            None => graph,
        };
        let description = merged
            .and_then(|m| m.description.as_deref())
            .or_else(|| single.and_then(|g| g.description.as_deref()));
        let uuid = match merged {
            Some(_) => merged_uuid(&cfg.tenant_id, id),
            None => id.to_string(),
        };
        let (created, modified) = match merged {
            Some(mg) => {
                let c = mg
                    .created
                    .as_deref()
                    .and_then(generalized_from_iso)
                    .unwrap_or_else(|| now.clone());
                // Modified when any source last changed.
                let m = mg
                    .sources
                    .iter()
                    .filter_map(|s| mirror.changed.get(s))
                    .max()
                    .cloned()
                    .unwrap_or_else(|| c.clone());
                (c.into(), m.into())
            }
            None => stamp(id, graph.and_then(|g| g.created_date_time.as_deref())),
        };
        let shape = GroupShape {
            cn: &g.cn,
            gid_number: g.gid_number,
            member_dns,
            member_uids,
            description,
            mail: single.and_then(|g| g.mail.as_deref()),
            uuid: &uuid,
            parent_dns,
        };
        group_entries.push((
            normalize_cn(&g.cn),
            group_entry(&g.dn, shape, tenant, &created, &modified),
        ));
    }
    // A shared primary group replaces the user-private groups.
    for su in by_uid.iter().filter(|_| primary.is_none()) {
        let cn = group_names.get(&su.u.id).cloned().unwrap_or(su.uid.clone());
        group_entries.push((
            normalize_cn(&cn),
            private_group_entry(input, su, &cn, &groups_dn),
        ));
    }
    group_entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.extend(group_entries.into_iter().map(|(_, e)| e));

    // ou=services
    entries.push(container(&services_dn, "services", tenant, &now));
    let mut services = input.services.clone();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for s in services {
        let sdn = dn::build("cn", &s.name, &services_dn);
        let attrs = vec![
            attr("objectClass", ["top", "applicationProcess"]),
            attr("cn", [s.name.as_str()]),
            attr("description", ["o365-ldap service account"]),
        ];
        entries.push(entry(
            &sdn,
            EntryKind::ServiceAccount,
            tenant,
            attrs,
            &now,
            &now,
        ));
    }

    // The canonical DIT order (see `dn::dit_order_key`), the same the persisted directory is
    // read back in.
    entries.sort_by_cached_key(|e| dn::dit_order_key(&e.ndn));

    Ok(TenantBuild {
        info: TenantInfo {
            name: cfg.name.clone(),
            base_dn: base,
            base_ndn,
        },
        entries,
        report,
    })
}

/// createTimestamp and modifyTimestamp of a Graph object: its `createdDateTime` (else now) and
/// the time the mirror last saw it change (else its creation).
pub(super) fn stamp(
    input: &TenantInput<'_>,
    id: &str,
    created: Option<&str>,
) -> (Box<str>, Box<str>) {
    let c = created
        .and_then(generalized_from_iso)
        .unwrap_or_else(|| generalized_time(input.now));
    let m = input
        .mirror
        .changed
        .get(id)
        .cloned()
        .unwrap_or_else(|| c.clone());
    (c.into(), m.into())
}

/// A served user's entry; `groups_of` are the DNs of every group it is in (sorted).
pub(super) fn user_entry(
    input: &TenantInput<'_>,
    su: &ServedUser<'_>,
    gid: u32,
    groups_of: &[&str],
) -> Entry {
    let cfg = input.cfg;
    let mut attrs = user_attrs(su, cfg, gid, groups_of);
    let ssh_attr = cfg.users.ssh_keys_attribute.as_deref();
    super::ssh_keys::add_attributes(&mut attrs, su.u, ssh_attr, input.admin_ssh_keys);
    let (c, m) = stamp(input, &su.u.id, su.u.created_date_time.as_deref());
    entry(&su.dn, EntryKind::User, input.index, attrs, &c, &m)
}

/// A user's private group (gidNumber = uidNumber), named `cn`.
pub(super) fn private_group_entry(
    input: &TenantInput<'_>,
    su: &ServedUser<'_>,
    cn: &str,
    groups_dn: &str,
) -> Entry {
    let gdn = dn::build("cn", cn, groups_dn);
    let attrs = vec![
        attr("objectClass", ["top", "groupOfNames", "posixGroup"]),
        attr("cn", [cn]),
        attr("gidNumber", [su.uid_number.to_string()]),
        attr("member", [su.dn.as_str()]),
        attr("memberUid", [su.uid.as_str()]),
        attr(
            "description",
            [format!("User private group of {}", su.uid).as_str()],
        ),
    ];
    let (c, m) = stamp(input, &su.u.id, su.u.created_date_time.as_deref());
    entry(&gdn, EntryKind::PrivateGroup, input.index, attrs, &c, &m)
}

/// What a directory group's entry shows; member and parent lists sorted by the caller.
pub(super) struct GroupShape<'a> {
    pub cn: &'a str,
    pub gid_number: u32,
    pub member_dns: Vec<String>,
    pub member_uids: Vec<String>,
    pub description: Option<&'a str>,
    pub mail: Option<&'a str>,
    pub uuid: &'a str,
    pub parent_dns: Vec<String>,
}

pub(super) fn group_entry(
    dn_str: &str,
    g: GroupShape<'_>,
    tenant: u16,
    created: &str,
    modified: &str,
) -> Entry {
    let mut attrs = vec![
        attr("objectClass", ["top", "groupOfNames", "posixGroup"]),
        attr("cn", [g.cn]),
        attr("gidNumber", [g.gid_number.to_string()]),
    ];
    push_many(&mut attrs, "member", g.member_dns);
    push_many(&mut attrs, "memberUid", g.member_uids);
    push_opt(&mut attrs, "description", g.description);
    push_opt(&mut attrs, "mail", g.mail);
    attrs.push(attr("entryUUID", [g.uuid]));
    push_many(&mut attrs, "memberOf", g.parent_dns);
    entry(dn_str, EntryKind::Group, tenant, attrs, created, modified)
}

fn user_attrs(su: &ServedUser<'_>, cfg: &TenantConfig, gid: u32, groups_of: &[&str]) -> Vec<Attr> {
    let u = su.u;
    let display = u
        .display_name
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| su.uid.clone());
    let sn = u
        .surname
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| display.clone());
    let mut a = vec![
        attr(
            "objectClass",
            [
                "top",
                "person",
                "organizationalPerson",
                "inetOrgPerson",
                "posixAccount",
            ],
        ),
        attr("uid", [su.uid.as_str()]),
        attr("cn", [display.as_str()]),
        attr("sn", [sn.as_str()]),
    ];
    push_opt(&mut a, "givenName", u.given_name.as_deref());
    a.push(attr("displayName", [display.as_str()]));
    push_opt(&mut a, "mail", u.mail.as_deref());
    push_opt(
        &mut a,
        "userPrincipalName",
        u.user_principal_name.as_deref(),
    );
    a.push(attr("uidNumber", [su.uid_number.to_string()]));
    a.push(attr("gidNumber", [gid.to_string()]));
    a.push(attr(
        "homeDirectory",
        [posix::home_directory(cfg, u, &su.uid)],
    ));
    a.push(attr("loginShell", [cfg.users.login_shell.as_str()]));
    a.push(attr("gecos", [posix::gecos(cfg, u, &su.uid, &display)]));
    push_many(
        &mut a,
        "memberOf",
        groups_of.iter().map(|s| s.to_string()).collect(),
    );
    a.push(attr("entryUUID", [u.id.as_str()]));
    push_opt(&mut a, "title", u.job_title.as_deref());
    push_opt(&mut a, "departmentNumber", u.department.as_deref());
    push_opt(&mut a, "employeeNumber", u.employee_id.as_deref());
    if let Some(phones) = &u.business_phones {
        push_many(&mut a, "telephoneNumber", phones.clone());
    }
    push_opt(&mut a, "mobile", u.mobile_phone.as_deref());
    a.push(attr("sAMAccountName", [su.uid.as_str()]));
    if su.locked {
        a.push(attr("nsAccountLock", ["TRUE"]));
    }
    a
}

/// A stable entryUUID for a merged directory group: name-based (SHA-256 of the tenant id and
/// the group's key), so every replica agrees and it survives changes to its sources.
pub(super) fn merged_uuid(tenant_id: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}\n{key}", tenant_id.to_ascii_lowercase()).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// The comparison form of a name in namespace `"u"` (uids) or `"g"` (group cns).
pub(super) fn name_key(namespace: &str, name: &str) -> String {
    match namespace {
        "u" => name.to_lowercase(),
        _ => normalize_cn(name),
    }
}

/// The comparison key for group names: caseIgnoreMatch (trim, collapse spaces, fold case).
pub(super) fn normalize_cn(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn attr<const N: usize, S: AsRef<str>>(name: &'static str, values: [S; N]) -> Attr {
    Attr {
        name,
        values: values.iter().map(|v| Box::from(v.as_ref())).collect(),
    }
}

fn push_opt(attrs: &mut Vec<Attr>, name: &'static str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        attrs.push(attr(name, [v]));
    }
}

fn push_many(attrs: &mut Vec<Attr>, name: &'static str, values: Vec<String>) {
    let values: Vec<Box<str>> = values
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(Box::from)
        .collect();
    if !values.is_empty() {
        attrs.push(Attr { name, values });
    }
}

fn container(dn_str: &str, ou: &str, tenant: u16, now: &str) -> Entry {
    entry(
        dn_str,
        EntryKind::Container,
        tenant,
        vec![
            attr("objectClass", ["top", "organizationalUnit"]),
            attr("ou", [ou]),
        ],
        now,
        now,
    )
}

fn entry(
    dn_str: &str,
    kind: EntryKind,
    tenant: u16,
    attrs: Vec<Attr>,
    created: &str,
    modified: &str,
) -> Entry {
    // DNs built here come from escaped parts, so normalisation cannot fail; fall back to a
    // lower-cased copy rather than dropping the entry if it ever did.
    let ndn = dn::normalize(dn_str).unwrap_or_else(|_| dn_str.to_lowercase());
    Entry {
        dn: dn_str.into(),
        ndn: ndn.into(),
        kind,
        tenant,
        attrs,
        created: created.into(),
        modified: modified.into(),
    }
}
