//! A faithful Microsoft Graph (v1.0 directory reads) and Entra ID token endpoint emulator, for
//! tests, the demo and benchmarks. docs/emulator.md describes the fixture format and behaviour.
//!
//! One HTTP listener serves both roles, so its base URL is used as the client's `graph_url` *and*
//! `login_url`:
//! - `POST {base}/{tenant}/oauth2/v2.0/token` — client credentials (secret in body or Basic, or a
//!   certificate-signed `client_assertion`) and the password grant (ROPC);
//! - `GET {base}/v1.0/users[/{id|upn}]`, `/groups[/{id}]`, `/groups/{id}/members`,
//!   `/groups/{id}/transitiveMembers`, `/domains[/{name}]`, `/organization`, `/users/delta`,
//!   `/groups/delta`; `POST {base}/v1.0/users/{id|upn}/sendMail` (kept, not delivered);
//! - `{base}/_emulator/...` — the control plane (status, mutations, faults, stats, delta expiry).
//!
//! Module map: `fixture` (file format), `tenant` (validated state and queries), `schema` (property
//! sets), `odata` (query options, projection, links), `skiptoken` (sealed cursors), `access`
//! (bearer check, permissions), `token` (token endpoint), `ropc` (password grant), `cert`
//! (certificate credentials), `changes` (mutations, change log), `delta`, `control` (control
//! plane, faults, counters), `reply` (Graph envelope), `routes`.

mod access;
mod cert;
mod changes;
pub mod cli;
mod control;
mod delta;
mod error;
mod fixture;
mod ids;
mod mail;
mod odata;
mod reply;
mod ropc;
mod routes;
pub mod scale;
mod schema;
pub mod selfsigned;
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

pub use changes::{Mutation, MutationOutcome};
pub use control::{Faults, Stats};
pub use error::EmulatorError;
pub use fixture::{Fixture, FixtureApp, JsonObject};

use state::Shared;
use tenant::TenantState;

/// Knobs that make the emulator differ from Graph on purpose (small pages, short-lived tokens,
/// small member slices). Runtime fault injection is [`RunningEmulator::set_faults`].
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// The largest page served, whatever `$top` asks for (1..=999). Graph's default page is 100;
    /// set 999 to honour `$top=999` as Graph does, or e.g. 5 to force paging in small tenants.
    pub page_size: usize,
    /// Lifetime of issued access tokens (`expires_in` is its whole seconds). A short lifetime lets
    /// tests exercise expiry and refresh.
    pub token_lifetime: Duration,
    /// How long a `$deltatoken` stays valid (Graph: 7 days for directory objects).
    pub delta_token_lifetime: Duration,
    /// Answer an expired delta token with 410 Gone + `Location` instead of 400 syncStateNotFound.
    pub delta_expired_gone: bool,
    /// The largest `members@delta` slice per group item: bigger groups recur on several items
    /// (and pages), as Graph splits large groups.
    pub members_per_page: usize,
    /// Replays: each delta page after the first starts by repeating the previous page's last item.
    pub delta_replays: bool,
    /// Smart lockout: consecutive wrong passwords (password grant) before the account locks.
    pub lockout_threshold: u32,
    /// How long a smart lockout lasts.
    pub lockout_duration: Duration,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            page_size: 100,
            token_lifetime: Duration::from_secs(3599),
            delta_token_lifetime: Duration::from_secs(7 * 24 * 3600),
            delta_expired_gone: false,
            members_per_page: 100,
            delta_replays: false,
            lockout_threshold: 10,
            lockout_duration: Duration::from_secs(60),
        }
    }
}

/// A running emulator; dropping it also stops the server (gracefully, in the background).
pub struct RunningEmulator {
    pub addr: SocketAddr,
    base_url: String,
    tenant_id: String,
    shared: Arc<Shared>,
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

    /// Applies a tenant mutation (what `POST /_emulator/mutate` does).
    pub async fn mutate(&self, m: Mutation) -> Result<MutationOutcome, EmulatorError> {
        self.shared.tenant.write().await.apply(m)
    }

    /// Request counters since start (or the last [`RunningEmulator::reset_stats`]).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    pub fn reset_stats(&self) {
        self.shared.reset_stats();
    }

    /// Replaces the fault-injection settings (counting restarts from the next Graph request).
    pub fn set_faults(&self, f: Faults) {
        self.shared.set_faults(f);
    }

    /// Messages accepted by `sendMail` so far, oldest first: `{"from": .., "message": ..}`
    /// with the request's `message` object as sent.
    pub fn sent_mail(&self) -> Vec<serde_json::Value> {
        self.shared
            .sent_mail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes every delta token (and delta page link) issued so far invalid.
    pub fn expire_delta_tokens(&self) {
        self.shared.expire_delta_tokens();
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
    if opts.members_per_page == 0 {
        return Err(EmulatorError::Options(
            "members_per_page must be at least 1".into(),
        ));
    }
    let shared = Arc::new(Shared::new(tenant, opts, base_url.clone()));
    let app =
        routes::router(Arc::clone(&shared)).into_make_service_with_connect_info::<SocketAddr>();
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
        shared,
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
