//! `o365-ldap demo`: the bundled sample tenant in the built-in Graph emulator, the server in
//! front of it on free localhost ports with a fresh certificate authority, and ready-to-paste
//! `ldapsearch` / `ldapwhoami` lines. Everything lives in a temporary folder removed at Ctrl-C.

use super::serve::{Server, init_tracing, wait_for_signal};
use config::LogFormat;
use emulator::{EmulatorOptions, Fixture};
use rand::Rng;
use rand::distr::Alphanumeric;
use std::fmt::Write as _;
use std::path::Path;

/// The line after which the demo's instructions are complete (tests wait for it).
pub const READY_MARKER: &str = "Press Ctrl-C to stop the demo.";

const TENANT_NAME: &str = "contoso";
const SERVICE_NAME: &str = "demo";

pub async fn run() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        // The printed instructions are the point of the demo: keep routine logs out of them.
        init_tracing_quiet();
    } else {
        init_tracing(LogFormat::Text);
    }
    let dir = std::env::temp_dir().join(format!("o365-ldap-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = demo_in(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn init_tracing_quiet() {
    crate::logging::init(LogFormat::Text, "warn,ldap3_proto=off");
}

async fn demo_in(dir: &Path) -> anyhow::Result<()> {
    let certs = emulator::selfsigned::generate(dir)?;
    let fixture = Fixture::sample()?;
    let tenant_id = fixture.tenant_id.clone();
    let (client_id, secret) = fixture
        .apps
        .first()
        .and_then(|a| a.secrets.first().map(|s| (a.client_id.clone(), s.clone())))
        .ok_or_else(|| anyhow::anyhow!("the sample tenant has no application with a secret"))?;
    // Small pages so the demo's sync really follows nextLinks.
    let opts = EmulatorOptions {
        page_size: 10,
        ..EmulatorOptions::default()
    };
    let emu = emulator::start(fixture, opts, "127.0.0.1:0".parse()?).await?;

    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let hash = crate::auth::hash_password(&password)?;
    let secret_file = dir.join("contoso.secret");
    std::fs::write(&secret_file, &secret)?;
    let config_path = dir.join("o365-ldap.toml");
    let toml = format!(
        r#"# Written by `o365-ldap demo`; see config/o365-ldap.example.toml for every key.
[server]
ldap_listen = "127.0.0.1:0"
ldaps_listen = "127.0.0.1:0"
tls_cert = {cert:?}
tls_key = {key:?}
data_dir = {data:?}
admin_socket = {sock:?}

[[service_account]]
name = "{SERVICE_NAME}"
password_hash = "{hash}"

[[tenant]]
name = "{TENANT_NAME}"
tenant_id = "{tenant_id}"
graph_url = "{url}"
login_url = "{url}"

  [[tenant.credential]]
  client_id = "{client_id}"
  client_secret_file = {secret:?}

  [tenant.sync]
  automatic = false

  [tenant.users]
  # alice's sample key lives here; `o365-ldap ctl ssh-key add` adds more.
  ssh_keys_attribute = "onPremisesExtensionAttributes.extensionAttribute10"
"#,
        cert = certs.server_cert.display().to_string(),
        key = certs.server_key.display().to_string(),
        data = dir.join("data").display().to_string(),
        sock = dir.join("admin.sock").display().to_string(),
        url = emu.base_url(),
        secret = secret_file.display().to_string(),
    );
    std::fs::write(&config_path, toml)?;
    let cfg = crate::settings::load(&config_path)?;
    let server = Server::start(cfg, false).await?;
    let report = server.engine.sync_tenant(TENANT_NAME).await?;
    let base = server
        .engine
        .snapshot()
        .load()
        .tenants
        .first()
        .map(|t| t.base_dn.clone())
        .unwrap_or_default();
    let (Some(ldap), Some(ldaps)) = (server.ldap_addr(), server.ldaps_addr()) else {
        anyhow::bail!("the demo needs both listeners");
    };

    let ca = certs.ca_cert.display().to_string();
    let bind = format!("cn={SERVICE_NAME},ou=services,{base}");
    let env = format!("LDAPTLS_CACERT={ca}");
    let ldaps_url = format!("ldaps://localhost:{}", ldaps.port());
    let ldap_url = format!("ldap://localhost:{}", ldap.port());
    let auth = format!("-D \"{bind}\" -w '{password}'");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "o365-ldap demo: Graph emulator at {} (tenant {tenant_id}), synced {} users and {} groups in {} ms.",
        emu.base_url(),
        report.build.users_active,
        report.build.groups,
        report.duration_ms
    );
    let _ = writeln!(out, "Config: {}", config_path.display());
    let _ = writeln!(out, "Service account: {bind}  password: {password}");
    let _ = writeln!(out, "\nTry these (each line works on its own):\n");
    let lines = [
        (
            "rootDSE, anonymously",
            format!(
                "{env} ldapsearch -x -H {ldaps_url} -b \"\" -s base namingContexts supportedControl supportedExtension"
            ),
        ),
        (
            "who am I, over LDAPS",
            format!("{env} ldapwhoami -x -H {ldaps_url} {auth}"),
        ),
        (
            "a user, over StartTLS",
            format!("{env} ldapsearch -x -ZZ -H {ldap_url} {auth} -b \"{base}\" \"(uid=alice)\""),
        ),
        (
            "POSIX groups with their members",
            format!(
                "{env} ldapsearch -x -H {ldaps_url} {auth} -b \"ou=groups,{base}\" \"(objectClass=posixGroup)\" cn gidNumber memberUid"
            ),
        ),
        (
            "every user, 5 per page",
            format!(
                "{env} ldapsearch -x -H {ldaps_url} {auth} -b \"ou=people,{base}\" -E pr=5/noprompt \"(objectClass=posixAccount)\" uid"
            ),
        ),
        (
            "members of Engineering, nested groups included",
            format!(
                "{env} ldapsearch -x -H {ldaps_url} {auth} -b \"{base}\" \"(memberOf:1.2.840.113556.1.4.1941:=cn=Engineering,ou=groups,{base})\" uid"
            ),
        ),
        (
            "compare: is alice a member of VPN Users?",
            format!(
                "{env} ldapcompare -x -H {ldaps_url} {auth} \"cn=VPN Users,ou=groups,{base}\" \"member:uid=alice,ou=people,{base}\""
            ),
        ),
        (
            "SSH public keys (for sss_ssh_authorizedkeys): from Microsoft 365 and `ctl ssh-key add`",
            format!(
                "{env} ldapsearch -x -H {ldaps_url} {auth} -b \"ou=people,{base}\" \"(sshPublicKey=*)\" uid sshPublicKey"
            ),
        ),
    ];
    for (what, cmd) in &lines {
        let _ = writeln!(out, "# {what}\n{cmd}\n");
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "o365-ldap".into());
    let _ = writeln!(
        out,
        "# the admin commands work against the demo too, e.g. alice's keys with fingerprints\n\
         {exe} ctl -c {} ssh-key list alice\n",
        config_path.display()
    );
    let _ = writeln!(out, "{READY_MARKER}");
    print!("{out}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    wait_for_signal(None).await;
    server.stop().await;
    emu.shutdown().await;
    Ok(())
}
