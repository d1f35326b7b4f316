//! Delta queries, tenant mutations, fault injection and the control plane of the Graph emulator,
//! over real HTTP with reqwest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use o365_emulator::{
    self as emulator, EmulatorOptions, Faults, Fixture, Mutation, RunningEmulator,
};
use serde_json::{Value, json};

const TENANT: &str = "0d5c4b3a-2918-4765-a4b3-c2d1e0f9a8b7";
const CLIENT_ID: &str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const SECRET: &str = "minimal-secret";
const ANN: &str = "a0000000-0000-4000-8000-000000000001";
const GROUP: &str = "90000000-0000-4000-8000-000000000001";

fn user(n: u32, upn: &str, name: &str) -> Value {
    json!({"id": format!("a0000000-0000-4000-8000-{n:012}"), "userPrincipalName": upn, "displayName": name})
}

/// Seven users (one without mail, one disabled, a comma in a name) and a group of five.
fn fixture() -> Fixture {
    let mut users = vec![
        user(1, "ann@minimal.example.com", "Ann Archer"),
        user(2, "ben@minimal.example.com", "Lee, Ben"),
        user(3, "cat@minimal.example.com", "Cat \"Kitty\" Cole"),
        user(4, "dan+ops@minimal.example.com", "Dan Ops"),
        user(5, "eve@minimal.example.com", "Eve"),
        user(6, "fay@minimal.example.com", "Fay"),
        user(7, "gus@minimal.example.com", "Gus"),
    ];
    for u in users.iter_mut().take(5) {
        let upn = u["userPrincipalName"].clone();
        u["mail"] = upn;
    }
    users[2]["accountEnabled"] = json!(false);
    let members: Vec<Value> = (1..=5)
        .map(|n| json!(format!("a0000000-0000-4000-8000-{n:012}")))
        .collect();
    let fx = json!({
        "tenant_id": TENANT,
        "organization": {"displayName": "Minimal Test Org"},
        "domains": [{"id": "minimal.example.com", "isDefault": true},
                    {"id": "minimaltest.onmicrosoft.com", "isInitial": true}],
        "apps": [{"client_id": CLIENT_ID, "secrets": [SECRET],
                  "permissions": ["User.Read.All", "GroupMember.Read.All", "Domain.Read.All"]}],
        "users": users,
        "groups": [{"id": GROUP, "displayName": "Staff", "securityEnabled": true, "members": members},
                   {"displayName": "Empty"}]
    });
    Fixture::from_json(&fx.to_string()).expect("test fixture is valid")
}

async fn boot(opts: EmulatorOptions) -> RunningEmulator {
    emulator::start(fixture(), opts, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator starts")
}

async fn token(emu: &RunningEmulator) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &format!("{}/.default", emu.base_url())),
        ])
        .send()
        .await
        .expect("token");
    let body: Value = resp.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

