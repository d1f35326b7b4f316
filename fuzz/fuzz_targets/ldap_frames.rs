//! Bytes from the network → the connection's framing codec: header limits, message-id checks
//! and ldap3_proto's decoder. Every decoded message must re-encode.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use o365_ldap::ldap::codec::{Codec, Limit};
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let mut codec = Codec::new(Limit {
        bytes: 64 * 1024,
        key: "server.max_pdu_size_anonymous",
    });
    let mut buf = BytesMut::from(data);
    while let Ok(Some(msg)) = codec.decode(&mut buf) {
        let mut out = BytesMut::new();
        let _ = codec.encode(msg, &mut out);
    }
});
