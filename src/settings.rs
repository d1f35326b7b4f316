//! The configuration handed to the lower layers: the Graph client's options and the checks
//! that need it (certificate files), kept here so the config module reads no certificate and
//! the Graph client reads no config type.

use config::{Config, ConfigError, CredentialConfig, Problem, TenantConfig};
use graph::ropc::GrantTarget;
use graph::{CertificateKey, CredentialSource, CredentialSpec, TenantOptions};
use std::path::Path;

/// Load and validate a config file, certificate credentials included.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    config::load_with(path, &certificate_problems)
}

/// What the Graph client needs of one tenant.
pub fn tenant_options(t: &TenantConfig) -> TenantOptions {
    TenantOptions {
        name: t.name.clone(),
        tenant_id: t.tenant_id.clone(),
        graph_url: t.graph_url.clone(),
        login_url: t.login_url.clone(),
        credentials: t.credential.iter().map(credential_spec).collect(),
        user_properties: strings(t.users.extra_user_properties()),
        group_properties: strings(t.groups.extra_group_properties()),
        ca_files: t.resolved_ca_files.clone(),
    }
}

/// Every CA file any HTTPS call trusts beside the system's store: `network.tls_ca_file` and
/// each tenant's (the Entra password check is one client for every tenant).
pub fn all_ca_files(cfg: &Config) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    for f in cfg.tenant.iter().flat_map(|t| t.resolved_ca_files.iter()) {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    if let Some(f) = &cfg.network.tls_ca_file
        && !out.contains(f)
    {
        out.push(f.clone());
    }
    out
}

/// An HTTP client (no redirects, the system's store plus `network.tls_ca_file` and, with
/// `tenant`, its `tls_ca_file`) for calls that are not Graph's (the notification webhook).
pub fn http_client(
    cfg: &Config,
    tenant: Option<&TenantConfig>,
    timeout: std::time::Duration,
    loopback_only: bool,
) -> Result<reqwest::Client, graph::GraphError> {
    let extra_roots = match tenant {
        Some(t) => t.resolved_ca_files.clone(),
        None => cfg.network.tls_ca_file.iter().cloned().collect(),
    };
    graph::http::client(&graph::http::HttpOptions {
        timeout: Some(timeout),
        connect_timeout: timeout.min(std::time::Duration::from_secs(10)),
        loopback_only,
        extra_roots,
    })
}

/// Where and as whom a tenant's password grant is made: `password_grant_client_id` (a public
/// client) when set, else the first credential's app with its secret. `None` when the tenant
/// has neither.
pub fn grant_target(t: &TenantConfig) -> Option<GrantTarget> {
    let (client_id, secret) = match &t.password_grant_client_id {
        Some(id) => (id.clone(), None),
        None => {
            let c = t.credential.first()?;
            (c.client_id.clone(), c.resolved_secret.clone())
        }
    };
    Some(GrantTarget {
        token_url: format!(
            "{}/{}/oauth2/v2.0/token",
            t.login_url.trim_end_matches('/'),
            t.tenant_id
        ),
        client_id,
        secret,
        scope: format!("openid {}/User.Read", t.graph_url.trim_end_matches('/')),
    })
}

fn strings(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_owned).collect()
}

fn credential_spec(c: &CredentialConfig) -> CredentialSpec {
    let source = match (&c.certificate_file, &c.private_key_file) {
        (Some(cert), Some(key)) => CredentialSource::CertificateFiles {
            cert: cert.clone(),
            key: key.clone(),
        },
        (Some(_), None) | (None, Some(_)) => CredentialSource::Incomplete,
        (None, None) => CredentialSource::Secret(c.resolved_secret.clone()),
    };
    CredentialSpec {
        client_id: c.client_id.clone(),
        source,
    }
}

