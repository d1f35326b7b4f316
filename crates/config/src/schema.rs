//! The TOML schema: every key the server understands, with its default (docs/configuration.md
//! documents each one).
//!
//! Unknown keys are rejected (`deny_unknown_fields`) so a typo is an error, not a silent default.
//! Validation that needs more than types (ranges, paths, URLs) lives in `validate.rs`.

use super::duration::Dur;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
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
    /// Top-level `[[local_group]]` (docs/configuration.md): moved into every tenant (or the one
    /// named by its `tenant` key) at load, so after `load` this is always empty and the groups are
    /// in `tenant[..].local_group`.
    #[serde(default)]
    pub local_group: Vec<LocalGroup>,
    /// Where operational events (failed rounds, recovery, staleness, refused deletions) are
    /// sent: a webhook and/or e-mail through Graph.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Outbound HTTPS (Graph, the login endpoint, the notification webhook).
    #[serde(default)]
    pub network: NetworkConfig,
    /// Where the one truth is kept: the embedded redb file (one server) or PostgreSQL (N
    /// replicas, docs/scale-out.md).
    #[serde(default)]
    pub store: StoreConfig,
}

/// `[store]`: the backend, and for PostgreSQL where its URL (a secret) is read from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// A file holding the PostgreSQL URL (`postgres://user:password@host:5432/db?sslmode=...`).
    /// After `load`: absolute.
    pub url_file: Option<PathBuf>,
    /// An environment variable holding the PostgreSQL URL.
    pub url_env: Option<String>,
    /// The URL read from `url_file` or `url_env` at load; never serialized or shown.
    #[serde(skip)]
    pub resolved_url: Option<super::Secret>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// The embedded redb file in `server.data_dir`: one server.
    #[default]
    Redb,
    /// One PostgreSQL database shared by every replica; `server.data_dir` keeps each
    /// replica's local cache.
    Postgres,
}

impl StoreBackend {
    /// The spelling used in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreBackend::Redb => "redb",
            StoreBackend::Postgres => "postgres",
        }
    }
}

/// `[notify]`: a JSON webhook (Teams and Slack incoming webhooks read its `text`) and e-mail
/// sent with Graph `sendMail` by the tenant the event is about (its app needs `Mail.Send`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The webhook URL itself. Incoming-webhook URLs carry their token: prefer
    /// `webhook_url_file`.
    pub webhook_url: Option<String>,
    /// A file holding the webhook URL (trailing newline ignored); relative paths are taken from
    /// the config file's directory, `${CREDENTIALS_DIRECTORY}` from systemd's LoadCredential=.
    pub webhook_url_file: Option<PathBuf>,
    /// Recipients of the e-mail notifications; empty: no e-mail.
    pub email_to: Vec<String>,
    /// The mailbox the e-mail is sent from (a user or shared mailbox of the tenant).
    pub email_from: Option<String>,
    /// The webhook URL, read at load time from either key; never written to TOML.
    #[serde(skip)]
    pub resolved_webhook: Option<super::Secret>,
}

