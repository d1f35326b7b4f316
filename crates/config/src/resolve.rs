//! The parts of loading that look outside the TOML text: relative paths made absolute against
//! the config file's directory, `""` read as "not set", and client secrets read from files or
//! environment variables.

use super::validate::{Problems, credential_key, tenant_key};
use super::{Config, Problem, Secret};
use std::env::VarError;
use std::path::{Path, PathBuf};

/// The variable systemd's `LoadCredential=` sets to the directory holding the credentials.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// TOML has no null, so an empty string is how a listener or TLS path with a default is
/// switched off; a path starting with `${CREDENTIALS_DIRECTORY}` (or `$CREDENTIALS_DIRECTORY`)
/// is taken from that variable; relative paths are anchored at `base` (the config file's
/// directory). A path whose variable is not set is reported under its key.
pub(super) fn normalize(
    cfg: &mut Config,
    base: &Path,
    env: &dyn Fn(&str) -> Result<String, VarError>,
    problems: &mut Vec<Problem>,
) {
    let s = &mut cfg.server;
    for listen in [&mut s.ldap_listen, &mut s.ldaps_listen, &mut s.http_listen] {
        if listen.as_deref().is_some_and(|v| v.trim().is_empty()) {
            *listen = None;
        }
    }
    let mut paths = Paths {
        base,
        env,
        problems: Problems::default(),
    };
    for (key, path) in [
        ("server.tls_cert", &mut s.tls_cert),
        ("server.tls_key", &mut s.tls_key),
    ] {
        if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            *path = None;
        }
        paths.anchor_opt(key, path);
    }
    paths.anchor("server.data_dir", &mut s.data_dir);
    paths.anchor("server.admin_socket", &mut s.admin_socket);
    paths.anchor_opt("notify.webhook_url_file", &mut cfg.notify.webhook_url_file);
    paths.anchor_opt("network.tls_ca_file", &mut cfg.network.tls_ca_file);
    for (ti, tenant) in cfg.tenant.iter_mut().enumerate() {
        let tkey = tenant_key(ti, &tenant.name);
        paths.anchor_opt(&format!("{tkey}.tls_ca_file"), &mut tenant.tls_ca_file);
        for (ci, cred) in tenant.credential.iter_mut().enumerate() {
            let ckey = credential_key(&tkey, ci);
            paths.anchor_opt(
                &format!("{ckey}.client_secret_file"),
                &mut cred.client_secret_file,
            );
            paths.anchor_opt(
                &format!("{ckey}.certificate_file"),
                &mut cred.certificate_file,
            );
            paths.anchor_opt(
                &format!("{ckey}.private_key_file"),
                &mut cred.private_key_file,
            );
        }
    }
    if cfg
        .store
        .url_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        cfg.store.url_file = None;
    }
    if cfg
        .store
        .url_env
        .as_deref()
        .is_some_and(|v| v.trim().is_empty())
    {
        cfg.store.url_env = None;
    }
    paths.anchor_opt("store.url_file", &mut cfg.store.url_file);
    problems.extend(paths.problems.into_vec());
    for tenant in &mut cfg.tenant {
        tenant.resolved_ca_files = cfg
            .network
            .tls_ca_file
            .iter()
            .chain(tenant.tls_ca_file.iter())
            .cloned()
            .collect();
    }
}

struct Paths<'a> {
    base: &'a Path,
    env: &'a dyn Fn(&str) -> Result<String, VarError>,
    problems: Problems,
}

impl Paths<'_> {
    fn anchor(&mut self, key: &str, path: &mut PathBuf) {
        if let Some(rest) = path.to_str().and_then(credentials_relative) {
            match (self.env)(CREDENTIALS_DIRECTORY) {
                Ok(dir) if !dir.is_empty() => *path = Path::new(&dir).join(rest),
                _ => self.problems.push(
                    key,
                    format!(
                        "uses ${{{CREDENTIALS_DIRECTORY}}}, which is not set; systemd sets it for \
                         a unit with LoadCredential= (run `check` with \
                         {CREDENTIALS_DIRECTORY}=/path/to/credentials to try the file outside \
                         systemd)"
                    ),
                ),
            }
        }
        // An empty path stays empty so validation can say it is missing, rather than silently
        // becoming the config directory.
        if !path.as_os_str().is_empty() && path.is_relative() {
            *path = self.base.join(&*path);
        }
    }

    fn anchor_opt(&mut self, key: &str, path: &mut Option<PathBuf>) {
        if let Some(p) = path {
            self.anchor(key, p);
        }
    }
}

/// The part after a leading `${CREDENTIALS_DIRECTORY}/` or `$CREDENTIALS_DIRECTORY/`.
fn credentials_relative(path: &str) -> Option<&str> {
    ["${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY"]
        .iter()
        .find_map(|v| path.strip_prefix(v))
        .map(|rest| rest.trim_start_matches('/'))
}

