//! The one place HTTP clients are built, for Graph and for the token endpoint alike.

use super::error::GraphError;
use super::retry::transport_error;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Whole-request limit; `None` when each request sets its own.
    pub timeout: Option<Duration>,
    pub connect_timeout: Duration,
    /// Every host the client talks to is a loopback address, so a proxy from the environment
    /// must not capture the traffic (a local emulator in tests and demos).
    pub loopback_only: bool,
    /// PEM files of CA certificates trusted beside the operating system's store and the
    /// built-in Mozilla roots (a TLS-inspecting proxy's CA, an internal CA).
    pub extra_roots: Vec<std::path::PathBuf>,
}

/// A client that never follows redirects: a redirect could carry a token, a client secret or a
/// user's password to another host, and neither Graph nor the token endpoint redirects API
/// calls, so any 3xx is reported instead.
pub fn client(options: &HttpOptions) -> Result<reqwest::Client, GraphError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("o365-ldap/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(options.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(t) = options.timeout {
        builder = builder.timeout(t);
    }
    if options.loopback_only {
        builder = builder.no_proxy();
    }
    for path in &options.extra_roots {
        for cert in extra_root(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| transport_error("building the HTTP client", e))
}

/// The certificates of one `tls_ca_file`.
fn extra_root(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, GraphError> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| GraphError::Config {
        key: "tls_ca_file".into(),
        message: format!("cannot read {shown}: {e}"),
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| GraphError::Config {
        key: "tls_ca_file".into(),
        message: format!("{shown} is not a PEM file of certificates: {e}"),
    })?;
    if certs.is_empty() {
        return Err(GraphError::Config {
            key: "tls_ca_file".into(),
            message: format!("{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        });
    }
    Ok(certs)
}