/// `[network]`: settings of outbound HTTPS connections.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// PEM file of CA certificates trusted beside the operating system's store (a
    /// TLS-inspecting proxy's CA) for Graph, the login endpoint and the webhook.
    pub tls_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Plain LDAP with StartTLS. `None` disables the listener (written `ldap_listen = ""`,
    /// since TOML has no null; `load` turns the empty string into `None`).
    pub ldap_listen: Option<String>,
    /// LDAPS. `None` disables the listener (written `ldaps_listen = ""`).
    pub ldaps_listen: Option<String>,
    /// PEM certificate chain. After `load`: absolute, or `None` when written as `""`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key. After `load`: absolute, or `None` when written as `""`.
    pub tls_key: Option<PathBuf>,
    /// After `load`: absolute (relative paths are taken from the config file's directory).
    pub data_dir: PathBuf,
    /// After `load`: absolute (relative paths are taken from the config file's directory).
    pub admin_socket: PathBuf,
    pub allow_plaintext_bind: bool,
    pub anonymous_read: bool,
    /// Concurrent client connections. When all are taken, the longest-idle connection that has
    /// not bound is closed to make room; otherwise the new one gets a `busy` notice.
    pub max_connections: usize,
    /// Concurrent connections from one address (one /64 for IPv6); `auth.trusted_sources`
    /// are exempt.
    pub max_connections_per_address: usize,
    /// A connection with no request for this long is closed with a Notice of Disconnection.
    pub idle_timeout: Dur,
    /// The idle timeout while a connection has not bound (anonymous).
    pub anonymous_idle_timeout: Dur,
    /// Time allowed for a TLS handshake (LDAPS accept or StartTLS).
    pub handshake_timeout: Dur,
    /// Largest LDAP message accepted after a bind, in bytes.
    pub max_pdu_size: usize,
    /// Largest LDAP message accepted before a bind (anonymous), in bytes.
    pub max_pdu_size_anonymous: usize,
    /// Deepest nesting of and/or/not in a search filter.
    pub max_filter_depth: usize,
    /// Most filter items (nodes) in one search filter.
    pub max_filter_elements: usize,
    /// Most attribute descriptions in one search request's attribute list; more get
    /// `adminLimitExceeded` before any of the list is looked at.
    pub max_attributes: usize,
    /// Most entries a non-paged search returns before `sizeLimitExceeded`.
    pub size_limit: usize,
    /// Open paged searches one identity (a bind DN, or an anonymous address) may hold across
    /// its connections; a connection holds at most 8.
    pub max_paged_searches_per_identity: usize,
    /// A paged search whose next page is not asked for within this long is forgotten.
    pub paged_search_idle_timeout: Dur,
    /// Log format on stderr: `text` or `json`.
    pub log_format: LogFormat,
    /// HTTP listener for `/metrics` (Prometheus), `/healthz` and `/readyz`; `None` (the
    /// default) serves none. Keep it on loopback or a management network.
    pub http_listen: Option<String>,
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
            max_connections_per_address: 256,
            idle_timeout: Dur::from_secs(900),
            anonymous_idle_timeout: Dur::from_secs(30),
            handshake_timeout: Dur::from_secs(10),
            max_pdu_size: 1024 * 1024,
            max_pdu_size_anonymous: 64 * 1024,
            max_filter_depth: 32,
            max_filter_elements: 512,
            max_attributes: 256,
            size_limit: 1000,
            max_paged_searches_per_identity: 64,
            paged_search_idle_timeout: Dur::from_secs(300),
            log_format: LogFormat::Text,
            http_listen: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// The spelling used in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub user_bind: UserBind,
    /// How long a password Entra accepted is remembered (as a salted slow hash); `"0s"` disables.
    pub cache_ttl: Dur,
    /// Failed binds for one user within `account_window`, from addresses the user is familiar
    /// with (has bound from) or trusted sources, before those attempts are locked out locally.
    pub max_failures_per_account: u32,
    /// Failed binds for one user within `account_window` from any other address before
    /// attempts from unfamiliar addresses are locked out. The two budgets are separate, so a
    /// stranger's guesses never lock the user out of the places the user binds from; together
    /// they stay below Entra's smart-lockout threshold (about 10).
    pub max_failures_unfamiliar: u32,
    pub account_window: Dur,
    /// Failed binds from one source address within `ip_window` before it is locked out (for
    /// accounts that never bound from it).
    pub max_failures_per_ip: u32,
    pub ip_window: Dur,
    /// How long a locked-out account or address is refused without checking the password.
    pub lockout: Dur,
    /// How long a successful bind makes its source address familiar to that account.
    pub familiar_for: Dur,
    /// How long the answer to a failed bind is held back; slows guessing on one connection.
    pub failure_delay: Dur,
    /// Addresses or CIDR blocks of VPN gateways and proxies that bind for many users: exempt
    /// from the per-address limit and familiar to every account (per-account limits still apply).
    pub trusted_sources: Vec<Source>,
    /// Timeout of one password-grant request to Entra.
    pub entra_timeout: Dur,
}

