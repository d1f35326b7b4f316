//! `o365-ldap serve`: load the config, serve the last committed directory from redb at once,
//! then start the sync scheduler and the LDAP/LDAPS listeners. `demo` and the integration
//! tests run the same `Server::start`, so what they exercise is what production runs.

use crate::auth::ServiceAccounts;
use crate::ldap::{LdapContext, ServeHandle};
use crate::store::Store;
use crate::sync::SyncEngine;
use anyhow::Context;
use config::{Config, LogFormat};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct Server {
    pub engine: Arc<SyncEngine>,
    pub ldap: ServeHandle,
    shutdown: CancellationToken,
    scheduler: Vec<tokio::task::JoinHandle<()>>,
    follower: Option<tokio::task::JoinHandle<()>>,
    admin: Option<crate::admin::server::AdminHandle>,
    http: Option<crate::ops::http::HttpHandle>,
    watch: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Start everything `cfg` describes. With `automatic_sync` false no round runs until
    /// `engine.sync_tenant` is called (tests and `demo` drive the first round themselves).
    pub async fn start(cfg: Config, automatic_sync: bool) -> anyhow::Result<Server> {
        let cfg = Arc::new(cfg);
        let store = Arc::new(open_store(&cfg).await?);
        let users = Arc::new(crate::auth::UserAuth::new(cfg.clone(), Some(store.clone())));
        let engine = Arc::new(SyncEngine::load(cfg.clone(), store)?);
        let shutdown = CancellationToken::new();
        let notifier = crate::ops::notify::Notifier::start(&cfg);
        engine.set_observer(Arc::new(crate::ops::Observer {
            notifier: notifier.clone(),
        }));
        let services = Arc::new(ServiceAccounts::from_config(&cfg.service_account)?);
        let ctx =
            Arc::new(LdapContext::new(engine.snapshot(), cfg.clone(), services).with_users(users));
        let ldap = crate::ldap::serve(ctx, shutdown.clone()).await?;
        // Listeners answer from the stored directory; the mirror the next round needs is read
        // now, in the background.
        engine.preload();
        // The directory is served even if the admin socket cannot be created; `ctl` says why.
        let admin = match crate::admin::server::start(
            engine.clone(),
            &cfg.server.admin_socket,
            shutdown.clone(),
        )
        .await
        {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!("admin socket not available (o365-ldap ctl will not work): {e}");
                None
            }
        };
        let http = match &cfg.server.http_listen {
            Some(addr) => {
                Some(crate::ops::http::start(engine.clone(), addr, shutdown.clone()).await?)
            }
            None => None,
        };
        let watch = crate::ops::spawn_staleness_watch(engine.clone(), notifier, shutdown.clone());
        let scheduler = if automatic_sync {
            engine.spawn_scheduler()
        } else {
            Vec::new()
        };
        let follower = engine.spawn_follower();
        Ok(Server {
            engine,
            ldap,
            shutdown,
            scheduler,
            follower,
            admin,
            http,
            watch,
        })
    }

    /// Where `/metrics`, `/healthz` and `/readyz` answer, if `server.http_listen` is set.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    pub fn ldap_addr(&self) -> Option<SocketAddr> {
        self.ldap.ldap_addr
    }

    pub fn ldaps_addr(&self) -> Option<SocketAddr> {
        self.ldap.ldaps_addr
    }

    /// Stop listeners and the scheduler; in-flight rounds are dropped (they commit nothing).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.scheduler.iter().chain(&self.follower) {
            t.abort();
        }
        self.watch.abort();
        if let Some(a) = self.admin {
            a.stop().await;
        }
        if let Some(h) = self.http {
            h.stop().await;
        }
        self.ldap.wait().await;
    }
}

