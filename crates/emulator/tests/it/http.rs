//! The Graph emulator over real HTTP: token endpoint, bearer checks, property sets, paging,
//! members, permissions and error shapes, driven with reqwest against `emulator::start`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use o365_emulator::{self as emulator, EmulatorOptions, Fixture, FixtureApp, RunningEmulator};
use serde_json::Value;

const TENANT: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";
const CLIENT_ID: &str = "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const SECRET: &str = "emulator-secret-1";
const ALICE_ID: &str = "a1ce0000-0000-4000-8000-000000000001";

async fn boot_with(fixture: Fixture, opts: EmulatorOptions) -> RunningEmulator {
    emulator::start(
        fixture,
        opts,
        "127.0.0.1:0".parse().expect("socket address"),
    )
    .await
    .expect("emulator starts")
}

async fn boot() -> RunningEmulator {
    boot_with(Fixture::sample().unwrap(), EmulatorOptions::default()).await
}

fn scope(emu: &RunningEmulator) -> String {
    format!("{}/.default", emu.base_url())
}

/// POSTs a form to the token endpoint; returns status and JSON body.
async fn token_request(
    emu: &RunningEmulator,
    tenant: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let url = format!("{}/{tenant}/oauth2/v2.0/token", emu.base_url());
    let mut req = reqwest::Client::new().post(url).form(form);
    if let Some((user, pass)) = basic {
        req = req.basic_auth(user, Some(pass));
    }
    let resp = req.send().await.expect("token endpoint answers");
    let status = resp.status().as_u16();
    (
        status,
        resp.json().await.expect("token endpoint returns JSON"),
    )
}

async fn token_for(emu: &RunningEmulator, client_id: &str, secret: &str) -> String {
    let scope = scope(emu);
    let (status, body) = token_request(
        emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", &scope),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_string()
}

async fn token(emu: &RunningEmulator) -> String {
    token_for(emu, CLIENT_ID, SECRET).await
}

/// GETs an absolute URL or a path under the base URL.
async fn get(emu: &RunningEmulator, token: Option<&str>, url: &str) -> reqwest::Response {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", emu.base_url())
    };
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("graph answers")
}

async fn get_json(emu: &RunningEmulator, token: &str, url: &str) -> (u16, Value) {
    let resp = get(emu, Some(token), url).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("graph returns JSON"))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Follows nextLinks from `first`, returning every page.
async fn all_pages(emu: &RunningEmulator, token: &str, first: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(url) = next {
        let (status, page) = get_json(emu, token, &url).await;
        assert_eq!(status, 200, "{url}: {page}");
        next = page["@odata.nextLink"].as_str().map(str::to_string);
        pages.push(page);
        assert!(pages.len() < 1000, "paging does not terminate");
    }
    pages
}

/// Group display name → ids (two groups are called "Sales").
async fn group_ids(emu: &RunningEmulator, token: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for page in all_pages(emu, token, "/v1.0/groups?$select=id,displayName&$top=999").await {
        for g in page["value"].as_array().expect("value array") {
            map.entry(g["displayName"].as_str().unwrap_or_default().to_string())
                .or_default()
                .push(g["id"].as_str().unwrap_or_default().to_string());
        }
    }
    map
}

async fn group_id(emu: &RunningEmulator, token: &str, name: &str) -> String {
    let ids = group_ids(emu, token).await;
    match ids.get(name).map(Vec::as_slice) {
        Some([one]) => one.clone(),
        other => panic!("group {name:?}: {other:?}"),
    }
}

fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    let inner = &body["error"]["innerError"];
    for field in ["date", "request-id", "client-request-id"] {
        assert!(
            inner[field].is_string(),
            "innerError.{field} missing: {body}"
        );
    }
}