/// One entry of `auth.trusted_sources`: an address (`192.0.2.10`, `2001:db8::1`) or a CIDR
/// block (`10.8.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source(pub ipnet::IpNet);

impl Source {
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        // IPv4 clients on a dual-stack socket arrive as IPv4-mapped IPv6 addresses.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => {
                v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(*ip)
            }
            v4 => *v4,
        };
        self.0.contains(&ip)
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(net) = s.parse::<ipnet::IpNet>() {
            return Ok(Source(net.trunc()));
        }
        s.parse::<std::net::IpAddr>()
            .map(|ip| Source(ipnet::IpNet::from(ip)))
            .map_err(|_| {
                format!(
                    "'{s}' is not an IP address or CIDR block; write e.g. \"192.0.2.10\" or \
                     \"10.8.0.0/16\""
                )
            })
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        if n.prefix_len() == n.max_prefix_len() {
            write!(f, "{}", n.addr())
        } else {
            write!(f, "{n}")
        }
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            user_bind: UserBind::Entra,
            cache_ttl: Dur::from_secs(600),
            max_failures_per_account: 5,
            max_failures_unfamiliar: 3,
            account_window: Dur::from_secs(900),
            max_failures_per_ip: 20,
            ip_window: Dur::from_secs(300),
            lockout: Dur::from_secs(900),
            familiar_for: Dur::from_secs(30 * 86_400),
            failure_delay: Dur::from_secs(1),
            trusted_sources: Vec::new(),
            entra_timeout: Dur::from_secs(10),
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

impl UserBind {
    /// The spelling used in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            UserBind::Entra => "entra",
            UserBind::Local => "local",
            UserBind::EntraOrLocal => "entra_or_local",
            UserBind::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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
    /// Client id used for the password grant (user binds with `auth.user_bind = "entra"`): a
    /// public client with "Allow public client flows". Defaults to the first credential's app.
    #[serde(default)]
    pub password_grant_client_id: Option<String>,
    #[serde(default)]
    pub credential: Vec<CredentialConfig>,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub users: UsersConfig,
    #[serde(default)]
    pub groups: GroupsConfig,
    #[serde(default)]
    pub domains: DomainsConfig,
    /// Directory groups defined here rather than in Microsoft 365 (`[[tenant.local_group]]`).
    #[serde(default)]
    pub local_group: Vec<LocalGroup>,
    /// PEM CA certificates trusted for this tenant's Graph and login calls, beside the
    /// operating system's store and `network.tls_ca_file`.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// `network.tls_ca_file` then this tenant's `tls_ca_file`: every CA file its HTTPS calls
    /// trust beside the system's store. Filled at load time.
    #[serde(skip)]
    pub resolved_ca_files: Vec<PathBuf>,
}

impl Config {
    /// The `[[tenant]]` block with this name (names are compared case-insensitively, as
    /// validation keeps them unique that way).
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenant
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

/// Empty name and id, default URLs and sections: a base for `TenantConfig { name, tenant_id,
/// ..Default::default() }` in code that builds configs without TOML.
impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig {
            name: String::new(),
            tenant_id: String::new(),
            base_dn: None,
            graph_url: default_graph_url(),
            login_url: default_login_url(),
            password_grant_client_id: None,
            credential: Vec::new(),
            sync: SyncConfig::default(),
            users: UsersConfig::default(),
            groups: GroupsConfig::default(),
            domains: DomainsConfig::default(),
            local_group: Vec::new(),
            tls_ca_file: None,
            resolved_ca_files: Vec::new(),
        }
    }
}

pub fn default_graph_url() -> String {
    "https://graph.microsoft.com".into()
}
pub fn default_login_url() -> String {
    "https://login.microsoftonline.com".into()
}

