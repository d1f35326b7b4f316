//! Checks beyond what the types express. Every problem is collected (an admin fixes them all in
//! one pass), names the key, and says what to write instead. Nothing here echoes a secret or a
//! password hash.

mod accounts;
mod credential;
mod notify;
mod tenant;

use super::{Config, Problem, ServerConfig, TenantConfig};
use accounts::{id_range, service_accounts};
use credential::{credential, service_url};
use notify::notify;
pub(super) use notify::webhook_url;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
pub(super) use tenant::{is_domain, is_guid, parse_base_dn};
use tenant::{policy_keys, posix_keys, ssh_keys_attribute, tenant_id};

/// Shortest automatic sync interval. Delta rounds are cheap, but below this a tenant with a
/// slow Graph answer would start a round before the last one finished, and Graph throttles
/// applications that poll harder.
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// Smallest `max_pdu_size`: a search request with a modest filter must fit.
pub const MIN_PDU_SIZE: usize = 4 * 1024;
/// Largest `max_pdu_size`: bigger only helps an attacker make the server buffer more.
pub const MAX_PDU_SIZE: usize = 64 * 1024 * 1024;
/// Lowest uid/gid number: below are system accounts on every Linux distribution.
pub const MIN_ID_NUMBER: u32 = 1000;
/// Highest uid/gid number: 2^31-1, since some tools store ids in a signed 32-bit int.
pub const MAX_ID_NUMBER: u32 = i32::MAX as u32;
/// `sun_path` holds 108 bytes on Linux including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Default)]
pub(super) struct Problems(Vec<Problem>);

impl Problems {
    pub(super) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }
    pub(super) fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

/// `tenant[contoso]` when the name is usable as a label, `tenant[2]` otherwise.
pub fn tenant_key(index: usize, name: &str) -> String {
    if is_name(name) {
        format!("tenant[{name}]")
    } else {
        format!("tenant[{index}]")
    }
}

pub fn credential_key(tenant_key: &str, index: usize) -> String {
    format!("{tenant_key}.credential[{index}]")
}

fn account_key(index: usize, name: &str) -> String {
    if is_rdn_name(name) {
        format!("service_account[{name}]")
    } else {
        format!("service_account[{index}]")
    }
}

/// Tenant names appear in CLI flags, metrics labels and file names.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Service account names become `cn=<name>` and are typed into appliance UIs: keep them to
/// characters that need no DN escaping.
fn is_rdn_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// A POSIX-style environment variable name. Also keeps a secret pasted into
/// `client_secret_env` by mistake from being echoed in "variable `...` is not set".
pub(super) fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn validate(cfg: &Config) -> Vec<Problem> {
    let mut p = Problems::default();
    server(&cfg.server, &mut p);
    notify(&cfg.notify, &mut p);
    if let Some(ca) = &cfg.network.tls_ca_file {
        readable_file(
            "network.tls_ca_file",
            ca,
            "a PEM file of CA certificates",
            &mut p,
        );
    }
    store(&cfg.store, &mut p);
    auth(&cfg.auth, &mut p);
    tenants(&cfg.tenant, &mut p);
    service_accounts(&cfg.service_account, &cfg.tenant, &mut p);
    p.into_vec()
}

fn store(s: &super::StoreConfig, p: &mut Problems) {
    use super::StoreBackend;
    match s.backend {
        StoreBackend::Redb => {
            for (key, set) in [
                ("store.url_file", s.url_file.is_some()),
                ("store.url_env", s.url_env.is_some()),
            ] {
                if set {
                    p.push(
                        key,
                        "only applies to backend = \"postgres\"; remove it, or set \
                         store.backend = \"postgres\"",
                    );
                }
            }
        }
        StoreBackend::Postgres => match (&s.url_file, &s.url_env) {
            (None, None) => p.push(
                "store",
                "backend = \"postgres\" needs the database URL: set store.url_file (a file \
                 holding postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full) or \
                 store.url_env (the name of an environment variable holding it)",
            ),
            (Some(_), Some(_)) => p.push(
                "store.url_env",
                "store.url_file is set too; keep one of them",
            ),
            (None, Some(name)) if !is_env_name(name) => p.push(
                "store.url_env",
                "is not an environment variable name (letters, digits and _, not starting \
                 with a digit); put the variable's name here, not the URL",
            ),
            _ => {}
        },
    }
}