/// The store `[store]` describes: the redb file in `server.data_dir`, alone or as the local
/// cache of the shared PostgreSQL database. A replica whose cache holds nothing yet reads the
/// database first (when it answers), so it does not start empty; one with a cache serves it
/// at once and catches up in the background.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let store = Store::open(&cfg.server.data_dir)
        .with_context(|| format!("server.data_dir = {:?}", cfg.server.data_dir))?;
    if cfg.store.backend != config::StoreBackend::Postgres {
        return Ok(store);
    }
    let url = cfg
        .store
        .resolved_url
        .as_ref()
        .context("[store] backend = \"postgres\" but no URL was read")?;
    let remote = crate::store::Remote::new(url)?;
    let store = store.with_remote(remote);
    if store.holds_unimported_data()? {
        anyhow::bail!(
            "server.data_dir {} holds a single-server (redb) store that was never copied into \
             PostgreSQL. Copy it with `o365-ldap store import --from {}` (every number and name \
             kept), or point server.data_dir at an empty directory for this replica's cache",
            cfg.server.data_dir.display(),
            cfg.server.data_dir.display()
        );
    }
    let store = Arc::new(store);
    let first = Arc::clone(&store);
    let names: Vec<String> = cfg.tenant.iter().map(|t| t.name.clone()).collect();
    let pulled = tokio::task::spawn_blocking(move || -> Result<(), crate::store::StoreError> {
        for t in &names {
            if first.cache_version(t)?.is_none() {
                first.pull(t)?;
            }
        }
        Ok(())
    })
    .await?;
    if let Err(e) = pulled {
        tracing::warn!(
            "serving the local cache; the shared store will be followed when it answers: {e}"
        );
    }
    Arc::into_inner(store).context("store still shared at start-up")
}

pub fn init_tracing(format: LogFormat) {
    crate::logging::init(format, crate::logging::DEFAULT_FILTER);
}

pub async fn run(path: &Path, force: bool) -> anyhow::Result<()> {
    let cfg = crate::settings::load(path)?;
    init_tracing(cfg.server.log_format);
    if force && let Some(aside) = Store::set_aside_if_unusable(&cfg.server.data_dir)? {
        tracing::warn!(
            moved_to = %aside.display(),
            "--force: the store could not be used and was moved aside; starting empty"
        );
    }
    let server = Server::start(cfg, true).await?;
    if let Some(a) = server.ldap_addr() {
        tracing::info!("LDAP (StartTLS) listening on {a}");
    }
    if let Some(a) = server.ldaps_addr() {
        tracing::info!("LDAPS listening on {a}");
    }
    tell_systemd_when_served(&server.engine);
    wait_for_signal(Some((&server, path))).await;
    crate::ops::sd_notify::stopping();
    tracing::info!(
        "shutting down: no new connections; open ones are told and closed after their current operation"
    );
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Tell systemd the unit is ready once every tenant has a directory served: at once when the
/// stored one is, else after the first successful rounds (`TimeoutStartSec=` bounds the wait).
fn tell_systemd_when_served(engine: &Arc<SyncEngine>) {
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        loop {
            let snap = engine.snapshot().load_full();
            let config = engine.config();
            let waiting: Vec<&str> = config
                .tenant
                .iter()
                .filter(|t| !snap.tenants.iter().any(|s| s.name == t.name))
                .map(|t| t.name.as_str())
                .collect();
            if waiting.is_empty() {
                crate::ops::sd_notify::ready();
                return;
            }
            crate::ops::sd_notify::status(&format!(
                "waiting for the first sync round of {}",
                waiting.join(", ")
            ));
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

/// Ctrl-C or SIGTERM (what systemd and Kubernetes send). SIGHUP, which would otherwise end
/// the process, reloads `server`'s config file and certificate (`reload.rs`), or with no
/// server is only logged.
pub async fn wait_for_signal(server: Option<(&Server, &Path)>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = async {
                match term.as_mut() {
                    Some(s) => { s.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => return,
            _ = async {
                match hup.as_mut() {
                    Some(s) => { s.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => match server {
                Some((server, path)) => {
                    tracing::info!("SIGHUP received: reloading {}", path.display());
                    crate::ops::sd_notify::reloading();
                    server.reload(path).await;
                    crate::ops::sd_notify::ready();
                }
                None => tracing::info!("SIGHUP received: ignored"),
            }
        }
    }
}
