//! The integration-test environment: a temporary folder with a fresh CA and server
//! certificate, the Graph emulator serving a fixture from `tests/fixtures/`, and config text
//! pointing the server at it. Tests then start the real server (`cli::serve::Server`) or the
//! sync engine alone.

use config::Config;
use emulator::selfsigned::{self, GeneratedCerts};
use emulator::{EmulatorOptions, Fixture, RunningEmulator};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The sync application of `tests/fixtures/contoso.json`.
pub const CONTOSO_CLIENT_ID: &str = "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
pub const CONTOSO_SECRET: &str = "emulator-secret-1";
pub const CONTOSO_TENANT_ID: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";
pub const BASE: &str = "dc=contoso,dc=com";
pub const SERVICE: &str = "cn=vpn,ou=services,dc=contoso,dc=com";
pub const SERVICE_PASSWORD: &str = "vpn-Service-Pa55word";

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub struct Env {
    pub dir: TempDir,
    pub certs: GeneratedCerts,
    pub emu: Option<RunningEmulator>,
    pub graph_url: String,
    service_hash: String,
}

impl Env {
    /// `contoso.json` behind the emulator with small pages (5), so every collection of the
    /// 45-user tenant spans several pages.
    pub async fn contoso() -> Env {
        Env::start("contoso.json", 5).await
    }

    pub async fn start(fixture: &str, page_size: usize) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = selfsigned::generate(dir.path()).expect("certificates");
        let fx = Fixture::load(&fixture_path(fixture)).expect("fixture loads");
        let opts = EmulatorOptions {
            page_size,
            ..EmulatorOptions::default()
        };
        let emu = emulator::start(fx, opts, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("emulator starts");
        let graph_url = emu.base_url();
        std::fs::write(dir.path().join("contoso.secret"), CONTOSO_SECRET).unwrap();
        let service_hash = hash_once();
        Env {
            dir,
            certs,
            emu: Some(emu),
            graph_url,
            service_hash,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The config every integration test starts from; `extra` is appended verbatim (more
    /// `[tenant.*]` tables or other keys), `server_extra` goes into `[server]`.
    pub fn config_text(&self, server_extra: &str, extra: &str) -> String {
        format!(
            r#"
[server]
ldap_listen = "127.0.0.1:0"
ldaps_listen = "127.0.0.1:0"
tls_cert = {cert:?}
tls_key = {key:?}
data_dir = {data:?}
admin_socket = {sock:?}
{server_extra}

[[service_account]]
name = "vpn"
password_hash = "{hash}"

[[tenant]]
name = "contoso"
tenant_id = "{CONTOSO_TENANT_ID}"
graph_url = "{url}"
login_url = "{url}"

  [[tenant.credential]]
  client_id = "{CONTOSO_CLIENT_ID}"
  client_secret_file = {secret:?}

  [tenant.sync]
  automatic = false
{extra}
"#,
            cert = self.certs.server_cert.display().to_string(),
            key = self.certs.server_key.display().to_string(),
            data = self.data_dir().display().to_string(),
            sock = self.dir.path().join("admin.sock").display().to_string(),
            hash = self.service_hash,
            url = self.graph_url,
            secret = self.dir.path().join("contoso.secret").display().to_string(),
        )
    }

    pub fn config(&self) -> Config {
        self.config_with("", "")
    }

    pub fn config_with(&self, server_extra: &str, extra: &str) -> Config {
        let text = self.config_text(server_extra, extra);
        let path = self.dir.path().join("o365-ldap.toml");
        std::fs::write(&path, &text).unwrap();
        o365_ldap::settings::load(&path)
            .unwrap_or_else(|e| panic!("test config invalid: {e}\n{text}"))
    }

    /// Stop the emulator: Graph no longer answers (connections are refused).
    pub async fn stop_graph(&mut self) {
        if let Some(e) = self.emu.take() {
            e.shutdown().await;
        }
    }
}

/// argon2 is slow by design: hash the test service password once per process.
fn hash_once() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| o365_ldap::auth::hash_password(SERVICE_PASSWORD).expect("hash"))
        .clone()
}

/// The real server (`serve`'s code path) in front of the emulator, after one sync round.
/// Test files add their own helpers with `impl Running { .. }`.
pub struct Running {
    pub env: Env,
    pub server: o365_ldap::cli::serve::Server,
}

impl Running {
    /// The contoso fixture behind the harness's default configuration.
    pub async fn contoso() -> Running {
        let env = Env::contoso().await;
        let cfg = env.config();
        Running::start_with(env, cfg).await
    }

    pub async fn start_with(env: Env, cfg: Config) -> Running {
        let server = o365_ldap::cli::serve::Server::start(cfg, false)
            .await
            .expect("server starts");
        server
            .engine
            .sync_tenant("contoso")
            .await
            .expect("first round succeeds");
        Running { env, server }
    }

    pub fn ca(&self) -> PathBuf {
        self.env.certs.ca_cert.clone()
    }

    pub fn ldaps(&self) -> String {
        let port = self.server.ldaps_addr().expect("LDAPS listener").port();
        format!("ldaps://localhost:{port}")
    }

    pub fn ldap(&self) -> String {
        let port = self.server.ldap_addr().expect("LDAP listener").port();
        format!("ldap://localhost:{port}")
    }
}
