//! `verify_tenant` against the Graph emulator: each credential's token request and permission
//! probes, and the plain sentence for each kind of failure.

use config::{Secret, TenantConfig};
use emulator::{EmulatorOptions, Fixture, RunningEmulator};
use graph::{ClientOptions, CredentialCheck, ProbeOutcome, verify_tenant_with};
use std::path::{Path, PathBuf};

const SYNC_APP: &str = "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const GROUPS_ONLY_APP: &str = "7d2f4b6a-1c3e-4a5b-9d8c-2e4f6a8b0c1d";
const UNKNOWN_APP: &str = "99999999-8888-4777-8666-555555555555";
const TENANT_ID: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";
const OTHER_TENANT: &str = "00000000-1111-4222-8333-444444444444";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

async fn emulator() -> RunningEmulator {
    let fx = Fixture::load(&fixtures().join("contoso.json")).expect("fixture loads");
    emulator::start(
        fx,
        EmulatorOptions::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("emulator starts")
}

/// A tenant whose credentials are `(client_id, secret)` pairs, or a certificate when the secret
/// is `None`.
fn tenant(emu: &RunningEmulator, tenant_id: &str, creds: &[(&str, Option<&str>)]) -> TenantConfig {
    let mut text = format!(
        "name = \"contoso\"\ntenant_id = \"{tenant_id}\"\ngraph_url = \"{0}\"\nlogin_url = \"{0}\"\n",
        emu.base_url()
    );
    let certs = fixtures().join("certs");
    for (id, secret) in creds {
        text.push_str(&format!("[[credential]]\nclient_id = \"{id}\"\n"));
        match secret {
            Some(_) => text.push_str("client_secret_env = \"UNUSED\"\n"),
            None => text.push_str(&format!(
                "certificate_file = {:?}\nprivate_key_file = {:?}\n",
                certs.join("app.crt"),
                certs.join("app.key")
            )),
        }
    }
    let mut t: TenantConfig = toml::from_str(&text).expect("tenant TOML");
    for (cfg, (_, secret)) in t.credential.iter_mut().zip(creds) {
        cfg.resolved_secret = secret.map(Secret::new);
    }
    t
}

async fn verify(t: &TenantConfig) -> Vec<CredentialCheck> {
    verify_tenant_with(
        &o365_ldap::settings::tenant_options(t),
        ClientOptions::fast(),
    )
    .await
}

fn message(o: &ProbeOutcome) -> String {
    match o {
        ProbeOutcome::Failed { message, .. } => message.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn probe<'a>(c: &'a CredentialCheck, name: &str) -> &'a ProbeOutcome {
    &c.probes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe {name} in {c:?}"))
        .outcome
}

#[tokio::test]
async fn each_credential_is_checked_on_its_own_with_a_sentence_per_failure() {
    let emu = emulator().await;
    let t = tenant(
        &emu,
        TENANT_ID,
        &[
            (SYNC_APP, Some("emulator-secret-1")),
            (GROUPS_ONLY_APP, Some("emulator-secret-2")),
            // The secret's ID pasted instead of its value.
            (SYNC_APP, Some("5b0e8f8c-3a7d-4c1e-9b2f-6d4a8c0e2f1a")),
            (UNKNOWN_APP, Some("whatever")),
        ],
    );
    let checks = verify(&t).await;
    assert_eq!(checks.len(), 4);
    assert_eq!(
        checks.iter().map(|c| c.index).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );

    let full = &checks[0];
    assert!(full.ok(), "{full:#?}");
    assert_eq!(full.kind, "client_secret");
    assert_eq!(full.label, format!("client {SYNC_APP} (client secret)"));
    let names: Vec<&str> = full.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["users", "groups", "group_members", "domains"]);
    assert!(full.probes.iter().all(|p| p.outcome.is_ok()), "{full:#?}");

    let groups_only = &checks[1];
    assert!(groups_only.token.is_ok());
    assert!(!groups_only.ok());
    assert_eq!(
        message(probe(groups_only, "users")),
        "missing permission User.Read.All (application) or admin consent not granted — add it \
         under API permissions and grant admin consent"
    );
    match probe(groups_only, "users") {
        ProbeOutcome::Failed { code, .. } => {
            assert_eq!(code.as_deref(), Some("Authorization_RequestDenied"));
        }
        other => panic!("{other:?}"),
    }
    assert!(probe(groups_only, "groups").is_ok());
    assert!(probe(groups_only, "group_members").is_ok());
    assert!(
        message(probe(groups_only, "domains")).starts_with("missing permission Domain.Read.All")
    );

    let wrong_secret = &checks[2];
    assert!(wrong_secret.probes.is_empty());
    assert_eq!(
        message(&wrong_secret.token),
        "the client secret is wrong — paste the secret's Value, not its Secret ID"
    );
    // The secret never appears in what goes over the admin socket.
    let json = serde_json::to_string(&checks).unwrap();
    assert!(
        !json.contains("5b0e8f8c-3a7d-4c1e-9b2f-6d4a8c0e2f1a"),
        "{json}"
    );
    assert!(!json.contains("emulator-secret"), "{json}");

    let unknown = &checks[3];
    assert_eq!(
        message(&unknown.token),
        format!(
            "no application with this client id in tenant {TENANT_ID} — check client_id and tenant_id"
        )
    );
    match &unknown.token {
        ProbeOutcome::Failed { code, .. } => assert_eq!(code.as_deref(), Some("AADSTS700016")),
        other => panic!("{other:?}"),
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_wrong_tenant_id_is_named() {
    let emu = emulator().await;
    let t = tenant(&emu, OTHER_TENANT, &[(SYNC_APP, Some("emulator-secret-1"))]);
    let checks = verify(&t).await;
    assert_eq!(
        message(&checks[0].token),
        format!("tenant {OTHER_TENANT} does not exist — check tenant_id")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_certificate_credential_sends_an_assertion_and_a_rejection_names_the_thumbprint() {
    // The emulator knows no certificates, so it rejects every assertion with AADSTS700027, as
    // Entra does for a certificate that is not uploaded to the app registration.
    let emu = emulator().await;
    let t = tenant(&emu, TENANT_ID, &[(SYNC_APP, None)]);
    let checks = verify(&t).await;
    let c = &checks[0];
    assert_eq!(c.kind, "certificate");
    assert!(
        c.label
            .starts_with(&format!("client {SYNC_APP} (certificate "))
    );
    let m = message(&c.token);
    assert!(
        m.starts_with("the certificate was not accepted — upload the certificate with thumbprint "),
        "{m}"
    );
    let thumb = c.label.trim_end_matches(')').rsplit(' ').next().unwrap();
    assert_eq!(thumb.len(), 40, "{}", c.label);
    assert!(m.contains(thumb), "{m}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_registered_certificate_gets_a_token_and_syncs_end_to_end() {
    // The emulator verifies the assertion's PS256 signature against the certificate registered
    // on the app, finding it by x5t#S256, as Entra does.
    let mut fx = Fixture::load(&fixtures().join("contoso.json")).expect("fixture loads");
    let pem = std::fs::read_to_string(fixtures().join("certs/app.crt")).unwrap();
    let app = fx
        .apps
        .iter_mut()
        .find(|a| a.client_id == SYNC_APP)
        .expect("sync app in fixture");
    app.certificates.push(pem);
    let emu = emulator::start(
        fx,
        EmulatorOptions::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("emulator starts");
    // The certificate first, then a wrong secret as a "backup" that must not be needed.
    let t = tenant(
        &emu,
        TENANT_ID,
        &[(SYNC_APP, None), (SYNC_APP, Some("not-the-secret"))],
    );
    let checks = verify(&t).await;
    assert!(checks[0].ok(), "{:#?}", checks[0]);
    assert_eq!(checks[0].kind, "certificate");
    assert!(checks[1].token.is_failed());

    let client = graph::GraphClient::new(
        &o365_ldap::settings::tenant_options(&t),
        ClientOptions::fast(),
    )
    .expect("client");
    let users = client
        .list_users()
        .await
        .expect("users with a certificate token");
    assert!(users.len() > 10, "{}", users.len());
    assert_eq!(client.credential_used(), Some(0));
    assert!(
        client
            .credential_label(0)
            .unwrap()
            .contains("(certificate ")
    );

    // The same key in PKCS#1 form signs just as well.
    let mut pkcs1 = t.clone();
    pkcs1.credential.truncate(1);
    pkcs1.credential[0].private_key_file = Some(fixtures().join("certs/app-pkcs1.key"));
    assert!(verify(&pkcs1).await[0].ok(), "PKCS#1 form of the same key");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_certificate_is_reported_without_a_request() {
    let emu = emulator().await;
    let mut t = tenant(&emu, TENANT_ID, &[(SYNC_APP, None)]);
    t.credential[0].private_key_file = Some(fixtures().join("certs/other.key"));
    let checks = verify(&t).await;
    let m = message(&checks[0].token);
    assert!(
        m.starts_with("tenant.credential[0].private_key_file: the private key"),
        "{m}"
    );
    assert!(m.contains("does not belong to the certificate"), "{m}");
    emu.shutdown().await;
}

#[tokio::test]
async fn checks_round_trip_through_json() {
    let emu = emulator().await;
    let t = tenant(
        &emu,
        TENANT_ID,
        &[(GROUPS_ONLY_APP, Some("emulator-secret-2"))],
    );
    let checks = verify(&t).await;
    let json = serde_json::to_value(&checks).unwrap();
    assert_eq!(json[0]["token"]["status"], "ok");
    assert_eq!(json[0]["probes"][0]["status"], serde_json::Value::Null);
    assert_eq!(json[0]["probes"][0]["outcome"]["status"], "failed");
    assert_eq!(json[0]["probes"][0]["permission"], "User.Read.All");
    let back: Vec<CredentialCheck> = serde_json::from_value(json).unwrap();
    assert_eq!(back, checks);
    emu.shutdown().await;
}
