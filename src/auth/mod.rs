//! Bind verification: service accounts from the config (argon2id, with a verified-credential
//! cache) and password hashing for `o365-ldap hash-password`. User binds slot in here later.

pub mod password;
pub mod service;

pub use password::hash_password;
pub use service::{ServiceAccount, ServiceAccounts};

/// Errors of the auth module. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(
        "service_account '{account}': password_hash is not a valid argon2 PHC string ({reason}); \
         make one with `o365-ldap hash-password`"
    )]
    InvalidHash { account: String, reason: String },
    #[error("service_account '{0}' is defined twice; account names must be unique")]
    DuplicateAccount(String),
    #[error("password verification task failed: {0}")]
    Task(String),
}
