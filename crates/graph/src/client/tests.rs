//! HTTP behaviour of `GraphClient` against the scripted test server: paging, origin checks,
//! retries, token refresh, credential fallback, bounded concurrency.

use super::*;
use crate::options::{CredentialSource, CredentialSpec};
use crate::test_server::{Reply, TOKEN_PATH, TestServer};
use model::Secret;
use model::graph::MemberKind;
use serde_json::json;
use std::time::Instant;

const USERS: &str = "/v1.0/users";

fn tenant(base: &str, secrets: &[&str]) -> TenantOptions {
    TenantOptions {
        name: "contoso".into(),
        tenant_id: "tenant-1".into(),
        graph_url: base.into(),
        login_url: format!("{base}/"),
        credentials: secrets
            .iter()
            .enumerate()
            .map(|(i, s)| CredentialSpec {
                client_id: format!("app-{i}"),
                source: CredentialSource::Secret(Some(Secret::new(*s))),
            })
            .collect(),
        ..TenantOptions::default()
    }
}

fn client_with(server: &TestServer, secrets: &[&str], options: ClientOptions) -> GraphClient {
    GraphClient::new(&tenant(&server.base, secrets), options).expect("client")
}

fn client(server: &TestServer) -> GraphClient {
    client_with(server, &["secret-0~Q8"], ClientOptions::fast())
}

fn user(id: &str, upn: &str, name: &str) -> serde_json::Value {
    json!({"id": id, "userPrincipalName": upn, "displayName": name, "mail": null,
           "accountEnabled": true, "proxyAddresses": [], "userType": "Member"})
}

fn page(value: serde_json::Value, next: Option<&str>) -> Reply {
    let mut body = json!({"@odata.context": "{base}/v1.0/$metadata#users", "value": value});
    if let Some(n) = next {
        body["@odata.nextLink"] = json!(n);
    }
    Reply::json(200, body)
}

fn denied(status: u16, code: &str) -> Reply {
    Reply::json(
        status,
        json!({"error":{"code":code,"message":"Insufficient privileges to complete the operation.",
                "innerError":{"date":"2025-02-13T10:17:06","request-id":"body-rid","client-request-id":"x"}}}),
    )
}

fn token_error(status: u16, error: &str, code: u64) -> Reply {
    Reply::json(
        status,
        json!({"error": error,
               "error_description": format!("AADSTS{code}: Something failed.\r\nTrace ID: tr-1\r\nCorrelation ID: co-1\r\nTimestamp: 2025-01-01 00:00:00Z"),
               "error_codes": [code], "timestamp": "2025-01-01 00:00:00Z", "trace_id": "tr-1", "correlation_id": "co-1"}),
    )
}

#[tokio::test]
async fn list_users_follows_next_links_across_an_empty_page() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![
            page(
                json!([
                    user("u1", "sean.obrien@contoso.com", "O'Brien, Seán"),
                    {"id":"u2","userPrincipalName":"alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                     "displayName":"Alice \"Al\" Smith+Co","userType":"Guest","accountEnabled":false,
                     "mail":"alice@fabrikam.com","onPremisesExtensionAttributes":{"extensionAttribute1":null,"extensionAttribute15":"x"}}
                ]),
                Some("{base}/v1.0/users?$skiptoken=RFNwdAIAAQAAAB"),
            ),
            page(json!([]), Some("{base}/v1.0/users?$skiptoken=RFNwdAIAAQAAAC")),
            page(json!([user("u3", "bob@contoso.com", "Bob")]), None),
        ],
    );
    let c = client(&server);
    assert_eq!(c.credential_used(), None);
    let users = c.list_users().await.expect("users");
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["u1", "u2", "u3"]);
    assert!(users[1].is_guest() && !users[1].is_enabled());
    assert_eq!(users[0].display_name.as_deref(), Some("O'Brien, Seán"));
    assert_eq!(c.credential_used(), Some(0));

    let reqs = server.requests_to(USERS);
    assert_eq!(reqs.len(), 3);
    let first = reqs[0].query.clone().unwrap_or_default();
    assert!(
        first.starts_with("$select=id,userPrincipalName,"),
        "{first}"
    );
    assert!(first.ends_with("&$top=999"), "{first}");
    assert_eq!(reqs[1].query.as_deref(), Some("$skiptoken=RFNwdAIAAQAAAB"));
    assert_eq!(reqs[2].query.as_deref(), Some("$skiptoken=RFNwdAIAAQAAAC"));
    for r in &reqs {
        assert_eq!(r.authorization.as_deref(), Some("Bearer tok-1"));
    }

    let tokens = server.requests_to(TOKEN_PATH);
    assert_eq!(tokens.len(), 1);
    let form: HashMap<String, String> = url::form_urlencoded::parse(tokens[0].body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(tokens[0].method, "POST");
    assert_eq!(form["client_id"], "app-0");
    assert_eq!(form["client_secret"], "secret-0~Q8");
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], format!("{}/.default", server.base));
}

