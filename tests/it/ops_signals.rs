//! Signals to a running `o365-ldap serve`: SIGHUP with a new certificate serves it to new
//! connections while an open connection keeps working; SIGHUP with a broken config keeps the
//! running one (the reason in the log); SIGTERM stops the server and removes the admin socket.
//! Each state change is told to systemd over `$NOTIFY_SOCKET`.

use crate::common::clients::client_tls;
use crate::common::harness::Env;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn try_connect(url: &str, ca: &Path) -> Result<ldap3::Ldap, ldap3::LdapError> {
    let settings = LdapConnSettings::new()
        .set_config(client_tls(ca))
        .set_conn_timeout(Duration::from_secs(5));
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await?;
    ldap3::drive!(conn);
    Ok(ldap)
}

/// A root DSE read: works on any connection, served or not.
async fn root_dse(ldap: &mut ldap3::Ldap) -> Result<(), ldap3::LdapError> {
    ldap.search(
        "",
        Scope::Base,
        "(objectClass=*)",
        vec!["supportedLDAPVersion"],
    )
    .await?
    .success()
    .map(|_| ())
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

/// Wait until the log has `count` lines containing `needle`.
async fn wait_log(log: &Path, needle: &str, count: usize) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return text;
        }
        assert!(Instant::now() < until, "no {needle:?} in the log:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Serving {
    child: Child,
    log: PathBuf,
    url: String,
    /// What the server told "systemd".
    notify: std::os::unix::net::UnixDatagram,
}

impl Serving {
    fn notifications(&self) -> String {
        let mut out = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buf) {
            out.push_str(&String::from_utf8_lossy(&buf[..n]));
            out.push('\n');
        }
        out
    }
}

async fn serve(env: &Env) -> Serving {
    let port = free_port();
    let text = env.config_text("", "").replace(
        "ldaps_listen = \"127.0.0.1:0\"",
        &format!("ldaps_listen = \"127.0.0.1:{port}\""),
    );
    let config = env.dir.path().join("o365-ldap.toml");
    std::fs::write(&config, text).unwrap();
    let log = env.dir.path().join("serve.log");
    let socket = env.dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    notify.set_nonblocking(true).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("serve starts");
    wait_log(&log, "LDAPS listening", 1).await;
    Serving {
        child,
        log,
        url: format!("ldaps://localhost:{port}"),
        notify,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_and_refuses_a_broken_config_and_sigterm_stops() {
    let env = Env::contoso().await;
    let mut s = serve(&env).await;
    let first_ca = env.certs.ca_cert.clone();
    let mut open = try_connect(&s.url, &first_ca)
        .await
        .expect("first certificate");
    root_dse(&mut open).await.unwrap();

    // A renewed certificate from another CA, written over the configured files.
    let renewed_dir = env.dir.path().join("renewed");
    std::fs::create_dir(&renewed_dir).unwrap();
    let renewed = emulator::selfsigned::generate(&renewed_dir).unwrap();
    std::fs::copy(&renewed.server_cert, &env.certs.server_cert).unwrap();
    std::fs::copy(&renewed.server_key, &env.certs.server_key).unwrap();
    signal(&s.child, "HUP");
    wait_log(&s.log, "TLS certificate and key reloaded", 1).await;

    let mut fresh = try_connect(&s.url, &renewed.ca_cert)
        .await
        .expect("a new connection gets the renewed certificate");
    root_dse(&mut fresh).await.unwrap();
    assert!(
        try_connect(&s.url, &first_ca).await.is_err(),
        "a new connection still got the old certificate"
    );
    root_dse(&mut open)
        .await
        .expect("the connection opened before the reload keeps working");

    // A config that does not load: refused, the running one kept.
    let config = env.dir.path().join("o365-ldap.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace("[server]", "[server]\nldap_lisen = \"x\""),
    )
    .unwrap();
    signal(&s.child, "HUP");
    let log = wait_log(&s.log, "config reload refused", 1).await;
    assert!(
        log.contains("ldap_lisen"),
        "the reason is not logged:\n{log}"
    );
    assert!(s.child.try_wait().unwrap().is_none(), "the server stopped");
    let mut after = try_connect(&s.url, &renewed.ca_cert).await.unwrap();
    root_dse(&mut after).await.unwrap();
    root_dse(&mut open).await.unwrap();

    let socket = env.dir.path().join("admin.sock");
    assert!(socket.exists());
    signal(&s.child, "TERM");
    let until = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < until, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the admin socket was left behind");
    assert!(std::fs::read_to_string(&s.log).unwrap().contains("stopped"));
    let told = s.notifications();
    for state in [
        "STATUS=waiting for the first sync round of contoso",
        "RELOADING=1",
        "STOPPING=1",
    ] {
        assert!(told.contains(state), "{state} not sent:\n{told}");
    }
}

/// A reload with a changed policy re-derives the served directory at once, without a round;
/// a changed listener is only logged as needing a restart.
#[tokio::test(flavor = "multi_thread")]
async fn reload_applies_a_policy_change_without_a_round() {
    let env = Env::contoso().await;
    let cfg = env.config();
    let running = crate::common::harness::Running::start_with(env, cfg).await;
    let server = &running.server;
    let has_bob = |server: &o365_ldap::cli::serve::Server| {
        server
            .engine
            .snapshot()
            .load_full()
            .iter()
            .any(|(_, e)| e.first("uid") == Some("bob"))
    };
    assert!(has_bob(server));
    let config = running.env.dir.path().join("o365-ldap.toml");
    let text = running.env.config_text(
        "",
        "\n  [tenant.users]\n  blocked_emails = [\"bob@contoso.com\"]\n",
    );
    std::fs::write(&config, &text).unwrap();
    let rounds = server.engine.history(Some("contoso"), 50).unwrap().len();
    assert!(server.reload(&config).await, "the new config is adopted");
    assert!(!has_bob(server), "the blocked user is still served");
    assert_eq!(
        server.engine.history(Some("contoso"), 50).unwrap().len(),
        rounds
    );
    // A broken file changes nothing.
    std::fs::write(&config, "[server\n").unwrap();
    assert!(!server.reload(&config).await);
    assert!(!has_bob(server));
    running.server.stop().await;
}
