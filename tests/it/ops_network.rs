//! Outbound HTTPS trusts `network.tls_ca_file` beside the system's store: a webhook behind a
//! certificate from a private CA (what a TLS-inspecting proxy presents) is reached with the CA
//! configured and refused without it.

use crate::common::harness::Env;
use o365_ldap::cli::serve::Server;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTPS server answering 200 to every request, counting the requests with a body.
async fn https_receiver(env: &Env) -> (String, Arc<AtomicUsize>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&env.certs.server_cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&env.certs.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let posts = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&posts);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&seen).contains("\"event\"") {
                        break;
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (url, posts)
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_behind_a_private_ca_is_reached_with_tls_ca_file() {
    let env = Env::contoso().await;
    let (url, posts) = https_receiver(&env).await;
    let ca = env.certs.ca_cert.display().to_string();
    let cfg = env.config_with(
        "",
        &format!("\n[notify]\nwebhook_url = \"{url}\"\n\n[network]\ntls_ca_file = {ca:?}\n"),
    );
    // Without the CA the same client is refused: the system store does not know it.
    let mut bare = cfg.clone();
    bare.network.tls_ca_file = None;
    let plain =
        o365_ldap::settings::http_client(&bare, None, Duration::from_secs(5), true).unwrap();
    let err = plain
        .get(&url)
        .send()
        .await
        .expect_err("an unknown CA is trusted");
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "{err:?}"
    );

    let server = Server::start(cfg, false).await.expect("server starts");
    let config = env.dir.path().join("o365-ldap.toml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_o365-ldap"))
        .args(["ctl", "-c"])
        .arg(&config)
        .args(["sync", "--dry-run", "--notify"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let until = Instant::now() + Duration::from_secs(15);
    while posts.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < until,
            "the webhook behind the private CA got nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}
