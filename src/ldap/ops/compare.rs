//! Compare (RFC 4511 §4.10): one assertion against one entry, under the attribute's equality
//! rule, with the same access rules as search.

use crate::ldap::LdapContext;
use crate::ldap::access::{self, Target};
use crate::ldap::dir;
use crate::ldap::error::OpError;
use crate::ldap::handler::result;
use crate::ldap::rootdse::root_dse;
use crate::ldap::session::Session;
use crate::ldap::subschema::subschema_entry;
use ldap3_proto::proto::{LdapCompareRequest, LdapMsg, LdapOp, LdapResultCode, LdapSearchScope};

fn reply(msgid: i32, res: Result<bool, OpError>) -> LdapMsg {
    let res = match res {
        Ok(true) => result(LdapResultCode::CompareTrue, ""),
        Ok(false) => result(LdapResultCode::CompareFalse, ""),
        Err(e) => e.result(),
    };
    LdapMsg::new(msgid, LdapOp::CompareResult(res))
}

pub(crate) fn compare(
    session: &Session,
    ctx: &LdapContext,
    msgid: i32,
    req: &LdapCompareRequest,
) -> LdapMsg {
    reply(msgid, evaluate(session, ctx, req))
}

/// Whether the assertion holds, or why it cannot be answered.
fn evaluate(
    session: &Session,
    ctx: &LdapContext,
    req: &LdapCompareRequest,
) -> Result<bool, OpError> {
    let no_such_attribute = || OpError::new(LdapResultCode::NoSuchAttribute, "no such attribute");
    let undefined = |base: &str| {
        OpError::new(
            LdapResultCode::UndefinedAttributeType,
            format!("unknown attribute type '{base}'"),
        )
    };
    let ndn = dir::normalize_dn(&req.dn).ok_or_else(|| {
        OpError::new(
            LdapResultCode::InvalidDNSyntax,
            format!("invalid DN '{}'", req.dn),
        )
    })?;
    let snapshot = ctx.snapshot.load();
    let target = access::resolve(session, ctx, &snapshot, &ndn, &LdapSearchScope::Base)?;
    let (base, options) = match req.atype.split_once(';') {
        Some((base, options)) => (base, Some(options)),
        None => (req.atype.as_str(), None),
    };
    if let Some(options) = options {
        // RFC 4512 §2.5: a description with an option this server does not support is
        // unrecognised. Language tags (RFC 3866) are understood as asking for tagged values,
        // of which there are none.
        let tags_only = options
            .split(';')
            .all(|o| o.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("lang-")));
        return Err(if tags_only && dir::attribute(base).is_some() {
            no_such_attribute()
        } else {
            undefined(&req.atype)
        });
    }
    let asserted = String::from_utf8_lossy(&req.val);
    if matches!(target, Target::RootDse | Target::Subschema) {
        let entry = if target == Target::RootDse {
            root_dse(&snapshot, session.starttls_available)
        } else {
            subschema_entry()
        };
        return match entry.entry.get(base) {
            Some(a) => Ok(a.values.iter().any(|v| v.eq_ignore_ascii_case(&asserted))),
            None if dir::attribute(base).is_some() => Err(no_such_attribute()),
            None => Err(undefined(base)),
        };
    }
    let id = snapshot.lookup(&ndn).ok_or_else(OpError::no_such_object)?;
    let info = dir::attribute(base).ok_or_else(|| undefined(base))?;
    // RFC 4511 §4.10: an assertion that is Undefined (a value invalid for the syntax: not
    // UTF-8 where the syntax is text, a malformed INTEGER, DN, UUID...) is an error, not
    // compareFalse. An Octet String takes any octets.
    let invalid = || {
        OpError::new(
            LdapResultCode::InvalidAttributeSyntax,
            format!("value not valid for the syntax of {}", info.name),
        )
    };
    let asserted = match std::str::from_utf8(&req.val) {
        Ok(v) => v,
        Err(_) if dir::takes_any_octets(info) => return Ok(false),
        Err(_) => return Err(invalid()),
    };
    if !dir::valid_assertion(info, asserted) {
        return Err(invalid());
    }
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
        return Err(no_such_attribute());
    }
    Ok(values.iter().any(|v| dir::values_equal(info, v, asserted)))
}
