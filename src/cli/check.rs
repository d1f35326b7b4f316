//! `o365-ldap check`: validate a config file and print the effective settings, secrets redacted,
//! with a warning for each secret file other users of the machine can read.

use config::Config;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Exit code 0 when the config is valid, 1 (with every problem listed) when it is not.
pub fn run(path: &Path) -> i32 {
    match crate::settings::load(path) {
        Ok(cfg) => {
            for w in exposed_secrets(&cfg) {
                eprintln!("warning: {w}");
            }
            println!("# {} is valid. Effective settings:", path.display());
            print!("{}", config::render_effective(&cfg));
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Every file holding a secret, under its key.
fn secret_files(cfg: &Config) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Some(k) = &cfg.server.tls_key {
        out.push(("server.tls_key".to_string(), k.clone()));
    }
    if let Some(f) = &cfg.notify.webhook_url_file {
        out.push(("notify.webhook_url_file".to_string(), f.clone()));
    }
    for (ti, t) in cfg.tenant.iter().enumerate() {
        let tkey = config::tenant_key(ti, &t.name);
        for (ci, c) in t.credential.iter().enumerate() {
            let ckey = config::credential_key(&tkey, ci);
            for (name, file) in [
                ("client_secret_file", &c.client_secret_file),
                ("private_key_file", &c.private_key_file),
            ] {
                if let Some(f) = file {
                    out.push((format!("{ckey}.{name}"), f.clone()));
                }
            }
        }
    }
    out
}

/// Secret files any user of the machine may read.
pub fn exposed_secrets(cfg: &Config) -> Vec<String> {
    secret_files(cfg)
        .into_iter()
        .filter_map(|(key, path)| {
            let mode = std::fs::metadata(&path).ok()?.mode();
            (mode & 0o004 != 0).then(|| {
                format!(
                    "{key}: {} is readable by every user of this machine (mode {:o}); run \
                     `chmod o-rwx {}` (0600, or 0640 with the server's group)",
                    path.display(),
                    mode & 0o777,
                    path.display()
                )
            })
        })
        .collect()
}