fn auth(a: &super::AuthConfig, p: &mut Problems) {
    let counts = [
        ("max_failures_per_account", a.max_failures_per_account),
        ("max_failures_unfamiliar", a.max_failures_unfamiliar),
        ("max_failures_per_ip", a.max_failures_per_ip),
    ];
    for (name, n) in counts {
        if n == 0 {
            p.push(
                format!("auth.{name}"),
                "must be at least 1; it is the number of failed binds tolerated before a lockout",
            );
        }
    }
    // Both budgets can reach Entra within one window: their sum must stay below its
    // smart-lockout threshold (about 10) or guesses through this server could lock the user
    // out of Microsoft 365.
    let sum = a
        .max_failures_per_account
        .saturating_add(a.max_failures_unfamiliar);
    if sum >= 10 {
        p.push(
            "auth.max_failures_per_account",
            format!(
                "is {} and auth.max_failures_unfamiliar is {}: together {sum}, but they must stay \
                 below Entra's smart-lockout threshold (about 10) so guesses through this server \
                 cannot lock a user out of Microsoft 365; lower one of them (defaults 5 and 3)",
                a.max_failures_per_account, a.max_failures_unfamiliar
            ),
        );
    }
    if a.failure_delay.get() > std::time::Duration::from_secs(10) {
        p.push(
            "auth.failure_delay",
            format!(
                "is {}; at most \"10s\" (clients time out), default \"1s\", \"0s\" turns it off",
                a.failure_delay
            ),
        );
    }
    let windows = [
        ("account_window", a.account_window),
        ("ip_window", a.ip_window),
        ("lockout", a.lockout),
        ("familiar_for", a.familiar_for),
        ("entra_timeout", a.entra_timeout),
    ];
    for (name, d) in windows {
        if d.get().is_zero() {
            p.push(format!("auth.{name}"), "must be longer than 0s");
        }
    }
}

fn server(s: &ServerConfig, p: &mut Problems) {
    if s.ldap_listen.is_none() && s.ldaps_listen.is_none() {
        p.push(
            "server",
            "no listener is configured; set server.ldap_listen (LDAP + StartTLS, e.g. \
             \"0.0.0.0:389\") and/or server.ldaps_listen (e.g. \"0.0.0.0:636\")",
        );
    }
    let plain = listen_addr("server.ldap_listen", s.ldap_listen.as_deref(), 389, p);
    let tls = listen_addr("server.ldaps_listen", s.ldaps_listen.as_deref(), 636, p);
    let http = listen_addr("server.http_listen", s.http_listen.as_deref(), 9389, p);
    for (other, addr) in [("server.ldap_listen", plain), ("server.ldaps_listen", tls)] {
        if let (Some(h), Some(a)) = (http, addr)
            && h == a
            && h.port() != 0
        {
            p.push(
                "server.http_listen",
                format!("is the same address as {other} ({h}); give it its own port, e.g. 127.0.0.1:9389"),
            );
        }
    }
    // Port 0 asks the OS for a free port, so two listeners on port 0 never clash.
    if let (Some(a), Some(b)) = (plain, tls)
        && a == b
        && a.port() != 0
    {
        p.push(
            "server.ldaps_listen",
            format!("is the same address as server.ldap_listen ({a}); give LDAPS its own port, usually 636"),
        );
    }

    match (&s.tls_cert, &s.tls_key) {
        (Some(cert), Some(key)) => {
            readable_file("server.tls_cert", cert, "a PEM certificate chain", p);
            readable_file("server.tls_key", key, "the PEM private key of tls_cert", p);
        }
        (Some(_), None) => p.push(
            "server.tls_key",
            "is not set but server.tls_cert is; set it to the PEM private key of the certificate",
        ),
        (None, Some(_)) => p.push(
            "server.tls_cert",
            "is not set but server.tls_key is; set it to the PEM certificate chain",
        ),
        (None, None) => {
            if s.ldaps_listen.is_some() {
                p.push(
                    "server.tls_cert",
                    "LDAPS (server.ldaps_listen) needs a certificate; set server.tls_cert and \
                     server.tls_key, or turn LDAPS off with ldaps_listen = \"\"",
                );
            } else if s.ldap_listen.is_some() && !s.allow_plaintext_bind {
                p.push(
                    "server.tls_cert",
                    "without a certificate StartTLS is unavailable, and since \
                     allow_plaintext_bind = false nobody could bind with a password; set \
                     server.tls_cert and server.tls_key, or (on a trusted network only) set \
                     server.allow_plaintext_bind = true",
                );
            }
        }
    }

    if s.data_dir.as_os_str().is_empty() {
        p.push(
            "server.data_dir",
            "is empty; set the directory that holds the database, e.g. \"/var/lib/o365-ldap\"",
        );
    }
    let sock = s.admin_socket.as_os_str();
    if sock.is_empty() {
        p.push(
            "server.admin_socket",
            "is empty; set the admin socket path, e.g. \"/run/o365-ldap/admin.sock\"",
        );
    } else if sock.len() > MAX_SOCKET_PATH {
        p.push(
            "server.admin_socket",
            format!(
                "is {} bytes long (after resolving it against the config file's directory); \
                 Unix socket paths can be at most {MAX_SOCKET_PATH}: choose a shorter path",
                sock.len()
            ),
        );
    }
    if s.max_connections == 0 {
        p.push(
            "server.max_connections",
            "is 0, so every client would be refused; set it to at least 1 (default 4096)",
        );
    }
    if s.max_connections_per_address == 0 {
        p.push(
            "server.max_connections_per_address",
            "is 0, so every client would be refused; set it to at least 1 (default 256)",
        );
    }
    for (key, d, example) in [
        ("server.idle_timeout", s.idle_timeout, "15m"),
        (
            "server.anonymous_idle_timeout",
            s.anonymous_idle_timeout,
            "30s",
        ),
        (
            "server.paged_search_idle_timeout",
            s.paged_search_idle_timeout,
            "5m",
        ),
    ] {
        if d.get().is_zero() {
            p.push(
                key,
                format!("is 0; set a positive duration, e.g. \"{example}\""),
            );
        }
    }
    if s.handshake_timeout.get().is_zero() {
        p.push(
            "server.handshake_timeout",
            "is 0; set a positive duration, e.g. \"10s\"",
        );
    }
    if !(MIN_PDU_SIZE..=MAX_PDU_SIZE).contains(&s.max_pdu_size) {
        p.push(
            "server.max_pdu_size",
            format!(
                "is {} bytes; it must be between {MIN_PDU_SIZE} (4 KiB) and {MAX_PDU_SIZE} \
                 (64 MiB); the default is 1048576 (1 MiB)",
                s.max_pdu_size
            ),
        );
    }
    if !(MIN_PDU_SIZE..=s.max_pdu_size.max(MIN_PDU_SIZE)).contains(&s.max_pdu_size_anonymous) {
        p.push(
            "server.max_pdu_size_anonymous",
            format!(
                "is {} bytes; it must be between {MIN_PDU_SIZE} (4 KiB) and server.max_pdu_size \
                 ({}); the default is 65536 (64 KiB)",
                s.max_pdu_size_anonymous, s.max_pdu_size
            ),
        );
    }
    for (key, value, default) in [
        ("server.max_filter_depth", s.max_filter_depth, 32),
        ("server.max_filter_elements", s.max_filter_elements, 512),
        ("server.max_attributes", s.max_attributes, 256),
        ("server.size_limit", s.size_limit, 1000),
        (
            "server.max_paged_searches_per_identity",
            s.max_paged_searches_per_identity,
            64,
        ),
    ] {
        if value == 0 {
            p.push(
                key,
                format!(
                    "is 0, so no search could succeed; set it to at least 1 (default {default})"
                ),
            );
        }
    }
}

