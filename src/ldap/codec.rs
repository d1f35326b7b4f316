//! Framing of LDAP messages on a connection, in front of ldap3_proto's decoder.
//!
//! ldap3_proto buffers up to twice its size limit before it refuses a message, and truncates
//! message ids to 32 bits. This reads the outer BER header first, so a message whose header
//! declares it too large is refused before its body is read (nothing is parked for it), and
//! checks the message id (RFC 4511 §4.1.1: 0..maxInt, and 0 only for unsolicited
//! notifications) before the message is decoded. The size limit depends on the session:
//! smaller before a bind (`server.max_pdu_size_anonymous`).

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::LdapMsg;
use std::io;
use tokio_util::codec::{Decoder, Encoder};

/// Why a connection's input could not be framed. Each ends the connection with a Notice of
/// Disconnection (`protocolError`).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("message of {declared} bytes is larger than the limit of {limit} bytes ({key})")]
    TooLarge {
        declared: u64,
        limit: usize,
        key: &'static str,
    },
    #[error("invalid message id: it must be between 1 and 2147483647")]
    BadMessageId,
    #[error("undecodable LDAP message")]
    Undecodable,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The limit in force and the setting it comes from, for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: usize,
    pub key: &'static str,
}

pub struct Codec {
    limit: Limit,
    inner: LdapCodec,
}

impl Codec {
    pub fn new(limit: Limit) -> Codec {
        Codec {
            limit,
            // The frame handed to ldap3_proto is already complete and within the limit.
            inner: LdapCodec::new(Some(usize::MAX / 4), None),
        }
    }

    /// Change the limit for the next message (after a bind, or back to anonymous).
    pub fn set_limit(&mut self, limit: Limit) {
        self.limit = limit;
    }
}

/// Where the content of a BER element starts and how long it is, or `None` while the header
/// is incomplete. LDAP uses the definite length form only (RFC 4511 §5.1).
fn header(buf: &[u8]) -> Result<Option<(usize, u64)>, FrameError> {
    let Some(&first) = buf.get(1) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((2, u64::from(first))));
    }
    let n = usize::from(first & 0x7f);
    // 0x80 is the indefinite form; more than 8 length octets cannot describe a real message.
    if n == 0 || n > 8 {
        return Err(FrameError::Undecodable);
    }
    let Some(octets) = buf.get(2..2 + n) else {
        return Ok(None);
    };
    let len = octets
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Ok(Some((2 + n, len)))
}

/// The message id of a complete LDAPMessage frame, checked to be in 1..=2^31-1.
fn check_message_id(frame: &[u8]) -> Result<usize, FrameError> {
    let (start, _) = header(frame)?.ok_or(FrameError::Undecodable)?;
    let id = frame.get(start..).ok_or(FrameError::Undecodable)?;
    if id.first() != Some(&0x02) {
        return Err(FrameError::Undecodable);
    }
    let (off, len) = header(id)?.ok_or(FrameError::Undecodable)?;
    let len = usize::try_from(len).map_err(|_| FrameError::BadMessageId)?;
    let end = off.checked_add(len).ok_or(FrameError::Undecodable)?;
    let bytes = id.get(off..end).ok_or(FrameError::Undecodable)?;
    // Two's complement: a set high bit in the first octet is a negative number. Leading zero
    // octets (one is needed before a high bit, e.g. 128 = 00 80; more are tolerated) carry no
    // value.
    match bytes.first() {
        None => return Err(FrameError::BadMessageId),
        Some(first) if first & 0x80 != 0 => return Err(FrameError::BadMessageId),
        Some(_) => {}
    }
    let significant = match bytes.iter().position(|b| *b != 0) {
        Some(at) => bytes.get(at..).unwrap_or(&[]),
        None => return Err(FrameError::BadMessageId),
    };
    if significant.len() > 4 {
        return Err(FrameError::BadMessageId);
    }
    let v = significant
        .iter()
        .fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    if (1..=i32::MAX as u64).contains(&v) {
        // Where the protocolOp starts.
        Ok(start + end)
    } else {
        Err(FrameError::BadMessageId)
    }
}

impl Codec {
    /// ldap3_proto's decoding of one complete frame, `None` when it refuses it.
    fn decode_frame(&mut self, mut frame: BytesMut) -> Option<LdapMsg> {
        match self.inner.decode(&mut frame) {
            Ok(Some(msg)) if frame.is_empty() => Some(msg),
            Ok(_) | Err(_) => None,
        }
    }
}

