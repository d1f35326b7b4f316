//! A throwaway certificate authority and server certificate for `demo` and the tests (rcgen),
//! with the SANs libldap checks: it canonicalises 127.0.0.1 to the host name for StartTLS, so
//! `localhost`, the machine's host name and the loopback addresses are all included.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Paths of the generated PEM files.
#[derive(Debug, Clone)]
pub struct GeneratedCerts {
    /// The CA certificate clients trust (`LDAPTLS_CACERT`, `ldap_tls_cacert`).
    pub ca_cert: PathBuf,
    /// The server certificate chain (leaf then CA) for `server.tls_cert`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// The host names a local test certificate must carry.
pub fn local_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim().to_string();
        if !h.is_empty() && !names.contains(&h) {
            names.push(h);
        }
    }
    names
}

/// Write `ca.crt`, `server.crt` and `server.key` into `dir`.
pub fn generate(dir: &Path) -> Result<GeneratedCerts, CertError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(DnType::CommonName, "o365-ldap local test CA");
    ca_params.distinguished_name = ca_dn;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(local_names())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer)?;

    let out = GeneratedCerts {
        ca_cert: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    };
    write(&out.ca_cert, &ca_cert.pem())?;
    write(
        &out.server_cert,
        &format!("{}{}", cert.pem(), ca_cert.pem()),
    )?;
    write(&out.server_key, &key.serialize_pem())?;
    set_private(&out.server_key);
    Ok(out)
}

fn write(path: &Path, text: &str) -> Result<(), CertError> {
    std::fs::write(path, text).map_err(|source| CertError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: the key sits in a private temporary directory anyway.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}
