//! The effective configuration as TOML, for `o365-ldap check`: every key with defaults filled in,
//! paths as resolved, and no secret — client secrets appear only as a `<redacted>` comment,
//! password hashes as `$argon2id$<redacted>`.
//!
//! Written by hand rather than through serde so that switched-off settings and derived defaults
//! can carry a comment saying so, and so that adding a field with a secret to the schema cannot
//! make it appear here by accident.

use super::{
    Config, CredentialConfig, Dur, ServerConfig, ServiceAccount, StoreBackend, StoreConfig,
    TenantConfig,
};
use std::fmt::Write;
use std::path::Path;

/// What `password_hash` is shown as.
pub const REDACTED_HASH: &str = "$argon2id$<redacted>";

pub fn render_effective(cfg: &Config) -> String {
    let mut out = String::from(
        "# Effective configuration: defaults filled in, relative paths resolved, secrets redacted.\n",
    );
    server(&mut out, &cfg.server);
    notify(&mut out, &cfg.notify);
    out.push_str("\n[network]\n");
    match &cfg.network.tls_ca_file {
        Some(f) => kv(&mut out, "tls_ca_file", &path(f)),
        None => out.push_str("# tls_ca_file: not set; the operating system's CA store only\n"),
    }
    store(&mut out, &cfg.store);
    out.push_str("\n[auth]\n");
    let a = &cfg.auth;
    kv(&mut out, "user_bind", &quote(a.user_bind.as_str()));
    kv(&mut out, "cache_ttl", &dur(a.cache_ttl));
    kv(
        &mut out,
        "max_failures_per_account",
        &a.max_failures_per_account.to_string(),
    );
    kv(
        &mut out,
        "max_failures_unfamiliar",
        &a.max_failures_unfamiliar.to_string(),
    );
    kv(&mut out, "account_window", &dur(a.account_window));
    kv(
        &mut out,
        "max_failures_per_ip",
        &a.max_failures_per_ip.to_string(),
    );
    kv(&mut out, "ip_window", &dur(a.ip_window));
    kv(&mut out, "lockout", &dur(a.lockout));
    kv(&mut out, "familiar_for", &dur(a.familiar_for));
    kv(&mut out, "failure_delay", &dur(a.failure_delay));
    let sources: Vec<String> = a
        .trusted_sources
        .iter()
        .map(|s| quote(&s.to_string()))
        .collect();
    kv(
        &mut out,
        "trusted_sources",
        &format!("[{}]", sources.join(", ")),
    );
    kv(&mut out, "entra_timeout", &dur(a.entra_timeout));
    for a in &cfg.service_account {
        account(&mut out, a);
    }
    for t in &cfg.tenant {
        tenant(&mut out, t);
    }
    out
}

fn server(out: &mut String, s: &ServerConfig) {
    out.push_str("\n[server]\n");
    opt_str(out, "ldap_listen", s.ldap_listen.as_deref(), "# disabled");
    opt_str(out, "ldaps_listen", s.ldaps_listen.as_deref(), "# disabled");
    opt_path(out, "tls_cert", s.tls_cert.as_deref());
    opt_path(out, "tls_key", s.tls_key.as_deref());
    kv(out, "data_dir", &path(&s.data_dir));
    kv(out, "admin_socket", &path(&s.admin_socket));
    kv(
        out,
        "allow_plaintext_bind",
        &s.allow_plaintext_bind.to_string(),
    );
    kv(out, "anonymous_read", &s.anonymous_read.to_string());
    kv(out, "max_connections", &s.max_connections.to_string());
    kv(
        out,
        "max_connections_per_address",
        &s.max_connections_per_address.to_string(),
    );
    kv(out, "idle_timeout", &dur(s.idle_timeout));
    kv(
        out,
        "anonymous_idle_timeout",
        &dur(s.anonymous_idle_timeout),
    );
    kv(out, "handshake_timeout", &dur(s.handshake_timeout));
    kv(out, "max_pdu_size", &s.max_pdu_size.to_string());
    kv(
        out,
        "max_pdu_size_anonymous",
        &s.max_pdu_size_anonymous.to_string(),
    );
    kv(out, "max_filter_depth", &s.max_filter_depth.to_string());
    kv(
        out,
        "max_filter_elements",
        &s.max_filter_elements.to_string(),
    );
    kv(out, "max_attributes", &s.max_attributes.to_string());
    kv(out, "size_limit", &s.size_limit.to_string());
    kv(
        out,
        "max_paged_searches_per_identity",
        &s.max_paged_searches_per_identity.to_string(),
    );
    kv(
        out,
        "paged_search_idle_timeout",
        &dur(s.paged_search_idle_timeout),
    );
    kv(out, "log_format", &quote(s.log_format.as_str()));
    opt_str(out, "http_listen", s.http_listen.as_deref(), "# disabled");
}

