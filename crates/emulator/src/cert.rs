//! Certificate credentials of app registrations: PEM parsing, thumbprints and the RSA public key
//! that verifies `client_assertion` JWTs (the client's side is `crates/graph/src/certificate.rs`).
//!
//! `x509-parser` reads the PEM and the certificate; `ring` does the signature check.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CertError {
    #[error("not a PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NotPem,
    #[error("the PEM body is not base64")]
    Base64,
    #[error("malformed DER certificate")]
    Der,
    #[error("the certificate's key is not RSA (only RS256/PS256 assertions are emulated)")]
    NotRsa,
}

/// A registered certificate: its thumbprints (base64url, as in the JWT `x5t` / `x5t#S256`
/// headers) and its PKCS#1 RSA public key.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub x5t: String,
    pub x5t_s256: String,
    pub rsa_public_key: Vec<u8>,
}

fn spki_rsa_key(der: &[u8]) -> Result<Vec<u8>, CertError> {
    use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| CertError::Der)?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
        return Err(CertError::NotRsa);
    }
    Ok(spki.subject_public_key.data.to_vec())
}

impl Certificate {
    /// The first `CERTIFICATE` block of `pem`; other blocks and text around them are skipped.
    pub fn from_pem(pem: &str) -> Result<Certificate, CertError> {
        use x509_parser::error::PEMError;
        use x509_parser::pem::Pem;
        for block in Pem::iter_from_buffer(pem.as_bytes()) {
            match block {
                Ok(b) if b.label == "CERTIFICATE" => return Certificate::from_der(&b.contents),
                Ok(_) => {}
                Err(PEMError::Base64DecodeError) => return Err(CertError::Base64),
                Err(_) => return Err(CertError::NotPem),
            }
        }
        Err(CertError::NotPem)
    }

    pub fn from_der(der: &[u8]) -> Result<Certificate, CertError> {
        let rsa_public_key = spki_rsa_key(der)?;
        Ok(Certificate {
            x5t: URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)),
            x5t_s256: URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der)),
            rsa_public_key,
        })
    }
}

/// Why a `client_assertion` was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AssertionError {
    #[error("the client assertion is not a compact JWT")]
    Malformed,
    #[error("the assertion's algorithm '{0}' is not supported (RS256 or PS256)")]
    Algorithm(String),
    #[error("no certificate registered on the app matches the assertion's x5t#S256/x5t")]
    UnknownCertificate,
    #[error("the client assertion signature is invalid")]
    Signature,
    #[error("the client assertion claim '{0}' is missing or wrong")]
    Claim(&'static str),
    #[error("the client assertion is not within its valid time range")]
    Time,
}

/// Verifies a `client_assertion`: a registered certificate by thumbprint, an
/// RS256/PS256 signature by its key, `aud` = one of `audiences` (the token URLs), `iss` = `sub`
/// = client id, `nbf` <= now < `exp` (with a little skew, as Entra allows).
pub(crate) fn verify_assertion(
    certs: &[Certificate],
    jwt: &str,
    client_id: &str,
    audiences: &[String],
    now: u64,
) -> Result<(), AssertionError> {
    use ring::signature::{self, UnparsedPublicKey};
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed);
    };
    let decode = |x: &str| URL_SAFE_NO_PAD.decode(x.trim_end_matches('='));
    let header: serde_json::Value = decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(AssertionError::Malformed)?;
    let claims: serde_json::Value = decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(AssertionError::Malformed)?;
    let sig = decode(s).map_err(|_| AssertionError::Malformed)?;
    let alg = header["alg"].as_str().unwrap_or("");
    let algorithm: &'static dyn signature::VerificationAlgorithm = match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        other => return Err(AssertionError::Algorithm(other.to_string())),
    };
    let s256 = header["x5t#S256"].as_str();
    let sha1 = header["x5t"].as_str();
    let cert = certs
        .iter()
        .find(|c| s256 == Some(c.x5t_s256.as_str()) || sha1 == Some(c.x5t.as_str()))
        .ok_or(AssertionError::UnknownCertificate)?;
    let signing_input = format!("{h}.{p}");
    UnparsedPublicKey::new(algorithm, &cert.rsa_public_key)
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| AssertionError::Signature)?;
    let aud_ok = claims["aud"]
        .as_str()
        .is_some_and(|a| audiences.iter().any(|x| x.eq_ignore_ascii_case(a)));
    if !aud_ok {
        return Err(AssertionError::Claim("aud"));
    }
    for claim in ["iss", "sub"] {
        if !claims[claim]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(client_id))
        {
            return Err(AssertionError::Claim(if claim == "iss" {
                "iss"
            } else {
                "sub"
            }));
        }
    }
    const SKEW: u64 = 300;
    let exp = claims["exp"].as_u64().ok_or(AssertionError::Claim("exp"))?;
    let nbf = claims["nbf"].as_u64().unwrap_or(0);
    if exp + SKEW <= now || nbf > now + SKEW {
        return Err(AssertionError::Time);
    }
    Ok(())
}