#[tokio::test]
async fn next_link_to_another_origin_is_not_followed() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![page(
            json!([user("u1", "a@contoso.com", "A")]),
            Some("http://127.0.0.1:1/v1.0/users?$skiptoken=steal"),
        )],
    );
    let e = client(&server).list_users().await.unwrap_err();
    assert!(matches!(e, GraphError::Paging { .. }), "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains("http://127.0.0.1:1"), "{shown}");
    assert!(
        shown.contains("refusing to send the access token"),
        "{shown}"
    );
    assert_eq!(server.requests_to(USERS).len(), 1);
}

#[tokio::test]
async fn repeated_next_link_is_reported_as_a_loop() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![
            page(json!([]), Some("{base}/v1.0/users?$skiptoken=same")),
            page(json!([]), Some("{base}/v1.0/users?$skiptoken=same")),
        ],
    );
    let e = client(&server).list_users().await.unwrap_err();
    assert!(e.to_string().contains("loop"), "{e}");
    assert_eq!(server.requests_to(USERS).len(), 2);
}

#[tokio::test]
async fn page_count_is_bounded() {
    let server = TestServer::start().await;
    let replies = (0..10)
        .map(|i| {
            page(
                json!([]),
                Some(&format!("{{base}}/v1.0/users?$skiptoken=p{i}")),
            )
        })
        .collect();
    server.script(USERS, replies);
    let options = ClientOptions {
        max_pages: 3,
        ..ClientOptions::fast()
    };
    let e = client_with(&server, &["s"], options)
        .list_users()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("more than 3 pages"), "{e}");
    assert_eq!(server.requests_to(USERS).len(), 3);
}

#[tokio::test]
async fn throttling_honours_fractional_retry_after() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![
            Reply::json(
                429,
                json!({"error":{"code":"TooManyRequests","message":"Please retry again later.",
                        "innerError":{"code":"429","status":"429"}}}),
            )
            .header("Retry-After", "0.25"),
            page(json!([user("u1", "a@contoso.com", "A")]), None),
        ],
    );
    let started = Instant::now();
    let users = client(&server).list_users().await.expect("users");
    assert_eq!(users.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let reqs = server.requests_to(USERS);
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].headers.get("retry-attempt"), None);
    assert_eq!(
        reqs[1].headers.get("retry-attempt").map(String::as_str),
        Some("1")
    );
    // One logical request keeps one client-request-id across its retries.
    assert_eq!(
        reqs[0].headers.get("client-request-id"),
        reqs[1].headers.get("client-request-id")
    );
}

#[tokio::test]
async fn gateway_timeouts_are_retried_until_attempts_run_out() {
    let server = TestServer::start().await;
    let html = format!(
        "<html><body><h1>504 Gateway Time-out</h1>{}</body></html>",
        "pad ".repeat(500)
    );
    server.script(USERS, vec![Reply::text(504, &html)]);
    let e = client(&server).list_users().await.unwrap_err();
    assert_eq!(e.status(), Some(504));
    assert!(e.is_transient());
    assert_eq!(
        server.requests_to(USERS).len(),
        RetryPolicy::fast().max_attempts as usize
    );
    assert!(e.to_string().len() < 500, "{e}");
}

