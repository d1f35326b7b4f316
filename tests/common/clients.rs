//! Real LDAP clients for integration tests: OpenLDAP's command-line tools (`ldapsearch`,
//! `ldapwhoami`, `ldapcompare`, from Debian's ldap-utils) and the `ldap3` crate over rustls.

use ldap3::{LdapConnAsync, LdapConnSettings};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Output of one command-line client run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run an ldap-utils tool with `LDAPTLS_CACERT` set; never through a shell.
pub async fn tool(ca: &Path, program: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(program)
        .args(args)
        .env("LDAPTLS_CACERT", ca)
        .env_remove("LDAPTLS_REQCERT")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; install ldap-utils (see README)"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ldapsearch` bound as `bind` (DN, password), LDIF without line wrapping; `options` (such as
/// `["-s", "one"]` or `["-E", "pr=5/noprompt"]`) go before the filter.
pub async fn ldapsearch(
    ca: &Path,
    url: &str,
    bind: (&str, &str),
    base: &str,
    options: &[&str],
    filter: &str,
    attrs: &[&str],
) -> Run {
    let mut args = vec![
        "-x",
        "-LLL",
        "-o",
        "ldif-wrap=no",
        "-H",
        url,
        "-D",
        bind.0,
        "-w",
        bind.1,
        "-b",
        base,
    ];
    args.extend_from_slice(options);
    args.push(filter);
    args.extend_from_slice(attrs);
    tool(ca, "ldapsearch", &args).await
}

/// `ldapcompare` of `assertion` (`attr:value`) on `dn`, bound as `bind` (DN, password).
pub async fn ldapcompare(
    ca: &Path,
    url: &str,
    bind: (&str, &str),
    dn: &str,
    assertion: &str,
) -> Run {
    tool(
        ca,
        "ldapcompare",
        &["-x", "-H", url, "-D", bind.0, "-w", bind.1, dn, assertion],
    )
    .await
}

/// Values of `attr` in LDIF output (unwrapping continuation lines; base64 values decoded).
pub fn ldif_values(ldif: &str, attr: &str) -> Vec<String> {
    use base64::Engine;
    let mut joined: Vec<String> = Vec::new();
    for line in ldif.lines() {
        if let Some(rest) = line.strip_prefix(' ') {
            if let Some(last) = joined.last_mut() {
                last.push_str(rest);
            }
        } else {
            joined.push(line.to_string());
        }
    }
    let plain = format!("{attr}: ");
    let b64 = format!("{attr}:: ");
    joined
        .iter()
        .filter_map(|l| {
            if let Some(v) = l.strip_prefix(&plain) {
                Some(v.to_string())
            } else {
                l.strip_prefix(&b64).map(|v| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v)
                        .expect("base64 LDIF value");
                    String::from_utf8(bytes).expect("utf-8 value")
                })
            }
        })
        .collect()
}

pub fn client_tls(ca_file: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(ca_file).expect("CA file");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("PEM cert")).expect("root added");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

pub async fn connect(url: &str, ca_file: &Path, starttls: bool) -> ldap3::Ldap {
    let settings = LdapConnSettings::new()
        .set_config(client_tls(ca_file))
        .set_starttls(starttls)
        .set_conn_timeout(Duration::from_secs(10));
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .expect("connects");
    ldap3::drive!(conn);
    ldap
}
