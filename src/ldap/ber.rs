//! Direct BER encoding of SearchResultEntry messages (RFC 4511 §4.5.2), the one response a
//! listing sends thousands of times. Going through `LdapMsg` builds a tree of tags, copies
//! every value twice and allocates per node; writing the bytes straight into the connection's
//! buffer costs a fraction of that. Every other response still goes through `ldap3_proto`.
//! Tests check the bytes are exactly what `ldap3_proto` produces for the same message.

/// An attribute to encode: its description and values.
pub(crate) struct Attr<'a> {
    pub name: std::borrow::Cow<'a, str>,
    pub values: Values<'a>,
}

/// Attribute values as the caller holds them (no copies into a common shape).
#[derive(Clone, Copy)]
pub(crate) enum Values<'a> {
    /// A stored attribute's packed values.
    Packed(directory::entry::Values<'a>),
    Owned(&'a [String]),
    Str(&'a [&'a str]),
}

impl Values<'_> {
    fn for_each(self, mut f: impl FnMut(&str)) {
        match self {
            Values::Packed(v) => v.for_each(f),
            Values::Owned(v) => v.iter().for_each(|s| f(s)),
            Values::Str(v) => v.iter().for_each(|s| f(s)),
        }
    }

    fn content_len(self) -> usize {
        match self {
            Values::Packed(v) => v.map(|s| tlv(s.len())).sum(),
            Values::Owned(v) => v.iter().map(|s| tlv(s.len())).sum(),
            Values::Str(v) => v.iter().map(|s| tlv(s.len())).sum(),
        }
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
/// `[APPLICATION 4]`, constructed.
const SEARCH_RESULT_ENTRY: u8 = 0x64;

/// Bytes a definite length takes.
fn len_len(n: usize) -> usize {
    match n {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

/// Bytes of a whole TLV whose content is `n` bytes long.
fn tlv(n: usize) -> usize {
    1 + len_len(n) + n
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    let bytes = (n as u32).to_be_bytes();
    match len_len(n) {
        1 => out.push(n as u8),
        k => {
            out.push(0x80 | (k - 1) as u8);
            out.extend_from_slice(&bytes[5 - k..]);
        }
    }
}

/// The minimal two's-complement big-endian content of an INTEGER.
fn int_content(v: i32) -> ([u8; 4], usize) {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start < 3 {
        let (cur, next) = (b[start], b[start + 1]);
        if (cur == 0x00 && next & 0x80 == 0) || (cur == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    (b, start)
}

/// Append a SearchResultEntry for `dn` with `attrs` under message id `msgid`.
pub(crate) fn search_result_entry(out: &mut Vec<u8>, msgid: i32, dn: &str, attrs: &[Attr<'_>]) {
    // Each attribute's values are walked once for their length, not once per enclosing TLV.
    let set_lens: Vec<usize> = attrs.iter().map(|a| a.values.content_len()).collect();
    let attr_len = |a: &Attr<'_>, set: usize| tlv(a.name.len()) + tlv(set);
    let attrs_content: usize = attrs
        .iter()
        .zip(&set_lens)
        .map(|(a, &set)| tlv(attr_len(a, set)))
        .sum();
    let op_content = tlv(dn.len()) + tlv(attrs_content);
    let (ib, istart) = int_content(msgid);
    let int_bytes = &ib[istart..];
    let msg_content = tlv(int_bytes.len()) + tlv(op_content);
    out.reserve(tlv(msg_content));

    out.push(SEQUENCE);
    put_len(out, msg_content);
    out.push(INTEGER);
    put_len(out, int_bytes.len());
    out.extend_from_slice(int_bytes);
    out.push(SEARCH_RESULT_ENTRY);
    put_len(out, op_content);
    out.push(OCTET_STRING);
    put_len(out, dn.len());
    out.extend_from_slice(dn.as_bytes());
    out.push(SEQUENCE);
    put_len(out, attrs_content);
    for (a, &set) in attrs.iter().zip(&set_lens) {
        out.push(SEQUENCE);
        put_len(out, attr_len(a, set));
        out.push(OCTET_STRING);
        put_len(out, a.name.len());
        out.extend_from_slice(a.name.as_bytes());
        out.push(SET);
        put_len(out, set);
        a.values.for_each(|v| {
            out.push(OCTET_STRING);
            put_len(out, v.len());
            out.extend_from_slice(v.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use ldap3_proto::LdapCodec;
    use ldap3_proto::proto::{LdapMsg, LdapOp, LdapPartialAttribute, LdapSearchResultEntry};
    use tokio_util::codec::{Decoder, Encoder};

    fn reference(msgid: i32, dn: &str, attrs: &[Attr<'_>]) -> Vec<u8> {
        let msg = LdapMsg::new(
            msgid,
            LdapOp::SearchResultEntry(LdapSearchResultEntry {
                dn: dn.to_string(),
                attributes: attrs
                    .iter()
                    .map(|a| LdapPartialAttribute {
                        atype: a.name.to_string(),
                        vals: {
                            let mut vals = Vec::new();
                            a.values.for_each(|v| vals.push(v.as_bytes().to_vec()));
                            vals
                        },
                    })
                    .collect(),
            }),
        );
        let mut buf = BytesMut::new();
        LdapCodec::default()
            .encode(msg, &mut buf)
            .expect("reference encodes");
        buf.to_vec()
    }

    #[test]
    fn bytes_match_ldap3_proto_for_every_length_form_and_message_id() {
        let long = "x".repeat(300);
        let huge = "y".repeat(70_000);
        let many: Vec<String> = (0..200).map(|i| format!("member-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let long = [long.as_str()];
        let huge = [huge.as_str()];
        let cases: Vec<(&str, Vec<Attr<'_>>)> = vec![
            ("", vec![]),
            (
                r#"cn=R&D\, Europe \+ \"Special\",ou=groups,dc=contoso,dc=com"#,
                vec![
                    Attr {
                        name: "cn".into(),
                        values: Values::Str(&["R&D, Europe + \"Special\""]),
                    },
                    Attr {
                        name: "memberUid".into(),
                        values: Values::Str(&[]),
                    },
                    Attr {
                        name: "description".into(),
                        values: Values::Str(&["Ünïcødé", ""]),
                    },
                ],
            ),
            (
                "uid=a,ou=people,dc=x",
                vec![
                    Attr {
                        name: "description".into(),
                        values: Values::Str(&long),
                    },
                    Attr {
                        name: "member".into(),
                        values: Values::Str(&many),
                    },
                    Attr {
                        name: "jpegPhoto".into(),
                        values: Values::Str(&huge),
                    },
                ],
            ),
        ];
        for msgid in [0, 1, 127, 128, 255, 256, 32767, 32768, 65536, i32::MAX] {
            for (dn, attrs) in &cases {
                let mut ours = Vec::new();
                search_result_entry(&mut ours, msgid, dn, attrs);
                assert_eq!(
                    ours,
                    reference(msgid, dn, attrs),
                    "msgid {msgid}, dn {dn:?}"
                );
                // And it decodes back to the same message.
                let mut buf = BytesMut::from(ours.as_slice());
                let decoded = LdapCodec::new(Some(1 << 20), None)
                    .decode(&mut buf)
                    .expect("decodes")
                    .expect("one message");
                assert_eq!(decoded.msgid, msgid);
            }
        }
    }
}
