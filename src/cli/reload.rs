//! SIGHUP: read the config file again and apply what can be applied while serving. The TLS
//! certificate and key are read again (new connections get them; open ones keep theirs);
//! policy and sync settings are applied by deriving the directory again. Listeners, the data
//! directory, the admin socket, the HTTP listener, accounts and `[auth]`, `[notify]` and
//! `[network]` are read at start: a change there is logged as needing a restart. A config
//! that does not load (or a certificate that does not) is refused and the running one kept.

use super::serve::Server;
use config::Config;
use std::path::Path;
use std::sync::Arc;

impl Server {
    /// Reload from `path`; every outcome is logged. Returns whether the new config was adopted.
    pub async fn reload(&self, path: &Path) -> bool {
        let new = match crate::settings::load(path) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!("config reload refused, the running configuration is kept: {e}");
                return false;
            }
        };
        let old = self.engine.config();
        if let (Some(cert), Some(key)) = (&new.server.tls_cert, &new.server.tls_key) {
            match self.ldap.reload_tls(cert, key) {
                Ok(true) => tracing::info!(
                    cert = %cert.display(),
                    "TLS certificate and key reloaded: new connections get them"
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(
                        "config reload refused, the running configuration and certificate are kept: {e}"
                    );
                    return false;
                }
            }
        }
        let restart = needs_restart(&old, &new);
        if !restart.is_empty() {
            tracing::warn!(
                keys = %restart.join(", "),
                "config reload: these settings changed and apply only after a restart"
            );
        }
        if old.tenant == new.tenant && old.local_group == new.local_group {
            tracing::info!("config reloaded: the policy and sync settings are unchanged");
            return true;
        }
        match self.engine.reconfigure(new).await {
            Ok(generation) => {
                tracing::info!(
                    generation,
                    "config reloaded: the directory was derived again under the new policy"
                );
                true
            }
            Err(e) => {
                tracing::error!("config reload: the policy was not applied: {e}");
                false
            }
        }
    }
}

/// The sections, or server keys, that differ and are only read at start.
fn needs_restart(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let (mut a, mut b) = (old.server.clone(), new.server.clone());
    // Certificates are reloaded live.
    (a.tls_cert, a.tls_key, b.tls_cert, b.tls_key) = (None, None, None, None);
    if a != b {
        out.push("[server]".to_string());
    }
    if old.auth != new.auth {
        out.push("[auth]".into());
    }
    if old.service_account != new.service_account {
        out.push("[[service_account]]".into());
    }
    if old.notify != new.notify {
        out.push("[notify]".into());
    }
    if old.network != new.network {
        out.push("[network]".into());
    }
    let names = |c: &Config| c.tenant.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    if names(old) != names(new) {
        out.push("the list of [[tenant]]s".into());
    } else if old
        .tenant
        .iter()
        .zip(&new.tenant)
        .any(|(a, b)| a.credential != b.credential || a.graph_url != b.graph_url)
    {
        // Credentials are read at each round: nothing to restart, but say it is in force.
        tracing::info!(
            "config reload: tenant credentials or endpoints changed; the next round uses them"
        );
    }
    out
}
