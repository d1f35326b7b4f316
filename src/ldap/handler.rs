//! Transport-free request handling: one decoded `LdapMsg` and the session in, the response
//! messages and what the connection must do next out. The socket loop only frames, encrypts
//! and enforces limits.

use super::LdapContext;
use super::error::OpError;
use super::ops::{self, search::EntryBatch};
use super::rootdse::OID_NOTICE_OF_DISCONNECTION;
use super::session::Session;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{LdapExtendedResponse, LdapMsg, LdapOp, LdapResultCode};

/// What the connection does after sending the replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// The StartTLS response is in the replies: flush it, then run the TLS handshake.
    StartTls,
    /// Close without a further message (unbind).
    Close,
    /// Send a Notice of Disconnection with this code and message, then close.
    Disconnect(OpError),
}

/// One unit of output: a message, search result entries encoded as they are written, or
/// messages already encoded (a synthetic search result entry).
#[derive(Debug)]
pub enum Reply {
    Msg(LdapMsg),
    Entries(EntryBatch),
    Encoded(Vec<u8>),
}

#[derive(Debug)]
pub struct Response {
    pub replies: Vec<Reply>,
    pub action: Action,
}

impl Response {
    pub fn one(msg: LdapMsg) -> Response {
        Response {
            replies: vec![Reply::Msg(msg)],
            action: Action::Continue,
        }
    }

    pub fn none(action: Action) -> Response {
        Response {
            replies: Vec::new(),
            action,
        }
    }

    /// The result code of the final response (the last message), for metrics; `None` for
    /// requests that get none (abandon, unbind).
    pub fn result_code(&self) -> Option<LdapResultCode> {
        let Some(Reply::Msg(m)) = self.replies.last() else {
            return None;
        };
        let res = match &m.op {
            LdapOp::BindResponse(r) => &r.res,
            LdapOp::ExtendedResponse(r) => &r.res,
            LdapOp::SearchResultDone(r)
            | LdapOp::CompareResult(r)
            | LdapOp::ModifyResponse(r)
            | LdapOp::AddResponse(r)
            | LdapOp::DelResponse(r)
            | LdapOp::ModifyDNResponse(r) => r,
            _ => return None,
        };
        Some(res.code.clone())
    }

    /// Every message in order, encoded ones decoded (tests and simple transports).
    pub fn messages(&self) -> Vec<LdapMsg> {
        let mut out = Vec::new();
        for r in &self.replies {
            match r {
                Reply::Msg(m) => out.push(m.clone()),
                Reply::Entries(b) => out.extend(b.messages()),
                Reply::Encoded(bytes) => out.extend(decode_messages(bytes)),
            }
        }
        out
    }
}

/// The messages in `bytes`, decoded with ldap3_proto; stops at the first one that does not
/// decode (the server's own encoders never write one).
pub(crate) fn decode_messages(bytes: &[u8]) -> Vec<LdapMsg> {
    use tokio_util::codec::Decoder;
    let mut buf = bytes::BytesMut::from(bytes);
    let mut codec = ldap3_proto::LdapCodec::new(Some(usize::MAX / 4), None);
    let mut out = Vec::new();
    while let Ok(Some(m)) = codec.decode(&mut buf) {
        out.push(m);
    }
    out
}

pub(crate) use super::error::result;

/// The Notice of Disconnection (RFC 4511 §4.4.1): unsolicited, message id 0.
pub(crate) fn notice_of_disconnection(error: OpError) -> LdapMsg {
    LdapMsg::new(
        0,
        LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: error.result(),
            name: Some(OID_NOTICE_OF_DISCONNECTION.to_owned()),
            value: None,
        }),
    )
}

/// The response a request gets when it fails as a whole, of the type matching the request.
/// `None` for requests that have no response (abandon, unbind) or are not requests.
pub(crate) fn error_response(msgid: i32, op: &LdapOp, error: OpError) -> Option<LdapMsg> {
    let res = error.result();
    let op = match op {
        LdapOp::BindRequest(_) => LdapOp::BindResponse(ldap3_proto::proto::LdapBindResponse {
            res,
            saslcreds: None,
        }),
        LdapOp::SearchRequest(_) => LdapOp::SearchResultDone(res),
        LdapOp::ModifyRequest(_) => LdapOp::ModifyResponse(res),
        LdapOp::AddRequest(_) => LdapOp::AddResponse(res),
        LdapOp::DelRequest(_) => LdapOp::DelResponse(res),
        LdapOp::ModifyDNRequest(_) => LdapOp::ModifyDNResponse(res),
        LdapOp::CompareRequest(_) => LdapOp::CompareResult(res),
        LdapOp::ExtendedRequest(_) => LdapOp::ExtendedResponse(LdapExtendedResponse {
            res,
            name: None,
            value: None,
        }),
        _ => return None,
    };
    Some(LdapMsg::new(msgid, op))
}

