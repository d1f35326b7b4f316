//! Certificate credentials: loading the PEM certificate and RSA private key, and
//! signing the client-assertion JWT that replaces a client secret at the token endpoint.
//!
//! The header is `alg: PS256` with `x5t#S256` (base64url SHA-256 of the certificate DER), which is
//! what Microsoft's current documentation prescribes. Older documentation and MSAL use `RS256`
//! (RSA PKCS#1 v1.5, ring's `RSA_PKCS1_SHA256`) with `x5t` (base64url SHA-1 thumbprint); Entra
//! still accepts that form. `x5t` is sent alongside `x5t#S256` so validators that only know the
//! older header still find the certificate; switching the algorithm would only mean changing
//! `ALG`/`SIGNING` below, so no configuration key is offered for it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ALG: &str = "PS256";
/// How long an assertion is valid (Microsoft's documentation asks for 5 to 10 minutes).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// Why a certificate credential could not be loaded. Each variant says which file is at fault, so
/// the caller can name the config key (`certificate_file` or `private_key_file`).
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read the certificate {path}: {detail}")]
    CertificateFile { path: String, detail: String },
    #[error("the certificate {path} {detail}")]
    Certificate { path: String, detail: String },
    #[error("cannot read the private key {path}: {detail}")]
    KeyFile { path: String, detail: String },
    #[error("the private key {path} {detail}")]
    Key { path: String, detail: String },
    #[error(
        "the private key {key} does not belong to the certificate {cert}; use the key the certificate was issued for"
    )]
    Mismatch { cert: String, key: String },
    #[error("signing the client assertion failed")]
    Signing,
}

impl CertificateError {
    /// Which of the two config keys the error is about.
    pub fn config_key(&self) -> &'static str {
        match self {
            CertificateError::CertificateFile { .. } | CertificateError::Certificate { .. } => {
                "certificate_file"
            }
            CertificateError::KeyFile { .. }
            | CertificateError::Key { .. }
            | CertificateError::Mismatch { .. }
            | CertificateError::Signing => "private_key_file",
        }
    }
}

/// An application certificate and its RSA private key, ready to sign assertions.
#[derive(Clone)]
pub struct CertificateKey {
    /// DER of the first certificate in `certificate_file` (the app's own; any chain after it is
    /// ignored, as Entra matches on the thumbprint only).
    pub cert_der: Vec<u8>,
    pub key: Arc<RsaKeyPair>,
    /// base64url SHA-256 of `cert_der` (`x5t#S256`).
    pub x5t_s256: String,
    /// base64url SHA-1 of `cert_der` (`x5t`, the legacy thumbprint shown in the Entra portal as hex).
    pub x5t: String,
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateKey")
            .field("x5t#S256", &self.x5t_s256)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl CertificateKey {
    /// Read and check both files: a PEM certificate, a PEM RSA private key (PKCS#8 or PKCS#1), and
    /// the key must be the certificate's.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertificateKey, CertificateError> {
        let cert_shown = cert_path.display().to_string();
        let key_shown = key_path.display().to_string();
        let cert_pem = std::fs::read(cert_path).map_err(|e| CertificateError::CertificateFile {
            path: cert_shown.clone(),
            detail: e.to_string(),
        })?;
        let key_pem = std::fs::read(key_path).map_err(|e| CertificateError::KeyFile {
            path: key_shown.clone(),
            detail: e.to_string(),
        })?;
        CertificateKey::from_pem(&cert_pem, &key_pem, &cert_shown, &key_shown)
    }

