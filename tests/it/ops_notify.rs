//! Notifications and `ctl status --check`: a webhook receiver (a small HTTP server in the
//! test) gets a failed round, staleness and recovery, in that order, while `status --check`
//! exits 0, 1, 2 and 0 again; `ctl sync --dry-run --notify` sends the test-sync report.

use crate::common::harness::Env;
use emulator::Faults;
use o365_ldap::cli::serve::Server;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");

type Received = Arc<Mutex<Vec<Value>>>;

/// An HTTP server that answers 200 to every POST and keeps the JSON bodies.
async fn webhook_receiver() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook/secret-token",
        listener.local_addr().unwrap()
    );
    let got: Received = Arc::default();
    let keep = Arc::clone(&got);
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let keep = Arc::clone(&keep);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = tcp.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break buf[end + 4..end + 4 + len].to_vec();
                    }
                };
                keep.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (url, got)
}

/// Wait for an event of `kind`, return every event received by then.
async fn wait_for(got: &Received, kind: &str, within: Duration) -> Vec<Value> {
    let until = Instant::now() + within;
    loop {
        let now = got.lock().unwrap().clone();
        if now.iter().any(|e| e["event"] == kind) {
            return now;
        }
        assert!(
            Instant::now() < until,
            "no {kind} event within {within:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ctl(config: &Path, args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("ctl")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .await
        .expect("ctl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn healthcheck(config: &Path) -> i32 {
    let out = tokio::process::Command::new(BIN)
        .args(["healthcheck", "-c"])
        .arg(config)
        .output()
        .await
        .expect("healthcheck runs");
    out.status.code().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_gets_failure_staleness_and_recovery_and_check_exits_follow() {
    let env = Env::contoso().await;
    let (url, got) = webhook_receiver().await;
    let cfg = env.config_with(
        "",
        &format!("  max_staleness = \"8s\"\n\n[notify]\nwebhook_url = \"{url}\"\n"),
    );
    let config = env.dir.path().join("o365-ldap.toml");
    let server = Server::start(cfg, false).await.expect("server starts");

    let (code, out) = ctl(&config, &["status", "--check"]).await;
    assert_eq!(code, 2, "never synced is stale: {out}");
    server.engine.sync_tenant("contoso").await.expect("round");
    let (code, out) = ctl(&config, &["status", "--check"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" ok "), "{out}");
    // Without server.http_listen, healthcheck asks the admin socket.
    assert_eq!(healthcheck(&config).await, 0);

    let emu = env.emu.as_ref().unwrap();
    emu.set_faults(Faults {
        fail_every: 1,
        fail_status: 500,
        ..Faults::default()
    });
    assert!(server.engine.sync_tenant("contoso").await.is_err());
    let (code, out) = ctl(&config, &["status", "--check"]).await;
    assert_eq!(code, 1, "a failed round, not stale yet: {out}");
    assert!(out.contains("failing"), "{out}");
    let events = wait_for(&got, "round_failed", Duration::from_secs(10)).await;
    let failed = &events[0];
    assert_eq!(failed["tenant"], "contoso");
    assert!(
        failed["text"]
            .as_str()
            .unwrap()
            .contains("sync round failed"),
        "{failed}"
    );

    let events = wait_for(&got, "stale", Duration::from_secs(20)).await;
    let (code, out) = ctl(&config, &["status", "--check"]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(healthcheck(&config).await, 1, "a stale tenant is not ready");
    assert_eq!(events.iter().filter(|e| e["event"] == "stale").count(), 1);

    emu.set_faults(Faults::default());
    server.engine.sync_tenant("contoso").await.expect("round");
    let events = wait_for(&got, "recovered", Duration::from_secs(10)).await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["round_failed", "stale", "recovered"], "{events:?}");
    let (code, out) = ctl(&config, &["status", "--check"]).await;
    assert_eq!(code, 0, "{out}");

    // A test sync: the report goes out, nothing is changed.
    let (code, out) = ctl(&config, &["sync", "--dry-run", "--notify"]).await;
    assert_eq!(code, 0, "{out}");
    // Progress with counts: a delta round's changes and pages.
    assert!(
        out.contains("group changes read (") && out.contains("pages)"),
        "{out}"
    );
    let events = wait_for(&got, "test_sync", Duration::from_secs(10)).await;
    let report = events.iter().find(|e| e["event"] == "test_sync").unwrap();
    let text = report["text"].as_str().unwrap();
    assert!(
        text.contains("nothing was changed") && text.contains("users and"),
        "{text}"
    );
    server.stop().await;
}

/// E-mail goes through Graph `sendMail` with the tenant's own credential, from the configured
/// mailbox to the configured recipients.
#[tokio::test(flavor = "multi_thread")]
async fn test_sync_report_is_mailed_through_graph() {
    let env = Env::contoso().await;
    let cfg = env.config_with(
        "",
        "\n[notify]\nemail_to = [\"it@contoso.com\", \"oncall@contoso.com\"]\nemail_from = \"alice@contoso.com\"\n",
    );
    let config = env.dir.path().join("o365-ldap.toml");
    let server = Server::start(cfg, false).await.expect("server starts");
    let (code, out) = ctl(&config, &["sync", "--full", "--dry-run", "--notify"]).await;
    assert_eq!(code, 0, "{out}");
    // Progress with counts: objects read and what the directory would change.
    for line in [
        "49 users read",
        "18 groups read",
        "memberships of",
        "directory: users +",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let emu = env.emu.as_ref().unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    let mail = loop {
        if let Some(m) = emu.sent_mail().first().cloned() {
            break m;
        }
        assert!(Instant::now() < until, "no e-mail sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(mail["from"], "alice@contoso.com");
    let m = &mail["message"];
    assert!(
        m["subject"]
            .as_str()
            .unwrap()
            .contains("test sync of tenant contoso"),
        "{m}"
    );
    assert_eq!(
        m["toRecipients"][1]["emailAddress"]["address"],
        "oncall@contoso.com"
    );
    assert!(
        m["body"]["content"].as_str().unwrap().contains("users and"),
        "{m}"
    );
    server.stop().await;
}

/// A round refused by `sync.max_deletions` is notified once per refused round, with the
/// command that applies it.
#[tokio::test(flavor = "multi_thread")]
async fn refused_mass_deletion_is_notified() {
    let env = Env::contoso().await;
    let (url, got) = webhook_receiver().await;
    let cfg = env.config_with(
        "",
        &format!("  max_deletions = 1\n\n[notify]\nwebhook_url = \"{url}\"\n"),
    );
    let server = Server::start(cfg, false).await.expect("server starts");
    server.engine.sync_tenant("contoso").await.expect("round");
    let emu = env.emu.as_ref().unwrap();
    for upn in ["bob@contoso.com", "chris.lee@contoso.com"] {
        emu.mutate(emulator::Mutation::HardDeleteUser { id: upn.into() })
            .await
            .unwrap();
    }
    assert!(
        server.engine.sync_tenant("contoso").await.is_err(),
        "not refused"
    );
    let events = wait_for(&got, "deletion_refused", Duration::from_secs(10)).await;
    let ev = events
        .iter()
        .find(|e| e["event"] == "deletion_refused")
        .unwrap();
    assert_eq!(ev["severity"], "warning");
    assert!(ev["text"].as_str().unwrap().contains("--force"), "{ev}");
    assert!(
        !events.iter().any(|e| e["event"] == "round_failed"),
        "a refusal is not also a failure: {events:?}"
    );
    server.stop().await;
}
