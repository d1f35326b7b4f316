//! Certificate credentials of app registrations: PEM parsing, thumbprints and the RSA public key
//! that verifies `client_assertion` JWTs (graph.md §1.3).
//!
//! Only the few DER fields needed are walked by hand (certificate → tbsCertificate →
//! subjectPublicKeyInfo) so no X.509 crate is needed; `ring` does the signature check.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
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
#[allow(dead_code)] // read by the client_assertion check (not wired yet)
pub(crate) struct Certificate {
    pub x5t: String,
    pub x5t_s256: String,
    pub rsa_public_key: Vec<u8>,
}

/// One DER TLV: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

const SEQUENCE: u8 = 0x30;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1 (rsaEncryption).
const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn spki_rsa_key(der: &[u8]) -> Result<Vec<u8>, CertError> {
    let (tag, cert, _) = tlv(der).ok_or(CertError::Der)?;
    if tag != SEQUENCE {
        return Err(CertError::Der);
    }
    let (tag, tbs, _) = tlv(cert).ok_or(CertError::Der)?;
    if tag != SEQUENCE {
        return Err(CertError::Der);
    }
    let mut rest = tbs;
    // [0] version is optional; then serial, signature, issuer, validity, subject, SPKI.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest).ok_or(CertError::Der)?.2;
    }
    for _ in 0..5 {
        rest = tlv(rest).ok_or(CertError::Der)?.2;
    }
    let (tag, spki, _) = tlv(rest).ok_or(CertError::Der)?;
    if tag != SEQUENCE {
        return Err(CertError::Der);
    }
    let (tag, alg, rest) = tlv(spki).ok_or(CertError::Der)?;
    if tag != SEQUENCE {
        return Err(CertError::Der);
    }
    let (tag, oid, _) = tlv(alg).ok_or(CertError::Der)?;
    if tag != OID || oid != RSA_OID {
        return Err(CertError::NotRsa);
    }
    let (tag, bits, _) = tlv(rest).ok_or(CertError::Der)?;
    match bits.split_first() {
        Some((0, key)) if tag == BIT_STRING => Ok(key.to_vec()),
        _ => Err(CertError::Der),
    }
}

impl Certificate {
    pub fn from_pem(pem: &str) -> Result<Certificate, CertError> {
        let body = pem
            .split("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .and_then(|b| b.split("-----END CERTIFICATE-----").next())
            .ok_or(CertError::NotPem)?;
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD.decode(b64).map_err(|_| CertError::Base64)?;
        Certificate::from_der(&der)
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
