//! The emulator's password grant (ROPC), scripted sign-in outcomes, smart lockout, public vs
//! confidential clients and secret revocation/expiry, over real HTTP.

use std::time::Duration;

use o365_emulator::{
    self as emulator, EmulatorOptions, Fixture, FixtureApp, Mutation, RunningEmulator,
};
use serde_json::{Value, json};

const TENANT: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";
const CONFIDENTIAL: &str = "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const SECRET: &str = "emulator-secret-1";
const PUBLIC: &str = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d";

async fn boot(opts: EmulatorOptions) -> RunningEmulator {
    let mut fx = Fixture::sample().unwrap();
    fx.apps.push(FixtureApp {
        client_id: PUBLIC.into(),
        display_name: Some("LDAP bind validator (public)".into()),
        public_client: true,
        ..FixtureApp::default()
    });
    let emu = emulator::start(fx, opts, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator starts");
    for (upn, outcome) in [
        ("mfa.t@contoso.com", "mfa"),
        ("mfareg.t@contoso.com", "mfa_registration"),
        ("ca.t@contoso.com", "conditional_access"),
        ("locked.t@contoso.com", "locked"),
        ("expired.t@contoso.com", "expired"),
        ("nopw.t@contoso.com", "no_password"),
        ("scripted.wrong@contoso.com", "wrong_password"),
    ] {
        let user = serde_json::from_value(json!({
            "userPrincipalName": upn, "displayName": upn, "_password": "Right-Pass 1", "_signin": outcome
        }))
        .expect("object");
        emu.mutate(Mutation::CreateUser { user })
            .await
            .expect("create");
    }
    emu
}

async fn post(emu: &RunningEmulator, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .form(form)
        .send()
        .await
        .expect("token endpoint answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

async fn ropc(
    emu: &RunningEmulator,
    client: &str,
    secret: Option<&str>,
    user: &str,
    pw: &str,
) -> (u16, Value) {
    let scope = format!("openid {}/User.Read", emu.base_url());
    let mut form = vec![
        ("grant_type", "password"),
        ("client_id", client),
        ("scope", scope.as_str()),
        ("username", user),
        ("password", pw),
    ];
    if let Some(s) = secret {
        form.push(("client_secret", s));
    }
    post(emu, &form).await
}

async fn cc(emu: &RunningEmulator, secret: &str) -> (u16, Value) {
    let scope = format!("{}/.default", emu.base_url());
    post(
        emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CONFIDENTIAL),
            ("client_secret", secret),
            ("scope", &scope),
        ],
    )
    .await
}

fn code(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn password_grant_success_and_failures() {
    let emu = boot(EmulatorOptions::default()).await;
    let (status, body) = ropc(&emu, PUBLIC, None, "ALICE@Contoso.com", "Alice-Passw0rd!").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].is_string() && body["id_token"].is_string());
    assert!(body["scope"].as_str().unwrap_or("").contains("openid"));
    assert!(body.get("refresh_token").is_none());

    let (status, body) = ropc(
        &emu,
        CONFIDENTIAL,
        Some(SECRET),
        "bob@contoso.com",
        "Bob-Passw0rd!",
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = ropc(&emu, PUBLIC, None, "alice@contoso.com", "Alice-Passw0rd! ").await;
    assert_eq!(
        (status, code(&body), body["error"].as_str()),
        (400, 50126, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .starts_with("AADSTS50126: ")
    );
    let (status, body) = ropc(&emu, PUBLIC, None, "nobody@contoso.com", "x").await;
    assert_eq!((status, code(&body)), (400, 50034));

    let cases = [
        (
            "mfa.t@contoso.com",
            50076,
            "invalid_grant",
            Some("basic_action"),
        ),
        (
            "mfareg.t@contoso.com",
            50079,
            "interaction_required",
            Some("basic_action"),
        ),
        ("ca.t@contoso.com", 53003, "invalid_grant", None),
        ("locked.t@contoso.com", 50053, "invalid_grant", None),
        (
            "expired.t@contoso.com",
            50055,
            "invalid_grant",
            Some("user_password_expired"),
        ),
        ("nopw.t@contoso.com", 50056, "invalid_grant", None),
        ("scripted.wrong@contoso.com", 50126, "invalid_grant", None),
    ];
    for (user, want, error, suberror) in cases {
        let (status, body) = ropc(&emu, PUBLIC, None, user, "Right-Pass 1").await;
        assert_eq!((status, code(&body)), (400, want), "{user}: {body}");
        assert_eq!(body["error"], error, "{user}");
        assert_eq!(body["suberror"].as_str(), suberror, "{user}");
    }
    let (_, body) = ropc(&emu, PUBLIC, None, "mfa.t@contoso.com", "Right-Pass 1").await;
    let claims: Value =
        serde_json::from_str(body["claims"].as_str().unwrap_or("")).expect("claims JSON");
    assert!(claims["access_token"].is_object());

    // accountEnabled false disables password sign-in too.
    emu.mutate(Mutation::UpdateUser {
        id: "bob@contoso.com".into(),
        patch: serde_json::from_value(json!({"accountEnabled": false})).expect("object"),
    })
    .await
    .expect("disable");
    let (_, body) = ropc(
        &emu,
        CONFIDENTIAL,
        Some(SECRET),
        "bob@contoso.com",
        "Bob-Passw0rd!",
    )
    .await;
    assert_eq!(code(&body), 50057);
}

#[tokio::test]
async fn client_authentication_rules() {
    let emu = boot(EmulatorOptions::default()).await;
    let (status, body) = ropc(
        &emu,
        PUBLIC,
        Some("anything"),
        "alice@contoso.com",
        "Alice-Passw0rd!",
    )
    .await;
    assert_eq!((status, code(&body)), (401, 700025));
    let (status, body) = ropc(
        &emu,
        CONFIDENTIAL,
        None,
        "alice@contoso.com",
        "Alice-Passw0rd!",
    )
    .await;
    assert_eq!((status, code(&body)), (401, 7000218));
    let (status, body) = ropc(
        &emu,
        CONFIDENTIAL,
        Some("wrong"),
        "alice@contoso.com",
        "Alice-Passw0rd!",
    )
    .await;
    assert_eq!((status, code(&body)), (401, 7000215));

    assert_eq!(cc(&emu, SECRET).await.0, 200);
    emu.mutate(Mutation::ExpireSecret {
        client_id: CONFIDENTIAL.into(),
        secret: SECRET.into(),
    })
    .await
    .expect("expire");
    let (status, body) = cc(&emu, SECRET).await;
    assert_eq!((status, code(&body)), (401, 7000222));
    let third = "3b5d7f91-2a4c-4e6f-8b1d-5c7e9f1a3b5d";
    emu.mutate(Mutation::RevokeSecret {
        client_id: third.into(),
        secret: "emulator-secret-3".into(),
    })
    .await
    .expect("revoke");
    let scope = format!("{}/.default", emu.base_url());
    let (status, body) = post(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", third),
            ("client_secret", "emulator-secret-3"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!((status, code(&body)), (401, 7000215));
}

#[tokio::test]
async fn smart_lockout_and_grant_counters() {
    let opts = EmulatorOptions {
        lockout_threshold: 3,
        lockout_duration: Duration::from_millis(400),
        ..EmulatorOptions::default()
    };
    let emu = boot(opts).await;
    for _ in 0..3 {
        let (_, body) = ropc(&emu, PUBLIC, None, "alice@contoso.com", "guess").await;
        assert_eq!(code(&body), 50126);
    }
    // Locked now, even with the right password.
    let (_, body) = ropc(&emu, PUBLIC, None, "Alice@contoso.com", "Alice-Passw0rd!").await;
    assert_eq!(code(&body), 50053);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = ropc(&emu, PUBLIC, None, "alice@contoso.com", "Alice-Passw0rd!").await;
    assert_eq!(status, 200);

    let stats = emu.stats();
    assert_eq!(stats.password_grants, 5);
    assert_eq!(
        stats.password_grants_by_user.get("alice@contoso.com"),
        Some(&5)
    );
    assert!(stats.token_requests >= 5);
    assert_eq!(stats.graph_requests, 0);
}

#[tokio::test]
async fn bundled_tenant_scripts_sign_in_outcomes() {
    let emu = boot(EmulatorOptions::default()).await;
    for (user, pw, want) in [
        ("mfa.user@contoso.com", "Mfa-Passw0rd!", 50076),
        ("ca.blocked@contoso.com", "Ca-Passw0rd!", 53003),
        ("locked.user@contoso.com", "Locked-Passw0rd!", 50053),
        ("expired.user@contoso.com", "Expired-Passw0rd!", 50055),
    ] {
        let (status, body) = ropc(&emu, PUBLIC, None, user, pw).await;
        assert_eq!((status, code(&body)), (400, want), "{user}: {body}");
    }
}
