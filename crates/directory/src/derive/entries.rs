//! The entries phase of `build_tenant`: the root, the containers, users, directory and
//! user-private groups and service accounts, in DIT order; and the entry constructors the patch
//! derivation shares, so both derive the same entries.

use super::TenantInput;
use super::full::Context;
use super::groups::{Groups, ServedGroup};
use super::members::Members;
use super::users::{ServedUser, Users};
use crate::dn;
use crate::entry::{Attr, Entry, EntryKind};
use crate::ids::normalize_cn;
use crate::policy::MergedGroup;
use crate::posix;
use crate::schema;
use config::TenantConfig;
use model::graph::MemberKind;
use model::time::{generalized_from_iso, generalized_time};

pub(super) fn emit(
    cx: &Context<'_>,
    users: &Users<'_>,
    groups: &Groups<'_>,
    members: &Members<'_>,
) -> Vec<Entry> {
    let input = cx.input;
    let tenant = input.index;
    let mut entries =
        Vec::with_capacity(4 + users.served.len() * 2 + groups.served.len() + input.services.len());
    entries.push(root(cx));

    entries.push(container(&cx.people, "people", tenant, &cx.now));
    let mut by_uid: Vec<&ServedUser> = users.served.values().collect();
    by_uid.sort_by(|a, b| a.uid.cmp(&b.uid));
    for su in &by_uid {
        entries.push(person(cx, su, groups, members));
    }

    // ou=groups: real groups and user-private groups, sorted by cn.
    entries.push(container(&cx.groups_dn, "groups", tenant, &cx.now));
    let mut group_entries: Vec<(String, Entry)> = Vec::new();
    for (key, g) in &groups.served {
        group_entries.push((
            normalize_cn(&g.cn),
            directory_group(cx, key, g, users, groups, members),
        ));
    }
    // A shared primary group replaces the user-private groups.
    for su in by_uid.iter().filter(|_| groups.primary.is_none()) {
        let cn = groups
            .names
            .get(&su.u.id)
            .cloned()
            .unwrap_or(su.uid.clone());
        group_entries.push((
            normalize_cn(&cn),
            private_group_entry(input, su, &cn, &cx.groups_dn),
        ));
    }
    group_entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.extend(group_entries.into_iter().map(|(_, e)| e));

    entries.push(container(&cx.services_dn, "services", tenant, &cx.now));
    services(cx, &mut entries);

    // The canonical DIT order (see `dn::dit_order_key`), the same the persisted directory is
    // read back in.
    entries.sort_by_cached_key(|e| dn::dit_order_key(e.ndn()));
    entries
}