fn notify(out: &mut String, n: &super::NotifyConfig) {
    out.push_str("\n[notify]\n");
    match (&n.webhook_url, &n.webhook_url_file) {
        (_, Some(f)) => kv(out, "webhook_url_file", &path(f)),
        // The URL carries the webhook's token: only its host is shown.
        (Some(u), None) => {
            let host = url::Url::parse(u.trim())
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(out, "# webhook_url: https://{host}/<redacted>");
        }
        (None, None) => out.push_str("# webhook_url: not set; no webhook\n"),
    }
    kv(out, "email_to", &strings(&n.email_to));
    match &n.email_from {
        Some(f) => kv(out, "email_from", &quote(f)),
        None => out.push_str("# email_from: not set; no e-mail\n"),
    }
}

/// The backend and where the URL comes from; the URL itself (it holds the database password)
/// never.
fn store(out: &mut String, s: &StoreConfig) {
    out.push_str("\n[store]\n");
    match s.backend {
        StoreBackend::Redb => {
            out.push_str(
                "backend = \"redb\"  # the embedded file in server.data_dir: ONE server. For \
                 several replicas use backend = \"postgres\" (docs/scale-out.md)\n",
            );
        }
        StoreBackend::Postgres => {
            out.push_str(
                "backend = \"postgres\"  # one PostgreSQL database shared by every replica; \
                 server.data_dir keeps this replica's local cache\n",
            );
            if let Some(f) = &s.url_file {
                kv(out, "url_file", &path(f));
            }
            if let Some(e) = &s.url_env {
                kv(out, "url_env", &quote(e));
            }
            out.push_str("# the URL itself is not shown: it holds the database password\n");
        }
    }
}

fn account(out: &mut String, a: &ServiceAccount) {
    out.push_str("\n[[service_account]]\n");
    kv(out, "name", &quote(&a.name));
    kv(out, "password_hash", &quote(REDACTED_HASH));
    if a.tenants.is_empty() {
        out.push_str("tenants = []  # every tenant\n");
    } else {
        kv(out, "tenants", &array(a.tenants.iter().map(|t| quote(t))));
    }
}