async fn get(token: &str, url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// Follows nextLinks to the deltaLink; returns every item and the deltaLink.
async fn round(token: &str, first: &str, max_page: usize) -> (Vec<Value>, String) {
    let mut url = first.to_string();
    let mut items = Vec::new();
    for _ in 0..200 {
        let (status, _, body) = get(token, &url).await;
        assert_eq!(status, 200, "{url}: {body}");
        let page = body["value"].as_array().expect("value array");
        assert!(
            page.len() <= max_page,
            "page of {} > {max_page}",
            page.len()
        );
        items.extend(page.iter().cloned());
        let next = body["@odata.nextLink"].as_str();
        let delta = body["@odata.deltaLink"].as_str();
        assert!(
            next.is_some() != delta.is_some(),
            "exactly one link: {body}"
        );
        if let Some(d) = delta {
            assert!(d.contains("$deltatoken="), "{d}");
            return (items, d.to_string());
        }
        url = next.map(str::to_string).unwrap_or_default();
        assert!(url.contains("$skiptoken="), "{url}");
    }
    panic!("delta round never ended");
}

fn ids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn users_delta_full_round_then_only_changes() {
    let opts = EmulatorOptions {
        page_size: 3,
        ..EmulatorOptions::default()
    };
    let emu = boot(opts).await;
    let t = token(&emu).await;
    let first = format!(
        "{}/v1.0/users/delta?$select=id,displayName,mail,accountEnabled&$top=1",
        emu.base_url()
    );
    let (items, link) = round(&t, &first, 3).await;
    assert_eq!(items.len(), 7);
    assert_eq!(ids(&items).len(), 7);
    // Never-set properties are omitted, not null; $select is honoured.
    for i in &items {
        assert!(
            i.as_object()
                .expect("object")
                .values()
                .all(|v| !v.is_null()),
            "{i}"
        );
        assert!(i.get("userPrincipalName").is_none(), "{i}");
    }
    let fay = items
        .iter()
        .find(|i| i["displayName"] == "Fay")
        .expect("fay");
    assert!(fay.get("mail").is_none());
    let cat = items
        .iter()
        .find(|i| i["displayName"] == "Cat \"Kitty\" Cole")
        .expect("cat");
    assert_eq!(cat["accountEnabled"], false);

    // No changes: an empty page with a fresh deltaLink.
    let (none, link) = round(&t, &link, 3).await;
    assert!(none.is_empty(), "{none:?}");

    let new = emu
        .mutate(Mutation::CreateUser {
            user: serde_json::from_value(
                json!({"userPrincipalName": "hal@minimal.example.com", "displayName": "Hal"}),
            )
            .expect("object"),
        })
        .await
        .expect("create");
    let patch = serde_json::from_value(json!({"displayName": "Ann A. Archer"})).expect("object");
    emu.mutate(Mutation::UpdateUser {
        id: "ANN@minimal.example.com".into(),
        patch,
    })
    .await
    .expect("update by UPN, any case");
    let ben = emu
        .mutate(Mutation::SoftDeleteUser {
            id: "ben@minimal.example.com".into(),
        })
        .await
        .expect("soft delete");
    let dan = emu
        .mutate(Mutation::HardDeleteUser {
            id: "a0000000-0000-4000-8000-000000000004".into(),
        })
        .await
        .expect("hard delete");

    let (changes, link) = round(&t, &link, 3).await;
    let by_id: BTreeMap<String, Value> = changes
        .iter()
        .map(|i| (i["id"].as_str().unwrap_or("").to_string(), i.clone()))
        .collect();
    assert_eq!(by_id.len(), 4, "{changes:?}");
    assert_eq!(by_id[ANN]["displayName"], "Ann A. Archer");
    assert_eq!(by_id[&new.id]["displayName"], "Hal");
    assert_eq!(by_id[&ben.id]["@removed"]["reason"], "changed");
    assert_eq!(by_id[&dan.id]["@removed"]["reason"], "deleted");

    // A restored user comes back without annotation.
    emu.mutate(Mutation::RestoreUser { id: ben.id.clone() })
        .await
        .expect("restore");
    let (changes, _) = round(&t, &link, 3).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["displayName"], "Lee, Ben");
    assert!(changes[0].get("@removed").is_none());

    let stats = emu.stats();
    assert_eq!(stats.users_list, 0);
    assert!(stats.users_delta >= 6, "{stats:?}");
}

