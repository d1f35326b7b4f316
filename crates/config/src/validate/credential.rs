//! `tenant.credential`: each app credential's source (secret, certificate) and the login and
//! Graph service URLs.

use super::tenant::is_guid;
use super::{Problems, is_env_name};
use crate::CredentialConfig;

pub(super) fn credential(key: &str, c: &CredentialConfig, p: &mut Problems) {
    if c.client_id.trim().is_empty() {
        p.push(
            format!("{key}.client_id"),
            "is empty; set the Application (client) ID of the app registration (a GUID)",
        );
    } else if !is_guid(&c.client_id) {
        p.push(
            format!("{key}.client_id"),
            format!(
                "`{}` is not a GUID; set the Application (client) ID of the app registration, \
                 e.g. \"11111111-2222-3333-4444-555555555555\"",
                c.client_id
            ),
        );
    }
    if c.certificate_file.is_some() || c.private_key_file.is_some() {
        // The files themselves are read and checked with the secrets (resolve.rs), where the
        // certificate and key are parsed and matched.
        if c.client_secret_file.is_some() || c.client_secret_env.is_some() {
            p.push(
                key.to_string(),
                "sets both a certificate (certificate_file, private_key_file) and a client \
                 secret; keep one kind per [[tenant.credential]] block and add another block \
                 for the other",
            );
        }
        for (name, value, what) in [
            (
                "certificate_file",
                &c.certificate_file,
                "the PEM certificate uploaded to the app registration",
            ),
            (
                "private_key_file",
                &c.private_key_file,
                "the PEM RSA private key of certificate_file",
            ),
        ] {
            match value {
                None => p.push(
                    format!("{key}.{name}"),
                    format!("is not set; a certificate credential needs both certificate_file and private_key_file, set it to {what}"),
                ),
                Some(f) if f.as_os_str().is_empty() => p.push(
                    format!("{key}.{name}"),
                    format!("is empty; set it to {what}"),
                ),
                Some(_) => {}
            }
        }
        return;
    }
    match (&c.client_secret_file, &c.client_secret_env) {
        (Some(_), Some(_)) => p.push(
            key.to_string(),
            "sets both client_secret_file and client_secret_env; keep exactly one",
        ),
        (None, None) => p.push(
            key.to_string(),
            "has no client secret; set client_secret_file (a file holding the secret) or \
             client_secret_env (an environment variable holding it)",
        ),
        (Some(f), None) if f.as_os_str().is_empty() => p.push(
            format!("{key}.client_secret_file"),
            "is empty; set the path of the file that holds the client secret",
        ),
        (None, Some(name)) if !is_env_name(name) => p.push(
            format!("{key}.client_secret_env"),
            "is not an environment variable name (letters, digits and `_`, not starting with a \
             digit); it names the variable that holds the secret, never the secret itself",
        ),
        _ => {}
    }
}

pub(super) fn service_url(key: &str, value: &str, p: &mut Problems) {
    let url = match url::Url::parse(value.trim()) {
        Ok(u) => u,
        Err(e) => {
            // Not echoed: a malformed URL may still hold credentials.
            p.push(
                key,
                format!(
                    "is not a valid absolute URL ({e}); write e.g. \"https://graph.microsoft.com\""
                ),
            );
            return;
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        p.push(key, "must not contain a user name or password; remove them");
        return;
    }
    if url.query().is_some() || url.fragment().is_some() {
        p.push(
            key,
            format!("`{value}` has a query or fragment; give only scheme, host, port and path"),
        );
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if !loopback {
                p.push(
                    key,
                    "http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); \
                     use https://",
                );
            }
        }
        other => p.push(
            key,
            format!("scheme `{other}:` is not supported; use https://"),
        ),
    }
}