/// A control the client marked critical that this server does not implement, if any
/// (RFC 4511 §4.1.11). The paged results control is understood (and carries no criticality
/// in the decoded form); on requests other than searches it is ignored.
fn unsupported_critical(ctrl: &[LdapControl]) -> Option<String> {
    ctrl.iter().find_map(|c| match c {
        LdapControl::Unknown {
            oid,
            criticality: true,
            ..
        } => Some(oid.clone()),
        LdapControl::ManageDsaIT { criticality: true } => Some("2.16.840.1.113730.3.4.2".into()),
        LdapControl::SyncRequest {
            criticality: true, ..
        } => Some("1.3.6.1.4.1.4203.1.9.1.1".into()),
        LdapControl::PasswordPolicyRequest { criticality: true } => {
            Some("1.3.6.1.4.1.42.2.27.8.5.1".into())
        }
        LdapControl::SearchOptions {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.1340".into()),
        LdapControl::ShowDeleted { criticality: true } => Some("1.2.840.113556.1.4.417".into()),
        LdapControl::SdFlags {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.801".into()),
        LdapControl::ExtendedDn {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.529".into()),
        // DirSync is always sent critical (the parser drops the flag): ignoring it would give
        // the client a silently wrong answer.
        LdapControl::AdDirsync { .. } => Some("1.2.840.113556.1.4.841".into()),
        _ => None,
    })
}

/// The operation's name in metrics.
pub(crate) fn op_name(op: &LdapOp) -> &'static str {
    match op {
        LdapOp::BindRequest(_) => "bind",
        LdapOp::UnbindRequest => "unbind",
        LdapOp::SearchRequest(_) => "search",
        LdapOp::CompareRequest(_) => "compare",
        LdapOp::AbandonRequest(_) => "abandon",
        LdapOp::ExtendedRequest(_) => "extended",
        LdapOp::AddRequest(_) => "add",
        LdapOp::ModifyRequest(_) => "modify",
        LdapOp::DelRequest(_) => "delete",
        LdapOp::ModifyDNRequest(_) => "modify_dn",
        _ => "other",
    }
}

/// A result code as RFC 4511 spells it (`success`, `noSuchObject`), for metrics.
pub(crate) fn result_name(code: Option<LdapResultCode>) -> String {
    let Some(code) = code else {
        return "none".into();
    };
    let debug = format!("{code:?}");
    let mut chars = debug.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => debug,
    }
}

/// Handle one request. Never panics; every request except abandon and unbind gets exactly
/// one final response.
pub async fn handle(session: &mut Session, ctx: &LdapContext, msg: LdapMsg) -> Response {
    let LdapMsg { msgid, op, ctrl } = msg;
    // Message id 0 is reserved for unsolicited notifications (RFC 4511 §4.1.1.1).
    if msgid <= 0 {
        return Response::none(Action::Disconnect(OpError::new(
            LdapResultCode::ProtocolError,
            format!("invalid message id {msgid}"),
        )));
    }
    if let Some(oid) = unsupported_critical(&ctrl) {
        let error = OpError::new(
            LdapResultCode::UnavailableCriticalExtension,
            format!("critical control {oid} is not supported"),
        );
        return match error_response(msgid, &op, error) {
            Some(m) => Response::one(m),
            None => Response::none(Action::Continue),
        };
    }
    match op {
        LdapOp::BindRequest(req) => Response::one(ops::bind::bind(session, ctx, msgid, req).await),
        LdapOp::UnbindRequest => Response::none(Action::Close),
        LdapOp::SearchRequest(req) => ops::search::search(session, ctx, msgid, req, &ctrl).await,
        LdapOp::CompareRequest(req) => {
            Response::one(ops::compare::compare(session, ctx, msgid, &req))
        }
        // Operations run one at a time per connection, so by the time an abandon is read the
        // operation it names has already been answered; there is never anything to stop.
        LdapOp::AbandonRequest(_) => Response::none(Action::Continue),
        LdapOp::ExtendedRequest(req) => ops::extended::extended(session, ctx, msgid, &req),
        op @ (LdapOp::AddRequest(_)
        | LdapOp::ModifyRequest(_)
        | LdapOp::DelRequest(_)
        | LdapOp::ModifyDNRequest(_)) => {
            let message = "the directory is read-only: it is derived from Microsoft 365; change the object there (or the o365-ldap policy) instead";
            let error = OpError::new(LdapResultCode::UnwillingToPerform, message);
            match error_response(msgid, &op, error) {
                Some(m) => Response::one(m),
                None => Response::none(Action::Continue),
            }
        }
        // A response or intermediate message sent to a server is a protocol violation.
        _ => Response::none(Action::Disconnect(OpError::new(
            LdapResultCode::ProtocolError,
            "a client sent a server response message",
        ))),
    }
}