#[tokio::test]
async fn groups_delta_splits_members_and_reports_membership_changes() {
    let opts = EmulatorOptions {
        page_size: 2,
        members_per_page: 2,
        ..EmulatorOptions::default()
    };
    let emu = boot(opts).await;
    let t = token(&emu).await;
    let (items, link) = round(&t, &format!("{}/v1.0/groups/delta", emu.base_url()), 2).await;
    let staff: Vec<&Value> = items.iter().filter(|i| i["id"] == GROUP).collect();
    assert_eq!(staff.len(), 3, "5 members in slices of 2: {items:?}");
    let mut members = BTreeSet::new();
    for s in &staff {
        assert_eq!(s["displayName"], "Staff");
        for m in s["members@delta"].as_array().expect("members@delta") {
            assert_eq!(m["@odata.type"], "#microsoft.graph.user");
            assert!(m.get("@removed").is_none());
            members.insert(m["id"].as_str().unwrap_or("").to_string());
        }
    }
    assert_eq!(members.len(), 5);
    let empty = items
        .iter()
        .find(|i| i["displayName"] == "Empty")
        .expect("empty group");
    assert!(
        empty.get("members@delta").is_none(),
        "no members → property omitted"
    );

    let fay = "a0000000-0000-4000-8000-000000000006";
    emu.mutate(Mutation::AddMember {
        group: GROUP.into(),
        member: fay.into(),
    })
    .await
    .expect("add");
    emu.mutate(Mutation::RemoveMember {
        group: GROUP.into(),
        member: "ben@minimal.example.com".into(),
    })
    .await
    .expect("remove");
    // As Graph is observed to do (docs/graph-behaviour.md §8), deleting a user yields no
    // members@delta removal.
    emu.mutate(Mutation::SoftDeleteUser {
        id: "eve@minimal.example.com".into(),
    })
    .await
    .expect("delete eve");
    let (changes, _) = round(&t, &link, 2).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let md = changes[0]["members@delta"]
        .as_array()
        .expect("members@delta");
    assert_eq!(md.len(), 2, "{md:?}");
    let ben = "a0000000-0000-4000-8000-000000000002";
    assert!(
        md.iter()
            .any(|m| m["id"] == fay && m.get("@removed").is_none())
    );
    assert!(
        md.iter()
            .any(|m| m["id"] == ben && m["@removed"]["reason"] == "deleted")
    );

    // The server dropped eve from the group anyway: a fresh round 1 shows four members.
    let (items, _) = round(&t, &format!("{}/v1.0/groups/delta", emu.base_url()), 2).await;
    let now: BTreeSet<String> = items
        .iter()
        .filter(|i| i["id"] == GROUP)
        .flat_map(|i| i["members@delta"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(now.len(), 4, "{now:?}");
    assert!(!now.contains("a0000000-0000-4000-8000-000000000005"));
}

#[tokio::test]
async fn delta_select_latest_and_expiry() {
    let opts = EmulatorOptions {
        delta_token_lifetime: Duration::from_millis(400),
        ..EmulatorOptions::default()
    };
    let emu = boot(opts).await;
    let t = token(&emu).await;
    let base = emu.base_url();

    let (status, _, body) = get(&t, &format!("{base}/v1.0/users/delta?$select=id,birthday")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Invalid request for delta query"),
        "{body}"
    );

    let (status, _, body) = get(&t, &format!("{base}/v1.0/users/delta?$deltaToken=latest")).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], json!([]));
    let latest = body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    emu.mutate(Mutation::UpdateUser {
        id: ANN.into(),
        patch: serde_json::from_value(json!({"jobTitle": "CEO"})).expect("object"),
    })
    .await
    .expect("update");
    let (items, _) = round(&t, &latest.replace("$deltatoken", "$DeltaToken"), 100).await;
    assert_eq!(ids(&items), BTreeSet::from([ANN.to_string()]));

    // Expired on demand, by age, and tokens from elsewhere: all syncStateNotFound.
    emu.expire_delta_tokens();
    let (status, _, body) = get(&t, &latest).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "syncStateNotFound");
    let (_, fresh) = round(&t, &format!("{base}/v1.0/users/delta"), 100).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _, body) = get(&t, &fresh).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("syncStateNotFound"))
    );
    let (status, _, _) = get(
        &t,
        &format!("{base}/v1.0/users/delta?$deltatoken=RFNwdAIAforged"),
    )
    .await;
    assert_eq!(status, 400);

    let gone = emulator::start(
        fixture(),
        EmulatorOptions {
            delta_expired_gone: true,
            ..EmulatorOptions::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("starts");
    let t2 = token(&gone).await;
    let (_, link) = round(&t2, &format!("{}/v1.0/groups/delta", gone.base_url()), 100).await;
    gone.expire_delta_tokens();
    let (status, headers, _) = get(&t2, &link).await;
    assert_eq!(status, 410);
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        location.ends_with("/v1.0/groups/delta?$deltatoken="),
        "{location}"
    );
}