/// One app registration credential. Exactly one secret source (`client_secret_file` or
/// `client_secret_env`) per block, or a certificate (`certificate_file` + `private_key_file`),
/// which `load` reads and checks (PEM, RSA key, key matches the certificate).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub client_id: String,
    /// Path of a file holding the client secret (trailing newline ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// PEM certificate uploaded to the app registration (a client-assertion credential).
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// PEM RSA private key of `certificate_file` (PKCS#8 or PKCS#1).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The secret itself, resolved at load time; never read from or written to TOML.
    #[serde(skip)]
    pub resolved_secret: Option<super::Secret>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    pub automatic: bool,
    pub interval: Dur,
    /// Time between full reconcile rounds; rounds in between read Graph delta queries only.
    pub full_every: Dur,
    /// A round that would remove more served users than this is refused (`ctl sync --force`
    /// applies it): a count (`500`) or a share of the users served before the round (`"10%"`).
    pub max_deletions: MaxDeletions,
    /// Longer than this since the last successful round, the tenant is stale: `/readyz` fails,
    /// `ctl status --check` exits 2 and a notification is sent. `None`: 4 × `interval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_staleness: Option<Dur>,
}

impl SyncConfig {
    /// `max_staleness`, or 4 × `interval` when it is not set.
    pub fn staleness_limit(&self) -> std::time::Duration {
        self.max_staleness
            .map(Dur::get)
            .unwrap_or_else(|| self.interval.get().saturating_mul(4))
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            automatic: true,
            interval: Dur::from_secs(15 * 60),
            full_every: Dur::from_secs(24 * 3600),
            max_deletions: MaxDeletions::Percent(10.0),
            max_staleness: None,
        }
    }
}

/// `sync.max_deletions`: an absolute count or a percentage of the tenant's served users.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDeletions {
    Count(u64),
    Percent(f64),
}

impl MaxDeletions {
    /// The largest number of removals allowed when `served` users were served before.
    pub fn limit(self, served: usize) -> u64 {
        match self {
            MaxDeletions::Count(n) => n,
            MaxDeletions::Percent(p) => ((served as f64) * p / 100.0).floor() as u64,
        }
    }
}

impl std::fmt::Display for MaxDeletions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxDeletions::Count(n) => write!(f, "{n}"),
            MaxDeletions::Percent(p) => write!(f, "\"{p}%\""),
        }
    }
}

impl<'de> Deserialize<'de> for MaxDeletions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Text(String),
        }
        let bad = |s: &str| {
            serde::de::Error::custom(format!(
                "'{s}' is not a deletion limit; write a count (500) or a percentage (\"10%\")"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(MaxDeletions::Count(n)),
            Raw::Text(s) => {
                let t = s.trim();
                if let Some(p) = t.strip_suffix('%') {
                    match p.trim().parse::<f64>() {
                        Ok(v) if (0.0..=100.0).contains(&v) => Ok(MaxDeletions::Percent(v)),
                        _ => Err(bad(&s)),
                    }
                } else {
                    t.parse::<u64>()
                        .map(MaxDeletions::Count)
                        .map_err(|_| bad(&s))
                }
            }
        }
    }
}

impl Serialize for MaxDeletions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxDeletions::Count(n) => s.serialize_u64(*n),
            MaxDeletions::Percent(p) => s.serialize_str(&format!("{p}%")),
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

