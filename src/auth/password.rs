//! Password hashing (argon2id PHC strings) for `o365-ldap hash-password` and verification of
//! stored hashes; both are deliberately slow, so callers on the reactor use `spawn_blocking`.

use super::AuthError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Hash a password with argon2id (the crate's default parameters) and a random 16-byte salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Check that `phc` is an argon2 PHC string this build can verify; returns why not.
pub(crate) fn check_phc(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| e.to_string())?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(format!("algorithm '{other}' is not argon2")),
    }
}

/// Verify a password against a PHC string. Slow by design: run it off the reactor.
pub(crate) fn verify_phc(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let phc = hash_password("S3cret, \"quoted\" + more").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(check_phc(&phc).is_ok());
        assert!(verify_phc(&phc, "S3cret, \"quoted\" + more"));
        assert!(!verify_phc(&phc, "S3cret"));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(hash_password("x").unwrap(), hash_password("x").unwrap());
    }

    #[test]
    fn non_argon2_hashes_are_rejected() {
        assert!(check_phc("{SSHA}abcdef").is_err());
        assert!(check_phc("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
        assert!(!verify_phc("garbage", "x"));
    }
}
