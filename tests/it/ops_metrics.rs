//! `server.http_listen`: `/healthz`, `/readyz` (503 until the tenant is served, 200 after),
//! `/metrics` counters moving with rounds, binds, searches and open connections, and
//! `o365-ldap healthcheck` following `/readyz`. Metrics are per process and the tests of this
//! binary run in parallel, so counters are compared before and after, never to fixed values.

use crate::common::clients::connect;
use crate::common::harness::{Env, SERVICE, SERVICE_PASSWORD};
use ldap3::Scope;
use o365_ldap::cli::serve::Server;
use std::net::SocketAddr;

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .expect("the HTTP listener answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The value of the sample `name{labels}` (labels as the registry writes them), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.split_whitespace().next().unwrap_or("0").parse().unwrap())
        .unwrap_or(0.0)
}

async fn healthcheck(config: &std::path::Path) -> bool {
    tokio::process::Command::new(BIN)
        .args(["healthcheck", "-c"])
        .arg(config)
        .output()
        .await
        .expect("healthcheck runs")
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_readiness_follow_rounds_and_binds() {
    let env = Env::contoso().await;
    let cfg = env.config_with("http_listen = \"127.0.0.1:0\"", "");
    let config_path = env.dir.path().join("o365-ldap.toml");
    let server = Server::start(cfg, false).await.expect("server starts");
    let http = server.http_addr().expect("HTTP listener");
    // The healthcheck command reads the address from the config: give it the bound port.
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        text.replacen(
            "http_listen = \"127.0.0.1:0\"",
            &format!("http_listen = \"{http}\""),
            1,
        ),
    )
    .unwrap();

    assert_eq!(get(http, "/healthz").await.0, 200);
    let (status, body) = get(http, "/readyz").await;
    assert_eq!(status, 503, "nothing served yet: {body}");
    assert!(body.contains("contoso: not served yet"), "{body}");
    assert!(
        !healthcheck(&config_path).await,
        "healthcheck passes before a round"
    );
    assert_eq!(get(http, "/nothing").await.0, 404);

    let (_, before) = get(http, "/metrics").await;
    let rounds = "o365_ldap_sync_rounds_total{tenant=\"contoso\",outcome=\"ok\"}";
    server.engine.sync_tenant("contoso").await.expect("round");
    let (status, body) = get(http, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        healthcheck(&config_path).await,
        "healthcheck fails once ready"
    );

    let mut ldap = connect(
        &format!("ldap://localhost:{}", server.ldap_addr().unwrap().port()),
        &env.certs.ca_cert,
        true,
    )
    .await;
    ldap.simple_bind(SERVICE, SERVICE_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    let bad = ldap.simple_bind(SERVICE, "wrong").await.unwrap();
    assert_eq!(bad.rc, 49);
    ldap.simple_bind(SERVICE, SERVICE_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap.search("dc=contoso,dc=com", Scope::Subtree, "(uid=*)", vec!["uid"])
        .await
        .unwrap()
        .success()
        .unwrap();

    let (status, after) = get(http, "/metrics").await;
    assert_eq!(status, 200);
    // Other tests of this binary sync a tenant of the same name meanwhile: at least this one.
    let moved = sample(&after, rounds) - sample(&before, rounds);
    assert!(moved >= 1.0, "{rounds} moved by {moved}:\n{after}");
    let last = "o365_ldap_sync_last_success_timestamp_seconds{tenant=\"contoso\"}";
    let now = model::time::Clock::now_unix(&model::time::SystemClock) as f64;
    assert!((now - sample(&after, last)).abs() < 120.0, "{after}");
    for (series, at_least) in [
        (
            "o365_ldap_binds_total{method=\"service\",outcome=\"success\"}",
            2.0,
        ),
        (
            "o365_ldap_binds_total{method=\"service\",outcome=\"failure\"}",
            1.0,
        ),
        (
            "o365_ldap_operations_total{op=\"bind\",result=\"invalidCredentials\"}",
            1.0,
        ),
        (
            "o365_ldap_operations_total{op=\"search\",result=\"success\"}",
            1.0,
        ),
        (
            "o365_ldap_operation_duration_seconds_count{op=\"search\"}",
            1.0,
        ),
        (
            "o365_ldap_sync_round_duration_seconds_count{tenant=\"contoso\"}",
            1.0,
        ),
        ("o365_ldap_graph_requests_total{status=\"2xx\"}", 5.0),
    ] {
        let moved = sample(&after, series) - sample(&before, series);
        assert!(moved >= at_least, "{series} moved by {moved}:\n{after}");
    }
    // This test's connection is open (StartTLS on the plain listener).
    assert!(
        sample(&after, "o365_ldap_connections{listener=\"ldap\"}") >= 1.0,
        "{after}"
    );
    assert!(
        after.contains("# TYPE o365_ldap_graph_throttled counter"),
        "{after}"
    );
    ldap.unbind().await.unwrap();
    server.stop().await;
}
