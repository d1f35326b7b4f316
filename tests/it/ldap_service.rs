//! The LDAP service over real sockets: LDAPS, StartTLS, plaintext refusal, paging, compare,
//! garbage input and connection limits, talking to `serve` with the `ldap3` client crate.

use arc_swap::ArcSwap;
use config::{Config, Dur};
use directory::derive::{BuildReport, TenantBuild};
use directory::{Attr, Entry, EntryKind};
use directory::{Snapshot, TenantInfo};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::exop::{WhoAmI, WhoAmIResp};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use o365_ldap::auth::{ServiceAccounts, hash_password};
use o365_ldap::ldap::{LdapContext, ServeHandle, serve};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const VPN_DN: &str = "cn=vpn,ou=services,dc=contoso,dc=com";
const VPN_PW: &str = "correct horse, battery staple";

fn entry(dn: &str, kind: EntryKind, attrs: &[(&'static str, &[&str])]) -> Entry {
    Entry::new(
        dn,
        dn.to_ascii_lowercase(),
        kind,
        0,
        attrs
            .iter()
            .map(|(n, v)| Attr {
                name: n,
                values: v.iter().map(|s| Box::from(*s)).collect(),
            })
            .collect::<Vec<_>>(),
        "20240101000000Z",
        "20240101000000Z",
    )
}

fn snapshot() -> Snapshot {
    let mut entries = vec![
        entry(
            "dc=contoso,dc=com",
            EntryKind::Root,
            &[
                ("objectClass", &["top", "dcObject", "organization"]),
                ("dc", &["contoso"]),
            ],
        ),
        entry(
            "ou=people,dc=contoso,dc=com",
            EntryKind::Container,
            &[
                ("objectClass", &["top", "organizationalUnit"]),
                ("ou", &["people"]),
            ],
        ),
    ];
    for i in 0..25 {
        let uid = format!("user{i:02}");
        let dn = format!("uid={uid},ou=people,dc=contoso,dc=com");
        let num = format!("{}", 100_000 + i);
        entries.push(entry(
            &dn,
            EntryKind::User,
            &[
                (
                    "objectClass",
                    &["top", "person", "inetOrgPerson", "posixAccount"],
                ),
                ("uid", &[uid.as_str()]),
                ("cn", &[format!("User {i}").as_str()]),
                ("uidNumber", &[num.as_str()]),
            ],
        ));
    }
    // Entries go in DIT order: each container right before its children.
    entries.push(entry(
        "ou=groups,dc=contoso,dc=com",
        EntryKind::Container,
        &[
            ("objectClass", &["top", "organizationalUnit"]),
            ("ou", &["groups"]),
        ],
    ));
    entries.push(entry(
        "cn=engineering,ou=groups,dc=contoso,dc=com",
        EntryKind::Group,
        &[
            ("objectClass", &["top", "groupOfNames", "posixGroup"]),
            ("cn", &["engineering"]),
            ("member", &["uid=user01,ou=people,dc=contoso,dc=com"]),
        ],
    ));
    Snapshot::new(
        1,
        vec![TenantBuild {
            info: TenantInfo {
                name: "contoso".into(),
                base_dn: "dc=contoso,dc=com".into(),
                base_ndn: "dc=contoso,dc=com".into(),
            },
            entries,
            report: BuildReport::default(),
        }],
    )
}

struct Fixture {
    handle: ServeHandle,
    shutdown: CancellationToken,
    ca: Arc<rustls::ClientConfig>,
    _dir: tempfile::TempDir,
}

fn write_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key, ck.cert.pem())
}

fn client_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn start(edit: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = write_cert(dir.path());
    let mut cfg = Config::default();
    cfg.server.ldap_listen = Some("127.0.0.1:0".into());
    cfg.server.ldaps_listen = Some("127.0.0.1:0".into());
    cfg.server.tls_cert = Some(cert);
    cfg.server.tls_key = Some(key);
    cfg.server.size_limit = 10;
    edit(&mut cfg);
    let services = ServiceAccounts::from_config(&[config::ServiceAccount {
        name: "vpn".into(),
        password_hash: hash_password(VPN_PW).unwrap(),
        tenants: vec![],
    }])
    .unwrap();
    let ctx = Arc::new(LdapContext::new(
        Arc::new(ArcSwap::from_pointee(snapshot())),
        Arc::new(cfg),
        Arc::new(services),
    ));
    let shutdown = CancellationToken::new();
    let handle = serve(ctx, shutdown.clone()).await.unwrap();
    Fixture {
        handle,
        shutdown,
        ca: client_config(&pem),
        _dir: dir,
    }
}

