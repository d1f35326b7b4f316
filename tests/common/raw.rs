//! A raw LDAP client over plain TCP for the hostile-client tests: it sends whatever bytes a test
//! builds (oversized, malformed, slow) from a chosen loopback address (any 127.0.0.0/8 address
//! reaches the loopback interface on Linux), and reads messages back with ldap3_proto's codec.

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapResultCode,
    LdapSearchRequest, LdapSearchScope,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::codec::{Decoder, Encoder};

pub struct Raw {
    pub sock: TcpStream,
    buf: BytesMut,
}

impl Raw {
    /// Connect to `server` from the loopback address `from` (e.g. "127.0.0.2").
    pub async fn connect_from(from: &str, server: SocketAddr) -> std::io::Result<Raw> {
        let ip: IpAddr = from.parse().expect("an IP address");
        let sock = TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(ip, 0))?;
        let sock = sock.connect(server).await?;
        Ok(Raw {
            sock,
            buf: BytesMut::new(),
        })
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(bytes).await
    }

    pub async fn send(&mut self, msg: LdapMsg) -> std::io::Result<()> {
        self.send_bytes(&encode(msg)).await
    }

    /// The next message, or `None` when the server closed the connection or nothing came
    /// within `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Option<LdapMsg> {
        let mut codec = LdapCodec::default();
        loop {
            if let Ok(Some(m)) = codec.decode(&mut self.buf) {
                return Some(m);
            }
            let mut chunk = [0u8; 16384];
            let n = tokio::time::timeout(wait, self.sock.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        }
    }

    /// Read messages until the final one of request `msgid` (or a notice); returns them all.
    pub async fn until_done(&mut self, msgid: i32, wait: Duration) -> Vec<LdapMsg> {
        let mut out = Vec::new();
        while let Some(m) = self.recv(wait).await {
            let last = m.msgid == 0
                || (m.msgid == msgid
                    && !matches!(
                        m.op,
                        LdapOp::SearchResultEntry(_) | LdapOp::SearchResultReference(_)
                    ));
            out.push(m);
            if last {
                break;
            }
        }
        out
    }

    /// A simple bind; the result code.
    pub async fn bind(&mut self, msgid: i32, dn: &str, pw: &str) -> Option<LdapResultCode> {
        self.send(bind(msgid, dn, pw)).await.ok()?;
        match self.recv(Duration::from_secs(20)).await?.op {
            LdapOp::BindResponse(r) => Some(r.res.code),
            _ => None,
        }
    }
}

pub fn encode(msg: LdapMsg) -> Vec<u8> {
    let mut b = BytesMut::new();
    LdapCodec::default()
        .encode(msg, &mut b)
        .expect("encodable message");
    b.to_vec()
}

pub fn bind(msgid: i32, dn: &str, pw: &str) -> LdapMsg {
    LdapMsg::new(
        msgid,
        LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: dn.into(),
            cred: LdapBindCred::Simple(pw.into()),
        }),
    )
}

pub fn search(msgid: i32, base: &str, scope: LdapSearchScope, attrs: Vec<String>) -> LdapMsg {
    LdapMsg::new(
        msgid,
        LdapOp::SearchRequest(LdapSearchRequest {
            base: base.into(),
            scope,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Present("objectClass".into()),
            attrs,
        }),
    )
}

/// Whether `m` is a Notice of Disconnection with `code`.
pub fn is_notice(m: &LdapMsg, code: LdapResultCode) -> bool {
    m.msgid == 0
        && matches!(&m.op, LdapOp::ExtendedResponse(r)
            if r.name.as_deref() == Some("1.3.6.1.4.1.1466.20036") && r.res.code == code)
}

/// The result code of a final response message.
pub fn code(m: &LdapMsg) -> Option<LdapResultCode> {
    match &m.op {
        LdapOp::SearchResultDone(r) => Some(r.code.clone()),
        LdapOp::BindResponse(r) => Some(r.res.code.clone()),
        LdapOp::ExtendedResponse(r) => Some(r.res.code.clone()),
        _ => None,
    }
}
