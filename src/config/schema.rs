//! The TOML schema (DESIGN.md §7): every key the server understands, with its default.
//!
//! Unknown keys are rejected (`deny_unknown_fields`) so a typo is an error, not a silent default.
//! Validation that needs more than types (ranges, paths, URLs) lives in `validate.rs`.

use super::duration::Dur;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub service_account: Vec<ServiceAccount>,
    #[serde(default)]
    pub tenant: Vec<TenantConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Plain LDAP with StartTLS. `None` disables the listener.
    pub ldap_listen: Option<String>,
    /// LDAPS. `None` disables the listener.
    pub ldaps_listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub admin_socket: PathBuf,
    pub allow_plaintext_bind: bool,
    pub anonymous_read: bool,
    /// Concurrent client connections; further connections are closed at accept.
    pub max_connections: usize,
    /// A connection with no request for this long is closed with a Notice of Disconnection.
    pub idle_timeout: Dur,
    /// Time allowed for a TLS handshake (LDAPS accept or StartTLS).
    pub handshake_timeout: Dur,
    /// Largest LDAP message accepted, in bytes.
    pub max_pdu_size: usize,
    /// Deepest nesting of and/or/not in a search filter.
    pub max_filter_depth: usize,
    /// Most filter items (nodes) in one search filter.
    pub max_filter_elements: usize,
    /// Most entries a non-paged search returns before `sizeLimitExceeded`.
    pub size_limit: usize,
    /// Log format on stderr: `text` or `json`.
    pub log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ldap_listen: Some("0.0.0.0:389".into()),
            ldaps_listen: Some("0.0.0.0:636".into()),
            tls_cert: Some(PathBuf::from("certs/server.crt")),
            tls_key: Some(PathBuf::from("certs/server.key")),
            data_dir: PathBuf::from("/var/lib/o365-ldap"),
            admin_socket: PathBuf::from("/run/o365-ldap/admin.sock"),
            allow_plaintext_bind: false,
            anonymous_read: false,
            max_connections: 4096,
            idle_timeout: Dur::from_secs(900),
            handshake_timeout: Dur::from_secs(10),
            max_pdu_size: 1024 * 1024,
            max_filter_depth: 32,
            max_filter_elements: 512,
            size_limit: 1000,
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub user_bind: UserBind,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            user_bind: UserBind::Entra,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserBind {
    Entra,
    Local,
    EntraOrLocal,
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
    /// Binds as `cn=<name>,ou=services,<base_dn>` of any tenant it may read.
    pub name: String,
    /// An argon2id PHC string from `o365-ldap hash-password`.
    pub password_hash: String,
    /// Tenant names this account may read; empty means every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub name: String,
    pub tenant_id: String,
    /// Defaults to the `dc=` parts of the tenant's default verified domain.
    #[serde(default)]
    pub base_dn: Option<String>,
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    #[serde(default = "default_login_url")]
    pub login_url: String,
    #[serde(default)]
    pub credential: Vec<CredentialConfig>,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub users: UsersConfig,
    #[serde(default)]
    pub groups: GroupsConfig,
}

pub fn default_graph_url() -> String {
    "https://graph.microsoft.com".into()
}
pub fn default_login_url() -> String {
    "https://login.microsoftonline.com".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub client_id: String,
    /// Path of a file holding the client secret (trailing newline ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// The secret itself, resolved at load time; never read from or written to TOML.
    #[serde(skip)]
    pub resolved_secret: Option<super::Secret>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    pub automatic: bool,
    pub interval: Dur,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            automatic: true,
            interval: Dur::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum UsernameFrom {
    #[serde(rename = "upn")]
    Upn,
    #[serde(rename = "mail")]
    Mail,
    #[serde(rename = "mailNickname")]
    MailNickname,
    #[serde(rename = "onPremisesSamAccountName")]
    OnPremisesSamAccountName,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsersConfig {
    pub username_from: UsernameFrom,
    /// Inclusive `[first, last]` range for `uidNumber`.
    pub uid_number_range: [u32; 2],
    /// `{uid}` is replaced by the user's uid.
    pub home_directory: String,
    pub login_shell: String,
}

impl Default for UsersConfig {
    fn default() -> Self {
        UsersConfig {
            username_from: UsernameFrom::Upn,
            uid_number_range: [100_000, 399_999],
            home_directory: "/home/{uid}".into(),
            login_shell: "/bin/bash".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupsConfig {
    /// Inclusive `[first, last]` range for `gidNumber` of synced groups. Kept apart from
    /// `users.uid_number_range` because user-private groups take gid = uid.
    pub gid_number_range: [u32; 2],
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig {
            gid_number_range: [400_000, 499_999],
        }
    }
}