impl Fixture {
    fn ldaps_url(&self) -> String {
        format!(
            "ldaps://localhost:{}",
            self.handle.ldaps_addr.unwrap().port()
        )
    }
    fn ldap_url(&self) -> String {
        format!("ldap://localhost:{}", self.handle.ldap_addr.unwrap().port())
    }
    fn settings(&self) -> LdapConnSettings {
        LdapConnSettings::new()
            .set_config(Arc::clone(&self.ca))
            .set_conn_timeout(Duration::from_secs(10))
    }
    async fn connect(&self, url: &str, settings: LdapConnSettings) -> ldap3::Ldap {
        let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await.unwrap();
        ldap3::drive!(conn);
        ldap
    }
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle.wait())
            .await
            .expect("service stops after cancellation");
    }
}

async fn whoami(ldap: &mut ldap3::Ldap) -> String {
    let (exop, _) = ldap.extended(WhoAmI).await.unwrap().success().unwrap();
    exop.parse::<WhoAmIResp>().authzid
}

#[tokio::test]
async fn ldaps_bind_search_page_compare() {
    let f = start(|_| {}).await;
    let mut ldap = f.connect(&f.ldaps_url(), f.settings()).await;
    assert_eq!(whoami(&mut ldap).await, "");
    ldap.simple_bind(VPN_DN, VPN_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(whoami(&mut ldap).await, format!("dn:{VPN_DN}"));

    let (rs, res) = ldap
        .search(
            "dc=contoso,dc=com",
            Scope::Subtree,
            "(&(uid=user07)(objectClass=posixAccount))",
            vec!["uid", "uidNumber", "memberOf", "userCertificate;binary"],
        )
        .await
        .unwrap()
        .success()
        .map(|(rs, res)| (rs, res.rc))
        .unwrap();
    assert_eq!(res, 0);
    assert_eq!(rs.len(), 1);
    let e = SearchEntry::construct(rs.into_iter().next().unwrap());
    assert_eq!(e.dn, "uid=user07,ou=people,dc=contoso,dc=com");
    assert_eq!(e.attrs["uidNumber"], vec!["100007"]);

    // 25 people: over the server size limit of 10 without paging.
    let res = ldap
        .search(
            "ou=people,dc=contoso,dc=com",
            Scope::OneLevel,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    assert_eq!((res.0.len(), res.1.rc), (10, 4));

    // With paging, all of them, 7 at a time.
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(7))];
    let mut stream = ldap
        .streaming_search_with(
            adapters,
            "ou=people,dc=contoso,dc=com",
            Scope::OneLevel,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    let mut uids = Vec::new();
    while let Some(entry) = stream.next().await.unwrap() {
        uids.push(SearchEntry::construct(entry).attrs["uid"][0].clone());
    }
    let res = stream.finish().await;
    assert_eq!(res.rc, 0, "{res:?}");
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 25);

    let cmp = ldap
        .compare(
            "cn=engineering,ou=groups,dc=contoso,dc=com",
            "member",
            "UID=User01,OU=People,DC=Contoso,DC=Com",
        )
        .await
        .unwrap();
    assert_eq!(cmp.0.rc, 6);
    let res = ldap
        .delete("uid=user01,ou=people,dc=contoso,dc=com")
        .await
        .unwrap();
    assert_eq!(res.rc, 53);
    ldap.unbind().await.unwrap();
    f.stop().await;
}

