//! One client connection: TLS accept (LDAPS), framing with `LdapCodec`, the request loop,
//! StartTLS, idle/handshake/write timeouts and the Notice of Disconnection.

use super::Server;
use super::admission::Admitted;
use super::codec::{Codec, FrameError, Limit};
use super::error::OpError;
use super::handler::{self, Action, Reply};
use super::session::{ListenerKind, Session};
use bytes::{Buf, BytesMut};
use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::LdapResultCode;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// A TCP stream that first replays bytes already read from it. StartTLS needs this: bytes the
/// LDAP framer buffered after the StartTLS request belong to the TLS handshake.
pub(crate) struct Socket {
    pre: BytesMut,
    tcp: TcpStream,
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            if let Some(chunk) = self.pre.get(..n) {
                buf.put_slice(chunk);
            }
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

pub(crate) enum Stream {
    Plain(Socket),
    Tls(Box<tokio_rustls::server::TlsStream<Socket>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Conn = Framed<Stream, Codec>;

/// How long closing (flush, TLS close_notify) may take before the socket is just dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The message size limit for a session: smaller until it has bound.
fn limit(server: &Server, session: &Session) -> Limit {
    let cfg = &server.ctx.config.server;
    if session.identity.is_anonymous() {
        Limit {
            bytes: cfg.max_pdu_size_anonymous.min(cfg.max_pdu_size).max(1024),
            key: "server.max_pdu_size_anonymous",
        }
    } else {
        Limit {
            bytes: cfg.max_pdu_size.max(1024),
            key: "server.max_pdu_size",
        }
    }
}

/// Tell a refused connection why (`busy`) and close it. LDAPS needs the handshake first.
pub(crate) async fn refuse(
    tls: Option<tokio_rustls::TlsAcceptor>,
    handshake: Duration,
    tcp: TcpStream,
    kind: ListenerKind,
    message: &str,
) {
    let handshake = handshake.min(Duration::from_secs(5));
    let socket = Socket {
        pre: BytesMut::new(),
        tcp,
    };
    let stream = match (kind, tls) {
        (ListenerKind::Ldap, _) => Stream::Plain(socket),
        (ListenerKind::Ldaps, Some(acceptor)) => {
            match timeout(handshake, acceptor.accept(socket)).await {
                Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                _ => return,
            }
        }
        (ListenerKind::Ldaps, None) => return,
    };
    let anonymous = Limit {
        bytes: 1024,
        key: "server.max_pdu_size_anonymous",
    };
    let mut conn: Conn = Framed::new(stream, Codec::new(anonymous));
    notice(&mut conn, LdapResultCode::Busy, message, CLOSE_GRACE).await;
    let _ = timeout(CLOSE_GRACE, conn.close()).await;
}

/// Serve one accepted connection until it closes. Never panics on client input.
pub(crate) async fn run(
    server: Arc<Server>,
    tcp: TcpStream,
    peer: SocketAddr,
    kind: ListenerKind,
    shutdown: CancellationToken,
    admitted: &Admitted,
) {
    let _ = tcp.set_nodelay(true);
    let cfg = &server.ctx.config.server;
    let handshake = cfg.handshake_timeout.get();
    let idle = cfg.idle_timeout.get();
    let anonymous_idle = cfg.anonymous_idle_timeout.get().min(idle);
    let state = &admitted.state;
    let socket = Socket {
        pre: BytesMut::new(),
        tcp,
    };
    let stream = match kind {
        ListenerKind::Ldap => Stream::Plain(socket),
        ListenerKind::Ldaps => {
            // The certificate in force now: a reload (SIGHUP) reaches new connections only.
            let Some(acceptor) = server.tls.as_ref().map(|t| t.load_full()) else {
                return;
            };
            let accepted = tokio::select! {
                _ = state.evicted.cancelled() => return,
                r = timeout(handshake, acceptor.accept(socket)) => r,
            };
            match accepted {
                Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
        }
    };
    let mut session = Session::new(kind, server.tls.is_some(), Some(peer));
    let mut conn: Conn = Framed::new(stream, Codec::new(limit(&server, &session)));
    tracing::debug!(%peer, ?kind, "connection opened");
    loop {
        let anonymous = session.identity.is_anonymous();
        state.anonymous.store(anonymous, Ordering::Relaxed);
        conn.codec_mut().set_limit(limit(&server, &session));
        let wait = if anonymous { anonymous_idle } else { idle };
        let next = tokio::select! {
            _ = shutdown.cancelled() => {
                notice(&mut conn, LdapResultCode::Unavailable, "the server is shutting down", idle).await;
                break;
            }
            _ = state.evicted.cancelled() => {
                notice(&mut conn, LdapResultCode::Busy, "the server is busy: an idle connection that had not bound was closed to make room", idle).await;
                break;
            }
            r = timeout(wait, conn.next()) => r,
        };
        let msg = match next {
            Err(_) => {
                let message = if anonymous {
                    "idle timeout before a bind (server.anonymous_idle_timeout)"
                } else {
                    "idle timeout"
                };
                notice(&mut conn, LdapResultCode::Unavailable, message, idle).await;
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(FrameError::Io(e)))) => {
                tracing::debug!(%peer, error = %e, "read failed");
                break;
            }
            Ok(Some(Err(e))) => {
                let message = e.to_string();
                tracing::debug!(%peer, "{message}");
                notice(&mut conn, LdapResultCode::ProtocolError, &message, idle).await;
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        state.touch(&server.connections);
        let op = handler::op_name(&msg.op);
        let started = std::time::Instant::now();
        let response = handler::handle(&mut session, &server.ctx, msg).await;
        crate::ops::metrics::operation(
            op,
            handler::result_name(response.result_code()),
            started.elapsed().as_secs_f64(),
        );
        if let Err(e) = send(&mut conn, response.replies, idle).await {
            tracing::debug!(%peer, error = %e, "write failed");
            break;
        }
        match response.action {
            Action::Continue => {}
            Action::Close => break,
            Action::Disconnect(e) => {
                notice(&mut conn, e.code, &e.message, idle).await;
                break;
            }
            Action::StartTls => match start_tls(&server, conn, handshake, &session).await {
                Some(c) => {
                    conn = c;
                    session.tls = true;
                }
                None => {
                    tracing::debug!(%peer, "StartTLS handshake failed");
                    return;
                }
            },
        }
        // Fairness: a client pipelining thousands of requests yields the worker thread once
        // its task has used its scheduling budget, so other connections are served meanwhile.
        tokio::task::coop::consume_budget().await;
    }
    let _ = timeout(CLOSE_GRACE, conn.close()).await;
    tracing::debug!(%peer, "connection closed");
}

/// Write replies, encoding search entries one at a time; gives up when the client stops
/// reading for `limit`.
async fn send(conn: &mut Conn, replies: Vec<Reply>, limit: Duration) -> Result<(), FrameError> {
    let work = async {
        for r in replies {
            match r {
                Reply::Msg(m) => conn.feed(m).await?,
                Reply::Encoded(bytes) => conn.write_buffer_mut().extend_from_slice(&bytes),
                Reply::Entries(batch) => {
                    // Entries are encoded straight into the connection's write buffer (see
                    // `ldap::ber`), written out every `CHUNK` bytes.
                    const CHUNK: usize = 64 * 1024;
                    let mut scratch = Vec::with_capacity(CHUNK + 4096);
                    let mut next = 0;
                    while next < batch.len() {
                        next = batch.encode_from(&mut scratch, next, CHUNK);
                        conn.write_buffer_mut().extend_from_slice(&scratch);
                        scratch.clear();
                        if conn.write_buffer().len() >= CHUNK {
                            conn.flush().await?;
                        }
                    }
                }
            }
        }
        conn.flush().await
    };
    timeout(limit, work).await.unwrap_or_else(|_| {
        Err(FrameError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "client stopped reading",
        )))
    })
}

async fn notice(conn: &mut Conn, code: LdapResultCode, message: &str, limit: Duration) {
    let m = handler::notice_of_disconnection(OpError::new(code, message));
    let _ = timeout(limit.min(CLOSE_GRACE), conn.send(m)).await;
}

/// Take the TCP socket back from the framer and run the TLS handshake on it, keeping any
/// bytes already read (they are the start of the handshake).
async fn start_tls(
    server: &Server,
    conn: Conn,
    handshake: Duration,
    session: &Session,
) -> Option<Conn> {
    let acceptor = server.tls.as_ref()?.load_full();
    let parts = conn.into_parts();
    let Stream::Plain(mut socket) = parts.io else {
        return None;
    };
    let mut pre = parts.read_buf;
    pre.extend_from_slice(&socket.pre);
    socket.pre = pre;
    match timeout(handshake, acceptor.accept(socket)).await {
        Ok(Ok(tls)) => Some(Framed::new(
            Stream::Tls(Box::new(tls)),
            Codec::new(limit(server, session)),
        )),
        _ => None,
    }
}
