//! Extended operations: Who-am-I (RFC 4532) and StartTLS (RFC 4511 §4.14); anything else is
//! refused with the OID named.

use crate::ldap::LdapContext;
use crate::ldap::error::OpError;
use crate::ldap::handler::{Action, Response, result};
use crate::ldap::rootdse::{OID_PASSWORD_MODIFY, OID_STARTTLS, OID_WHOAMI};
use crate::ldap::session::{ListenerKind, Session};
use ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapMsg, LdapOp, LdapResultCode,
};

fn reply(msgid: i32, res: Result<Option<Vec<u8>>, OpError>, name: Option<&str>) -> LdapMsg {
    let (res, value) = match res {
        Ok(value) => (result(LdapResultCode::Success, ""), value),
        Err(e) => (e.result(), None),
    };
    LdapMsg::new(
        msgid,
        LdapOp::ExtendedResponse(LdapExtendedResponse {
            res,
            name: name.map(str::to_owned),
            value,
        }),
    )
}

pub(crate) fn extended(
    session: &mut Session,
    _ctx: &LdapContext,
    msgid: i32,
    req: &LdapExtendedRequest,
) -> Response {
    match req.name.as_str() {
        OID_WHOAMI => {
            let authz = session
                .identity
                .dn()
                .map(|dn| format!("dn:{dn}"))
                .unwrap_or_default();
            Response::one(reply(msgid, Ok(Some(authz.into_bytes())), None))
        }
        OID_STARTTLS => {
            let error = if session.tls {
                OpError::new(
                    LdapResultCode::OperationsError,
                    "TLS is already established on this connection",
                )
            } else if session.listener != ListenerKind::Ldap || !session.starttls_available {
                OpError::new(
                    LdapResultCode::Unavailable,
                    "StartTLS is not available: the server has no certificate",
                )
            } else {
                // Operations run one at a time, so none is outstanding now (RFC 4511 §4.14.1).
                return Response {
                    replies: vec![super::super::handler::Reply::Msg(reply(
                        msgid,
                        Ok(None),
                        Some(OID_STARTTLS),
                    ))],
                    action: Action::StartTls,
                };
            };
            Response::one(reply(msgid, Err(error), Some(OID_STARTTLS)))
        }
        OID_PASSWORD_MODIFY => Response::one(reply(
            msgid,
            Err(OpError::new(
                LdapResultCode::UnwillingToPerform,
                "passwords are changed in Microsoft 365 (or with `o365-ldap ctl set-password`), not over LDAP",
            )),
            None,
        )),
        other => Response::one(reply(
            msgid,
            Err(OpError::new(
                LdapResultCode::ProtocolError,
                format!("extended operation {other} is not supported"),
            )),
            None,
        )),
    }
}