impl UsernameFrom {
    /// The spelling used in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            UsernameFrom::Upn => "upn",
            UsernameFrom::Mail => "mail",
            UsernameFrom::MailNickname => "mailNickname",
            UsernameFrom::OnPremisesSamAccountName => "onPremisesSamAccountName",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsersConfig {
    pub username_from: UsernameFrom,
    /// Inclusive `[first, last]` range for `uidNumber`.
    pub uid_number_range: [u32; 2],
    /// Graph property holding a user's `uidNumber` (a dotted path into the user object, e.g.
    /// `"onPremisesExtensionAttributes.extensionAttribute1"`, `"employeeId"`, or a directory
    /// extension `"extension_<appid>_uidNumber"`). A valid, unclaimed value inside
    /// `uid_number_range` overrides the derived number. `None`: numbers are derived only.
    pub uid_number_attribute: Option<String>,
    /// `"private"`: every user gets a user-private group (gidNumber = uidNumber). Otherwise the
    /// name (or Graph object id) of a served directory group whose gidNumber every user takes.
    pub primary_group: String,
    /// Template; `{uid}`, `{upn}` and `{mail_local}` are replaced (see `directory::posix`).
    pub home_directory: String,
    pub login_shell: String,
    /// `gecos` template: `{displayName}`, `{givenName}`, `{surname}`, `{uid}`, `{mail}`,
    /// `{upn}`, `{department}`, `{jobTitle}`, `{telephoneNumber}`, `{mobile}`.
    pub gecos: String,
    /// Users whose `mail`, `userPrincipalName` or any `proxyAddresses` address matches one of
    /// these globs are left out (`*` matches any run of characters, `?` one character;
    /// case-insensitive).
    pub blocked_emails: Vec<String>,
    /// Users deleted in Microsoft 365 stay in the directory, locked, for this long (`"0s"`:
    /// removed at the next sync).
    pub keep_deleted_for: Dur,
    /// Graph groups (display names or object ids): only their members, transitively, are
    /// imported at all. Empty: no such restriction.
    pub only_members_of: Vec<String>,
    /// Graph groups (names or ids): only their members, transitively, are active; everyone
    /// else is inactive. Empty: no such restriction.
    pub active_members_of: Vec<String>,
    /// Graph groups (names or ids) whose members, transitively, are inactive.
    pub inactive_members_of: Vec<String>,
    /// Whether guest accounts (`userType: Guest`) are imported.
    pub include_guests: bool,
    /// How inactive users (disabled, or inactive by group rules) are served.
    pub inactive: InactiveMode,
    /// A Graph user property holding SSH public keys, one per line, served as `sshPublicKey`:
    /// `onPremisesExtensionAttributes.extensionAttributeN` or a directory extension
    /// `extension_<appid>_<name>` (a dotted path reaches into a JSON object value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_keys_attribute: Option<String>,
}

/// The Graph property a configured attribute path reads: its first dotted part (later parts
/// are inside the property's value).
fn top_property(path: Option<&str>) -> Option<&str> {
    path.and_then(|p| p.split('.').next())
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

impl UsersConfig {
    /// User properties the sync must `$select` beyond the fixed list: the Graph properties of
    /// `ssh_keys_attribute` and `uid_number_attribute` (`select_with` drops repeats).
    pub fn extra_user_properties(&self) -> Vec<&str> {
        [
            top_property(self.ssh_keys_attribute.as_deref()),
            top_property(self.uid_number_attribute.as_deref()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The `users.primary_group` value that selects user-private groups.
pub const PRIMARY_GROUP_PRIVATE: &str = "private";

/// `users.inactive`: what happens to a user policy marks inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InactiveMode {
    /// Not in the directory.
    Hide,
    /// In the directory with `nsAccountLock: TRUE`; binds are refused.
    Lock,
}

impl InactiveMode {
    /// The spelling used in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            InactiveMode::Hide => "hide",
            InactiveMode::Lock => "lock",
        }
    }
}

impl Default for UsersConfig {
    fn default() -> Self {
        UsersConfig {
            username_from: UsernameFrom::Upn,
            uid_number_range: [100_000, 399_999],
            uid_number_attribute: None,
            primary_group: PRIMARY_GROUP_PRIVATE.into(),
            home_directory: "/home/{uid}".into(),
            login_shell: "/bin/bash".into(),
            gecos: "{displayName}".into(),
            blocked_emails: Vec::new(),
            keep_deleted_for: Dur::from_secs(0),
            only_members_of: Vec::new(),
            active_members_of: Vec::new(),
            inactive_members_of: Vec::new(),
            include_guests: false,
            inactive: InactiveMode::Hide,
            ssh_keys_attribute: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupsConfig {
    /// Inclusive `[first, last]` range for `gidNumber` of synced groups. Kept apart from
    /// `users.uid_number_range` because user-private groups take gid = uid.
    pub gid_number_range: [u32; 2],
    /// Graph property holding a group's `gidNumber` (dotted path or directory extension name,
    /// as `users.uid_number_attribute`). A valid, unclaimed value inside `gid_number_range`
    /// overrides the derived number.
    pub gid_number_attribute: Option<String>,
    /// How `member` shows nested groups: `direct` (group DNs, rfc2307bis) or `flatten` (every
    /// transitive member user, no group DNs). `memberOf` is transitive either way.
    pub nested: NestedMode,
    /// Which kinds of Microsoft 365 group are synced.
    pub types: Vec<GroupType>,
    /// `false`: no Microsoft 365 group is served (users keep their private groups; local
    /// groups still exist).
    pub sync: bool,
    /// Whether groups without a `mail` address are synced.
    pub include_without_mail: bool,
    /// Only groups whose display name starts with one of these (case-insensitive) are
    /// synced. Empty: every name.
    pub name_prefixes: Vec<String>,
    /// Only these groups (display names or object ids) are synced. Empty: every group.
    pub select: Vec<String>,
    /// Graph group (display name or object id) → directory group name. Several Graph groups
    /// may map to one name: the directory group gets the union of their members.
    pub map: BTreeMap<String, String>,
}

impl GroupsConfig {
    /// Group properties the sync must `$select` beyond the fixed list: the Graph property of
    /// `gid_number_attribute`.
    pub fn extra_group_properties(&self) -> Vec<&str> {
        top_property(self.gid_number_attribute.as_deref())
            .into_iter()
            .collect()
    }
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig {
            gid_number_range: [400_000, 499_999],
            gid_number_attribute: None,
            nested: NestedMode::Direct,
            types: GroupType::ALL.to_vec(),
            sync: true,
            include_without_mail: true,
            name_prefixes: Vec::new(),
            select: Vec::new(),
            map: BTreeMap::new(),
        }
    }
}

/// `groups.nested`: how nested groups appear in `member` and `memberUid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NestedMode {
    /// `member` holds direct member users and groups (rfc2307bis nesting); `memberUid` the
    /// direct member users.
    #[default]
    Direct,
    /// `member` and `memberUid` hold every user reached through nested groups, no group DNs.
    Flatten,
}

impl NestedMode {
    /// The spelling used in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            NestedMode::Direct => "direct",
            NestedMode::Flatten => "flatten",
        }
    }
}

/// The four kinds of group Microsoft 365 has; the names match `model::graph::GroupKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    /// Unified groups (Teams, SharePoint sites, Outlook groups).
    Microsoft365,
    Security,
    MailEnabledSecurity,
    Distribution,
}

impl GroupType {
    pub const ALL: [GroupType; 4] = [
        GroupType::Security,
        GroupType::Microsoft365,
        GroupType::MailEnabledSecurity,
        GroupType::Distribution,
    ];

