//! The admin socket server started by `serve`: socket creation (0600, stale file removed),
//! peer credential check, and request dispatch to the sync engine.

use super::{AdminError, Done, Request, Response, RoundResult, inspect};
use crate::sync::{RoundOptions, SyncEngine, SyncError, Trigger};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// A request line longer than this is refused (requests are a few hundred bytes).
const MAX_REQUEST: u64 = 64 * 1024;

pub(crate) struct AdminHandle {
    pub path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminHandle {
    /// Stop accepting and remove the socket file.
    pub(crate) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Create the socket at `path` and serve requests until `shutdown`.
pub(crate) async fn start(
    engine: Arc<SyncEngine>,
    path: &Path,
    shutdown: CancellationToken,
) -> Result<AdminHandle, AdminError> {
    let p = path.display().to_string();
    let io = |source| AdminError::Io {
        path: p.clone(),
        source,
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(io)?;
    }
    if path.exists() {
        // A live server answers; a stale file from a crash does not.
        if UnixStream::connect(path).await.is_ok() {
            return Err(AdminError::Protocol {
                path: p,
                message: "another server is listening on this socket".into(),
            });
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    // Before the first accept: nobody else may connect (peer uids are checked as well, which
    // also covers the instant between bind and chmod).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    // The socket file belongs to the effective uid that created it: the server's own.
    let own_uid = std::fs::metadata(path).map_err(io)?.uid();
    let path_buf = path.to_path_buf();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                acc = listener.accept() => match acc {
                    Ok((stream, _)) => {
                        let engine = engine.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve_conn(engine, stream, own_uid).await {
                                tracing::debug!("admin connection: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("admin socket accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
    });
    Ok(AdminHandle {
        path: path_buf,
        task,
    })
}

async fn send(stream: &mut (impl AsyncWriteExt + Unpin), r: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_string(r).unwrap_or_else(|_| "{}".into());
    line.push('\n');
    stream.write_all(line.as_bytes()).await
}

async fn serve_conn(
    engine: Arc<SyncEngine>,
    stream: UnixStream,
    own_uid: u32,
) -> std::io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    if uid != 0 && uid != own_uid {
        tracing::warn!(uid, "admin socket: connection from another user refused");
        // Read (and ignore) the request first, so the refusal is not lost to a reset.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            reader.read_line(&mut line),
        )
        .await;
        let msg = format!(
            "permission denied: uid {uid} may not use the admin socket (only root and uid {own_uid})"
        );
        return send(&mut write, &Response::Error { message: msg }).await;
    }
    reader.read_line(&mut line).await?;
    let req: Request = match serde_json::from_str(line.trim()) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("bad request: {e}");
            return send(&mut write, &Response::Error { message }).await;
        }
    };
    fn reply<T: serde::Serialize, E: ToString>(r: Result<T, E>) -> Response {
        match r {
            Ok(data) => Response::result(&data),
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        }
    }
    let response = match req {
        Request::Status => reply(inspect::status(&engine)),
        Request::History { tenant } => {
            reply(engine.history(tenant.as_deref(), crate::sync::HISTORY_KEEP))
        }
        Request::Explain { who } => reply(inspect::explain(&engine, &who).await),
        Request::Verify { tenant } => reply(inspect::verify(&engine, tenant.as_deref()).await),
        Request::SetPassword { user, password } => {
            let snapshot = engine.snapshot().load_full();
            reply(
                crate::auth::handle_set_password(engine.store(), &snapshot, &user, password)
                    .await
                    .map(|message| Done { message }),
            )
        }
        Request::SshKey { action, user, key } => {
            reply(super::ssh_keys::handle(&engine, action, &user, key.as_deref()).await)
        }
        Request::ExportLdif { tenant } => reply(export_ldif(&engine, tenant.as_deref())),
        Request::Backup { path } => {
            let store = engine.store();
            let target = PathBuf::from(&path);
            let done = tokio::task::spawn_blocking(move || store.backup_to(&target))
                .await
                .map_err(|e| format!("backup task: {e}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
            if let Ok(info) = &done {
                tracing::info!(path = %path, rows = info.rows, bytes = info.bytes, "backup written");
            }
            reply(done.map(|info| Done {
                message: format!(
                    "backup written to {path}: {} rows, {} bytes (restore: docs/operations.md)",
                    info.rows, info.bytes
                ),
            }))
        }
        Request::Sync {
            tenant,
            full,
            dry_run,
            force,
            notify,
        } => {
            let opts = RoundOptions {
                trigger: Trigger::Manual,
                full,
                dry_run,
                force,
                notify,
            };
            reply(sync(&engine, tenant, opts, &mut write).await)
        }
    };
    send(&mut write, &response).await
}

fn export_ldif(engine: &SyncEngine, tenant: Option<&str>) -> Result<super::Ldif, String> {
    if let Some(t) = tenant
        && engine.config().tenant(t).is_none()
    {
        return Err(SyncError::UnknownTenant(t.to_string()).to_string());
    }
    let snap = engine.snapshot().load_full();
    let mut out = Vec::new();
    let entries = crate::cli::export::write_ldif(&snap, tenant, &mut out)
        .map_err(|e| format!("writing the LDIF: {e}"))?;
    let ldif = String::from_utf8(out).map_err(|e| format!("the LDIF is not UTF-8: {e}"))?;
    Ok(super::Ldif { entries, ldif })
}

async fn sync(
    engine: &Arc<SyncEngine>,
    tenant: Option<String>,
    opts: RoundOptions,
    write: &mut (impl AsyncWriteExt + Unpin),
) -> Result<Vec<RoundResult>, String> {
    let tenants: Vec<String> = match tenant {
        Some(t) if engine.config().tenant(&t).is_none() => {
            return Err(SyncError::UnknownTenant(t).to_string());
        }
        Some(t) => vec![t],
        None => engine
            .config()
            .tenant
            .iter()
            .map(|t| t.name.clone())
            .collect(),
    };
    let mut out = Vec::new();
    for t in tenants {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let e = engine.clone();
        let name = t.clone();
        // Spawned: a client that goes away does not cut a round short.
        let round = tokio::spawn(async move { e.run_round(&name, opts, Some(&tx)).await });
        while let Some(m) = rx.recv().await {
            let _ = send(
                write,
                &Response::Progress {
                    message: format!("{t}: {m}"),
                },
            )
            .await;
        }
        let res = round.await.map_err(|e| format!("sync task: {e}"))?;
        out.push(inspect::round_result(&t, res));
    }
    Ok(out)
}