#[tokio::test]
async fn internal_server_errors_are_retried_only_a_few_times() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![Reply::json(
            500,
            json!({"error":{"code":"UnknownError","message":""}}),
        )],
    );
    let e = client(&server).list_users().await.unwrap_err();
    assert_eq!(e.graph_code(), Some("UnknownError"));
    assert_eq!(
        server.requests_to(USERS).len(),
        RetryPolicy::fast().max_server_error_attempts as usize
    );
}

#[tokio::test]
async fn forbidden_is_not_retried_and_names_the_permission() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![denied(403, "Authorization_RequestDenied").header("request-id", "hdr-rid")],
    );
    let e = client(&server).list_users().await.unwrap_err();
    assert_eq!(server.requests_to(USERS).len(), 1);
    assert_eq!(e.status(), Some(403));
    assert_eq!(
        e.to_string(),
        "Graph 403 Authorization_RequestDenied on /v1.0/users: grant the application permission \
User.Read.All and admin consent (Insufficient privileges to complete the operation.; request-id hdr-rid)"
    );
}

#[tokio::test]
async fn unauthorized_refreshes_the_token_once_and_retries() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![
            Reply::json(
                401,
                json!({"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}),
            )
            .header("WWW-Authenticate", "Bearer realm=\"\""),
            page(json!([user("u1", "a@contoso.com", "A")]), None),
        ],
    );
    let users = client(&server).list_users().await.expect("users");
    assert_eq!(users.len(), 1);
    let auth: Vec<_> = server
        .requests_to(USERS)
        .into_iter()
        .map(|r| r.authorization.unwrap_or_default())
        .collect();
    assert_eq!(auth, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 2);
}

#[tokio::test]
async fn unauthorized_after_a_refresh_fails() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![Reply::json(
            401,
            json!({"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure. Invalid audience."}}),
        )],
    );
    let e = client(&server).list_users().await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.graph_code(), Some("InvalidAuthenticationToken"));
    assert!(e.to_string().contains("same cloud"), "{e}");
    assert_eq!(server.requests_to(USERS).len(), 2);
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 2);
}

#[tokio::test]
async fn token_is_cached_across_calls_and_string_lifetimes_are_accepted() {
    let server = TestServer::start().await;
    server.script(TOKEN_PATH, vec![Reply::token("cached-tok", json!("3599"))]);
    server.script(USERS, vec![page(json!([]), None)]);
    let c = client(&server);
    c.list_users().await.expect("first");
    c.clone().list_users().await.expect("second, from a clone");
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 1);
    assert!(
        server
            .requests_to(USERS)
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer cached-tok"))
    );
}

#[tokio::test]
async fn token_near_expiry_is_renewed() {
    let server = TestServer::start().await;
    server.script(
        TOKEN_PATH,
        vec![
            Reply::token("short", json!(0)),
            Reply::token("long", json!(3599)),
        ],
    );
    server.script(USERS, vec![page(json!([]), None)]);
    let c = client(&server);
    c.list_users().await.expect("first");
    c.list_users().await.expect("second");
    c.list_users().await.expect("third");
    let auth: Vec<_> = server
        .requests_to(USERS)
        .into_iter()
        .map(|r| r.authorization.unwrap_or_default())
        .collect();
    assert_eq!(auth, ["Bearer short", "Bearer long", "Bearer long"]);
}

#[tokio::test]
async fn backup_credential_is_used_when_the_first_is_rejected() {
    let server = TestServer::start().await;
    server.script(
        TOKEN_PATH,
        vec![
            token_error(401, "invalid_client", 7000215),
            Reply::token("from-backup", json!(3599)),
        ],
    );
    server.script(USERS, vec![page(json!([]), None)]);
    let c = client_with(
        &server,
        &["bad-secret", "good-secret"],
        ClientOptions::fast(),
    );
    c.list_users().await.expect("users");
    assert_eq!(c.credential_used(), Some(1));
    let ids: Vec<String> = server
        .requests_to(TOKEN_PATH)
        .iter()
        .filter_map(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "client_id")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(ids, ["app-0", "app-1"]);
}

