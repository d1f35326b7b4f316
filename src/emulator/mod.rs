//! A faithful Microsoft Graph (v1.0 directory reads) and Entra ID token endpoint emulator, for
//! tests, the demo and benchmarks. docs/emulator.md describes the fixture format and behaviour.
//!
//! One HTTP listener serves both roles, so its base URL is used as the client's `graph_url` *and*
//! `login_url`:
//! - `POST {base}/{tenant}/oauth2/v2.0/token` — client credentials (secret in body or Basic);
//! - `GET {base}/v1.0/users[/{id|upn}]`, `/groups[/{id}]`, `/groups/{id}/members`,
//!   `/groups/{id}/transitiveMembers`, `/domains[/{name}]`, `/organization`;
//! - `GET {base}/_emulator/status` — the (read-only, for now) control plane.
//!
//! Module map: `fixture` (file format), `tenant` (validated state and queries), `schema` (property
//! sets), `odata` (query options, projection, links), `skiptoken` (sealed cursors), `access`
//! (bearer check, permissions), `token` (token endpoint), `reply` (Graph envelope), `routes`.

mod access;
mod clock;
mod error;
mod fixture;
mod ids;
mod odata;
mod reply;
mod routes;
pub mod scale;
mod schema;
mod skiptoken;
mod state;
mod tenant;
mod token;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::EmulatorError;
pub use fixture::{Fixture, FixtureApp, JsonObject};

use state::Shared;
use tenant::TenantState;

/// Knobs that make the emulator differ from Graph on purpose (small pages, short-lived tokens).
/// Fault injection (429s, 5xx, latency) will be added here as further fields with inert defaults.
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// The largest page served, whatever `$top` asks for (1..=999). Graph's default page is 100;
    /// set 999 to honour `$top=999` as Graph does, or e.g. 5 to force paging in small tenants.
    pub page_size: usize,
    /// Lifetime of issued access tokens (`expires_in` is its whole seconds). A short lifetime lets
    /// tests exercise expiry and refresh.
    pub token_lifetime: Duration,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            page_size: 100,
            token_lifetime: Duration::from_secs(3599),
        }
    }
}

/// A running emulator; dropping it also stops the server (gracefully, in the background).
pub struct RunningEmulator {
    pub addr: SocketAddr,
    base_url: String,
    tenant_id: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`: both the Graph root and the login authority.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The tenant GUID the emulator serves.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// Stops accepting connections and waits (briefly) for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// The URL clients should use: a wildcard listen address is reachable on loopback.
fn base_url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Validates the fixture, binds `listen` (port 0 picks a free port) and serves in a background
/// task until [`RunningEmulator::shutdown`] or drop.
pub async fn start(
    fixture: Fixture,
    opts: EmulatorOptions,
    listen: SocketAddr,
) -> Result<RunningEmulator, EmulatorError> {
    if !(1..=odata::MAX_TOP).contains(&opts.page_size) {
        return Err(EmulatorError::Options(format!(
            "page_size must be between 1 and {}, not {}",
            odata::MAX_TOP,
            opts.page_size
        )));
    }
    let tenant = TenantState::build(&fixture)?;
    let tenant_id = tenant.tenant_id.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: listen,
            source,
        })?;
    let base_url = base_url_for(addr);
    let shared = Arc::new(Shared::new(tenant, opts, base_url.clone()));
    let app = routes::router(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // Either an explicit shutdown or the handle being dropped ends the server.
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "graph emulator stopped with an error");
        }
    });
    Ok(RunningEmulator {
        addr,
        base_url,
        tenant_id,
        stop: Some(stop),
        task,
    })
}

/// `o365-ldap emulator --fixture FILE --listen ADDR`: serve until Ctrl-C.
pub async fn run_cli(
    fixture_path: &Path,
    listen: SocketAddr,
    opts: EmulatorOptions,
) -> anyhow::Result<()> {
    let fixture = Fixture::load(fixture_path)
        .with_context(|| format!("loading emulator fixture {}", fixture_path.display()))?;
    let client_id = fixture
        .apps
        .first()
        .map(|a| a.client_id.clone())
        .unwrap_or_else(|| "(none: the fixture has no apps)".to_string());
    let running = start(fixture, opts, listen).await?;
    println!(
        "Graph emulator listening on {}; tenant {}; client_id {}",
        running.base_url(),
        running.tenant_id(),
        client_id
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    running.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_map_to_loopback() {
        let v4: SocketAddr = "0.0.0.0:8080"
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 8080)));
        assert_eq!(base_url_for(v4), "http://127.0.0.1:8080");
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 9);
        assert_eq!(base_url_for(v6), "http://[::1]:9");
        let lo = SocketAddr::from(([127, 0, 0, 2], 1));
        assert_eq!(base_url_for(lo), "http://127.0.0.2:1");
    }
}
