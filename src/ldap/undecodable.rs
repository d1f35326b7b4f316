//! Search filters whose assertion values are not UTF-8, made decodable.
//!
//! RFC 4511 §4.1.6 makes an AssertionValue an OCTET STRING: any octets form a valid request,
//! and a value that is invalid for its attribute's syntax makes the filter item Undefined
//! (§4.5.1.7), so `(|(uid=alice)(objectGUID=\ff\fe))` must still find alice. ldap3_proto
//! decodes filter values into `String` and refuses the whole message instead.
//!
//! Why rewrite the bytes rather than decode the request ourselves: every later stage (limits,
//! index planning, evaluation, paging, logging) works on ldap3_proto's `LdapFilter`, and a
//! second filter type would have to be kept in step with it everywhere. Instead, when
//! ldap3_proto refuses a SearchRequest, its filter is re-encoded with each item whose value
//! is not UTF-8 marked: the attribute description becomes
//! `directory::filter::UNDECODABLE_VALUE_PREFIX` + the description, the value is dropped. The
//! filter compiler turns a marked item into Undefined (False for Octet String types, where
//! any octets are a valid value that no stored value equals). Nothing else changes: the
//! message id, the other fields and the controls are copied as they came. A description can
//! never carry the marker by itself (it starts with NUL, which RFC 4512 §2.5 does not allow).
//! Requests that decode as they are never come here, so the common path costs nothing.

use directory::filter::UNDECODABLE_VALUE_PREFIX;

/// One BER element: its tag, its content, and what follows it.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    rest: &'a [u8],
}

/// Splits the first element off `buf` (single-octet tags and definite lengths, as LDAP uses).
fn tlv(buf: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after) = buf.split_first()?;
    let (&first, after) = after.split_first()?;
    let (len, after) = if first < 0x80 {
        (usize::from(first), after)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let octets = after.get(..n)?;
        let len = octets
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, after.get(n..)?)
    };
    Some(Tlv {
        tag,
        content: after.get(..len)?,
        rest: after.get(len..)?,
    })
}

/// Appends an element with a minimal definite length.
fn put(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
}

/// The elements of a constructed content, in order.
fn children(mut content: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let t = tlv(content)?;
        content = t.rest;
        out.push(t);
    }
    Some(out)
}

fn marked(desc: &[u8]) -> Vec<u8> {
    let mut m = UNDECODABLE_VALUE_PREFIX.as_bytes().to_vec();
    m.extend_from_slice(String::from_utf8_lossy(desc).as_bytes());
    m
}

fn is_text(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok()
}

/// Deeper filters are left undecodable: the walk recurses once per level, and no filter the
/// server accepts comes near this (`server.max_filter_depth` is checked after decoding).
const MAX_DEPTH: usize = 128;

/// Re-encodes one Filter (RFC 4511 §4.5.1) with every item whose value is not UTF-8 marked;
/// `None` when the filter is not well-formed BER or nested deeper than `MAX_DEPTH` (the
/// request stays undecodable).
fn filter(f: &Tlv<'_>, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    // Grown as written: reserving the input's size at every level would cost depth × size.
    let mut content = Vec::new();
    match f.tag {
        // and, or, not
        0xa0..=0xa2 => {
            for c in children(f.content)? {
                filter(&c, &mut content, depth + 1)?;
            }
        }
        // equalityMatch, greaterOrEqual, lessOrEqual, approxMatch: AttributeValueAssertion
        0xa3 | 0xa5 | 0xa6 | 0xa8 => {
            let [desc, value] = children(f.content)?.try_into().ok()?;
            if is_text(desc.content) && is_text(value.content) {
                content.extend_from_slice(f.content);
            } else {
                put(&mut content, 0x04, &marked(desc.content));
                put(&mut content, 0x04, &[]);
            }
        }
        // substrings: type, then initial/any/final components
        0xa4 => {
            let [desc, parts] = children(f.content)?.try_into().ok()?;
            let comps = children(parts.content)?;
            if is_text(desc.content) && comps.iter().all(|c| is_text(c.content)) {
                content.extend_from_slice(f.content);
            } else {
                put(&mut content, 0x04, &marked(desc.content));
                // One `any` component keeps the SUBSTRINGS shape ldap3_proto expects.
                let mut any = Vec::new();
                put(&mut any, 0x81, b"*");
                put(&mut content, 0x30, &any);
            }
        }
        // present: an AttributeDescription only
        0x87 if is_text(f.content) => content.extend_from_slice(f.content),
        0x87 => content.extend_from_slice(&marked(f.content)),
        // extensibleMatch: [1] rule, [2] type, [3] value, [4] dnAttributes
        0xa9 => {
            let parts = children(f.content)?;
            if parts.iter().all(|p| is_text(p.content) || p.tag == 0x84) {
                content.extend_from_slice(f.content);
            } else {
                let desc = parts
                    .iter()
                    .find(|p| p.tag == 0x82)
                    .map_or(&[][..], |p| p.content);
                put(&mut content, 0x82, &marked(desc));
                put(&mut content, 0x83, &[]);
            }
        }
        _ => return None,
    }
    put(out, f.tag, &content);
    Some(())
}

/// A SearchRequest message with its filter made decodable (see the module comment); `None`
/// when `frame` is not a well-formed SearchRequest.
pub(super) fn rewrite_search(frame: &[u8]) -> Option<Vec<u8>> {
    let msg = tlv(frame)?;
    if msg.tag != 0x30 || !msg.rest.is_empty() {
        return None;
    }
    let id = tlv(msg.content)?;
    let op = tlv(id.rest)?;
    // [APPLICATION 3] SearchRequest
    if op.tag != 0x63 {
        return None;
    }
    // baseObject, scope, derefAliases, sizeLimit, timeLimit, typesOnly: copied as they are.
    let mut cursor = op.content;
    for _ in 0..6 {
        cursor = tlv(cursor)?.rest;
    }
    let fixed_len = op.content.len() - cursor.len();
    let f = tlv(cursor)?;
    let mut body = op.content.get(..fixed_len)?.to_vec();
    filter(&f, &mut body, 1)?;
    body.extend_from_slice(f.rest);
    let mut content = msg
        .content
        .get(..msg.content.len() - id.rest.len())?
        .to_vec();
    put(&mut content, op.tag, &body);
    content.extend_from_slice(op.rest);
    let mut out = Vec::with_capacity(content.len() + 6);
    put(&mut out, 0x30, &content);
    Some(out)
}
