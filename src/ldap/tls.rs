//! TLS for the listeners: a rustls `ServerConfig` (ring provider, TLS 1.2 and 1.3 only) built
//! from a PEM certificate chain and a PEM private key.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.{key}: cannot read {path}: {source}")]
    Read {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "server.tls_cert: {path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"
    )]
    NoCertificate { path: String },
    #[error("server.tls_cert: {path}: {message}")]
    BadCertificate { path: String, message: String },
    #[error(
        "server.tls_key: {path} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {message}"
    )]
    BadKey { path: String, message: String },
    #[error("server.tls_cert/tls_key: the key does not fit the certificate or is unsupported: {0}")]
    Config(String),
    #[error("a TLS listener is configured but server.tls_cert or server.tls_key is not set")]
    Missing,
}

/// Build a TLS acceptor from PEM files.
pub(crate) fn load_acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|source| TlsError::Read {
        key: "tls_cert",
        path: cert_path.display().to_string(),
        source,
    })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::Read {
        key: "tls_key",
        path: key_path.display().to_string(),
        source,
    })?;
    acceptor_from_pem(
        &cert_pem,
        &key_pem,
        &cert_path.display().to_string(),
        &key_path.display().to_string(),
    )
}

/// Build a TLS acceptor from PEM bytes; the paths are only used in error messages.
pub(crate) fn acceptor_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: cert_name.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_name.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::BadKey {
        path: key_name.to_owned(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_rcgen_cert() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = ck.cert.pem();
        let key = ck.signing_key.serialize_pem();
        assert!(acceptor_from_pem(cert.as_bytes(), key.as_bytes(), "c", "k").is_ok());
    }

    #[test]
    fn explains_bad_input() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = ck.signing_key.serialize_pem();
        let err = acceptor_from_pem(b"not pem", key.as_bytes(), "a.crt", "a.key")
            .err()
            .unwrap();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let cert = ck.cert.pem();
        let err = acceptor_from_pem(cert.as_bytes(), b"", "a.crt", "a.key")
            .err()
            .unwrap();
        assert!(err.to_string().contains("server.tls_key"), "{err}");
        // A key that does not belong to the certificate.
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let err = acceptor_from_pem(
            cert.as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
            "a.crt",
            "a.key",
        );
        assert!(err.is_err());
    }
}