#[tokio::test]
async fn starttls_and_plaintext_refusal() {
    let f = start(|_| {}).await;
    // Without TLS a password bind is refused, anonymous reads only the rootDSE.
    let mut plain = f.connect(&f.ldap_url(), f.settings()).await;
    let res = plain.simple_bind(VPN_DN, VPN_PW).await.unwrap();
    assert_eq!(res.rc, 13, "{res:?}");
    let (rs, _) = plain
        .search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["supportedExtension"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let root = SearchEntry::construct(rs.into_iter().next().unwrap());
    assert!(root.attrs["supportedExtension"].contains(&"1.3.6.1.4.1.1466.20037".to_string()));
    let res = plain
        .search(
            "ou=people,dc=contoso,dc=com",
            Scope::Subtree,
            "(uid=*)",
            vec!["uid"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 50);

    let mut tls = f
        .connect(&f.ldap_url(), f.settings().set_starttls(true))
        .await;
    tls.simple_bind(VPN_DN, VPN_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(whoami(&mut tls).await, format!("dn:{VPN_DN}"));
    let (rs, _) = tls
        .search(
            "dc=contoso,dc=com",
            Scope::Subtree,
            "(uid=user2*)",
            vec!["1.1"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(rs.len(), 5);
    f.stop().await;
}

#[tokio::test]
async fn hundreds_of_requests_on_one_connection() {
    // Message ids past 127 take two octets (128 = 02 02 00 80): every id up to 1000 works.
    let f = start(|_| {}).await;
    let mut ldap = f.connect(&f.ldaps_url(), f.settings()).await;
    ldap.simple_bind(VPN_DN, VPN_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    for n in 0..1000 {
        let (rs, _) = ldap
            .search(
                "dc=contoso,dc=com",
                Scope::Subtree,
                &format!("(uid=user{:02})", n % 25),
                vec!["uid"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        assert_eq!(rs.len(), 1, "request {n}");
    }
    f.stop().await;
}

/// Read one LDAP message from a raw socket.
async fn read_msg(sock: &mut TcpStream) -> Option<ldap3_proto::proto::LdapMsg> {
    use tokio_util::codec::Decoder;
    let mut codec = ldap3_proto::LdapCodec::default();
    let mut buf = bytes::BytesMut::new();
    loop {
        if let Ok(Some(m)) = codec.decode(&mut buf) {
            return Some(m);
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn assert_notice(m: &ldap3_proto::proto::LdapMsg, code: ldap3_proto::proto::LdapResultCode) {
    assert_eq!(m.msgid, 0);
    match &m.op {
        ldap3_proto::proto::LdapOp::ExtendedResponse(r) => {
            assert_eq!(r.name.as_deref(), Some("1.3.6.1.4.1.1466.20036"));
            assert_eq!(r.res.code, code);
        }
        other => panic!("not a notice of disconnection: {other:?}"),
    }
}

async fn assert_closed(sock: &mut TcpStream) {
    let mut b = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "connection should be closed");
}

#[tokio::test]
async fn garbage_gets_a_notice_and_others_are_unaffected() {
    use ldap3_proto::proto::LdapResultCode;
    let f = start(|c| c.server.max_pdu_size = 4096).await;
    let addr = f.handle.ldap_addr.unwrap();
    let mut other = f.connect(&f.ldaps_url(), f.settings()).await;

    // A well-formed BER sequence that is not an LDAP message.
    let mut bad = TcpStream::connect(addr).await.unwrap();
    bad.write_all(&[0x30, 0x03, 0x02, 0x01, 0x05])
        .await
        .unwrap();
    let m = read_msg(&mut bad).await.expect("a notice of disconnection");
    assert_notice(&m, LdapResultCode::ProtocolError);
    assert_closed(&mut bad).await;

    // Random bytes.
    let mut bad = TcpStream::connect(addr).await.unwrap();
    bad.write_all(&[0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    if let Some(m) = read_msg(&mut bad).await {
        assert_notice(&m, LdapResultCode::ProtocolError);
    }
    assert_closed(&mut bad).await;

    // A message bigger than max_pdu_size.
    let mut big = TcpStream::connect(addr).await.unwrap();
    let msg = ldap3_proto::proto::LdapMsg::new(
        1,
        ldap3_proto::proto::LdapOp::BindRequest(ldap3_proto::proto::LdapBindRequest {
            version: 3,
            dn: "cn=x".into(),
            cred: ldap3_proto::proto::LdapBindCred::Simple("p".repeat(6000)),
        }),
    );
    let mut buf = bytes::BytesMut::new();
    tokio_util::codec::Encoder::encode(&mut ldap3_proto::LdapCodec::default(), msg, &mut buf)
        .unwrap();
    let _ = big.write_all(&buf).await;
    let m = read_msg(&mut big).await.expect("a notice of disconnection");
    assert_notice(&m, LdapResultCode::ProtocolError);

    // TLS garbage on the LDAPS port just fails the handshake.
    let mut tls_bad = TcpStream::connect(f.handle.ldaps_addr.unwrap())
        .await
        .unwrap();
    tls_bad.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    // rustls may answer with an alert record before closing.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tls_bad.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "LDAPS connection with a bad handshake should be closed"
    );
    assert!(rest.len() < 64, "{rest:?}");

    // The well-behaved client was never disturbed.
    let (rs, _) = other
        .search("", Scope::Base, "(objectClass=*)", vec!["vendorName"])
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(rs.len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn idle_connections_get_a_notice() {
    use ldap3_proto::proto::LdapResultCode;
    let f = start(|c| c.server.idle_timeout = Dur::from_secs(1)).await;
    let mut idle = TcpStream::connect(f.handle.ldap_addr.unwrap())
        .await
        .unwrap();
    // Half a message (the header announces 16 bytes, 2 arrive), then nothing.
    idle.write_all(&[0x30, 0x10, 0x02, 0x01]).await.unwrap();
    let m = read_msg(&mut idle)
        .await
        .expect("a notice of disconnection");
    assert_notice(&m, LdapResultCode::Unavailable);
    assert_closed(&mut idle).await;
    f.stop().await;
}

#[tokio::test]
async fn connection_limit() {
    let f = start(|c| c.server.max_connections = 2).await;
    let addr = f.handle.ldap_addr.unwrap();
    let mut a = f.connect(&f.ldap_url(), f.settings()).await;
    let mut b = f.connect(&f.ldap_url(), f.settings()).await;
    // Make sure both are accepted and being served before the third arrives.
    a.simple_bind("", "").await.unwrap().success().unwrap();
    b.simple_bind("", "").await.unwrap().success().unwrap();
    // The third is told the server is busy, then closed.
    let mut c = TcpStream::connect(addr).await.unwrap();
    let m = read_msg(&mut c).await.expect("a notice of disconnection");
    assert_notice(&m, ldap3_proto::proto::LdapResultCode::Busy);
    assert_closed(&mut c).await;
    drop(a);
    b.unbind().await.unwrap();
    // Slots come back when connections close.
    let mut ok = None;
    for _ in 0..50 {
        let (conn, mut ldap) = LdapConnAsync::with_settings(f.settings(), &f.ldap_url())
            .await
            .unwrap();
        ldap3::drive!(conn);
        if let Ok(r) = ldap.simple_bind("", "").await {
            ok = Some(r.rc);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ok, Some(0));
    f.stop().await;
}

#[tokio::test]
async fn startup_errors_name_the_setting() {
    let ctx = |edit: &dyn Fn(&mut Config)| {
        let mut cfg = Config::default();
        cfg.server.ldap_listen = Some("127.0.0.1:0".into());
        cfg.server.ldaps_listen = Some("127.0.0.1:0".into());
        cfg.server.tls_cert = None;
        cfg.server.tls_key = None;
        edit(&mut cfg);
        Arc::new(LdapContext::new(
            Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
            Arc::new(cfg),
            Arc::new(ServiceAccounts::empty()),
        ))
    };
    let err = serve(ctx(&|_| {}), CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("tls_cert"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.crt");
    let err = serve(
        ctx(&|c| {
            c.server.tls_cert = Some(missing.clone());
            c.server.tls_key = Some(missing.clone());
        }),
        CancellationToken::new(),
    )
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("server.tls_cert") && err.to_string().contains("missing.crt"),
        "{err}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = serve(
        ctx(&|c| {
            c.server.ldap_listen = Some(addr.clone());
            c.server.ldaps_listen = None;
        }),
        CancellationToken::new(),
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("server.ldap_listen"), "{err}");
}