#[tokio::test]
async fn all_credentials_failing_reports_each_without_secrets() {
    let server = TestServer::start().await;
    server.script(
        TOKEN_PATH,
        vec![token_error(401, "invalid_client", 7000215)],
    );
    let c = client_with(
        &server,
        &["first-secret-value", "second-secret-value"],
        ClientOptions::fast(),
    );
    let e = c.list_users().await.unwrap_err();
    assert!(matches!(e, GraphError::AllCredentialsFailed { ref errors, .. } if errors.len() == 2));
    let shown = e.to_string();
    assert!(shown.starts_with("no credential of tenant contoso yielded a token: [credential 0] token request for client app-0 failed: AADSTS7000215 invalid_client (wrong client secret: use the secret's Value, not its ID)"), "{shown}");
    assert!(
        shown.contains("[credential 1] token request for client app-1"),
        "{shown}"
    );
    assert!(!shown.contains("secret-value"), "{shown}");
    assert!(!format!("{e:?}").contains("secret-value"));
    assert!(server.requests_to(USERS).is_empty());
    assert_eq!(c.credential_used(), None);
}

#[tokio::test]
async fn a_single_credential_failure_is_returned_as_is() {
    let server = TestServer::start().await;
    server.script(
        TOKEN_PATH,
        vec![token_error(400, "unauthorized_client", 700016)],
    );
    let e = client(&server).list_groups().await.unwrap_err();
    let t = e.token().expect("token error");
    assert_eq!(t.status, 400);
    assert_eq!(t.body.primary_code(), Some(700016));
    assert!(
        e.to_string().contains("check client_id and tenant_id"),
        "{e}"
    );
}

#[tokio::test]
async fn token_endpoint_unavailability_is_retried() {
    let server = TestServer::start().await;
    server.script(
        TOKEN_PATH,
        vec![
            Reply::text(503, "Service Unavailable").header("Retry-After", "0"),
            Reply::token("after-503", json!(3599)),
        ],
    );
    server.script(USERS, vec![page(json!([]), None)]);
    client(&server).list_users().await.expect("users");
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 2);
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![
            page(json!([]), None).delay(Duration::from_secs(2)),
            page(json!([user("u1", "a@contoso.com", "A")]), None),
        ],
    );
    let options = ClientOptions {
        retry: RetryPolicy {
            request_timeout: Duration::from_millis(200),
            max_attempts: 2,
            ..RetryPolicy::fast()
        },
        ..ClientOptions::fast()
    };
    let c = client_with(&server, &["s"], options.clone());
    assert_eq!(c.list_users().await.expect("second attempt").len(), 1);

    server.script(
        USERS,
        vec![page(json!([]), None).delay(Duration::from_secs(2))],
    );
    let e = c.list_users().await.unwrap_err();
    assert!(
        matches!(e, GraphError::Transport { timeout: true, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn timeout_message_names_the_limit_and_attempts() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![page(json!([]), None).delay(Duration::from_secs(2))],
    );
    let options = ClientOptions {
        retry: RetryPolicy {
            request_timeout: Duration::from_millis(200),
            max_attempts: 2,
            ..RetryPolicy::fast()
        },
        ..ClientOptions::fast()
    };
    let e = client_with(&server, &["s"], options)
        .list_users()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "GET /v1.0/users: no complete response within 200ms (after 2 attempts)"
    );
}

