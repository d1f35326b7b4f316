//! The LDAP service: listeners (LDAP with StartTLS, LDAPS), connection limits
//! and timeouts, per-connection sessions and the operation handlers.
//!
//! Start it with [`serve`]; it runs until the cancellation token fires.

pub(crate) mod access;
pub(crate) mod admission;
pub(crate) mod attrs;
pub(crate) mod ber;
pub mod codec;
pub(crate) mod conn;
pub(crate) mod dir;
pub(crate) mod error;
pub(crate) mod handler;
pub(crate) mod listener;
pub(crate) mod ops;
pub(crate) mod paging;
pub(crate) mod result_ids;
pub(crate) mod rootdse;
pub(crate) mod session;
pub(crate) mod subschema;
pub(crate) mod synthetic;
pub(crate) mod tls;
mod undecodable;

pub(crate) use dir::Snapshot;
pub use handler::{Action, Reply, Response, handle};
pub use session::{Identity, ListenerKind, Session};
pub(crate) use tls::TlsError;

use crate::auth::ServiceAccounts;
use arc_swap::ArcSwap;
use config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// What the LDAP service reads: the served snapshot (swapped by sync), the config, the
/// service accounts and user-bind state (throttle, credential cache, local passwords).
pub struct LdapContext {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub config: Arc<Config>,
    pub services: Arc<ServiceAccounts>,
    pub users: Arc<crate::auth::UserAuth>,
    /// Open paged searches per identity, across connections.
    pub paged_quota: Arc<paging::PagedQuota>,
    /// Expensive searches running on blocking threads at once (one per core).
    pub heavy_searches: Semaphore,
}

impl LdapContext {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        config: Arc<Config>,
        services: Arc<ServiceAccounts>,
    ) -> LdapContext {
        let users = Arc::new(crate::auth::UserAuth::new(Arc::clone(&config), None));
        let paged_quota = paging::PagedQuota::new(config.server.max_paged_searches_per_identity);
        LdapContext {
            snapshot,
            config,
            services,
            users,
            paged_quota,
            heavy_searches: Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        }
    }

    /// Use `users` for user binds (the server passes one with the store, for local passwords).
    pub fn with_users(mut self, users: Arc<crate::auth::UserAuth>) -> LdapContext {
        self.users = users;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("server.{key}: cannot listen on {addr}: {source}{hint}")]
    Listen {
        key: &'static str,
        addr: String,
        source: std::io::Error,
        /// What to do about it, when known (a privileged port refused).
        hint: String,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Shared by every connection of one `serve` call.
pub(crate) struct Server {
    pub(crate) ctx: Arc<LdapContext>,
    /// Swapped by a certificate reload; each handshake takes the one in force.
    pub(crate) tls: Option<Arc<ArcSwap<TlsAcceptor>>>,
    pub(crate) connections: Arc<admission::Connections>,
    /// Bounds the refused connections being told why (a Notice of Disconnection, after a TLS
    /// handshake on LDAPS), so refusing cannot itself be used to tie the server up.
    pub(crate) refusals: Arc<Semaphore>,
}

/// The running service: where it listens, and a way to wait for it to stop.
pub struct ServeHandle {
    pub ldap_addr: Option<SocketAddr>,
    pub ldaps_addr: Option<SocketAddr>,
    listeners: Vec<JoinHandle<()>>,
    connections: Arc<admission::Connections>,
    tls: Option<Arc<ArcSwap<TlsAcceptor>>>,
}

impl ServeHandle {
    /// Read the certificate chain and key again and use them for every handshake from now on
    /// (LDAPS and StartTLS); open connections keep the session they have. On an error the
    /// certificate in force stays. Without TLS configured at start there is nothing to reload.
    pub(crate) fn reload_tls(
        &self,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<bool, TlsError> {
        let Some(current) = &self.tls else {
            return Ok(false);
        };
        current.store(Arc::new(tls::load_acceptor(cert, key)?));
        Ok(true)
    }

    /// Wait until the listeners have stopped (after the shutdown token fired) and every
    /// connection has closed.
    pub async fn wait(self) {
        for l in self.listeners {
            let _ = l.await;
        }
        self.connections.wait_idle().await;
    }

    /// Client connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.open()
    }
}

/// Refused connections told why at once; beyond this they are just closed.
const MAX_REFUSALS: usize = 64;

async fn bind(key: &'static str, addr: &str) -> Result<TcpListener, LdapError> {
    TcpListener::bind(addr).await.map_err(|source| {
        let privileged = addr
            .parse::<SocketAddr>()
            .is_ok_and(|a| a.port() != 0 && a.port() < 1024);
        let hint = if source.kind() == std::io::ErrorKind::PermissionDenied && privileged {
            "; ports below 1024 need the CAP_NET_BIND_SERVICE capability: run under the \
                 systemd unit (deploy/systemd/o365-ldap.service grants it), or \
                 `setcap cap_net_bind_service=+ep /usr/bin/o365-ldap`, or listen on a port \
                 above 1023"
                .to_string()
        } else {
            String::new()
        };
        LdapError::Listen {
            key,
            addr: addr.to_owned(),
            source,
            hint,
        }
    })
}

/// Bind the configured listeners and serve until `shutdown` is cancelled. Returns once the
/// sockets are bound (port 0 works: see the returned addresses); connections are served by
/// spawned tasks. On shutdown open connections get a Notice of Disconnection.
pub async fn serve(
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
) -> Result<ServeHandle, LdapError> {
    let cfg = &ctx.config.server;
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(ArcSwap::from_pointee(tls::load_acceptor(
            cert, key,
        )?))),
        (None, None) if cfg.ldaps_listen.is_none() => None,
        _ => return Err(TlsError::Missing.into()),
    };
    let connections = Arc::new(admission::Connections::new(
        cfg.max_connections,
        cfg.max_connections_per_address,
        ctx.config.auth.trusted_sources.clone(),
    ));
    let ldap = match &cfg.ldap_listen {
        Some(a) => Some(bind("ldap_listen", a).await?),
        None => None,
    };
    let ldaps = match &cfg.ldaps_listen {
        Some(a) => Some(bind("ldaps_listen", a).await?),
        None => None,
    };
    let server = Arc::new(Server {
        ctx: Arc::clone(&ctx),
        tls,
        connections: Arc::clone(&connections),
        refusals: Arc::new(Semaphore::new(MAX_REFUSALS)),
    });
    let mut handle = ServeHandle {
        ldap_addr: None,
        ldaps_addr: None,
        listeners: Vec::new(),
        connections,
        tls: server.tls.clone(),
    };
    for (listener, kind) in [(ldap, ListenerKind::Ldap), (ldaps, ListenerKind::Ldaps)] {
        let Some(listener) = listener else { continue };
        let addr = listener.local_addr().ok();
        match kind {
            ListenerKind::Ldap => handle.ldap_addr = addr,
            ListenerKind::Ldaps => handle.ldaps_addr = addr,
        }
        tracing::info!(addr = ?addr, ?kind, "LDAP listener ready");
        handle.listeners.push(tokio::spawn(listener::accept_loop(
            Arc::clone(&server),
            listener,
            kind,
            shutdown.clone(),
        )));
    }
    Ok(handle)
}

#[cfg(test)]
mod tests;
