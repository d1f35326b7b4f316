//! Accept loops for the LDAP and LDAPS listeners, with the shared connection limit.

use super::Server;
use super::conn;
use super::session::ListenerKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub(crate) async fn accept_loop(
    server: Arc<Server>,
    listener: TcpListener,
    kind: ListenerKind,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((tcp, peer)) => match Arc::clone(&server.slots).try_acquire_owned() {
                Ok(permit) => {
                    let server = Arc::clone(&server);
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        conn::run(server, tcp, peer, kind, shutdown).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    tracing::warn!(%peer, limit = server.max_connections, "server.max_connections reached; closing the new connection");
                    drop(tcp);
                }
            },
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