#[tokio::test]
async fn unreachable_login_endpoint_is_a_transport_error_naming_the_client() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let c = GraphClient::new(&tenant(&base, &["s"]), ClientOptions::fast()).expect("client");
    let e = c.list_users().await.unwrap_err();
    assert!(
        matches!(e, GraphError::Transport { timeout: false, .. }),
        "{e:?}"
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!(
            "token request for client app-0 to {base}: error sending request"
        )),
        "{shown}"
    );
    // A refused connection gives up after `max_server_error_attempts` (2 in the fast policy).
    assert!(shown.ends_with("(after 2 attempts)"), "{shown}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn members_of_many_groups_are_fetched_with_bounded_concurrency() {
    let server = TestServer::start().await;
    let ids: Vec<String> = (0..6).map(|i| format!("g{i}")).collect();
    for id in &ids {
        server.script(
            &format!("/v1.0/groups/{id}/members"),
            vec![
                Reply::json(
                    200,
                    json!({"value":[
                        {"@odata.type":"#microsoft.graph.user","id":format!("{id}-u")},
                        {"@odata.type":"#microsoft.graph.group","id":format!("{id}-nested")},
                        {"@odata.type":"#microsoft.graph.device","id":format!("{id}-dev")}]}),
                )
                .delay(Duration::from_millis(60)),
            ],
        );
    }
    let mut asked = ids.clone();
    asked.push("g0".into());
    let c = client(&server);
    let members = c.list_members_many(&asked, 2).await.expect("members");
    assert_eq!(members.len(), 6);
    let g3 = &members["g3"];
    assert_eq!(
        g3,
        &vec![
            MemberRef {
                id: "g3-u".into(),
                kind: MemberKind::User
            },
            MemberRef {
                id: "g3-nested".into(),
                kind: MemberKind::Group
            },
            MemberRef {
                id: "g3-dev".into(),
                kind: MemberKind::Device
            },
        ]
    );
    assert_eq!(server.requests_to("/v1.0/groups/g0/members").len(), 1);
    assert!(server.max_in_flight() <= 2, "{}", server.max_in_flight());
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 1);
    let q = server.requests_to("/v1.0/groups/g1/members")[0]
        .query
        .clone();
    assert_eq!(q.as_deref(), Some("$select=id&$top=999"));

    // One failing group fails the whole expansion.
    let mut with_missing = ids.clone();
    with_missing.push("gone".into());
    let e = c.list_members_many(&with_missing, 3).await.unwrap_err();
    assert_eq!(e.graph_code(), Some("Request_ResourceNotFound"));
}

#[tokio::test]
async fn group_ids_are_percent_encoded_in_paths() {
    let server = TestServer::start().await;
    server.script(
        "/v1.0/groups/a%2Fb%23c/members",
        vec![Reply::json(200, json!({"value":[]}))],
    );
    let m = client(&server)
        .list_members("a/b#c")
        .await
        .expect("members");
    assert!(m.is_empty());
}

#[tokio::test]
async fn groups_domains_and_organization_parse() {
    let server = TestServer::start().await;
    server.script(
        "/v1.0/groups",
        vec![Reply::json(
            200,
            json!({"value":[{"id":"45b7","displayName":"Golf Assist","groupTypes":["Unified"],"mail":"golfassist@contoso.com",
                             "mailEnabled":true,"securityEnabled":false,"onPremisesSyncEnabled":null,"visibility":"Public"}]}),
        )],
    );
    server.script(
        "/v1.0/domains",
        vec![Reply::json(
            200,
            json!({"value":[{"id":"contoso.com","authenticationType":"Managed","isDefault":true,"isInitial":false,"isRoot":true,"isVerified":true},
                            {"id":"contoso.onmicrosoft.com","isInitial":true,"isVerified":true}]}),
        )],
    );
    server.script(
        "/v1.0/organization",
        vec![Reply::json(
            200,
            json!({"value":[{"id":"tenant-1","displayName":"Contoso, Ltd."}]}),
        )],
    );
    let c = client(&server);
    let groups = c.list_groups().await.expect("groups");
    assert_eq!(groups[0].display_name.as_deref(), Some("Golf Assist"));
    let q = server.requests_to("/v1.0/groups")[0]
        .query
        .clone()
        .unwrap_or_default();
    assert!(
        q.starts_with("$select=id,displayName,") && q.ends_with("&$top=999"),
        "{q}"
    );
    let domains = c.list_domains().await.expect("domains");
    assert_eq!(domains.len(), 2);
    assert!(domains.iter().all(|d| d.verified()));
    let org = c.organization().await.expect("org");
    assert_eq!(org[0].display_name.as_deref(), Some("Contoso, Ltd."));
}

