//! `o365-ldap ctl` against a running server over the admin socket: JSON output parses, dry
//! runs report without changing anything, `explain` recognises guests, and the socket is
//! closed to other users (file mode and peer uid).

use crate::common::harness::Env;
use emulator::Mutation;
use o365_ldap::cli::serve::Server;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");
const GUEST_UPN: &str = "gina_partner.example#EXT#@contoso.onmicrosoft.com";

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn ctl(config: &Path, args: &[&str]) -> Out {
    let out = tokio::process::Command::new(BIN)
        .arg("ctl")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .await
        .expect("ctl runs");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(o: &Out) -> Value {
    serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", o.stdout, o.stderr))
}

async fn start(env: &Env) -> (Server, PathBuf) {
    let cfg = env.config();
    let path = env.dir.path().join("o365-ldap.toml");
    let server = Server::start(cfg, false).await.expect("server starts");
    (server, path)
}

#[tokio::test(flavor = "multi_thread")]
async fn ctl_status_sync_history_explain() {
    let env = Env::contoso().await;
    let (server, cfg) = start(&env).await;

    let first = ctl(&cfg, &["--json", "sync"]).await;
    assert!(first.ok, "{}\n{}", first.stdout, first.stderr);
    let j = json_of(&first);
    assert_eq!(j[0]["outcome"], "ok", "{j}");
    assert_eq!(j[0]["report"]["mode"], "full");

    env.emu
        .as_ref()
        .unwrap()
        .mutate(Mutation::CreateUser {
            user:
                json!({"userPrincipalName": "pending.person@contoso.com", "accountEnabled": true})
                    .as_object()
                    .cloned()
                    .unwrap(),
        })
        .await
        .unwrap();
    let dry = ctl(&cfg, &["sync", "--dry-run"]).await;
    assert!(dry.ok, "{}\n{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("pending.person"), "{}", dry.stdout);
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    let snap = server.engine.snapshot().load_full();
    assert!(
        snap.iter()
            .map(|(_, e)| e)
            .all(|e| e.first("uid") != Some("pending.person")),
        "dry run changed nothing"
    );
    let real = ctl(&cfg, &["sync", "--tenant", "contoso"]).await;
    assert!(real.ok, "{}\n{}", real.stdout, real.stderr);
    assert!(
        real.stdout.contains("users added (1): pending.person"),
        "{}",
        real.stdout
    );

    let status = ctl(&cfg, &["--json", "status"]).await;
    assert!(status.ok, "{}", status.stderr);
    let s = json_of(&status);
    assert_eq!(s[0]["tenant"], "contoso");
    assert!(s[0]["users_active"].as_u64().unwrap_or(0) > 30, "{s}");
    assert!(s[0]["last_success"].is_i64(), "{s}");
    let human = ctl(&cfg, &["status"]).await;
    assert!(human.stdout.contains("TENANT") && human.stdout.contains("contoso"));

    let hist = ctl(&cfg, &["--json", "history"]).await;
    let h = json_of(&hist);
    let modes: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["mode"].as_str())
        .collect();
    assert_eq!(modes, ["delta", "dry_run", "full"], "{h}");
    assert!(ctl(&cfg, &["history"]).await.stdout.contains("OUTCOME"));

    let ex = ctl(&cfg, &["explain", GUEST_UPN]).await;
    assert!(ex.ok, "{}", ex.stderr);
    assert!(ex.stdout.contains("guest"), "{}", ex.stdout);
    let exj = json_of(&ctl(&cfg, &["--json", "explain", "alice"]).await);
    assert_eq!(exj["uid"], "alice", "{exj}");
    assert_eq!(exj["guest"], false);
    assert!(
        exj["dn"].as_str().unwrap_or("").starts_with("uid=alice,"),
        "{exj}"
    );
    let unknown = ctl(&cfg, &["explain", "nobody@nowhere.example"]).await;
    assert!(
        !unknown.ok && unknown.stderr.contains("no user"),
        "{}",
        unknown.stderr
    );

    let verify = ctl(&cfg, &["--json", "verify"]).await;
    let v = json_of(&verify);
    assert_eq!(v[0]["ok"], true, "{v}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_socket_is_closed_to_other_users() {
    let env = Env::contoso().await;
    let (server, cfg) = start(&env).await;
    let sock = env.dir.path().join("admin.sock");
    let mode = std::fs::metadata(&sock)
        .expect("socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    let setpriv = Path::new("/usr/bin/setpriv");
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok()
        == Some(0);
    if !setpriv.exists() || !root {
        eprintln!("skipping the other-uid part: needs root and setpriv");
        server.stop().await;
        return;
    }
    // Open the directory and the socket file so only the peer-credential check stands
    // between another user and the server.
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in std::fs::read_dir(env.dir.path()).unwrap().flatten() {
        if f.file_type().map(|t| t.is_file()).unwrap_or(false) {
            std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = tokio::process::Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "ctl",
            "-c",
        ])
        .arg(&cfg)
        .arg("status")
        .output()
        .await
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("permission denied: uid 65534"), "{stderr}");
    server.stop().await;
}

/// With Graph answering 503 to everything, `ctl sync` says so at once (each retry is a
/// progress line), not after minutes of backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_sync_reports_graph_retries_as_they_happen() {
    use tokio::io::AsyncBufReadExt;
    let env = Env::contoso().await;
    let (server, path) = start(&env).await;
    env.emu
        .as_ref()
        .expect("emulator")
        .set_faults(emulator::Faults {
            fail_every: 1,
            fail_status: 503,
            ..Default::default()
        });
    let mut child = tokio::process::Command::new(BIN)
        .arg("ctl")
        .arg("-c")
        .arg(&path)
        .arg("sync")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ctl runs");
    // Progress lines go to stderr (stdout is for the result).
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("Graph answered 503") && line.contains("retrying in") {
                return Some(line);
            }
        }
        None
    })
    .await;
    assert!(
        matches!(seen, Ok(Some(_))),
        "no retry line within 10 s: {seen:?}"
    );
    let _ = child.kill().await;
    server.stop().await;
}
