//! Accept loops for the LDAP and LDAPS listeners; admission (`admission.rs`) decides who
//! gets a slot.

use super::Server;
use super::conn;
use super::session::ListenerKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
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
            Ok((tcp, peer)) => {
                let server = Arc::clone(&server);
                let shutdown = shutdown.clone();
                // Admission may wait a moment for an evicted connection's slot: never in the
                // accept loop.
                tokio::spawn(async move {
                    match server.connections.admit(Some(peer.ip())).await {
                        Ok(admitted) => {
                            let _open = crate::ops::metrics::connection(kind.as_str());
                            // The slot is released only after everything the connection held
                            // (the server context with its store) is gone: stopping waits on it.
                            conn::run(server, tcp, peer, kind, shutdown, &admitted).await;
                            drop(admitted);
                        }
                        Err(why) => {
                            tracing::debug!(%peer, reason = why.message(), "connection refused");
                            let Ok(_permit) = Arc::clone(&server.refusals).try_acquire_owned()
                            else {
                                return;
                            };
                            // Only the TLS settings are kept: a refusal must not hold the
                            // server (and its store) open past a stop.
                            let tls = server.tls.as_ref().map(|t| TlsAcceptor::clone(&t.load()));
                            let handshake = server.ctx.config.server.handshake_timeout.get();
                            drop(server);
                            conn::refuse(tls, handshake, tcp, kind, why.message()).await;
                        }
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