#[tokio::test]
async fn get_json_and_get_page_resolve_paths_and_check_origins() {
    let server = TestServer::start().await;
    server.script(
        "/v1.0/users/delta",
        vec![Reply::json(
            200,
            json!({"value":[{"id":"u1","@removed":{"reason":"changed"}}],
                   "@odata.deltaLink":"{base}/v1.0/users/delta?$deltatoken=abc"}),
        )],
    );
    let c = client(&server);
    let v = c
        .get_json("users/delta?$select=id")
        .await
        .expect("relative");
    assert_eq!(v["value"][0]["id"], "u1");
    let p: Page<serde_json::Value> = c
        .get_page(&format!("{}/v1.0/users/delta?$deltatoken=old", server.base))
        .await
        .expect("absolute");
    assert_eq!(
        p.delta_link,
        Some(format!("{}/v1.0/users/delta?$deltatoken=abc", server.base))
    );
    assert_eq!(p.next_link, None);
    let q: Vec<_> = server
        .requests_to("/v1.0/users/delta")
        .into_iter()
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(q, ["$select=id", "$deltatoken=old"]);

    let e = c
        .get_json("https://graph.microsoft.com/v1.0/users")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("refusing to send the access token"),
        "{e}"
    );
    assert_eq!(
        server.requests().len(),
        3,
        "nothing sent for the foreign URL"
    );
}

#[tokio::test]
async fn non_json_success_body_is_a_decode_error_once_asking_again_does_not_help() {
    let server = TestServer::start().await;
    server.script(USERS, vec![Reply::text(200, "<html>captive portal</html>")]);
    let e = client(&server).list_users().await.unwrap_err();
    assert!(matches!(e, GraphError::Decode { .. }), "{e:?}");
    assert!(!e.is_transient());
    // Asked as often as server errors are retried, then given up.
    assert_eq!(server.requests_to(USERS).len(), 2);
}

#[tokio::test]
async fn a_truncated_or_html_page_is_asked_again() {
    let server = TestServer::start().await;
    let good = page(json!([user("u1", "a@contoso.com", "A")]), None);
    server.script(
        USERS,
        vec![
            Reply::text(200, r#"{"value":[{"id":"u1","userPrincipalName":"a@con"#),
            good,
        ],
    );
    let users = client(&server).list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(server.requests_to(USERS).len(), 2);
}

#[test]
fn construction_validates_endpoints_and_credentials() {
    let mut t = tenant("https://graph.microsoft.com", &["s"]);
    t.login_url = "https://login.microsoftonline.com".into();
    assert!(GraphClient::new(&t, ClientOptions::default()).is_ok());

    let mut bad = t.clone();
    bad.graph_url = "http://graph.microsoft.com".into();
    let e = GraphClient::new(&bad, ClientOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("tenant.graph_url: http:// is only allowed for loopback hosts"),
        "{e}"
    );

    let mut bad = t.clone();
    bad.login_url = "http://login.example.com".into();
    let e = GraphClient::new(&bad, ClientOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tenant.login_url:"), "{e}");

    let mut bad = t.clone();
    bad.credentials.clear();
    let e = GraphClient::new(&bad, ClientOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tenant.credential:"), "{e}");

    let mut bad = t.clone();
    bad.tenant_id = "contoso.com/../x".into();
    let e = GraphClient::new(&bad, ClientOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tenant.tenant_id:"), "{e}");
}

#[tokio::test]
async fn each_retry_is_told_in_words() {
    let server = TestServer::start().await;
    server.script(
        USERS,
        vec![
            Reply::text(503, "busy"),
            page(json!([user("u1", "a@contoso.com", "A")]), None),
        ],
    );
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = std::sync::Arc::clone(&told);
    let options = ClientOptions {
        retry: RetryPolicy {
            notify: Some(crate::retry::RetryNotify(std::sync::Arc::new(
                move |m: &str| sink.lock().unwrap().push(m.to_string()),
            ))),
            ..RetryPolicy::fast()
        },
        ..ClientOptions::fast()
    };
    let c = client_with(&server, &["s"], options);
    assert_eq!(c.list_users().await.unwrap().len(), 1);
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].starts_with("Graph answered 503 to GET /v1.0/users; retrying in"),
        "{told:?}"
    );
}
