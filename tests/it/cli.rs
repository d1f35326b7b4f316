//! The binary as a newcomer runs it: `demo` and every command it prints, `check` on good and
//! bad configs, `hash-password`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");

#[test]
fn demo_prints_commands_that_work_as_printed() {
    let mut demo = Command::new(BIN)
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = demo.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 output");
        let done = line == o365_ldap::cli::demo::READY_MARKER;
        lines.push(line);
        if done || Instant::now() > deadline {
            break;
        }
    }
    assert_eq!(
        lines.last().map(String::as_str),
        Some(o365_ldap::cli::demo::READY_MARKER),
        "{lines:#?}"
    );
    let commands: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("LDAPTLS_CACERT="))
        .collect();
    assert!(commands.len() >= 6, "{lines:#?}");
    for cmd in &commands {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd.as_str())
            .output()
            .expect("sh runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let code = out.status.code();
        if cmd.contains("ldapcompare") {
            // ldapcompare's exit status is the LDAP result: 6 = compareTrue.
            assert_eq!(code, Some(6), "{cmd}\n{text}");
            assert_eq!(text.trim(), "TRUE");
        } else {
            assert_eq!(
                code,
                Some(0),
                "{cmd}\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("dn"), "{cmd} printed nothing useful:\n{text}");
        }
    }
    // Ctrl-C stops everything and removes the temporary folder.
    let dir = lines
        .iter()
        .find_map(|l| l.strip_prefix("Config: "))
        .map(|p| std::path::PathBuf::from(p).parent().unwrap().to_path_buf())
        .expect("config path printed");
    assert!(dir.exists());
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(demo.id().to_string())
        .status();
    let start = Instant::now();
    loop {
        if let Some(status) = demo.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "demo did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.exists(), "the demo removes its temporary folder");
}

#[test]
fn check_prints_redacted_settings_or_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.secret"), "super-secret-value\n").unwrap();
    let good = r#"
[server]
ldap_listen = "127.0.0.1:3389"
ldaps_listen = ""
tls_cert = ""
tls_key = ""
allow_plaintext_bind = true
data_dir = "data"

[[tenant]]
name = "contoso"
tenant_id = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90"
  [[tenant.credential]]
  client_id = "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
  client_secret_file = "s.secret"
"#;
    let path = dir.path().join("good.toml");
    std::fs::write(&path, good).unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("uid_number_range"),
        "effective settings include defaults:\n{text}"
    );
    assert!(
        !text.contains("super-secret-value"),
        "secret leaked:\n{text}"
    );

    // The secret file was written with the default umask: others may read it.
    let warn = String::from_utf8_lossy(&out.stderr);
    assert!(
        warn.contains("client_secret_file") && warn.contains("readable by every user"),
        "{warn}"
    );
    std::fs::set_permissions(
        dir.path().join("s.secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));

    let bad = good.replace("tenant_id =", "tenant_idd =");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tenant_idd"), "{err}");
}

#[test]
fn hash_password_reads_stdin_and_prints_argon2id() {
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    use argon2::PasswordVerifier;
    let parsed = argon2::PasswordHash::new(phc.trim()).unwrap();
    assert!(
        argon2::Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok()
    );
    assert!(
        argon2::Argon2::default()
            .verify_password(b"correct horse\n", &parsed)
            .is_err()
    );
}

/// `-c` falls back to `O365_LDAP_CONFIG`, then to /etc/o365-ldap/o365-ldap.toml when it exists,
/// else to config/o365-ldap.toml; an error's cause is printed once.
#[test]
fn config_path_from_the_environment_and_causes_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    let out = Command::new(BIN)
        .args(["ctl", "status"])
        .env("O365_LDAP_CONFIG", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere.toml"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    let out = Command::new(BIN)
        .args(["ctl", "status"])
        .env_remove("O365_LDAP_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = if std::path::Path::new("/etc/o365-ldap/o365-ldap.toml").exists() {
        "/etc/o365-ldap/o365-ldap.toml"
    } else {
        "config/o365-ldap.toml"
    };
    assert!(err.contains(expected), "{err}");
}

/// A port below 1024 refused to an unprivileged user: the error says how to grant the
/// capability, with its cause once. Runs the server as `nobody` with setpriv (needs root, and
/// a kernel that keeps ports below 1024 privileged).
#[test]
fn privileged_port_refused_gives_the_capability_hint() {
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(1024);
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root || start <= 389 {
        eprintln!(
            "skipped: needs root and privileged ports (ip_unprivileged_port_start = {start})"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
    };
    mode(d, 0o755);
    std::fs::write(d.join("s.secret"), "x\n").unwrap();
    std::fs::create_dir(d.join("data")).unwrap();
    mode(&d.join("data"), 0o777);
    let config = d.join("c.toml");
    std::fs::write(
        &config,
        r#"
[server]
ldap_listen = "127.0.0.1:389"
ldaps_listen = ""
tls_cert = ""
tls_key = ""
allow_plaintext_bind = true
data_dir = "data"
admin_socket = "admin.sock"

[[tenant]]
name = "contoso"
tenant_id = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90"
base_dn = "dc=contoso,dc=com"
graph_url = "http://127.0.0.1:9"
login_url = "http://127.0.0.1:9"
  [[tenant.credential]]
  client_id = "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
  client_secret_file = "s.secret"
  [tenant.sync]
  automatic = false
"#,
    )
    .unwrap();
    for f in ["s.secret", "c.toml"] {
        mode(&d.join(f), 0o644);
    }
    let out = Command::new("timeout")
        .args([
            "20",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg("--inh-caps=-all")
        .arg(BIN)
        .args(["serve", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("CAP_NET_BIND_SERVICE"), "{err}");
    assert_eq!(err.matches("os error 13").count(), 1, "{err}");
}
