//! What the fuzz targets share: a small directory (two tenants' worth of users and groups,
//! with the names and values real tenants have) and a context for the LDAP request handler.

use directory::derive::{BuildReport, TenantBuild};
use directory::{Attr, Entry, EntryKind, Snapshot, TenantInfo};
use o365_ldap::auth::ServiceAccounts;
use config::Config;
use o365_ldap::ldap::LdapContext;
use std::sync::Arc;

fn entry(dn: &str, kind: EntryKind, attrs: &[(&'static str, &[&str])]) -> Entry {
    Entry::new(
        dn,
        directory::dn::normalize(dn).unwrap_or_default(),
        kind,
        0,
        attrs
            .iter()
            .map(|(n, v)| Attr {
                name: n,
                values: v.iter().map(|s| Box::from(*s)).collect(),
            })
            .collect::<Vec<_>>(),
        "20240101000000Z",
        "20240202000000Z",
    )
}

/// A contoso-like directory: the root, people, groups and services containers, a dozen users
/// (one with a comma and accents in its name, one inactive) and groups with members.
pub fn snapshot() -> Snapshot {
    let base = "dc=contoso,dc=com";
    let mut entries = vec![
        entry(
            base,
            EntryKind::Root,
            &[
                ("objectClass", &["top", "dcObject", "organization"]),
                ("dc", &["contoso"]),
                ("o", &["Contoso"]),
            ],
        ),
        entry(
            "ou=groups,dc=contoso,dc=com",
            EntryKind::Container,
            &[
                ("objectClass", &["top", "organizationalUnit"]),
                ("ou", &["groups"]),
            ],
        ),
    ];
    let names = [
        ("alice", "Alice Smith"),
        ("bob", "Bob Jones"),
        ("chris.lee", "Chris Lee"),
        ("zoe", "Zoë Ångström"),
        ("o.brien", "O'Brien, Seán"),
        ("nora", "Nora Quinn"),
        ("kiosk01", "Kiosk 01"),
        ("dave", "Dave Disabled"),
    ];
    let mut groups = Vec::new();
    for (i, group) in ["Engineering", "All Staff", "VPN Users", "Sales, EMEA"]
        .iter()
        .enumerate()
    {
        let dn = format!("cn={},ou=groups,{base}", model::dn::escape_value(group));
        let members: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(n, _)| n % (i + 1) == 0)
            .map(|(_, (uid, _))| format!("uid={uid},ou=people,{base}"))
            .collect();
        let uids: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(n, _)| n % (i + 1) == 0)
            .map(|(_, (u, _))| u.to_string())
            .collect();
        groups.push((
            dn,
            group.to_string(),
            (20_000 + i).to_string(),
            members,
            uids,
        ));
    }
    for (dn, cn, gid, members, uids) in &groups {
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let uids: Vec<&str> = uids.iter().map(String::as_str).collect();
        entries.push(entry(
            dn,
            EntryKind::Group,
            &[
                ("objectClass", &["top", "groupOfNames", "posixGroup"]),
                ("cn", &[cn.as_str()]),
                ("gidNumber", &[gid.as_str()]),
                ("member", &members),
                ("memberUid", &uids),
                ("entryUUID", &["0f8fad5b-d9cb-469f-a165-70867728950e"]),
            ],
        ));
    }
    entries.push(entry(
        "ou=people,dc=contoso,dc=com",
        EntryKind::Container,
        &[
            ("objectClass", &["top", "organizationalUnit"]),
            ("ou", &["people"]),
        ],
    ));
    for (i, (uid, cn)) in names.iter().enumerate() {
        let dn = format!("uid={uid},ou=people,{base}");
        let num = (100_000 + i).to_string();
        let mail = format!("{uid}@contoso.com");
        let member_of: Vec<&str> = groups
            .iter()
            .filter(|g| g.3.contains(&dn))
            .map(|g| g.0.as_str())
            .collect();
        let lock: &[&str] = if *uid == "dave" { &["TRUE"] } else { &[] };
        entries.push(entry(
            &dn,
            EntryKind::User,
            &[
                (
                    "objectClass",
                    &[
                        "top",
                        "person",
                        "organizationalPerson",
                        "inetOrgPerson",
                        "posixAccount",
                    ],
                ),
                ("uid", &[uid]),
                ("cn", &[cn]),
                ("sn", &[cn.rsplit(' ').next().unwrap_or(cn)]),
                ("mail", &[mail.as_str()]),
                ("userPrincipalName", &[mail.as_str()]),
                ("uidNumber", &[num.as_str()]),
                ("gidNumber", &[num.as_str()]),
                ("homeDirectory", &[format!("/home/{uid}").as_str()]),
                ("loginShell", &["/bin/bash"]),
                ("memberOf", &member_of),
                ("nsAccountLock", lock),
                ("entryUUID", &["a1ce0000-0000-4000-8000-000000000001"]),
            ],
        ));
    }
    entries.push(entry(
        "ou=services,dc=contoso,dc=com",
        EntryKind::Container,
        &[
            ("objectClass", &["top", "organizationalUnit"]),
            ("ou", &["services"]),
        ],
    ));
    Snapshot::new(
        1,
        vec![TenantBuild {
            info: TenantInfo {
                name: "contoso".into(),
                base_dn: base.into(),
                base_ndn: base.into(),
            },
            entries,
            report: BuildReport::default(),
        }],
    )
}

/// A handler context over [`snapshot`] with the default limits, anonymous reads allowed (so
/// searches reach the directory without a bind) and no service accounts (binds are refused
/// without argon2, which would make fuzzing slow without finding anything).
pub fn context() -> LdapContext {
    let mut cfg = Config::default();
    cfg.server.anonymous_read = true;
    cfg.server.allow_plaintext_bind = true;
    cfg.auth.failure_delay = config::Dur::from_secs(0);
    LdapContext::new(
        Arc::new(arc_swap::ArcSwap::from_pointee(snapshot())),
        Arc::new(cfg),
        Arc::new(ServiceAccounts::empty()),
    )
}
