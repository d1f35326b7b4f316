//! The PostgreSQL URL: parsed into the client's configuration and the TLS it asks for, with
//! libpq's `sslmode` values honoured through rustls (no OpenSSL):
//!
//! | sslmode | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | no (as libpq) |
//! | `require` | always | no; against `sslrootcert` when that is given (as libpq) |
//! | `verify-ca` | always | chain, against `sslrootcert` or the system's roots |
//! | `verify-full` | always | chain and host name |
//!
//! The URL holds the database password: nothing here puts it (or the URL) in an error.

use model::Secret;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A database to connect to: the client configuration and the TLS connector for it.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
    pub sslmode: SslMode,
    /// Strings that must never appear in a message: the password and the URL.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("sslmode", &self.sslmode)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// `msg` with the password and the URL replaced by `<redacted>`.
    pub fn redact(&self, msg: &str) -> String {
        let mut out = msg.to_string();
        for s in &self.secrets {
            if s.len() >= 3 {
                out = out.replace(s.as_str(), "<redacted>");
            }
        }
        out
    }
}

/// Parse a `postgres://` URL. Errors never quote the URL.
pub fn parse(url: &Secret) -> Result<Target, String> {
    let raw = url.expose().trim();
    let mut parsed = url::Url::parse(raw).map_err(|e| {
        format!("the PostgreSQL URL is not a valid URL ({e}); write postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full")
    })?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err("the PostgreSQL URL must start with postgres:// or postgresql://".into());
    }
    let mut sslmode = SslMode::Prefer;
    let mut rootcert: Option<String> = None;
    let mut kept: Vec<(String, String)> = Vec::new();
    for (k, v) in parsed.query_pairs() {
        match &*k {
            "sslmode" => {
                sslmode = SslMode::parse(&v).ok_or_else(|| {
                    format!(
                        "sslmode={v} is not understood; use disable, prefer, require, verify-ca or verify-full"
                    )
                })?;
            }
            "sslrootcert" => rootcert = Some(v.into_owned()),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" | "sslsni"
            | "requiressl" | "gssencmode" | "krbsrvname" | "passfile" | "service" => {
                return Err(format!(
                    "the URL option {k} is not supported by o365-ldap; remove it (TLS is set with sslmode and sslrootcert)"
                ));
            }
            _ => kept.push((k.into_owned(), v.into_owned())),
        }
    }
    let password = parsed
        .password()
        .map(|p| {
            url::form_urlencoded::parse(format!("p={p}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| p.to_string())
        })
        .unwrap_or_default();
    // As written in the URL too: the form decoding above reads `+` as a space.
    let raw_password = parsed.password().unwrap_or_default().to_string();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let mut config: tokio_postgres::Config = parsed.as_str().parse().map_err(|e| {
        let mut msg = format!("the PostgreSQL URL cannot be used: {e}");
        // Replacing "" would put the marker between every character.
        for secret in [&password, &raw_password] {
            if !secret.is_empty() {
                msg = msg.replace(secret.as_str(), "<redacted>");
            }
        }
        msg
    })?;
    config.ssl_mode(match sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    if config.get_application_name().is_none() {
        config.application_name("o365-ldap");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    // A replica whose peer vanished (a pulled cable, a dead host) notices within about a
    // minute, so its round lock is released and another replica can take over.
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(20));
    config.keepalives_interval(Duration::from_secs(5));
    config.keepalives_retries(4);
    config.tcp_user_timeout(Duration::from_secs(30));
    let tls = tls_config(sslmode, rootcert.as_deref())?;
    let mut secrets = vec![raw.to_string()];
    if !password.is_empty() {
        secrets.push(password);
    }
    Ok(Target {
        config,
        tls: tokio_postgres_rustls::MakeRustlsConnect::new(tls),
        sslmode,
        secrets,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(rootcert: Option<&str>) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    match rootcert {
        Some(path) if path != "system" => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("sslrootcert {path} holds no PEM certificate"));
            }
            for c in certs {
                store
                    .add(c)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "no trusted root certificates found on this system; give sslrootcert=FILE in the URL"
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

fn tls_config(mode: SslMode, rootcert: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let verify = match mode {
        SslMode::Disable | SslMode::Prefer => None,
        SslMode::Require => rootcert.map(|_| false),
        SslMode::VerifyCa => Some(false),
        SslMode::VerifyFull => Some(true),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        None => Arc::new(Unverified(provider())),
        Some(names) => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(rootcert)?),
                provider(),
            )
            .build()
            .map_err(|e| format!("TLS: {e}"))?;
            Arc::new(Chain { webpki, names })
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// `prefer` and `require` without a root certificate: encrypted, certificate not checked
/// (libpq's behaviour; use verify-full against an active attacker).
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (chain only) and `verify-full` (chain and name).
#[derive(Debug)]
struct Chain {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    names: bool,
}

impl ServerCertVerifier for Chain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match parse(&Secret::new(url)) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn an_error_without_a_password_is_not_garbled() {
        let e = err("postgres://u@h/d?connect_timeout=soon");
        assert!(!e.contains("<redacted>"), "{e}");
        assert!(e.contains("cannot be used"), "{e}");
        let e = err("postgres://u:a+b@h/d?connect_timeout=soon");
        assert!(!e.contains("a+b") && !e.contains("a b"), "{e}");
    }

    #[test]
    fn sslmodes_map_to_the_client_and_errors_never_show_the_password() {
        let t = parse(&Secret::new(
            "postgres://o365:pa%24%24word@db.example:6543/dir?sslmode=require&connect_timeout=3",
        ))
        .expect("parses");
        assert_eq!(t.sslmode, SslMode::Require);
        assert_eq!(t.config.get_password(), Some(&b"pa$$word"[..]));
        assert_eq!(t.config.get_dbname(), Some("dir"));
        assert_eq!(t.config.get_ports(), &[6543]);
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(
            t.redact("auth failed for pa$$word at postgres://x"),
            "auth failed for <redacted> at postgres://x"
        );
        assert_eq!(
            parse(&Secret::new("postgresql://u@h/d"))
                .expect("parses")
                .sslmode,
            SslMode::Prefer
        );
        for mode in ["disable", "prefer", "verify-full", "verify-ca"] {
            let t =
                parse(&Secret::new(format!("postgres://u:pw@h/d?sslmode={mode}"))).expect("parses");
            assert_eq!(t.sslmode.as_str(), mode);
        }
        let e = err("postgres://u:Sup3rSecret@h/d?sslmode=allow-ish");
        assert!(e.contains("sslmode") && !e.contains("Sup3rSecret"), "{e}");
        let e = err("postgres://u:Sup3rSecret@h/d?sslcert=/x");
        assert!(e.contains("sslcert") && !e.contains("Sup3rSecret"), "{e}");
        let e = err("postgres://u:Sup3rSecret@h/d?bogus_option=1");
        assert!(!e.contains("Sup3rSecret"), "{e}");
        let e = err("mysql://u:Sup3rSecret@h/d");
        assert!(!e.contains("Sup3rSecret"), "{e}");
        let e =
            err("postgres://u:Sup3rSecret@h/d?sslmode=verify-full&sslrootcert=/nonexistent.pem");
        assert!(
            e.contains("sslrootcert") && !e.contains("Sup3rSecret"),
            "{e}"
        );
    }
}
