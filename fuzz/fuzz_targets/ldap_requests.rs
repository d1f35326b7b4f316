//! Bytes in, responses out: frames decoded as the connection does, each request answered by
//! the transport-free handler over a small directory, every response encoded.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use o365_ldap::ldap::codec::{Codec, Limit};
use o365_ldap::ldap::{Action, LdapContext, ListenerKind, Session, handle};
use std::sync::OnceLock;
use tokio_util::codec::{Decoder, Encoder};

fn ctx() -> &'static LdapContext {
    static CTX: OnceLock<LdapContext> = OnceLock::new();
    CTX.get_or_init(o365_ldap_fuzz::context)
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut session = Session::new(ListenerKind::Ldaps, true, "192.0.2.1:40000".parse().ok());
        let mut codec = Codec::new(Limit {
            bytes: 1024 * 1024,
            key: "server.max_pdu_size",
        });
        let mut buf = BytesMut::from(data);
        while let Ok(Some(msg)) = codec.decode(&mut buf) {
            let response = handle(&mut session, ctx(), msg).await;
            for m in response.messages() {
                let mut out = BytesMut::new();
                let _ = codec.encode(m, &mut out);
            }
            if !matches!(response.action, Action::Continue) {
                break;
            }
        }
    });
});