    /// The spelling used in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Microsoft365 => "microsoft365",
            GroupType::Security => "security",
            GroupType::MailEnabledSecurity => "mail_enabled_security",
            GroupType::Distribution => "distribution",
        }
    }
}

/// Which of the tenant's verified domains count: users whose UPN is in another domain are left
/// out, and only these domains can become the default `base_dn`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainsConfig {
    /// Domain names; empty means every verified domain of the tenant.
    pub allowed: Vec<String>,
    /// Whether `allowed = ["contoso.com"]` also admits `eu.contoso.com` and other subdomains.
    pub include_subdomains: bool,
}

impl Default for DomainsConfig {
    fn default() -> Self {
        DomainsConfig {
            allowed: Vec::new(),
            include_subdomains: true,
        }
    }
}

/// A directory group that exists whether or not a Microsoft 365 group feeds it
/// (`[[tenant.local_group]]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalGroup {
    /// The group's `cn`.
    pub name: String,
    /// A fixed `gidNumber` (outside `groups.gid_number_range` and `users.uid_number_range`);
    /// unset: allocated from the range like any group, keyed by the name.
    #[serde(default)]
    pub gid_number: Option<u32>,
    #[serde(default)]
    pub description: Option<String>,
    /// Graph groups (display names or object ids) whose members become members; same as a
    /// `groups.map` entry pointing at this group.
    #[serde(default)]
    pub members_from: Vec<String>,
    /// Only for a top-level `[[local_group]]`: the tenant it belongs to (default: every tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}