/// Read every credential's secret. Credentials whose shape validation already rejected (no
/// source, or two) are skipped: their problem is reported once, by validation.
pub(super) fn secrets(
    cfg: &mut Config,
    env: &dyn Fn(&str) -> Result<String, VarError>,
    problems: &mut Vec<Problem>,
) {
    let mut found = Problems::default();
    for (ti, tenant) in cfg.tenant.iter_mut().enumerate() {
        let tkey = tenant_key(ti, &tenant.name);
        for (ci, cred) in tenant.credential.iter_mut().enumerate() {
            let ckey = credential_key(&tkey, ci);
            // Certificate files are read by whoever builds the Graph client (see `load_with`).
            if cred.certificate_file.is_some() || cred.private_key_file.is_some() {
                continue;
            }
            let secret = match (&cred.client_secret_file, &cred.client_secret_env) {
                (Some(file), None) if !file.as_os_str().is_empty() => from_file(
                    file,
                    &format!("{ckey}.client_secret_file"),
                    "the client secret (the secret's Value, not its ID)",
                    &mut found,
                ),
                (None, Some(name)) if super::validate::is_env_name(name) => {
                    from_env(name, env, &format!("{ckey}.client_secret_env"), &mut found)
                }
                _ => None,
            };
            cred.resolved_secret = secret;
        }
    }
    let n = &mut cfg.notify;
    n.resolved_webhook = match (&n.webhook_url, &n.webhook_url_file) {
        (Some(url), None) if !url.trim().is_empty() => Some(Secret::new(url.trim())),
        (None, Some(file)) if !file.as_os_str().is_empty() => from_file(
            file,
            "notify.webhook_url_file",
            "the webhook URL",
            &mut found,
        )
        .map(|s| Secret::new(s.expose().trim())),
        _ => None,
    };
    if let (Some(url), Some(_)) = (&n.resolved_webhook, &n.webhook_url_file) {
        super::validate::webhook_url("notify.webhook_url_file", url.expose(), &mut found);
    }
    store_url(cfg, env, &mut found);
    problems.extend(found.into_vec());
}

/// Read the PostgreSQL URL of `[store]` (backend = "postgres"). Like client secrets, the value
/// is never echoed: a URL carries the database password.
fn store_url(
    cfg: &mut Config,
    env: &dyn Fn(&str) -> Result<String, VarError>,
    found: &mut Problems,
) {
    let st = &mut cfg.store;
    if st.backend != super::StoreBackend::Postgres {
        return;
    }
    let (url, key) = match (&st.url_file, &st.url_env) {
        (Some(file), None) => (
            read_url_file(file, "store.url_file", found),
            "store.url_file",
        ),
        (None, Some(name)) if super::validate::is_env_name(name) => (
            from_env(name, env, "store.url_env", found).map(|s| Secret::new(s.expose().trim())),
            "store.url_env",
        ),
        _ => return,
    };
    if let Some(u) = &url {
        let v = u.expose();
        if !(v.starts_with("postgres://") || v.starts_with("postgresql://")) {
            found.push(
                key,
                "does not hold a PostgreSQL URL; write it as \
                 postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full (the value is \
                 not shown here because it may hold the password)",
            );
            return;
        }
    }
    st.resolved_url = url;
}

fn read_url_file(path: &Path, key: &str, found: &mut Problems) -> Option<Secret> {
    let shown = show_path(path);
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => {
            found.push(
                key,
                format!("{shown} is empty; put the PostgreSQL URL in it (one line)"),
            );
            None
        }
        Ok(text) => Some(Secret::new(text.trim())),
        Err(e) => {
            found.push(
                key,
                format!(
                    "cannot read {shown}: {e}; put the PostgreSQL URL in that file (readable by \
                     the server only, mode 0600) or fix the path (relative paths are taken from \
                     the config file's directory)"
                ),
            );
            None
        }
    }
}

fn from_file(path: &Path, key: &str, what: &str, found: &mut Problems) -> Option<Secret> {
    let shown = show_path(path);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            found.push(
                key,
                format!(
                    "cannot read {shown}: {e}; put {what} in that file (readable by the server \
                     only, mode 0600) or fix the path (relative paths are taken from the config \
                     file's directory)"
                ),
            );
            return None;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        found.push(
            key,
            format!("{shown} is not UTF-8 text; it must hold {what} as text"),
        );
        return None;
    };
    // One trailing newline is what `echo secret > file` and editors add; anything else is
    // kept, since a secret may legitimately end in whitespace.
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.is_empty() {
        found.push(key, format!("{shown} is empty; put {what} in it"));
        return None;
    }
    Some(Secret::new(value))
}

fn from_env(
    name: &str,
    env: &dyn Fn(&str) -> Result<String, VarError>,
    key: &str,
    found: &mut Problems,
) -> Option<Secret> {
    match env(name) {
        Ok(v) if v.is_empty() => {
            found.push(
                key,
                format!(
                    "environment variable `{name}` is set but empty; set it to the client secret"
                ),
            );
            None
        }
        Ok(v) => Some(Secret::new(v)),
        Err(VarError::NotPresent) => {
            found.push(
                key,
                format!(
                    "environment variable `{name}` is not set; export it with the client secret \
                     before starting o365-ldap, or use client_secret_file"
                ),
            );
            None
        }
        Err(VarError::NotUnicode(_)) => {
            found.push(
                key,
                format!("environment variable `{name}` is not valid Unicode"),
            );
            None
        }
    }
}

/// A secret-file path as it may appear in a message. Someone who pastes the secret itself into
/// `client_secret_file` would otherwise see it echoed in the error; Entra secrets contain `~`
/// (or, in older ones, characters like `[]=?@:*+`) that ordinary file names do not.
fn show_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._- ".contains(c));
    if plain {
        s.into_owned()
    } else {
        "the file it names".to_string()
    }
}