impl Decoder for Codec {
    type Item = LdapMsg;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<LdapMsg>, FrameError> {
        let Some(&tag) = buf.first() else {
            return Ok(None);
        };
        // An LDAPMessage is a universal constructed SEQUENCE.
        if tag != 0x30 {
            return Err(FrameError::Undecodable);
        }
        let Some((hdr, len)) = header(buf)? else {
            return Ok(None);
        };
        let total = (hdr as u64).saturating_add(len);
        if total > self.limit.bytes as u64 {
            return Err(FrameError::TooLarge {
                declared: total,
                limit: self.limit.bytes,
                key: self.limit.key,
            });
        }
        let total = usize::try_from(total).map_err(|_| FrameError::Undecodable)?;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let frame = buf.split_to(total);
        let op_at = check_message_id(&frame)?;
        // Only a SearchRequest ([APPLICATION 3]) can need the rewrite below, so only a search
        // keeps a copy of its bytes for it.
        if frame.get(op_at) != Some(&0x63) {
            return self
                .decode_frame(frame)
                .map(Some)
                .ok_or(FrameError::Undecodable);
        }
        if let Some(msg) = self.decode_frame(frame.clone()) {
            return Ok(Some(msg));
        }
        // A search whose filter holds non-UTF-8 values is a valid request that ldap3_proto
        // cannot hold; `undecodable` marks those values so it can.
        super::undecodable::rewrite_search(&frame)
            .and_then(|fixed| self.decode_frame(BytesMut::from(&fixed[..])))
            .map(Some)
            .ok_or(FrameError::Undecodable)
    }
}