fn assert_entra_error(status: u16, body: &Value, want_status: u16, error: &str, code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let desc = body["error_description"].as_str().unwrap_or_default();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(desc.contains("\r\nTrace ID: "), "{desc}");
    let ts = body["timestamp"].as_str().unwrap_or_default();
    // "2019-04-30 09:46:18Z": a space, not a T.
    assert_eq!(ts.len(), 20, "{ts}");
    assert_eq!(ts.as_bytes().get(10), Some(&b' '), "{ts}");
    assert!(ts.ends_with('Z'), "{ts}");
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
    assert!(
        body["error_uri"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/error?code={code}"))
    );
}

#[tokio::test]
async fn token_endpoint_issues_bearer_tokens() {
    let emu = boot().await;
    let scope = scope(&emu);
    // Secret in the body, tenant by GUID.
    let (status, body) = token_request(
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let first = body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(first.len() >= 32);
    assert_eq!(keys(&body).len(), 4, "{body}");

    // Secret in HTTP Basic, tenant by verified domain, Graph's app id as the resource.
    let (status, body) = token_request(
        &emu,
        "contoso.com",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "00000003-0000-0000-c000-000000000000/.default"),
        ],
        Some((CLIENT_ID, SECRET)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["access_token"].as_str(), Some(first.as_str()));

    // The token works against Graph.
    let (status, _) = get_json(&emu, &first, "/v1.0/users?$top=1").await;
    assert_eq!(status, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_errors_look_like_entra() {
    let emu = boot().await;
    let scope = scope(&emu);
    let cc = |client: &'static str, secret: Option<&'static str>, scope: String| {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client.to_string()),
            ("scope", scope),
        ];
        if let Some(s) = secret {
            form.push(("client_secret", s.to_string()));
        }
        form
    };
    // (tenant in the URL, form, expected status, error, AADSTS code)
    type Case = (
        &'static str,
        Vec<(&'static str, String)>,
        u16,
        &'static str,
        u64,
    );
    let cases: Vec<Case> = vec![
        (
            TENANT,
            cc(CLIENT_ID, Some("wrong"), scope.clone()),
            401,
            "invalid_client",
            7_000_215,
        ),
        (
            TENANT,
            cc(
                "99999999-9999-4999-8999-999999999999",
                Some(SECRET),
                scope.clone(),
            ),
            400,
            "unauthorized_client",
            700_016,
        ),
        (
            "nosuchtenant.example",
            cc(CLIENT_ID, Some(SECRET), scope.clone()),
            400,
            "invalid_request",
            90_002,
        ),
        // An unverified domain does not name the tenant either.
        (
            "unverified.contoso.net",
            cc(CLIENT_ID, Some(SECRET), scope.clone()),
            400,
            "invalid_request",
            90_002,
        ),
        // The real Graph resource is the wrong scope for this Graph root.
        (
            TENANT,
            cc(
                CLIENT_ID,
                Some(SECRET),
                "https://graph.microsoft.com/.default".into(),
            ),
            400,
            "invalid_scope",
            70_011,
        ),
        (
            TENANT,
            cc(CLIENT_ID, None, scope.clone()),
            401,
            "invalid_client",
            7_000_218,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, body) = token_request(&emu, tenant, &form, None).await;
        assert_entra_error(got, &body, status, error, code);
    }
    // Basic auth with the wrong password is a bad secret too.
    let (got, body) = token_request(
        &emu,
        TENANT,
        &[("grant_type", "client_credentials"), ("scope", &scope)],
        Some((CLIENT_ID, "nope")),
    )
    .await;
    assert_entra_error(got, &body, 401, "invalid_client", 7_000_215);
    emu.shutdown().await;
}

#[tokio::test]
async fn graph_requires_a_valid_unexpired_bearer_token() {
    let opts = EmulatorOptions {
        token_lifetime: Duration::from_millis(300),
        ..EmulatorOptions::default()
    };
    let emu = boot_with(Fixture::sample().unwrap(), opts).await;

    let resp = get(&emu, None, "/v1.0/users").await;
    assert_eq!(resp.status().as_u16(), 401);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(challenge.starts_with("Bearer realm=\"\""), "{challenge}");
    let request_id = resp
        .headers()
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = resp.json().await.expect("json");
    assert_graph_error(&body, "InvalidAuthenticationToken");
    assert_eq!(body["error"]["message"], "Access token is empty.");
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );

    let (status, body) = get_json(&emu, "not-a-token", "/v1.0/users").await;
    assert_eq!(status, 401);
    assert_graph_error(&body, "InvalidAuthenticationToken");

    let t = token(&emu).await;
    let (status, _) = get_json(&emu, &t, "/v1.0/users?$top=1").await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = get_json(&emu, &t, "/v1.0/users?$top=1").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn default_property_set_versus_select() {
    let emu = boot().await;
    let t = token(&emu).await;
    let base = emu.base_url();

    // Default set on a single user: exactly the documented eleven.
    let resp = get(&emu, Some(&t), "/v1.0/users/ALICE@contoso.com").await;
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ctype.starts_with("application/json;odata.metadata=minimal"),
        "{ctype}"
    );
    assert!(resp.headers().contains_key("request-id"));
    let alice: Value = resp.json().await.expect("json");
    assert_eq!(
        keys(&alice),
        [
            "@odata.context",
            "businessPhones",
            "displayName",
            "givenName",
            "id",
            "jobTitle",
            "mail",
            "mobilePhone",
            "officeLocation",
            "preferredLanguage",
            "surname",
            "userPrincipalName"
        ]
    );
    assert_eq!(alice["id"], ALICE_ID);
    assert_eq!(alice["displayName"], "Alice Smith");
    assert_eq!(
        alice["@odata.context"],
        format!("{base}/v1.0/$metadata#users/$entity")
    );

    // $select in a list: exactly the selected properties, unset ones as null.
    let (status, page) = get_json(
        &emu,
        &t,
        "/v1.0/users?$select=id,mail,accountEnabled,onPremisesSamAccountName&$top=999",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        page["@odata.context"],
        format!("{base}/v1.0/$metadata#users(id,mail,accountEnabled,onPremisesSamAccountName)")
    );
    let users = page["value"].as_array().expect("value");
    assert_eq!(users.len(), 49);
    for u in users {
        assert_eq!(
            keys(u),
            ["accountEnabled", "id", "mail", "onPremisesSamAccountName"],
            "{u}"
        );
    }
    let kiosk = users
        .iter()
        .find(|u| u["id"].is_string() && u["mail"].is_null() && u["accountEnabled"] == true);
    assert!(kiosk.is_some(), "some user has mail: null");
    assert!(users.iter().any(|u| u["accountEnabled"] == false));

    // A guest by UPN with '#' escaped as %23.
    let (status, gina) = get_json(
        &emu,
        &t,
        "/v1.0/users/gina_partner.example%23EXT%23@contoso.onmicrosoft.com?$select=userType,mail",
    )
    .await;
    assert_eq!(status, 200, "{gina}");
    assert_eq!(gina["userType"], "Guest");
    assert_eq!(gina["mail"], "gina@partner.example");

    // Unknown property and unknown user.
    let (status, body) = get_json(&emu, &t, "/v1.0/users?$select=id,shoeSize").await;
    assert_eq!(status, 400);
    assert_graph_error(&body, "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."
    );
    let (status, body) = get_json(&emu, &t, "/v1.0/users/nobody@contoso.com").await;
    assert_eq!(status, 404);
    assert_graph_error(&body, "Request_ResourceNotFound");
    let (status, body) = get_json(&emu, &t, "/v1.0/users?$select=skills").await;
    assert_eq!(status, 501);
    assert_graph_error(&body, "NotImplemented");
    emu.shutdown().await;
}

#[tokio::test]
async fn paging_visits_every_user_exactly_once() {
    let opts = EmulatorOptions {
        page_size: 5,
        ..EmulatorOptions::default()
    };
    let emu = boot_with(Fixture::sample().unwrap(), opts).await;
    let t = token(&emu).await;
    let pages = all_pages(
        &emu,
        &t,
        "/v1.0/users?$select=id,userPrincipalName&$top=999",
    )
    .await;
    let mut seen = HashSet::new();
    for (i, page) in pages.iter().enumerate() {
        let items = page["value"].as_array().expect("value");
        assert!(items.len() <= 5);
        for u in items {
            assert!(
                seen.insert(u["id"].as_str().unwrap_or_default().to_string()),
                "{u} twice"
            );
        }
        match page["@odata.nextLink"].as_str() {
            Some(link) => {
                assert!(
                    link.starts_with(&format!("{}/v1.0/users?", emu.base_url())),
                    "{link}"
                );
                assert!(link.contains("$skiptoken="), "{link}");
                assert!(link.contains("$select=id,userPrincipalName"), "{link}");
            }
            None => assert_eq!(i, pages.len() - 1, "only the last page lacks a nextLink"),
        }
    }
    assert_eq!(seen.len(), Fixture::sample().unwrap().users.len());
    assert_eq!(
        pages.len(),
        Fixture::sample().unwrap().users.len().div_ceil(5)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_page_sizes_and_skiptokens_are_rejected() {
    let opts = EmulatorOptions {
        page_size: 5,
        ..EmulatorOptions::default()
    };
    let emu = boot_with(Fixture::sample().unwrap(), opts).await;
    let t = token(&emu).await;

    let (status, body) = get_json(&emu, &t, "/v1.0/users?$top=1000").await;
    assert_eq!(status, 400);
    assert_graph_error(&body, "Request_UnsupportedQuery");
    assert_eq!(
        body["error"]["message"],
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );

    let (status, body) = get_json(&emu, &t, "/v1.0/users?$skiptoken=RFNwdAIAAQAAABforged").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["message"], "Invalid Skip Token");

    // A genuine users token replayed on another collection is refused too.
    let (_, page) = get_json(&emu, &t, "/v1.0/users").await;
    let link = page["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_string();
    let token_part = link
        .split("$skiptoken=")
        .nth(1)
        .expect("skiptoken")
        .to_string();
    let (status, _) = get_json(&emu, &t, &format!("/v1.0/groups?$skiptoken={token_part}")).await;
    assert_eq!(status, 400);
    // ...and one from another emulator instance.
    let other = boot().await;
    let ot = token(&other).await;
    let (status, _) = get_json(&other, &ot, &format!("/v1.0/users?$skiptoken={token_part}")).await;
    assert_eq!(status, 400);
    other.shutdown().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn count_needs_consistency_level_and_is_on_the_first_page_only() {
    let opts = EmulatorOptions {
        page_size: 10,
        ..EmulatorOptions::default()
    };
    let emu = boot_with(Fixture::sample().unwrap(), opts).await;
    let t = token(&emu).await;
    let url = format!("{}/v1.0/users?$count=true&$select=id", emu.base_url());
    let client = reqwest::Client::new();
    let send = |url: String, eventual: bool| {
        let mut req = client.get(url).bearer_auth(&t);
        if eventual {
            req = req.header("ConsistencyLevel", "eventual");
        }
        async move {
            let resp = req.send().await.expect("graph answers");
            resp.json::<Value>().await.expect("json")
        }
    };
    // Without the header `$count=true` is silently ignored (docs/graph-behaviour.md §7).
    let plain = send(url.clone(), false).await;
    assert!(plain.get("@odata.count").is_none(), "{plain}");
    let first = send(url, true).await;
    assert_eq!(first["@odata.count"], 49);
    let next = first["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_string();
    let second = send(next, true).await;
    assert!(second.get("@odata.count").is_none(), "{second}");
    assert_eq!(second["value"].as_array().map(Vec::len), Some(10));
    emu.shutdown().await;
}

fn by_type(page: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in page["value"].as_array().expect("value") {
        let t = m["@odata.type"].as_str().expect("@odata.type").to_string();
        out.entry(t).or_default().push(m.clone());
    }
    out
}

fn ids_of(items: Option<&Vec<Value>>) -> HashSet<String> {
    items
        .map(|v| {
            v.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn members_and_transitive_members() {
    let emu = boot().await;
    let t = token(&emu).await;
    let base = emu.base_url();
    let eng = group_id(&emu, &t, "Engineering").await;
    let platform = group_id(&emu, &t, "Platform Team").await;

    let (status, direct) = get_json(
        &emu,
        &t,
        &format!("/v1.0/groups/{eng}/members?$select=id,displayName,userPrincipalName&$top=999"),
    )
    .await;
    assert_eq!(status, 200, "{direct}");
    assert_eq!(
        direct["@odata.context"],
        format!("{base}/v1.0/$metadata#directoryObjects(id,displayName,userPrincipalName)")
    );
    let types = by_type(&direct);
    assert_eq!(
        ids_of(types.get("#microsoft.graph.group")),
        HashSet::from([platform.clone()])
    );
    let nested = &types["#microsoft.graph.group"][0];
    assert_eq!(nested["displayName"], "Platform Team");
    assert!(
        nested.get("userPrincipalName").is_none(),
        "groups have no UPN: {nested}"
    );
    assert!(!ids_of(types.get("#microsoft.graph.user")).contains(ALICE_ID));

    let (_, transitive) = get_json(
        &emu,
        &t,
        &format!("/v1.0/groups/{eng}/transitiveMembers?$select=id&$top=999"),
    )
    .await;
    let types = by_type(&transitive);
    assert!(ids_of(types.get("#microsoft.graph.user")).contains(ALICE_ID));
    assert!(ids_of(types.get("#microsoft.graph.group")).contains(&platform));

    // /members omits service principals (documented v1.0 issue); transitiveMembers does not.
    let payroll = group_id(&emu, &t, "Payroll App Access").await;
    let (_, direct) = get_json(&emu, &t, &format!("/v1.0/groups/{payroll}/members")).await;
    assert_eq!(
        by_type(&direct).keys().collect::<Vec<_>>(),
        ["#microsoft.graph.user"]
    );
    assert_eq!(direct["value"].as_array().map(Vec::len), Some(2));
    let (_, transitive) = get_json(
        &emu,
        &t,
        &format!("/v1.0/groups/{payroll}/transitiveMembers"),
    )
    .await;
    assert!(by_type(&transitive).contains_key("#microsoft.graph.servicePrincipal"));

    // Devices and org contacts are typed; this app lacks Device.Read.All, so devices come back
    // with only @odata.type and id (docs/graph-behaviour.md §6, limited information).
    let laptops = group_id(&emu, &t, "Managed Laptops").await;
    let (_, page) = get_json(
        &emu,
        &t,
        &format!("/v1.0/groups/{laptops}/members?$select=id,displayName"),
    )
    .await;
    let devices = &by_type(&page)["#microsoft.graph.device"];
    assert_eq!(devices.len(), 3);
    assert!(
        devices
            .iter()
            .all(|d| d["id"].is_string() && d["displayName"].is_null())
    );
    let newsletter = group_id(&emu, &t, "Contoso Newsletter").await;
    let (_, page) = get_json(&emu, &t, &format!("/v1.0/groups/{newsletter}/members")).await;
    assert_eq!(by_type(&page)["#microsoft.graph.orgContact"].len(), 2);

    // Unknown and malformed group ids.
    let (status, body) = get_json(
        &emu,
        &t,
        "/v1.0/groups/00000000-0000-4000-8000-000000000000/members",
    )
    .await;
    assert_eq!(status, 404);
    assert_graph_error(&body, "Request_ResourceNotFound");
    let (status, _) = get_json(&emu, &t, "/v1.0/groups/not-a-guid").await;
    assert_eq!(status, 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn members_pages_follow_nextlinks_too() {
    let opts = EmulatorOptions {
        page_size: 4,
        ..EmulatorOptions::default()
    };
    let emu = boot_with(Fixture::sample().unwrap(), opts).await;
    let t = token(&emu).await;
    let all = group_id(&emu, &t, "All Company").await;
    let first = format!("/v1.0/groups/{all}/members?$select=id");
    let pages = all_pages(&emu, &t, &first).await;
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len());
    // Every member user of the tenant (guests excluded) is in All Company.
    assert_eq!(ids.len(), 43);
    assert!(pages.len() > 10);
    emu.shutdown().await;
}

#[tokio::test]
async fn missing_permissions_give_403_or_limited_members() {
    let mut fixture = Fixture::sample().unwrap();
    let groups_only = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
    fixture.apps.push(FixtureApp {
        client_id: groups_only.into(),
        display_name: Some("test: groups only".into()),
        secrets: vec!["groups-only-secret".into()],
        permissions: vec!["GroupMember.Read.All".into()],
        ..FixtureApp::default()
    });
    let emu = boot_with(fixture, EmulatorOptions::default()).await;
    let t = token_for(&emu, groups_only, "groups-only-secret").await;

    for path in [
        "/v1.0/users",
        "/v1.0/users/alice@contoso.com",
        "/v1.0/domains",
    ] {
        let (status, body) = get_json(&emu, &t, path).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_graph_error(&body, "Authorization_RequestDenied");
        assert_eq!(
            body["error"]["message"],
            "Insufficient privileges to complete the operation."
        );
    }

    let (status, _) = get_json(&emu, &t, "/v1.0/groups").await;
    assert_eq!(status, 200);
    let vpn = group_id(&emu, &t, "VPN Users").await;
    let (status, page) = get_json(
        &emu,
        &t,
        &format!("/v1.0/groups/{vpn}/members?$select=id,displayName,userPrincipalName"),
    )
    .await;
    assert_eq!(status, 200);
    let users = &by_type(&page)["#microsoft.graph.user"];
    assert!(ids_of(Some(users)).contains(ALICE_ID));
    for u in users {
        assert!(
            u["displayName"].is_null() && u["userPrincipalName"].is_null(),
            "{u}"
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn domains_and_organization() {
    let emu = boot().await;
    let t = token(&emu).await;
    let (status, page) = get_json(&emu, &t, "/v1.0/domains").await;
    assert_eq!(status, 200);
    let domains: BTreeMap<String, Value> = page["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|d| (d["id"].as_str().unwrap_or_default().to_string(), d.clone()))
        .collect();
    assert_eq!(domains.len(), 5);
    assert_eq!(domains["contoso.com"]["isDefault"], true);
    assert_eq!(domains["contoso.com"]["isRoot"], true);
    assert_eq!(domains["eu.contoso.com"]["isRoot"], false);
    assert_eq!(domains["eu.contoso.com"]["isVerified"], true);
    assert_eq!(domains["contoso.onmicrosoft.com"]["isInitial"], true);
    assert_eq!(domains["unverified.contoso.net"]["isVerified"], false);
    assert_eq!(
        domains["fabrikam.com"]["passwordValidityPeriodInDays"],
        2_147_483_647
    );

    // This app has no Organization.Read.All: the limited organization view.
    let (status, page) = get_json(&emu, &t, "/v1.0/organization").await;
    assert_eq!(status, 200, "{page}");
    let org = &page["value"][0];
    assert_eq!(org["id"], TENANT);
    assert_eq!(org["displayName"], "Contoso Ltd");
    assert_eq!(org["verifiedDomains"].as_array().map(Vec::len), Some(4));
    assert!(org["city"].is_null());
    emu.shutdown().await;
}

#[tokio::test]
async fn fixtures_load_from_disk_and_shutdown_frees_the_port() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let minimal = Fixture::load(&dir.join("minimal.json")).expect("minimal.json loads");
    assert_eq!(minimal.users.len(), 3);
    assert_eq!(minimal.groups.len(), 1);
    let contoso = Fixture::load(&dir.join("contoso.json")).expect("contoso.json loads");
    assert_eq!(contoso, Fixture::sample().unwrap());
    assert!(Fixture::load(&dir.join("does-not-exist.json")).is_err());

    let emu = boot_with(minimal, EmulatorOptions::default()).await;
    let addr = emu.addr;
    assert_eq!(emu.base_url(), format!("http://{addr}"));
    emu.shutdown().await;
    let after = reqwest::Client::new()
        .get(format!("http://{addr}/v1.0/users"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(after.is_err(), "still serving after shutdown");
}