    /// Like [`CertificateKey::load`] from PEM bytes; the names only appear in errors.
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_name: &str,
        key_name: &str,
    ) -> Result<CertificateKey, CertificateError> {
        let cert_err = |detail: String| CertificateError::Certificate {
            path: cert_name.to_owned(),
            detail,
        };
        let key_err = |detail: String| CertificateError::Key {
            path: key_name.to_owned(),
            detail,
        };
        let cert = match CertificateDer::from_pem_slice(cert_pem) {
            Ok(c) => c,
            Err(pem::Error::NoItemsFound) => {
                return Err(cert_err(
                    "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
                ));
            }
            Err(e) => return Err(cert_err(format!("is not valid PEM: {e}"))),
        };
        let cert_der = cert.as_ref().to_vec();
        let cert_rsa = rsa_public_key_of_certificate(&cert_der).map_err(cert_err)?;
        let key = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(k) => k,
            Err(pem::Error::NoItemsFound) => {
                return Err(key_err(
                    "holds no PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"
                        .into(),
                ));
            }
            Err(e) => return Err(key_err(format!("is not valid PEM: {e}"))),
        };
        let pair = match &key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            PrivateKeyDer::Sec1(_) => {
                return Err(key_err(
                    "is an EC key; Entra client assertions need an RSA key (2048 bits or more)"
                        .into(),
                ));
            }
            _ => return Err(key_err("is not an RSA private key".into())),
        }
        .map_err(|e| {
            key_err(format!(
                "is not a usable RSA private key ({e}); Entra needs RSA, 2048 bits or more"
            ))
        })?;
        if pair.public().as_ref() != cert_rsa {
            return Err(CertificateError::Mismatch {
                cert: cert_name.to_owned(),
                key: key_name.to_owned(),
            });
        }
        let sha256 = ring::digest::digest(&ring::digest::SHA256, &cert_der);
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        Ok(CertificateKey {
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256.as_ref()),
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            cert_der,
            key: Arc::new(pair),
        })
    }

    /// The SHA-1 thumbprint as the Entra portal shows it (upper-case hex), for messages.
    pub fn thumbprint_hex(&self) -> String {
        URL_SAFE_NO_PAD
            .decode(&self.x5t)
            .map(hex::encode_upper)
            .unwrap_or_default()
    }

    /// A signed client assertion for `client_id` at `audience` (the token URL), valid from `now`
    /// for ten minutes.
    pub fn client_assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: SystemTime,
    ) -> Result<String, CertificateError> {
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let jti = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let header = json!({
            "alg": ALG,
            "typ": "JWT",
            "x5t#S256": self.x5t_s256,
            "x5t": self.x5t,
        });
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": jti.to_string(),
            "nbf": iat,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| CertificateError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The PKCS#1 `RSAPublicKey` inside the certificate's subjectPublicKeyInfo, which is the form
/// ring uses for RSA public keys. The certificate is parsed with `x509-parser`; nothing beyond
/// the key is checked, since Entra, not this client, decides whether the certificate is
/// acceptable.
pub fn rsa_public_key_of_certificate(cert_der: &[u8]) -> Result<Vec<u8>, String> {
    use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|_| "is not a valid X.509 certificate (DER structure)".to_string())?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
        return Err(
            "does not hold an RSA public key; Entra client assertions need an RSA certificate"
                .into(),
        );
    }
    Ok(spki.subject_public_key.data.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RSA_PSS_2048_8192_SHA256, UnparsedPublicKey};
    use serde_json::Value;

    const CERT: &[u8] = include_bytes!("../../../tests/fixtures/certs/app.crt");
    const KEY: &[u8] = include_bytes!("../../../tests/fixtures/certs/app.key");
    const KEY_PKCS1: &[u8] = include_bytes!("../../../tests/fixtures/certs/app-pkcs1.key");
    const OTHER_KEY: &[u8] = include_bytes!("../../../tests/fixtures/certs/other.key");
    const EC_KEY: &[u8] = include_bytes!("../../../tests/fixtures/certs/ec.key");

    fn load(cert: &[u8], key: &[u8]) -> Result<CertificateKey, CertificateError> {
        CertificateKey::from_pem(cert, key, "app.crt", "app.key")
    }

    fn part(jwt: &str, i: usize) -> Vec<u8> {
        let seg = jwt.split('.').nth(i).unwrap();
        URL_SAFE_NO_PAD.decode(seg).unwrap()
    }

    #[test]
    fn assertion_has_the_documented_header_and_claims_and_verifies() {
        let ck = load(CERT, KEY).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let aud = "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token";
        let jwt = ck
            .client_assertion("11111111-2222-3333-4444-555555555555", aud, now)
            .unwrap();
        assert_eq!(jwt.split('.').count(), 3);

        let header: Value = serde_json::from_slice(&part(&jwt, 0)).unwrap();
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["typ"], "JWT");
        let sha256 = ring::digest::digest(&ring::digest::SHA256, &ck.cert_der);
        assert_eq!(header["x5t#S256"], URL_SAFE_NO_PAD.encode(sha256.as_ref()));
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &ck.cert_der);
        assert_eq!(header["x5t"], URL_SAFE_NO_PAD.encode(sha1.as_ref()));

        let claims: Value = serde_json::from_slice(&part(&jwt, 1)).unwrap();
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["iss"], "11111111-2222-3333-4444-555555555555");
        assert_eq!(claims["sub"], "11111111-2222-3333-4444-555555555555");
        assert_eq!(claims["iat"], 1_800_000_000u64);
        assert_eq!(claims["nbf"], 1_800_000_000u64);
        assert_eq!(claims["exp"], 1_800_000_600u64);
        let jti = claims["jti"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(jti).is_ok(), "{jti}");

        // Verified with the public key taken from the certificate, not from the private key.
        let public = rsa_public_key_of_certificate(&ck.cert_der).unwrap();
        let signed = jwt.rsplit_once('.').unwrap().0;
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &public)
            .verify(signed.as_bytes(), &part(&jwt, 2))
            .unwrap();
        // A tampered claim set no longer verifies.
        let forged = signed.replacen('.', ".e30", 1);
        assert!(
            UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &public)
                .verify(forged.as_bytes(), &part(&jwt, 2))
                .is_err()
        );
    }

    #[test]
    fn every_assertion_has_its_own_jti() {
        let ck = load(CERT, KEY).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = ck.client_assertion("c", "aud", now).unwrap();
        let b = ck.client_assertion("c", "aud", now).unwrap();
        let jti = |j: &str| serde_json::from_slice::<Value>(&part(j, 1)).unwrap()["jti"].clone();
        assert_ne!(jti(&a), jti(&b));
    }

    #[test]
    fn pkcs1_and_pkcs8_forms_of_the_key_are_the_same_credential() {
        let a = load(CERT, KEY).unwrap();
        let b = load(CERT, KEY_PKCS1).unwrap();
        assert_eq!(a.x5t_s256, b.x5t_s256);
        assert_eq!(a.key.public().as_ref(), b.key.public().as_ref());
        assert_eq!(a.thumbprint_hex().len(), 40);
    }

    #[test]
    fn wrong_key_files_are_refused_naming_the_file() {
        let e = load(CERT, OTHER_KEY).unwrap_err();
        assert!(matches!(e, CertificateError::Mismatch { .. }), "{e}");
        assert_eq!(e.config_key(), "private_key_file");

        let e = load(CERT, EC_KEY).unwrap_err();
        assert!(e.to_string().contains("RSA"), "{e}");
        assert_eq!(e.config_key(), "private_key_file");

        // The certificate given where the key is expected, and vice versa.
        let e = load(CERT, CERT).unwrap_err();
        assert!(e.to_string().contains("no PEM private key"), "{e}");
        let e = load(KEY, KEY).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        assert_eq!(e.config_key(), "certificate_file");
    }

    #[test]
    fn a_truncated_certificate_is_reported_not_panicked_on() {
        let der = CertificateDer::from_pem_slice(CERT)
            .unwrap()
            .as_ref()
            .to_vec();
        for cut in [0, 1, 2, 10, 100, der.len() / 2, der.len() - 1] {
            let r = rsa_public_key_of_certificate(der.get(..cut).unwrap());
            assert!(r.is_err(), "cut at {cut}");
        }
        assert!(rsa_public_key_of_certificate(&der).is_ok());
    }

    #[test]
    fn missing_files_name_which_one() {
        let dir = tempfile::tempdir().unwrap();
        let e = CertificateKey::load(&dir.path().join("no.crt"), &dir.path().join("no.key"))
            .unwrap_err();
        assert_eq!(e.config_key(), "certificate_file");
        assert!(e.to_string().contains("no.crt"), "{e}");
    }
}
