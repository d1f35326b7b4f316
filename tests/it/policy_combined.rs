//! Every policy control at once against the contoso fixture through a real sync round: a
//! blocked-email glob, an inactive-members group, `inactive = "lock"`, two group types, name
//! prefixes, a group map folding two groups into one, a local group and
//! `domains.allowed = ["contoso.com"]` without subdomains. Expectations are computed from the
//! fixture's JSON, not from the code under test.

use crate::common::harness::{BASE, Env, fixture_json};
use directory::{EntryKind, Snapshot};
use o365_ldap::store::Store;
use o365_ldap::sync::SyncEngine;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const POLICY: &str = r#"
  [tenant.users]
  blocked_emails = ["SVC-*@contoso.com"]
  inactive_members_of = ["Finance Approvers"]
  inactive = "lock"

  [tenant.groups]
  types = ["security", "mail_enabled_security"]
  name_prefixes = ["eng", "PLATFORM", "finance", "sales", "linux"]

  [tenant.groups.map]
  "Engineering" = "eng"
  "Platform Team" = "eng"
  "Linux Admins" = "sudoers"

  [tenant.domains]
  allowed = ["contoso.com"]
  include_subdomains = false

  [[tenant.local_group]]
  name = "staff"
  gid_number = 50000
  description = "Sales file shares and more"
  members_from = ["Sales"]
"#;

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

struct Expect {
    /// uid → locked
    users: BTreeMap<String, bool>,
    /// group cn → member uids
    groups: BTreeMap<String, BTreeSet<String>>,
}

/// The directory the rules describe, derived from the fixture by hand.
fn expected() -> Expect {
    let fx = fixture_json("contoso.json");
    let users = fx["users"].as_array().unwrap();
    let groups = fx["groups"].as_array().unwrap();
    let members_of = |name: &str, kind: &str| -> BTreeSet<String> {
        groups
            .iter()
            .filter(|g| g["displayName"] == name)
            .filter(|g| kind != "security" || g["mailEnabled"] == false)
            .flat_map(|g| g["members"].as_array().unwrap().iter())
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    };
    let finance = members_of("Finance Approvers", "any");
    let mut by_id = BTreeMap::new();
    let mut served = BTreeMap::new();
    for u in users {
        let upn = s(u, "userPrincipalName");
        let domain = upn.rsplit_once('@').unwrap().1.to_lowercase();
        if domain != "contoso.com" || u["userType"] == "Guest" {
            continue;
        }
        let mut addrs = vec![s(u, "mail"), upn.clone()];
        for p in u["proxyAddresses"].as_array().into_iter().flatten() {
            addrs.push(p.as_str().unwrap()[5..].to_string());
        }
        if addrs.iter().any(|a| {
            a.to_lowercase().starts_with("svc-") && a.to_lowercase().ends_with("@contoso.com")
        }) {
            continue;
        }
        let uid = upn.rsplit_once('@').unwrap().0.to_lowercase();
        let id = s(u, "id");
        let locked = u["accountEnabled"] == false || finance.contains(&id);
        by_id.insert(id, uid.clone());
        served.insert(uid, locked);
    }
    let uids = |ids: BTreeSet<String>| -> BTreeSet<String> {
        ids.iter().filter_map(|i| by_id.get(i).cloned()).collect()
    };
    let mut eng = members_of("Engineering", "any");
    eng.extend(members_of("Platform Team", "any"));
    let mut out = BTreeMap::new();
    out.insert("eng".to_string(), uids(eng));
    out.insert(
        "sudoers".to_string(),
        uids(members_of("Linux Admins", "any")),
    );
    out.insert("Finance Approvers".to_string(), uids(finance));
    // Only the security "Sales" passes groups.types; it feeds the local group.
    out.insert("staff".to_string(), uids(members_of("Sales", "security")));
    for uid in served.keys() {
        out.insert(uid.clone(), BTreeSet::from([uid.clone()]));
    }
    Expect {
        users: served,
        groups: out,
    }
}

fn lower<'a>(v: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    v.map(|x| x.to_lowercase()).collect()
}

#[tokio::test]
async fn the_combined_policy_serves_exactly_the_directory_its_rules_describe() {
    let env = Env::contoso().await;
    let cfg = Arc::new(env.config_with("", POLICY));
    let store = Arc::new(Store::open(&cfg.server.data_dir).expect("store opens"));
    let engine = Arc::new(SyncEngine::load(cfg, store).expect("engine loads"));
    let report = engine.sync_tenant("contoso").await.expect("round succeeds");
    let snap: Arc<Snapshot> = engine.snapshot().load_full();
    let want = expected();

    // Users: exactly the expected uids, locked exactly where expected.
    let mut got_users = BTreeMap::new();
    for e in snap
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e.kind == EntryKind::User)
    {
        let uid = e.first("uid").unwrap().to_string();
        let locked = e.first("nsAccountLock") == Some("TRUE");
        got_users.insert(uid, locked);
    }
    assert_eq!(got_users, want.users);
    assert!(want.users.contains_key("alice") && !want.users["alice"]);
    assert_eq!(want.users.get("dave.disabled"), Some(&true));
    assert_eq!(want.users.get("carol.white"), Some(&true));
    assert!(!want.users.contains_key("svc-backup"));
    assert!(!want.users.contains_key("zoe.mueller"), "subdomain user");
    let locked = want.users.values().filter(|l| **l).count();
    assert_eq!(report.build.users_inactive, locked);
    assert_eq!(report.build.users_active, want.users.len() - locked);

    // Groups: names and member uids.
    let mut got_groups = BTreeMap::new();
    let mut member_dns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in snap
        .iter()
        .map(|(_, e)| e)
        .filter(|e| matches!(e.kind, EntryKind::Group | EntryKind::PrivateGroup))
    {
        let cn = e.first("cn").unwrap().to_string();
        let uids: BTreeSet<String> = e
            .values("memberUid")
            .iter()
            .map(|v| v.to_string())
            .collect();
        got_groups.insert(cn, uids);
        member_dns.insert(e.dn().to_lowercase(), lower(e.values("member")));
    }
    assert_eq!(got_groups, want.groups);
    let staff = snap
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.first("cn") == Some("staff"))
        .unwrap();
    assert_eq!(staff.first("gidNumber"), Some("50000"));
    assert_eq!(
        staff.first("description"),
        Some("Sales file shares and more")
    );
    let eng = snap
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.first("cn") == Some("eng"))
        .unwrap();
    assert!(
        eng.values("member").iter().all(|m| m.starts_with("uid=")),
        "no self-nesting"
    );

    // memberOf on every user is exactly the groups listing the user as a member.
    for e in snap
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e.kind == EntryKind::User)
    {
        let dn = e.dn().to_lowercase();
        let listed: BTreeSet<String> = member_dns
            .iter()
            .filter(|(_, m)| m.contains(&dn))
            .map(|(g, _)| g.clone())
            .collect();
        assert_eq!(lower(e.values("memberOf")), listed, "{dn}");
        assert!(dn.ends_with(&format!("ou=people,{BASE}")));
    }
}