/// The naming context's entry: `dcObject` and `organization`, named after the tenant's
/// organization (else the tenant's configured name).
fn root(cx: &Context<'_>) -> Entry {
    let base = &cx.base;
    let first_rdn_value = base
        .split(',')
        .next()
        .and_then(|r| r.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let org = cx
        .input
        .mirror
        .organization
        .as_ref()
        .and_then(|o| o.display_name.clone())
        .unwrap_or_else(|| cx.input.cfg.name.clone());
    let mut root_attrs = vec![attr("objectClass", ["top", "dcObject", "organization"])];
    if base.to_ascii_lowercase().starts_with("dc=") {
        root_attrs.push(attr("dc", [first_rdn_value.as_str()]));
    }
    root_attrs.push(attr("o", [org.as_str()]));
    entry(
        base,
        EntryKind::Root,
        cx.input.index,
        root_attrs,
        &cx.now,
        &cx.now,
    )
}

/// A served user's entry under ou=people, in every group above it and in its primary group.
fn person(
    cx: &Context<'_>,
    su: &ServedUser<'_>,
    groups: &Groups<'_>,
    members: &Members<'_>,
) -> Entry {
    let mut groups_of: Vec<&str> = members
        .member_of(&su.u.id)
        .into_iter()
        .filter_map(|g| groups.served.get(g).map(|x| x.dn.as_str()))
        .collect();
    let private_cn = groups
        .names
        .get(&su.u.id)
        .cloned()
        .unwrap_or(su.uid.clone());
    let private_dn = dn::build("cn", &private_cn, &cx.groups_dn);
    if groups.primary.is_none() {
        groups_of.push(&private_dn);
    }
    groups_of.sort();
    let gid = groups.primary.unwrap_or(su.uid_number);
    user_entry(cx.input, su, gid, &groups_of)
}

/// A directory group's entry: its members (per `groups.nested`), the groups above it, and what
/// its Graph group, or the merged group's sources and configuration, say about it.
fn directory_group(
    cx: &Context<'_>,
    key: &str,
    g: &ServedGroup,
    users: &Users<'_>,
    groups: &Groups<'_>,
    members: &Members<'_>,
) -> Entry {
    let mirror = cx.input.mirror;
    let graph = mirror.groups.get(key);
    let mut member_dns = Vec::new();
    let mut member_uids = Vec::new();
    for (mid, kind) in posix::member_list(cx.input.cfg.groups.nested, key, |g| members.direct(g)) {
        match kind {
            MemberKind::User => {
                if let Some(u) = users.served.get(mid) {
                    member_dns.push(u.dn.clone());
                    member_uids.push(u.uid.clone());
                }
            }
            _ => {
                if let Some(x) = groups.served.get(mid) {
                    member_dns.push(x.dn.clone());
                }
            }
        }
    }
    member_dns.sort();
    member_uids.sort();
    let mut parent_dns: Vec<String> = members
        .member_of(key)
        .into_iter()
        .filter_map(|p| groups.served.get(p).map(|x| x.dn.clone()))
        .collect();
    parent_dns.sort();
    let merged = cx.outcome.merged.get(key);
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
        Some(_) => merged_uuid(&cx.input.cfg.tenant_id, key),
        None => key.to_string(),
    };
    let (created, modified) = match merged {
        Some(mg) => merged_stamp(cx, mg),
        None => stamp(
            cx.input,
            key,
            graph.and_then(|g| g.created_date_time.as_deref()),
        ),
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
    group_entry(&g.dn, shape, cx.input.index, &created, &modified)
}

/// createTimestamp and modifyTimestamp of a merged group: its sources' earliest creation (else
/// now), and the last time any source changed (else its creation).
fn merged_stamp(cx: &Context<'_>, mg: &MergedGroup) -> (Box<str>, Box<str>) {
    let c = mg
        .created
        .as_deref()
        .and_then(generalized_from_iso)
        .unwrap_or_else(|| cx.now.clone());
    let m = mg
        .sources
        .iter()
        .filter_map(|s| cx.input.mirror.changed.get(s))
        .max()
        .cloned()
        .unwrap_or_else(|| c.clone());
    (c.into(), m.into())
}

/// The service accounts allowed to read the tenant, by name under ou=services.
fn services(cx: &Context<'_>, entries: &mut Vec<Entry>) {
    let mut services = cx.input.services.clone();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for s in services {
        let sdn = dn::build("cn", &s.name, &cx.services_dn);
        let attrs = vec![
            attr("objectClass", ["top", "applicationProcess"]),
            attr("cn", [s.name.as_str()]),
            attr("description", ["o365-ldap service account"]),
        ];
        entries.push(entry(
            &sdn,
            EntryKind::ServiceAccount,
            cx.input.index,
            attrs,
            &cx.now,
            &cx.now,
        ));
    }
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
    crate::ssh_keys::add_attributes(&mut attrs, su.u, ssh_attr, input.admin_ssh_keys);
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
    // groupOfNames requires a member; a group without one is a groupOfEntries.
    let structural = if g.member_dns.is_empty() {
        schema::EMPTY_GROUP_CLASS
    } else {
        "groupOfNames"
    };
    let mut attrs = vec![
        attr(
            "objectClass",
            ["top", structural, "posixGroup", schema::O365_OBJECT],
        ),
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
                schema::O365_OBJECT,
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
    // Active Directory's flags, for appliances with AD presets that select enabled users
    // with `(!(userAccountControl:1.2.840.113556.1.4.803:=2))`: NORMAL_ACCOUNT (512), plus
    // ACCOUNTDISABLE (2) when the account is locked.
    if su.locked {
        a.push(attr("nsAccountLock", ["TRUE"]));
        a.push(attr("userAccountControl", ["514"]));
    } else {
        a.push(attr("userAccountControl", ["512"]));
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
    Entry::new(dn_str, ndn, kind, tenant, attrs, created, modified)
}
