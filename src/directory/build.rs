//! Building a tenant's entries from its mirror and policy: DNs, POSIX numbers and names,
//! memberships (`member`, `memberUid`, transitive `memberOf`). Pure apart from the
//! `Allocations` it extends, which the sync persists in the same transaction as the mirror.

use super::dn;
use super::entry::{Attr, Entry, EntryKind};
use super::ids::{Allocations, Claim, Collision, NumberSpace, creation_order};
use super::snapshot::TenantInfo;
use crate::config::{ServiceAccount, TenantConfig};
use crate::graph::models::{MemberKind, User};
use crate::policy;
use crate::sync::mirror::{Mirror, generalized_from_iso};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct TenantInput<'a> {
    pub index: u16,
    pub cfg: &'a TenantConfig,
    pub mirror: &'a Mirror,
    /// Service accounts allowed to read this tenant (served under `ou=services`).
    pub services: Vec<&'a ServiceAccount>,
    /// GeneralizedTime used where Graph gives no timestamp.
    pub now: &'a str,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildReport {
    pub users_active: usize,
    pub users_excluded: usize,
    pub groups: usize,
    pub collisions: Vec<Collision>,
    /// Objects left out because their number range is exhausted.
    pub unnumbered: Vec<String>,
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

struct ServedUser<'a> {
    u: &'a User,
    uid: String,
    uid_number: u32,
    dn: String,
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
    let outcome = policy::apply(mirror, cfg);
    let mut report = BuildReport::default();

    // Users in Microsoft 365 creation order: the order names and numbers are allocated in.
    let mut user_claims: Vec<Claim> = mirror
        .users
        .values()
        .filter(|u| outcome.served_user(&u.id))
        .map(|u| Claim {
            id: &u.id,
            created: u.created_date_time.as_deref(),
        })
        .collect();
    creation_order(&mut user_claims);
    report.users_excluded = mirror.users.len() - user_claims.len();
    let wanted_users: Vec<(&str, String)> = user_claims
        .iter()
        .filter_map(|c| {
            let name = outcome.users.get(c.id)?.username.clone()?;
            Some((c.id, name))
        })
        .collect();
    let (user_names, user_collisions) =
        alloc.assign_names("u", &wanted_users, |s| s.to_lowercase());
    report.collisions.extend(user_collisions);
    let [ufirst, ulast] = cfg.users.uid_number_range;
    report
        .unnumbered
        .extend(alloc.assign_numbers(NumberSpace::Uid, &user_claims, ufirst, ulast));

    let mut users: BTreeMap<String, ServedUser> = BTreeMap::new();
    for c in &user_claims {
        let (Some(u), Some(uid), Some(n)) = (
            mirror.users.get(c.id),
            user_names.get(c.id),
            alloc.uid.get(c.id),
        ) else {
            continue;
        };
        users.insert(
            u.id.clone(),
            ServedUser {
                u,
                uid: uid.clone(),
                uid_number: *n,
                dn: dn::build("uid", uid, &people),
            },
        );
    }
    report.users_active = users.len();

    // Groups, plus one user-private group per user, share the cn namespace under ou=groups.
    let mut group_claims: Vec<Claim> = mirror
        .groups
        .values()
        .filter(|g| outcome.groups.get(&g.id).is_some_and(|v| v.included))
        .map(|g| Claim {
            id: &g.id,
            created: g.created_date_time.as_deref(),
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
        } else if let Some(name) = outcome.groups.get(c.id).and_then(|v| v.name.clone()) {
            wanted_groups.push((c.id, name));
        }
    }
    let (group_names, group_collisions) = alloc.assign_names("g", &wanted_groups, normalize_cn);
    report.collisions.extend(group_collisions);
    let [gfirst, glast] = cfg.groups.gid_number_range;
    report
        .unnumbered
        .extend(alloc.assign_numbers(NumberSpace::Gid, &group_claims, gfirst, glast));

    let mut groups: BTreeMap<String, ServedGroup> = BTreeMap::new();
    for c in &group_claims {
        let (Some(cn), Some(n)) = (group_names.get(c.id), alloc.gid.get(c.id)) else {
            continue;
        };
        groups.insert(
            c.id.to_string(),
            ServedGroup {
                cn: cn.clone(),
                gid_number: *n,
                dn: dn::build("cn", cn, &groups_dn),
            },
        );
    }
    report.groups = groups.len();

    // Direct memberships among served objects; other members (devices, service principals,
    // contacts, excluded users) are not directory objects here and are dropped.
    let mut direct: BTreeMap<&str, Vec<(&str, MemberKind)>> = BTreeMap::new();
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for gid in groups.keys() {
        let members = mirror.members.get(gid);
        let list = direct.entry(gid.as_str()).or_default();
        for m in members.into_iter().flatten() {
            let served = match m.kind {
                MemberKind::User => users.contains_key(&m.id),
                MemberKind::Group => groups.contains_key(&m.id) && m.id != *gid,
                _ => false,
            };
            if served {
                list.push((m.id.as_str(), m.kind));
                parents.entry(m.id.as_str()).or_default().push(gid.as_str());
            }
        }
    }
    let member_of = |id: &str| -> BTreeSet<&str> {
        // Upward closure over the member→group edges; `seen` stops membership cycles.
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = parents.get(id).cloned().unwrap_or_default();
        while let Some(g) = stack.pop() {
            if seen.insert(g)
                && let Some(p) = parents.get(g)
            {
                stack.extend(p.iter().copied());
            }
        }
        seen
    };

    let stamp = |id: &str, created: Option<&str>| -> (Box<str>, Box<str>) {
        let c = created
            .and_then(generalized_from_iso)
            .unwrap_or_else(|| input.now.to_string());
        let m = mirror.changed.get(id).cloned().unwrap_or_else(|| c.clone());
        (c.into(), m.into())
    };
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
        input.now,
        input.now,
    ));

    // ou=people
    entries.push(container(&people, "people", tenant, input.now));
    let mut by_uid: Vec<&ServedUser> = users.values().collect();
    by_uid.sort_by(|a, b| a.uid.cmp(&b.uid));
    for su in &by_uid {
        let mut groups_of: Vec<&str> = member_of(&su.u.id)
            .into_iter()
            .filter_map(|g| groups.get(g).map(|x| x.dn.as_str()))
            .collect();
        let private_cn = group_names.get(&su.u.id).cloned().unwrap_or(su.uid.clone());
        let private_dn = dn::build("cn", &private_cn, &groups_dn);
        groups_of.push(&private_dn);
        groups_of.sort();
        let attrs = user_attrs(su, cfg, &groups_of);
        let (c, m) = stamp(&su.u.id, su.u.created_date_time.as_deref());
        entries.push(entry(&su.dn, EntryKind::User, tenant, attrs, &c, &m));
    }

    // ou=groups: real groups and user-private groups, sorted by cn.
    entries.push(container(&groups_dn, "groups", tenant, input.now));
    let mut group_entries: Vec<(String, Entry)> = Vec::new();
    for (id, g) in &groups {
        let graph = mirror.groups.get(id);
        let mut member_dns = Vec::new();
        let mut member_uids = Vec::new();
        for (mid, kind) in direct.get(id.as_str()).into_iter().flatten() {
            match kind {
                MemberKind::User => {
                    if let Some(u) = users.get(*mid) {
                        member_dns.push(u.dn.clone());
                        member_uids.push(u.uid.clone());
                    }
                }
                _ => {
                    if let Some(x) = groups.get(*mid) {
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
        let mut attrs = vec![
            attr("objectClass", ["top", "groupOfNames", "posixGroup"]),
            attr("cn", [g.cn.as_str()]),
            attr("gidNumber", [g.gid_number.to_string()]),
        ];
        push_many(&mut attrs, "member", member_dns);
        push_many(&mut attrs, "memberUid", member_uids);
        if let Some(graph) = graph {
            push_opt(&mut attrs, "description", graph.description.as_deref());
            push_opt(&mut attrs, "mail", graph.mail.as_deref());
        }
        attrs.push(attr("entryUUID", [id.as_str()]));
        push_many(&mut attrs, "memberOf", parent_dns);
        let (c, m) = stamp(id, graph.and_then(|g| g.created_date_time.as_deref()));
        group_entries.push((
            normalize_cn(&g.cn),
            entry(&g.dn, EntryKind::Group, tenant, attrs, &c, &m),
        ));
    }
    for su in &by_uid {
        let cn = group_names.get(&su.u.id).cloned().unwrap_or(su.uid.clone());
        let gdn = dn::build("cn", &cn, &groups_dn);
        let attrs = vec![
            attr("objectClass", ["top", "groupOfNames", "posixGroup"]),
            attr("cn", [cn.as_str()]),
            attr("gidNumber", [su.uid_number.to_string()]),
            attr("member", [su.dn.as_str()]),
            attr("memberUid", [su.uid.as_str()]),
            attr(
                "description",
                [format!("User private group of {}", su.uid).as_str()],
            ),
        ];
        let (c, m) = stamp(&su.u.id, su.u.created_date_time.as_deref());
        group_entries.push((
            normalize_cn(&cn),
            entry(&gdn, EntryKind::PrivateGroup, tenant, attrs, &c, &m),
        ));
    }
    group_entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.extend(group_entries.into_iter().map(|(_, e)| e));

    // ou=services
    entries.push(container(&services_dn, "services", tenant, input.now));
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
            input.now,
            input.now,
        ));
    }

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

fn user_attrs(su: &ServedUser<'_>, cfg: &TenantConfig, groups_of: &[&str]) -> Vec<Attr> {
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
    a.push(attr("gidNumber", [su.uid_number.to_string()]));
    a.push(attr(
        "homeDirectory",
        [cfg.users.home_directory.replace("{uid}", &su.uid)],
    ));
    a.push(attr("loginShell", [cfg.users.login_shell.as_str()]));
    a.push(attr("gecos", [display.as_str()]));
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
    a
}

/// The comparison key for group names: caseIgnoreMatch (trim, collapse spaces, fold case).
fn normalize_cn(s: &str) -> String {
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
