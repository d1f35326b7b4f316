//! Compare (RFC 4511 §4.10): one assertion against one entry, under the attribute's equality
//! rule, with the same access rules as search.

use crate::ldap::LdapContext;
use crate::ldap::access::{self, Target};
use crate::ldap::dir;
use crate::ldap::handler::result;
use crate::ldap::rootdse::root_dse;
use crate::ldap::session::Session;
use crate::ldap::subschema::subschema_entry;
use ldap3_proto::proto::{LdapCompareRequest, LdapMsg, LdapOp, LdapResultCode, LdapSearchScope};

fn reply(msgid: i32, code: LdapResultCode, message: &str) -> LdapMsg {
    LdapMsg::new(msgid, LdapOp::CompareResult(result(code, message)))
}

fn verdict(msgid: i32, equal: bool) -> LdapMsg {
    reply(
        msgid,
        if equal {
            LdapResultCode::CompareTrue
        } else {
            LdapResultCode::CompareFalse
        },
        "",
    )
}

pub fn compare(
    session: &Session,
    ctx: &LdapContext,
    msgid: i32,
    req: &LdapCompareRequest,
) -> LdapMsg {
    let Some(ndn) = dir::normalize_dn(&req.dn) else {
        return reply(
            msgid,
            LdapResultCode::InvalidDNSyntax,
            &format!("invalid DN '{}'", req.dn),
        );
    };
    let snapshot = ctx.snapshot.load();
    let target = match access::resolve(session, ctx, &snapshot, &ndn, &LdapSearchScope::Base) {
        Ok(t) => t,
        Err((code, message)) => return reply(msgid, code, &message),
    };
    let base = req.atype.split(';').next().unwrap_or(&req.atype);
    let asserted = String::from_utf8_lossy(&req.val);
    if matches!(target, Target::RootDse | Target::Subschema) {
        let entry = if target == Target::RootDse {
            root_dse(&snapshot, session.starttls_available)
        } else {
            subschema_entry()
        };
        return match entry.get(base) {
            Some(a) => verdict(
                msgid,
                a.values.iter().any(|v| v.eq_ignore_ascii_case(&asserted)),
            ),
            None if dir::attribute(base).is_some() => {
                reply(msgid, LdapResultCode::NoSuchAttribute, "no such attribute")
            }
            None => reply(
                msgid,
                LdapResultCode::UndefinedAttributeType,
                &format!("unknown attribute type '{base}'"),
            ),
        };
    }
    let Some(id) = snapshot.lookup(&ndn) else {
        return reply(msgid, LdapResultCode::NoSuchObject, "no such object");
    };
    let Some(info) = dir::attribute(base) else {
        return reply(
            msgid,
            LdapResultCode::UndefinedAttributeType,
            &format!("unknown attribute type '{base}'"),
        );
    };
    let entry = snapshot.entry(id);
    let values: Vec<String> = if info.operational {
        if info.name == "hasSubordinates" {
            vec![
                if snapshot.has_children(id) {
                    "TRUE"
                } else {
                    "FALSE"
                }
                .to_owned(),
            ]
        } else {
            dir::operational_value(entry, info.name).unwrap_or_default()
        }
    } else {
        entry
            .values(info.name)
            .iter()
            .map(|v| v.to_string())
            .collect()
    };
    if values.is_empty() {
        return reply(msgid, LdapResultCode::NoSuchAttribute, "no such attribute");
    }
    verdict(
        msgid,
        values.iter().any(|v| dir::values_equal(info, v, &asserted)),
    )
}