#[tokio::test]
async fn replays_repeat_items_but_cover_everything() {
    let opts = EmulatorOptions {
        page_size: 3,
        delta_replays: true,
        ..EmulatorOptions::default()
    };
    let emu = boot(opts).await;
    let t = token(&emu).await;
    let (items, _) = round(&t, &format!("{}/v1.0/users/delta", emu.base_url()), 3).await;
    assert_eq!(ids(&items).len(), 7);
    assert!(items.len() > 7, "replays expected: {}", items.len());
}

#[tokio::test]
async fn faults_throttle_and_fail_graph_requests() {
    let emu = boot(EmulatorOptions::default()).await;
    let t = token(&emu).await;
    let url = format!("{}/v1.0/users", emu.base_url());
    emu.set_faults(Faults {
        throttle_every: 2,
        fail_every: 3,
        fail_status: 504,
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, headers, body) = get(&t, &url).await;
        if status == 429 {
            assert_eq!(
                headers.get("retry-after").and_then(|v| v.to_str().ok()),
                Some("0.05")
            );
            assert_eq!(body["error"]["code"], "TooManyRequests");
            assert!(body["error"]["innerError"]["request-id"].is_string());
        }
        statuses.push(status);
    }
    assert_eq!(statuses, vec![200, 429, 504, 429, 200, 429]);
    let stats = emu.stats();
    assert_eq!((stats.users_list, stats.throttled, stats.failed), (6, 3, 1));
    // The token endpoint is never faulted.
    let _ = token(&emu).await;
    emu.set_faults(Faults::default());
    assert_eq!(get(&t, &url).await.0, 200);
}

#[tokio::test]
async fn control_plane_over_http() {
    let emu = boot(EmulatorOptions::default()).await;
    let t = token(&emu).await;
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let resp = http
        .post(format!("{base}/_emulator/mutate"))
        .json(&json!({"op": "create_group", "group": {"displayName": "Ops, \"EU\"", "members": [ANN]}}))
        .send()
        .await
        .expect("mutate");
    assert_eq!(resp.status().as_u16(), 200);
    let outcome: Value = resp.json().await.expect("json");
    let gid = outcome["id"].as_str().expect("id").to_string();
    let (status, _, members) = get(&t, &format!("{base}/v1.0/groups/{gid}/members")).await;
    assert_eq!(status, 200);
    assert_eq!(members["value"][0]["id"], ANN);

    let bad = http
        .post(format!("{base}/_emulator/mutate"))
        .json(&json!({"op": "add_member", "group": gid, "member": "a0000000-0000-4000-8000-0000000000ff"}))
        .send()
        .await
        .expect("mutate");
    assert_eq!(bad.status().as_u16(), 400);

    let resp = http
        .put(format!("{base}/_emulator/faults"))
        .json(&json!({"throttle_every": 1, "retry_after": "1.5"}))
        .send()
        .await
        .expect("faults");
    assert_eq!(resp.status().as_u16(), 200);
    let (status, headers, _) = get(&t, &format!("{base}/v1.0/domains")).await;
    assert_eq!(status, 429);
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1.5")
    );
    let stats: Value = http
        .get(format!("{base}/_emulator/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["members"], 1);
    let resp = http
        .post(format!("{base}/_emulator/delta/expire"))
        .send()
        .await
        .expect("expire");
    assert_eq!(resp.status().as_u16(), 204);
}