impl Encoder<LdapMsg> for Codec {
    type Error = FrameError;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), FrameError> {
        self.inner.encode(msg, buf).map_err(FrameError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::LdapOp;

    fn limit(bytes: usize) -> Limit {
        Limit {
            bytes,
            key: "server.max_pdu_size",
        }
    }

    fn encoded(msg: LdapMsg) -> BytesMut {
        let mut b = BytesMut::new();
        LdapCodec::default().encode(msg, &mut b).unwrap();
        b
    }

    #[test]
    fn a_message_is_decoded_once_complete() {
        let whole = encoded(LdapMsg::new(7, LdapOp::UnbindRequest));
        let mut c = Codec::new(limit(1024));
        let mut buf = BytesMut::new();
        for (i, b) in whole.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = c.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i + 1 == whole.len());
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn an_oversized_message_is_refused_at_its_header() {
        // A header declaring 50 MB, with nothing after it.
        let mut buf = BytesMut::from(&[0x30, 0x84, 0x02, 0xfa, 0xf0, 0x80][..]);
        let mut c = Codec::new(limit(65_536));
        match c.decode(&mut buf) {
            Err(FrameError::TooLarge { declared, .. }) => assert_eq!(declared, 50_000_006),
            other => panic!("{other:?}"),
        }
        // Nothing was reserved for the body.
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn message_ids_outside_the_range_are_refused() {
        for bytes in [
            vec![0xff],                   // -1
            vec![0x00],                   // 0
            vec![0x80, 0, 0, 0],          // -2^31
            vec![0x00, 0x80, 0, 0, 0],    // 2^31
            vec![0x01, 0x00, 0, 0, 0x05], // 2^32 + 5, once truncated to 5
            vec![],
        ] {
            let mut body = vec![0x02, bytes.len() as u8];
            body.extend_from_slice(&bytes);
            body.extend_from_slice(&[0x42, 0x00]); // unbindRequest
            let mut msg = vec![0x30, body.len() as u8];
            msg.extend_from_slice(&body);
            let mut buf = BytesMut::from(&msg[..]);
            assert!(
                matches!(
                    Codec::new(limit(1024)).decode(&mut buf),
                    Err(FrameError::BadMessageId)
                ),
                "{bytes:?}"
            );
        }
        // Positive ids need a leading zero octet when their high bit is set (128 = 00 80).
        for (bytes, id) in [
            (vec![0x7f, 0xff, 0xff, 0xff], i32::MAX),
            (vec![0x00, 0x7f, 0xff, 0xff, 0xff], i32::MAX),
            (vec![0x00, 0x80], 128),
            (vec![0x00, 0xff], 255),
            (vec![0x00, 0x80, 0x00, 0x00], 0x0080_0000),
            (vec![0x05], 5),
        ] {
            let mut body = vec![0x02, bytes.len() as u8];
            body.extend_from_slice(&bytes);
            body.extend_from_slice(&[0x42, 0x00]);
            let mut msg = vec![0x30, body.len() as u8];
            msg.extend_from_slice(&body);
            let mut buf = BytesMut::from(&msg[..]);
            let got = Codec::new(limit(1024)).decode(&mut buf).unwrap().unwrap();
            assert_eq!(got.msgid, id, "{bytes:?}");
        }
    }

    #[test]
    fn a_message_id_length_near_the_integer_limit_is_refused() {
        // Found by fuzz/ldap_frames: an id declaring 2^64-1 octets inside a small message.
        let bytes = [
            0x30, 0x0b, 0x02, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let mut buf = BytesMut::from(&bytes[..]);
        assert!(matches!(
            Codec::new(limit(1024)).decode(&mut buf),
            Err(FrameError::Undecodable)
        ));
    }

    #[test]
    fn a_filter_value_that_is_not_utf8_is_a_valid_search() {
        use directory::filter::UNDECODABLE_VALUE_PREFIX;
        use ldap3_proto::proto::{
            LdapDerefAliases, LdapFilter, LdapSearchRequest, LdapSearchScope,
        };
        // Encode `(|(uid=alice)(cn=QQ))`, then make QQ the octets ff fe: same length, so the
        // frame stays well-formed BER, and ldap3_proto alone refuses it.
        let search = LdapSearchRequest {
            base: "dc=contoso,dc=com".into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Or(vec![
                LdapFilter::Equality("uid".into(), "alice".into()),
                LdapFilter::Equality("cn".into(), "QQ".into()),
            ]),
            attrs: vec!["uid".into()],
        };
        let mut bytes = encoded(LdapMsg::new(9, LdapOp::SearchRequest(search))).to_vec();
        let at = bytes.windows(2).position(|w| w == b"QQ").unwrap();
        bytes[at] = 0xff;
        bytes[at + 1] = 0xfe;
        assert!(
            LdapCodec::default()
                .decode(&mut BytesMut::from(&bytes[..]))
                .is_err()
        );
        let mut buf = BytesMut::from(&bytes[..]);
        let msg = Codec::new(limit(1024)).decode(&mut buf).unwrap().unwrap();
        assert_eq!(msg.msgid, 9);
        let LdapOp::SearchRequest(req) = msg.op else {
            panic!("{msg:?}")
        };
        assert_eq!(req.base, "dc=contoso,dc=com");
        assert_eq!(req.attrs, vec!["uid".to_string()]);
        assert_eq!(
            req.filter,
            LdapFilter::Or(vec![
                LdapFilter::Equality("uid".into(), "alice".into()),
                LdapFilter::Equality(format!("{UNDECODABLE_VALUE_PREFIX}cn"), String::new()),
            ])
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn a_deeply_nested_filter_with_a_value_that_is_not_utf8_is_bounded() {
        use ldap3_proto::proto::{
            LdapDerefAliases, LdapFilter, LdapSearchRequest, LdapSearchScope,
        };
        let nested = |levels: usize| {
            let mut f = LdapFilter::Equality("cn".into(), "Q".into());
            for _ in 0..levels {
                f = LdapFilter::Not(Box::new(f));
            }
            let search = LdapSearchRequest {
                base: String::new(),
                scope: LdapSearchScope::Subtree,
                aliases: LdapDerefAliases::Never,
                sizelimit: 0,
                timelimit: 0,
                typesonly: false,
                filter: f,
                attrs: vec![],
            };
            let mut bytes = encoded(LdapMsg::new(3, LdapOp::SearchRequest(search))).to_vec();
            let at = bytes.iter().rposition(|b| *b == b'Q').unwrap();
            bytes[at] = 0xff;
            BytesMut::from(&bytes[..])
        };
        let mut ok = nested(20);
        assert!(
            Codec::new(limit(1 << 16))
                .decode(&mut ok)
                .unwrap()
                .is_some()
        );
        // Past the walk's depth bound the request stays undecodable, without recursing further.
        let mut deep = nested(1000);
        assert!(matches!(
            Codec::new(limit(1 << 16)).decode(&mut deep),
            Err(FrameError::Undecodable)
        ));
    }

    #[test]
    fn junk_and_indefinite_lengths_are_undecodable() {
        for bytes in [
            &[0x04, 0x00][..],
            &[0x30, 0x80, 0, 0],
            &[0x30, 0x89, 1, 2, 3],
        ] {
            let mut buf = BytesMut::from(bytes);
            assert!(
                matches!(
                    Codec::new(limit(1024)).decode(&mut buf),
                    Err(FrameError::Undecodable)
                ),
                "{bytes:?}"
            );
        }
    }
}
