//! `POST /v1.0/users/{id|upn}/sendMail` as Graph answers it: 202 and the message kept for
//! `RunningEmulator::sent_mail`; 403 without `Mail.Send`, 404 for an unknown mailbox, 400
//! without a recipient.

use o365_emulator::{self as emulator, EmulatorOptions, Fixture, RunningEmulator};
use serde_json::{Value, json};

const TENANT: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";
/// The sync app of the sample fixture, which has Mail.Send.
const MAILER: (&str, &str) = ("0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", "emulator-secret-1");
/// The sample's "directory reader", which has not.
const READER: (&str, &str) = ("3b5d7f91-2a4c-4e6f-8b1d-5c7e9f1a3b5d", "emulator-secret-3");

async fn token(emu: &RunningEmulator, (id, secret): (&str, &str)) -> String {
    let scope = format!("{}/.default", emu.base_url());
    let body: Value = reqwest::Client::new()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", &scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn send(emu: &RunningEmulator, token: &str, from: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1.0/users/{from}/sendMail", emu.base_url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn message(to: &[&str]) -> Value {
    json!({
        "message": {
            "subject": "o365-ldap: test",
            "body": {"contentType": "Text", "content": "hello"},
            "toRecipients": to.iter().map(|a| json!({"emailAddress": {"address": a}})).collect::<Vec<_>>(),
        },
        "saveToSentItems": false,
    })
}

#[tokio::test]
async fn send_mail_checks_permission_mailbox_and_recipients() {
    let emu = emulator::start(
        Fixture::sample().unwrap(),
        EmulatorOptions::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mailer = token(&emu, MAILER).await;
    let (status, body) = send(
        &emu,
        &mailer,
        "alice@contoso.com",
        &message(&["it@contoso.com"]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, Value::Null, "202 has no body");
    let sent = emu.sent_mail();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["from"], "alice@contoso.com");
    assert_eq!(sent[0]["message"]["subject"], "o365-ldap: test");

    let reader = token(&emu, READER).await;
    let (status, body) = send(
        &emu,
        &reader,
        "alice@contoso.com",
        &message(&["it@contoso.com"]),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");

    let (status, body) = send(
        &emu,
        &mailer,
        "nobody@contoso.com",
        &message(&["it@contoso.com"]),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "ErrorInvalidUser");

    let (status, body) = send(&emu, &mailer, "alice@contoso.com", &message(&[])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "ErrorInvalidRecipients");
    assert_eq!(emu.sent_mail().len(), 1, "refused messages are not kept");
}
