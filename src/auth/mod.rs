//! Bind verification: service accounts from the config (argon2id, with a verified-credential
//! cache), user binds (`auth.user_bind`: Entra password grant, local passwords, credential
//! cache), brute-force throttling, the bind audit log, and `o365-ldap hash-password`.

pub(crate) mod audit;
pub(crate) mod cache;
pub(crate) mod local;
pub(crate) mod password;
pub(crate) mod service;
pub(crate) mod throttle;
pub(crate) mod user;

pub use audit::{AuditCounters, counters};
pub use local::{handle_set_password, remove_password, set_password};
pub use password::hash_password;
pub use service::{ServiceAccount, ServiceAccounts};
pub use user::{Decision, UserAuth, UserBindResult};

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
    #[error("an empty password cannot be set; an empty bind password means an anonymous bind")]
    EmptyPassword,
    #[error("no served user is called '{0}'; give a DN, userPrincipalName, mail or uid")]
    UnknownUser(String),
    #[error("'{0}' matches several users (one per tenant?); give the user's DN")]
    AmbiguousUser(String),
    #[error("password store: {0}")]
    Store(String),
}
