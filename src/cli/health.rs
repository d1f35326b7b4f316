//! `o365-ldap healthcheck` (exit 0 when the server is ready, for container health checks) and
//! the exit code of `ctl status --check` (0 fine, 1 a failure not yet stale, 2 stale or never
//! synced), both from the running server.

use crate::admin::{Request, TenantStatus, client};
use crate::sync::Condition;
use std::path::Path;
use std::time::Duration;

/// A command's outcome as an exit code other than 0 and 1, with what to print.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    pub code: i32,
    pub message: String,
}

/// `ctl status --check`: the worst tenant's condition as the exit code.
pub fn status_exit(rows: &[TenantStatus]) -> Result<(), ExitWith> {
    let worst = rows
        .iter()
        .map(|t| t.condition.unwrap_or(Condition::Stale))
        .max()
        .unwrap_or(Condition::Ok);
    match worst {
        Condition::Ok => Ok(()),
        c => {
            let names: Vec<&str> = rows
                .iter()
                .filter(|t| t.condition.unwrap_or(Condition::Stale) == c)
                .map(|t| t.tenant.as_str())
                .collect();
            Err(ExitWith {
                code: c.exit_code(),
                message: match c {
                    Condition::Stale => format!(
                        "stale (no successful round within sync.max_staleness, or none yet): {}",
                        names.join(", ")
                    ),
                    _ => format!("the last sync round failed: {}", names.join(", ")),
                },
            })
        }
    }
}

/// Ready: every tenant served and not stale. Asks `/readyz` when `server.http_listen` is set,
/// else the admin socket.
pub async fn healthcheck(config: &Path) -> anyhow::Result<()> {
    let cfg = crate::settings::load(config)?;
    if let Some(listen) = &cfg.server.http_listen {
        let mut addr: std::net::SocketAddr = listen
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("server.http_listen = {listen:?}: {e}"))?;
        // A wildcard listener answers on loopback.
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()?;
        let resp = http
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("no answer from http://{addr}/readyz: {e}"))?;
        let ready = resp.status().is_success();
        let body = resp.text().await.unwrap_or_default();
        if ready {
            print!("{body}");
            return Ok(());
        }
        anyhow::bail!("not ready:\n{}", body.trim_end());
    }
    let data = client::call(&cfg.server.admin_socket, &Request::Status, |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("{e} (is `o365-ldap serve` running?)"))?;
    let rows: Vec<TenantStatus> = serde_json::from_value(data)?;
    let not_ready: Vec<String> = rows
        .iter()
        .filter(|t| !t.served || t.condition.unwrap_or(Condition::Stale) == Condition::Stale)
        .map(|t| {
            if t.served {
                format!("{}: stale", t.tenant)
            } else {
                format!("{}: not served yet", t.tenant)
            }
        })
        .collect();
    if not_ready.is_empty() {
        println!("ready");
        Ok(())
    } else {
        anyhow::bail!("not ready: {}", not_ready.join(", "))
    }
}