fn tenant(out: &mut String, t: &TenantConfig) {
    out.push_str("\n[[tenant]]\n");
    kv(out, "name", &quote(&t.name));
    kv(out, "tenant_id", &quote(&t.tenant_id));
    match &t.base_dn {
        Some(dn) => kv(out, "base_dn", &quote(dn)),
        None => {
            out.push_str("# base_dn: not set; derived from the tenant's default verified domain\n")
        }
    }
    kv(out, "graph_url", &quote(&t.graph_url));
    kv(out, "login_url", &quote(&t.login_url));
    if let Some(f) = &t.tls_ca_file {
        kv(out, "tls_ca_file", &path(f));
    }
    match &t.password_grant_client_id {
        Some(id) => kv(out, "password_grant_client_id", &quote(id)),
        None => out.push_str(
            "# password_grant_client_id: not set; user binds use the first credential's app\n",
        ),
    }
    for c in &t.credential {
        credential(out, c);
    }

    out.push_str("\n  [tenant.sync]\n");
    kv(out, "  automatic", &t.sync.automatic.to_string());
    kv(out, "  interval", &dur(t.sync.interval));
    kv(out, "  full_every", &dur(t.sync.full_every));
    kv(out, "  max_deletions", &t.sync.max_deletions.to_string());
    match t.sync.max_staleness {
        Some(d) => kv(out, "  max_staleness", &dur(d)),
        None => {
            let _ = writeln!(
                out,
                "  # max_staleness: not set; 4 × interval ({})",
                super::Dur(t.sync.staleness_limit())
            );
        }
    }

    let u = &t.users;
    out.push_str("\n  [tenant.users]\n");
    kv(out, "  username_from", &quote(u.username_from.as_str()));
    kv(out, "  uid_number_range", &range(u.uid_number_range));
    match &u.uid_number_attribute {
        Some(a) => kv(out, "  uid_number_attribute", &quote(a)),
        None => out.push_str("  # uid_number_attribute: not set; numbers are derived\n"),
    }
    kv(out, "  primary_group", &quote(&u.primary_group));
    kv(out, "  home_directory", &quote(&u.home_directory));
    kv(out, "  login_shell", &quote(&u.login_shell));
    kv(out, "  gecos", &quote(&u.gecos));
    kv(
        out,
        "  blocked_emails",
        &array(u.blocked_emails.iter().map(|g| quote(g))),
    );
    kv(out, "  keep_deleted_for", &dur(u.keep_deleted_for));
    kv(out, "  only_members_of", &strings(&u.only_members_of));
    kv(out, "  active_members_of", &strings(&u.active_members_of));
    kv(
        out,
        "  inactive_members_of",
        &strings(&u.inactive_members_of),
    );
    kv(out, "  include_guests", &u.include_guests.to_string());
    kv(out, "  inactive", &quote(u.inactive.as_str()));
    match &u.ssh_keys_attribute {
        Some(a) => kv(out, "  ssh_keys_attribute", &quote(a)),
        None => out.push_str(
            "  # ssh_keys_attribute: not set; only keys added with `ctl ssh-key add` are served\n",
        ),
    }

    let g = &t.groups;
    out.push_str("\n  [tenant.groups]\n");
    kv(out, "  gid_number_range", &range(g.gid_number_range));
    match &g.gid_number_attribute {
        Some(a) => kv(out, "  gid_number_attribute", &quote(a)),
        None => out.push_str("  # gid_number_attribute: not set; numbers are derived\n"),
    }
    kv(out, "  nested", &quote(g.nested.as_str()));
    kv(
        out,
        "  types",
        &array(g.types.iter().map(|k| quote(k.as_str()))),
    );
    kv(out, "  sync", &g.sync.to_string());
    kv(
        out,
        "  include_without_mail",
        &g.include_without_mail.to_string(),
    );
    kv(out, "  name_prefixes", &strings(&g.name_prefixes));
    kv(out, "  select", &strings(&g.select));
    if !g.map.is_empty() {
        out.push_str("\n  [tenant.groups.map]\n");
        for (from, to) in &g.map {
            let _ = writeln!(out, "  {} = {}", quote(from), quote(to));
        }
    }

    let d = &t.domains;
    out.push_str("\n  [tenant.domains]\n");
    if d.allowed.is_empty() {
        out.push_str("  allowed = []  # every verified domain\n");
    } else {
        kv(out, "  allowed", &array(d.allowed.iter().map(|x| quote(x))));
    }
    kv(
        out,
        "  include_subdomains",
        &d.include_subdomains.to_string(),
    );
    for l in &t.local_group {
        out.push_str("\n  [[tenant.local_group]]\n");
        kv(out, "  name", &quote(&l.name));
        match l.gid_number {
            Some(n) => kv(out, "  gid_number", &n.to_string()),
            None => out.push_str("  # gid_number: allocated from groups.gid_number_range\n"),
        }
        if let Some(d) = &l.description {
            kv(out, "  description", &quote(d));
        }
        kv(out, "  members_from", &strings(&l.members_from));
    }
}

fn strings(v: &[String]) -> String {
    array(v.iter().map(|x| quote(x)))
}

fn credential(out: &mut String, c: &CredentialConfig) {
    out.push_str("\n  [[tenant.credential]]\n");
    kv(out, "  client_id", &quote(&c.client_id));
    if let Some(f) = &c.client_secret_file {
        kv(out, "  client_secret_file", &path(f));
    }
    if let Some(e) = &c.client_secret_env {
        kv(out, "  client_secret_env", &quote(e));
    }
    if let Some(f) = &c.certificate_file {
        kv(out, "  certificate_file", &path(f));
    }
    if let Some(f) = &c.private_key_file {
        kv(out, "  private_key_file", &path(f));
    }
    let state = if c.resolved_secret.is_some() {
        "<redacted>"
    } else {
        "<not loaded>"
    };
    let _ = writeln!(out, "  # client secret: {state}");
}

fn kv(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key} = {value}");
}

fn opt_str(out: &mut String, key: &str, value: Option<&str>, off: &str) {
    match value {
        Some(v) => kv(out, key, &quote(v)),
        None => {
            let _ = writeln!(out, "{key} = \"\"  {off}");
        }
    }
}

fn opt_path(out: &mut String, key: &str, value: Option<&Path>) {
    match value {
        Some(p) => kv(out, key, &path(p)),
        None => {
            let _ = writeln!(out, "{key} = \"\"  # not set");
        }
    }
}

fn path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

fn dur(d: Dur) -> String {
    quote(&d.to_string())
}

fn range([a, b]: [u32; 2]) -> String {
    format!("[{a}, {b}]")
}

fn array(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", u32::from(c));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}
