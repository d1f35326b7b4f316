//! `ctl export-ldif` and `ctl backup` against a running server, and a backup restored into an
//! empty data directory and served as it was, an SSH key added with `ctl` included.

use crate::common::dump;
use crate::common::harness::{Env, Running};
use o365_ldap::cli::serve::Server;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");
const KEY: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCg+ShRiQi91sncKjZO5fwZRw5t0H5Wwo1PyIjX68lVdCTpYcJdut2tAN/pV7I0CaktRimcnohETby/ebrI+cjb43X2N3vfGceK7JPvQiwrnWE7MLSoiC/QWXcB5hlndsw== bob";

async fn ctl(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("ctl")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .await
        .expect("ctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn export_and_backup_while_serving_then_restore_and_serve() {
    let env = Env::contoso().await;
    let cfg = env.config();
    let running = Running::start_with(env, cfg).await;
    let dir = running.env.dir.path().to_path_buf();
    let config = dir.join("o365-ldap.toml");
    let (ok, _, err) = ctl(&config, &["ssh-key", "add", "bob", KEY]).await;
    assert!(ok, "{err}");

    let (ok, ldif, err) = ctl(&config, &["export-ldif"]).await;
    assert!(ok, "{err}");
    let served = running.server.engine.snapshot().load_full();
    assert_eq!(ldif.matches("\ndn: ").count(), served.len(), "{ldif}");
    // The key added with `ctl` (kept only in the store) is served.
    assert!(ldif.contains("AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ"), "{ldif}");
    let (ok, one, _) = ctl(&config, &["export-ldif", "--tenant", "contoso"]).await;
    assert!(ok && one == ldif);
    let (ok, _, err) = ctl(&config, &["export-ldif", "--tenant", "fabrikam"]).await;
    assert!(!ok && err.contains("fabrikam"), "{err}");

    let backups = dir.join("backups");
    std::fs::create_dir(&backups).unwrap();
    let file = backups.join("o365-ldap-backup.redb");
    let (ok, out, err) = ctl(&config, &["backup", file.to_str().unwrap()]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("backup written"), "{out}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (ok, _, err) = ctl(&config, &["backup", file.to_str().unwrap()]).await;
    assert!(!ok && err.contains("exists already"), "{err}");
    let before = dump(&served);
    running.server.stop().await;

    // Restore into an empty data directory, as docs/operations.md says.
    let restored = dir.join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&file, restored.join("o365-ldap.redb")).unwrap();
    let text = running
        .env
        .config_text("", "")
        .replace(
            &running.env.data_dir().display().to_string(),
            &restored.display().to_string(),
        )
        .replace("admin.sock", "admin2.sock");
    let config2 = dir.join("restored.toml");
    std::fs::write(&config2, text).unwrap();
    let cfg2 = o365_ldap::settings::load(&config2).unwrap();
    let server = Server::start(cfg2, false)
        .await
        .expect("the restored store opens");
    let after = dump(&server.engine.snapshot().load_full());
    assert_eq!(after, before, "the restored store serves something else");
    assert!(format!("{after:?}").contains("AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ"));
    assert!(
        server
            .engine
            .history(Some("contoso"), 10)
            .unwrap()
            .iter()
            .any(|h| h.users_read > 0),
        "the history came along"
    );
    server.stop().await;
}