fn listen_addr(key: &str, value: Option<&str>, port: u16, p: &mut Problems) -> Option<SocketAddr> {
    let v = value?;
    match v.trim().parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            p.push(
                key,
                format!(
                    "`{v}` is not an IP address and port; write e.g. \"0.0.0.0:{port}\", \
                     \"127.0.0.1:{port}\" or \"[::]:{port}\" (host names are not accepted), or \
                     \"\" to turn the listener off"
                ),
            );
            None
        }
    }
}

fn readable_file(key: &str, path: &Path, what: &str, p: &mut Problems) {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => p.push(key, format!("{shown} is a directory; point it at {what}")),
        Ok(_) => {
            if let Err(e) = std::fs::File::open(path) {
                p.push(
                    key,
                    format!("cannot read {shown}: {e}; let the server's user read it"),
                );
            }
        }
        Err(e) => p.push(
            key,
            format!(
                "cannot read {shown}: {e}; point it at {what} (relative paths are taken from \
                 the config file's directory)"
            ),
        ),
    }
}

fn tenants(list: &[TenantConfig], p: &mut Problems) {
    if list.is_empty() {
        p.push(
            "tenant",
            "no [[tenant]] is configured; add one (see config/o365-ldap.example.toml)",
        );
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut base_dns: HashMap<String, String> = HashMap::new();
    for (i, t) in list.iter().enumerate() {
        let key = tenant_key(i, &t.name);
        if t.name.is_empty() {
            p.push(
                format!("{key}.name"),
                "is empty; give the tenant a short name such as \"contoso\"",
            );
        } else if !is_name(&t.name) {
            p.push(
                format!("{key}.name"),
                format!(
                    "`{}` is not a usable name; use 1-64 letters, digits, `-` or `_`",
                    t.name
                ),
            );
        } else if let Some(first) = names.insert(t.name.to_ascii_lowercase(), i) {
            p.push(
                format!("{key}.name"),
                format!(
                    "is also the name of tenant number {first} (names are compared ignoring \
                     case); give each [[tenant]] its own name"
                ),
            );
        }
        tenant_id(&key, &t.tenant_id, p);
        if let Some(dn) = &t.base_dn {
            match parse_base_dn(dn) {
                Ok(normal) => {
                    if let Some(other) = base_dns.insert(normal, key.clone()) {
                        p.push(
                            format!("{key}.base_dn"),
                            format!(
                                "`{dn}` is also the base_dn of {other}; each tenant needs its own \
                                 naming context"
                            ),
                        );
                    }
                }
                Err(why) => p.push(
                    format!("{key}.base_dn"),
                    format!(
                        "`{dn}` {why}; write it as dc=/o=/ou= parts, e.g. \"dc=contoso,dc=com\", \
                         or leave it out to derive it from the default verified domain"
                    ),
                ),
            }
        }
        service_url(&format!("{key}.graph_url"), &t.graph_url, p);
        service_url(&format!("{key}.login_url"), &t.login_url, p);
        if let Some(id) = &t.password_grant_client_id
            && !is_guid(id)
        {
            p.push(
                format!("{key}.password_grant_client_id"),
                format!(
                    "`{id}` is not an application (client) id; copy the GUID from the app \
                     registration's Overview page"
                ),
            );
        }
        if t.credential.is_empty() {
            p.push(
                format!("{key}.credential"),
                "no [[tenant.credential]] is configured; add one with the app registration's \
                 client_id and client_secret_file or client_secret_env",
            );
        }
        for (ci, c) in t.credential.iter().enumerate() {
            credential(&credential_key(&key, ci), c, p);
        }
        if let Some(ca) = &t.tls_ca_file {
            readable_file(
                &format!("{key}.tls_ca_file"),
                ca,
                "a PEM file of CA certificates",
                p,
            );
        }
        // Without automatic rounds the interval is not used, so any limit is meaningful.
        if let Some(stale) = t.sync.max_staleness
            && t.sync.automatic
            && stale.get() < t.sync.interval.get()
        {
            p.push(
                format!("{key}.sync.max_staleness"),
                format!(
                    "is {stale}, shorter than sync.interval ({}); the tenant would be stale \
                     between two rounds; leave it out (4 × interval) or make it longer",
                    t.sync.interval
                ),
            );
        }
        if t.sync.interval.get() < MIN_SYNC_INTERVAL {
            p.push(
                format!("{key}.sync.interval"),
                format!(
                    "is {}; the shortest interval is 30s (default 15m)",
                    t.sync.interval
                ),
            );
        }
        let users = &t.users;
        let uid_ok = id_range(
            &format!("{key}.users.uid_number_range"),
            users.uid_number_range,
            p,
        );
        let gid_ok = id_range(
            &format!("{key}.groups.gid_number_range"),
            t.groups.gid_number_range,
            p,
        );
        if uid_ok && gid_ok {
            let [u0, u1] = users.uid_number_range;
            let [g0, g1] = t.groups.gid_number_range;
            if u0 <= g1 && g0 <= u1 {
                p.push(
                    format!("{key}.groups.gid_number_range"),
                    format!(
                        "[{g0}, {g1}] overlaps users.uid_number_range [{u0}, {u1}]; every user's \
                         private group takes gidNumber = uidNumber, so the two ranges must not \
                         overlap"
                    ),
                );
            }
        }
        posix_keys(&key, t, p);
        if !users.login_shell.starts_with('/') {
            p.push(
                format!("{key}.users.login_shell"),
                "is not an absolute path; write e.g. \"/bin/bash\"",
            );
        }
        for (bi, glob) in users.blocked_emails.iter().enumerate() {
            if glob.trim().is_empty() {
                p.push(
                    format!("{key}.users.blocked_emails[{bi}]"),
                    "is empty; remove it or write a pattern such as \"*@svc.contoso.com\"",
                );
            }
        }
        if let Some(attr) = &users.ssh_keys_attribute
            && let Err(msg) = ssh_keys_attribute(attr)
        {
            p.push(format!("{key}.users.ssh_keys_attribute"), msg);
        }
        if t.groups.types.is_empty() {
            p.push(
                format!("{key}.groups.types"),
                "is empty, so no group would be synced; list some of \"security\", \
                 \"microsoft365\", \"mail_enabled_security\", \"distribution\" or leave the key \
                 out for all four",
            );
        }
        policy_keys(&key, t, p);
        for (di, d) in t.domains.allowed.iter().enumerate() {
            if !is_domain(d) {
                p.push(
                    format!("{key}.domains.allowed[{di}]"),
                    format!("`{d}` is not a domain name; write e.g. \"contoso.com\""),
                );
            }
        }
    }
}