/// Certificate credentials whose files cannot be used (missing, not PEM, not RSA, a key that
/// does not belong to the certificate), under the key of the file at fault. Credentials whose
/// shape validation already rejected are left to that problem.
pub fn certificate_problems(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for (ti, t) in cfg.tenant.iter().enumerate() {
        let tkey = config::tenant_key(ti, &t.name);
        for (ci, c) in t.credential.iter().enumerate() {
            if c.client_secret_file.is_some() || c.client_secret_env.is_some() {
                continue;
            }
            let (Some(cert), Some(key)) = (&c.certificate_file, &c.private_key_file) else {
                continue;
            };
            if cert.as_os_str().is_empty() || key.as_os_str().is_empty() {
                continue;
            }
            if let Err(e) = CertificateKey::load(cert, key) {
                out.push(Problem {
                    key: format!("{}.{}", config::credential_key(&tkey, ci), e.config_key()),
                    message: e.to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph::Credential;
    use std::path::PathBuf;

    const CONFIG: &str = r#"
[server]
tls_cert = "certs/server.crt"
tls_key = "certs/server.key"
data_dir = "data"
admin_socket = "run/admin.sock"

[[tenant]]
name = "contoso"
tenant_id = "5f3c2a1e-7b4d-4e9a-8c6f-2d1b0a9e8c7d"
base_dn = "dc=contoso,dc=com"

  [[tenant.credential]]
  client_id = "3b9c1f7e-5d2a-4c8e-9f61-0a7b2c4d6e8f"
  CREDENTIAL
"#;

    /// A config directory with the server's TLS files and the test-only RSA key pair and
    /// certificate of tests/fixtures/certs.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            let certs = dir.path().join("certs");
            std::fs::create_dir(&certs).expect("mkdir certs");
            std::fs::write(
                certs.join("server.crt"),
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            )
            .expect("write crt");
            std::fs::write(
                certs.join("server.key"),
                "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
            )
            .expect("write key");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certs");
            for f in ["app.crt", "app.key", "app-pkcs1.key", "other.key", "ec.key"] {
                std::fs::copy(src.join(f), certs.join(f)).expect("copy cert fixture");
            }
            Fixture { dir }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        fn load(&self, credential: &str) -> Result<Config, ConfigError> {
            let text = CONFIG.replace("CREDENTIAL", credential);
            config::load_str_with(&text, &self.path("o365-ldap.toml"), &certificate_problems)
        }
    }

    fn certificate_credential(cert: &str, key: &str) -> String {
        format!("certificate_file = \"{cert}\"\n  private_key_file = \"{key}\"")
    }

    #[test]
    fn certificate_credentials_load_with_a_matching_rsa_key() {
        let fx = Fixture::new();
        for key in ["certs/app.key", "certs/app-pkcs1.key"] {
            let cfg = match fx.load(&certificate_credential("certs/app.crt", key)) {
                Ok(c) => c,
                Err(e) => panic!("{key}: {e}"),
            };
            let cred = &cfg.tenant[0].credential[0];
            assert_eq!(cred.certificate_file, Some(fx.path("certs/app.crt")));
            assert!(cred.resolved_secret.is_none());
            let spec = &tenant_options(&cfg.tenant[0]).credentials[0];
            let built = Credential::load(0, spec).expect("credential");
            assert_eq!(built.kind(), "certificate");
        }
    }

    #[test]
    fn certificate_credential_problems_name_the_file_key() {
        let fx = Fixture::new();
        let key = "tenant[contoso].credential[0]";
        let find = |credential: &str, k: &str, needle: &str| {
            let problems = match fx.load(credential) {
                Ok(_) => panic!("config accepted with {credential}"),
                Err(ConfigError::Invalid { problems, .. }) => problems,
                Err(e) => panic!("expected validation problems, got: {e}"),
            };
            assert!(
                problems
                    .iter()
                    .any(|p| p.key == k && p.message.contains(needle)),
                "no {k:?} problem containing {needle:?}: {problems:?}"
            );
        };
        find(
            &certificate_credential("certs/app.crt", "certs/other.key"),
            &format!("{key}.private_key_file"),
            "does not belong to the certificate",
        );
        find(
            &certificate_credential("certs/app.crt", "certs/ec.key"),
            &format!("{key}.private_key_file"),
            "RSA",
        );
        find(
            &certificate_credential("certs/missing.crt", "certs/app.key"),
            &format!("{key}.certificate_file"),
            "cannot read",
        );
        // Swapped: the key where the certificate belongs.
        find(
            &certificate_credential("certs/app.key", "certs/app.crt"),
            &format!("{key}.certificate_file"),
            "no PEM certificate",
        );
        find(
            "certificate_file = \"certs/app.crt\"",
            &format!("{key}.private_key_file"),
            "is not set",
        );
    }

    #[test]
    fn target_prefers_password_grant_client() {
        let mut t = TenantConfig {
            name: "contoso".into(),
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            login_url: "http://127.0.0.1:9/".into(),
            graph_url: "http://127.0.0.1:9".into(),
            ..Default::default()
        };
        assert!(grant_target(&t).is_none());
        t.credential.push(CredentialConfig {
            client_id: "aaaaaaaa-0000-0000-0000-000000000001".into(),
            resolved_secret: Some(model::Secret::new("s3cret")),
            ..Default::default()
        });
        let g = grant_target(&t).unwrap();
        assert_eq!(
            g.token_url,
            "http://127.0.0.1:9/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"
        );
        assert_eq!(g.scope, "openid http://127.0.0.1:9/User.Read");
        assert_eq!(g.client_id, "aaaaaaaa-0000-0000-0000-000000000001");
        assert!(g.secret.is_some());
        t.password_grant_client_id = Some("bbbbbbbb-0000-0000-0000-000000000002".into());
        let g = grant_target(&t).unwrap();
        assert_eq!(g.client_id, "bbbbbbbb-0000-0000-0000-000000000002");
        assert!(g.secret.is_none(), "a public client gets no secret");
    }
}
