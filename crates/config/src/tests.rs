//! Loading through the public functions: parse errors, path and secret resolution, every
//! validation rule (each message must name its key), and redaction in `render_effective`.

use super::*;
use std::env::VarError;
use std::path::PathBuf;
use std::time::Duration;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c1PT7M0EvW4roXQByrAIWg$au02b8RyPjUuwQXbkYB1i1KidHl8i6vjU23asL+toxk";
/// Shaped like a real Entra client secret (they contain `~`), so the "not echoed" checks mean
/// something.
const SECRET: &str = "Xq78Q~d1.vRz-Kp3_4sT~uWq9yBn2mLc0aEf5gHj";

const MINIMAL: &str = r#"
[server]
tls_cert = "certs/server.crt"
tls_key = "certs/server.key"
data_dir = "data"
admin_socket = "run/admin.sock"

[[service_account]]
name = "vpn"
password_hash = "HASH"
tenants = ["contoso"]

[[tenant]]
name = "contoso"
tenant_id = "5f3c2a1e-7b4d-4e9a-8c6f-2d1b0a9e8c7d"
base_dn = "dc=contoso,dc=com"

  [[tenant.credential]]
  client_id = "3b9c1f7e-5d2a-4c8e-9f61-0a7b2c4d6e8f"
  client_secret_env = "CONTOSO_SECRET"
"#;

fn minimal() -> String {
    MINIMAL.replace("HASH", HASH)
}

/// `text` with `from` replaced; panics if `from` is absent so a case cannot silently test the
/// unmodified config.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture lacks {from:?}");
    text.replacen(from, to, 1)
}

fn env(name: &str) -> Result<String, VarError> {
    match name {
        "CONTOSO_SECRET" | "O365_LDAP_CONTOSO_SECRET" => Ok(SECRET.to_string()),
        "EMPTY_SECRET" => Ok(String::new()),
        _ => Err(VarError::NotPresent),
    }
}

/// A config directory with the TLS files MINIMAL points at.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("certs")).expect("mkdir certs");
        std::fs::write(
            dir.path().join("certs/server.crt"),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .expect("write crt");
        std::fs::write(
            dir.path().join("certs/server.key"),
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        )
        .expect("write key");
        Fixture { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn origin(&self) -> PathBuf {
        self.path("o365-ldap.toml")
    }
    fn load(&self, text: &str) -> Result<Config, ConfigError> {
        load_str_with_env(text, &self.origin(), env)
    }
}

fn load_ok(text: &str) -> Config {
    let fx = Fixture::new();
    match fx.load(text) {
        Ok(c) => c,
        Err(e) => panic!("config rejected:\n{e}"),
    }
}

fn problems_of(fx: &Fixture, text: &str) -> Vec<Problem> {
    match fx.load(text) {
        Ok(_) => panic!("config accepted:\n{text}"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("expected validation problems, got: {e}"),
    }
}

/// The config is rejected with a problem at exactly `key` whose message contains `needle`.
fn assert_problem(text: &str, key: &str, needle: &str) -> Problem {
    let fx = Fixture::new();
    let problems = problems_of(&fx, text);
    match problems
        .iter()
        .find(|p| p.key == key && p.message.contains(needle))
    {
        Some(p) => p.clone(),
        None => panic!(
            "no problem {key:?} containing {needle:?}; got:\n{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn parse_error(text: &str) -> String {
    let fx = Fixture::new();
    match fx.load(text) {
        Err(ConfigError::Parse { message, .. }) => message,
        Err(e) => panic!("expected a parse error, got: {e}"),
        Ok(_) => panic!("config accepted:\n{text}"),
    }
}

// ---- loading ---------------------------------------------------------------------------------

#[test]
fn example_config_loads() {
    let fx = Fixture::new();
    let text = include_str!("../../../config/o365-ldap.example.toml");
    let cfg = match fx.load(text) {
        Ok(c) => c,
        Err(e) => panic!("example rejected:\n{e}"),
    };
    assert_eq!(cfg.server.tls_cert, Some(fx.path("certs/server.crt")));
    assert_eq!(cfg.server.data_dir, PathBuf::from("/var/lib/o365-ldap"));
    assert_eq!(cfg.service_account.len(), 1);
    assert_eq!(cfg.service_account[0].tenants, vec!["contoso".to_string()]);
    let t = cfg.tenant("Contoso").expect("tenant contoso");
    assert_eq!(t.base_dn.as_deref(), Some("dc=contoso,dc=com"));
    assert_eq!(t.users.blocked_emails.len(), 2);
    assert_eq!(t.groups.types.len(), 4);
    assert_eq!(t.domains.allowed, vec!["contoso.com".to_string()]);
    assert_eq!(
        t.credential[0].resolved_secret.as_ref().map(Secret::expose),
        Some(SECRET)
    );
}

#[test]
fn example_documents_every_default() {
    // A config with only the required keys must equal the example wherever the example
    // claims to show the default, so the comments cannot drift from the code.
    let ex = load_ok(include_str!("../../../config/o365-ldap.example.toml"));
    let min = load_ok(&minimal());
    let (mut a, mut b) = (ex.server.clone(), min.server.clone());
    // The only server keys MINIMAL sets differently.
    a.data_dir = PathBuf::new();
    b.data_dir = PathBuf::new();
    a.admin_socket = PathBuf::new();
    b.admin_socket = PathBuf::new();
    a.tls_cert = None;
    b.tls_cert = None;
    a.tls_key = None;
    b.tls_key = None;
    assert_eq!(a, b);
    assert_eq!(ex.server.data_dir, ServerConfig::default().data_dir);
    assert_eq!(ex.server.admin_socket, ServerConfig::default().admin_socket);
    assert_eq!(ex.auth, min.auth);
    let (te, tm) = (&ex.tenant[0], &min.tenant[0]);
    assert_eq!(te.graph_url, tm.graph_url);
    assert_eq!(te.login_url, tm.login_url);
    assert_eq!(te.sync, tm.sync);
    assert_eq!(te.users.uid_number_range, tm.users.uid_number_range);
    assert_eq!(te.users.home_directory, tm.users.home_directory);
    assert_eq!(te.users.login_shell, tm.users.login_shell);
    assert_eq!(te.users.gecos, tm.users.gecos);
    assert_eq!(te.users.primary_group, tm.users.primary_group);
    assert_eq!(te.groups.nested, tm.groups.nested);
    assert_eq!(te.users.username_from, tm.users.username_from);
    assert_eq!(te.groups.gid_number_range, tm.groups.gid_number_range);
    let mut types = te.groups.types.clone();
    types.sort_by_key(|t| t.as_str());
    let mut default_types = tm.groups.types.clone();
    default_types.sort_by_key(|t| t.as_str());
    assert_eq!(types, default_types);
    assert_eq!(te.domains.include_subdomains, tm.domains.include_subdomains);
}

#[test]
fn minimal_config_gets_defaults_and_paths_relative_to_the_config_file() {
    let fx = Fixture::new();
    let cfg = fx.load(&minimal()).expect("minimal config");
    assert_eq!(cfg.server.ldap_listen.as_deref(), Some("0.0.0.0:389"));
    assert_eq!(cfg.server.ldaps_listen.as_deref(), Some("0.0.0.0:636"));
    assert_eq!(cfg.server.tls_cert, Some(fx.path("certs/server.crt")));
    assert_eq!(cfg.server.tls_key, Some(fx.path("certs/server.key")));
    assert_eq!(cfg.server.data_dir, fx.path("data"));
    assert_eq!(cfg.server.admin_socket, fx.path("run/admin.sock"));
    assert_eq!(cfg.server.idle_timeout.get(), Duration::from_secs(900));
    assert_eq!(cfg.auth.user_bind, UserBind::Entra);
    let t = &cfg.tenant[0];
    assert_eq!(t.graph_url, "https://graph.microsoft.com");
    assert_eq!(t.sync.interval.get(), Duration::from_secs(15 * 60));
    assert_eq!(t.users.uid_number_range, [100_000, 399_999]);
    assert_eq!(t.groups.types, GroupType::ALL.to_vec());
    assert!(t.domains.include_subdomains);
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let fx = Fixture::new();
    // A secret file keeps the process environment out of this test.
    std::fs::write(fx.path("contoso.secret"), format!("{SECRET}\n")).expect("write secret");
    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        "client_secret_file = \"contoso.secret\"",
    );
    std::fs::write(fx.origin(), text).expect("write config");
    let cfg = load(&fx.origin()).expect("load from file");
    assert_eq!(cfg.tenant[0].name, "contoso");

    let missing = fx.path("nope.toml");
    match load(&missing) {
        Err(e @ ConfigError::Read { .. }) => assert!(e.to_string().contains("nope.toml"), "{e}"),
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn load_str_reads_the_process_environment() {
    let fx = Fixture::new();
    let var = "O365_LDAP_TEST_VARIABLE_THAT_IS_NEVER_SET_3F9A";
    let text = edit(&minimal(), "\"CONTOSO_SECRET\"", &format!("\"{var}\""));
    match load_str(&text, &fx.origin()) {
        Err(ConfigError::Invalid { problems, .. }) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(
                problems[0].key,
                "tenant[contoso].credential[0].client_secret_env"
            );
            assert!(problems[0].message.contains(var), "{}", problems[0]);
        }
        other => panic!("expected the unset variable to be reported, got {other:?}"),
    }
}

// ---- parse errors ----------------------------------------------------------------------------

#[test]
fn unknown_key_names_the_full_path_and_the_valid_keys() {
    let text = format!(
        "{}\n  [tenant.users]\n  usernam_from = \"upn\"\n",
        minimal()
    );
    let msg = parse_error(&text);
    assert!(
        msg.contains("unknown key `tenant[0].users.usernam_from`; valid keys here: username_from, uid_number_range"),
        "{msg}"
    );
    let line = text
        .lines()
        .position(|l| l.contains("usernam_from"))
        .expect("line")
        + 1;
    assert!(
        msg.starts_with(&format!("line {line}, column 3: ")),
        "{msg}"
    );
}

#[test]
fn unknown_key_in_credential_does_not_echo_its_value() {
    // Someone writing the secret itself under a made-up key must not see it printed back.
    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        &format!("client_secret = \"{SECRET}\""),
    );
    let fx = Fixture::new();
    let err = fx.load(&text).expect_err("unknown key accepted");
    let shown = err.to_string();
    assert!(
        shown.contains("unknown key `tenant[0].credential[0].client_secret`"),
        "{shown}"
    );
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn parse_error_display_names_the_file() {
    let fx = Fixture::new();
    let err = fx.load("[server\n").expect_err("bad toml accepted");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}: line 1, column ", fx.origin().display())),
        "{shown}"
    );
}

// ---- durations -------------------------------------------------------------------------------

#[test]
fn durations_are_human_readable() {
    let with = |v: &str| {
        let text = format!("{}\n  [tenant.sync]\n  interval = \"{v}\"\n", minimal());
        load_ok(&text).tenant[0].sync.interval.get()
    };
    assert_eq!(with("15m"), Duration::from_secs(900));
    assert_eq!(with("1h 30m"), Duration::from_secs(5400));
    assert_eq!(with("2d"), Duration::from_secs(2 * 86400));

    let text = format!("{}\n  [tenant.sync]\n  interval = \"bogus\"\n", minimal());
    let msg = parse_error(&text);
    assert!(msg.contains("`tenant[0].sync.interval`"), "{msg}");
    assert!(msg.contains("'bogus' is not a duration"), "{msg}");
}

#[test]
fn durations_must_be_strings() {
    let text = edit(&minimal(), "[server]\n", "[server]\nidle_timeout = 900\n");
    let msg = parse_error(&text);
    assert!(msg.contains("`server.idle_timeout`"), "{msg}");
}

// ---- secrets ---------------------------------------------------------------------------------

fn with_secret_file(fx: &Fixture, contents: &[u8]) -> Result<Config, ConfigError> {
    std::fs::create_dir_all(fx.path("secrets")).expect("mkdir");
    std::fs::write(fx.path("secrets/contoso.secret"), contents).expect("write secret");
    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        "client_secret_file = \"secrets/contoso.secret\"",
    );
    fx.load(&text)
}

fn loaded_secret(cfg: &Config) -> Option<&str> {
    cfg.tenant[0].credential[0]
        .resolved_secret
        .as_ref()
        .map(Secret::expose)
}

#[test]
fn secret_file_loses_exactly_one_trailing_newline() {
    let fx = Fixture::new();
    let cfg = with_secret_file(&fx, format!("{SECRET}\n").as_bytes()).expect("load");
    assert_eq!(loaded_secret(&cfg), Some(SECRET));
    assert_eq!(
        cfg.tenant[0].credential[0].client_secret_file,
        Some(fx.path("secrets/contoso.secret"))
    );

    let cfg = with_secret_file(&fx, format!("{SECRET}\r\n").as_bytes()).expect("load");
    assert_eq!(loaded_secret(&cfg), Some(SECRET));

    let cfg = with_secret_file(&fx, format!("{SECRET}\n\n").as_bytes()).expect("load");
    assert_eq!(loaded_secret(&cfg), Some(format!("{SECRET}\n").as_str()));

    let cfg = with_secret_file(&fx, format!(" {SECRET} ").as_bytes()).expect("load");
    assert_eq!(loaded_secret(&cfg), Some(format!(" {SECRET} ").as_str()));
}

#[test]
fn secret_file_problems() {
    let fx = Fixture::new();
    let key = "tenant[contoso].credential[0].client_secret_file";
    for (contents, needle) in [
        (&b"\n"[..], "is empty"),
        (&b""[..], "is empty"),
        (&b"\xff\xfe secret"[..], "not UTF-8"),
    ] {
        let problems = match with_secret_file(&fx, contents) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("{contents:?} accepted: {other:?}"),
        };
        assert!(
            problems
                .iter()
                .any(|p| p.key == key && p.message.contains(needle)),
            "{problems:?}"
        );
    }

    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        "client_secret_file = \"secrets/missing.secret\"",
    );
    let p = assert_problem(&text, key, "cannot read ");
    assert!(p.message.contains("secrets/missing.secret"), "{p}");
}

#[test]
fn secret_pasted_as_a_file_name_is_not_echoed() {
    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        &format!("client_secret_file = \"{SECRET}\""),
    );
    let p = assert_problem(
        &text,
        "tenant[contoso].credential[0].client_secret_file",
        "cannot read the file it names",
    );
    assert!(!p.message.contains(SECRET), "{p}");
}

#[test]
fn secret_env_problems() {
    let key = "tenant[contoso].credential[0].client_secret_env";
    let text = edit(&minimal(), "\"CONTOSO_SECRET\"", "\"FABRIKAM_SECRET\"");
    assert_problem(
        &text,
        key,
        "environment variable `FABRIKAM_SECRET` is not set",
    );
    let text = edit(&minimal(), "\"CONTOSO_SECRET\"", "\"EMPTY_SECRET\"");
    assert_problem(&text, key, "`EMPTY_SECRET` is set but empty");

    let text = edit(&minimal(), "\"CONTOSO_SECRET\"", &format!("\"{SECRET}\""));
    let p = assert_problem(&text, key, "not an environment variable name");
    assert!(!p.message.contains(SECRET), "{p}");
}

#[test]
fn exactly_one_secret_source() {
    let key = "tenant[contoso].credential[0]";
    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        "client_secret_env = \"CONTOSO_SECRET\"\n  client_secret_file = \"s.secret\"",
    );
    assert_problem(&text, key, "both client_secret_file and client_secret_env");
    let text = edit(&minimal(), "client_secret_env = \"CONTOSO_SECRET\"", "");
    assert_problem(&text, key, "has no client secret");
    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        "client_secret_env = \"CONTOSO_SECRET\"\n  certificate_file = \"certs/app.crt\"\n  private_key_file = \"certs/app.key\"",
    );
    assert_problem(&text, key, "sets both a certificate");
}

// ---- validation ------------------------------------------------------------------------------

#[test]
fn server_problems() {
    let m = minimal();
    let server = |extra: &str| edit(&m, "[server]\n", &format!("[server]\n{extra}\n"));
    let cases: &[(&str, &str, &str)] = &[
        (
            "ldap_listen = \"\"\nldaps_listen = \"\"",
            "server",
            "no listener",
        ),
        (
            "ldap_listen = \"ldap.contoso.com:389\"",
            "server.ldap_listen",
            "not an IP address",
        ),
        (
            "ldaps_listen = \"0.0.0.0\"",
            "server.ldaps_listen",
            "not an IP address",
        ),
        (
            "ldap_listen = \"127.0.0.1:1389\"\nldaps_listen = \"127.0.0.1:1389\"",
            "server.ldaps_listen",
            "same address",
        ),
        (
            "max_connections = 0",
            "server.max_connections",
            "at least 1",
        ),
        ("idle_timeout = \"0s\"", "server.idle_timeout", "positive"),
        (
            "handshake_timeout = \"0s\"",
            "server.handshake_timeout",
            "positive",
        ),
        ("max_pdu_size = 100", "server.max_pdu_size", "between 4096"),
        (
            "max_pdu_size = 100000000",
            "server.max_pdu_size",
            "between 4096",
        ),
        (
            "max_filter_depth = 0",
            "server.max_filter_depth",
            "at least 1",
        ),
        (
            "max_filter_elements = 0",
            "server.max_filter_elements",
            "at least 1",
        ),
        ("max_attributes = 0", "server.max_attributes", "at least 1"),
        ("size_limit = 0", "server.size_limit", "at least 1"),
    ];
    for (extra, key, needle) in cases {
        assert_problem(&server(extra), key, needle);
    }
    let long = format!("/run/{}/admin.sock", "x".repeat(120));
    assert_problem(
        &edit(&m, "\"run/admin.sock\"", &format!("\"{long}\"")),
        "server.admin_socket",
        "at most 107",
    );
    assert_problem(
        &edit(&m, "\"run/admin.sock\"", "\"\""),
        "server.admin_socket",
        "is empty",
    );
    assert_problem(&edit(&m, "\"data\"", "\"\""), "server.data_dir", "is empty");
}

#[test]
fn tls_problems() {
    let m = minimal();
    let p = assert_problem(
        &edit(&m, "certs/server.crt", "certs/missing.crt"),
        "server.tls_cert",
        "cannot read ",
    );
    assert!(p.message.contains("certs/missing.crt"), "{p}");
    assert_problem(
        &edit(&m, "\"certs/server.key\"", "\"certs\""),
        "server.tls_key",
        "is a directory",
    );
    assert_problem(
        &edit(&m, "\"certs/server.key\"", "\"\""),
        "server.tls_key",
        "is not set but server.tls_cert is",
    );
    let no_tls = edit(
        &edit(&m, "\"certs/server.key\"", "\"\""),
        "\"certs/server.crt\"",
        "\"\"",
    );
    assert_problem(
        &no_tls,
        "server.tls_cert",
        "LDAPS (server.ldaps_listen) needs",
    );
    let plain_only = edit(&no_tls, "[server]\n", "[server]\nldaps_listen = \"\"\n");
    assert_problem(&plain_only, "server.tls_cert", "StartTLS is unavailable");
    let cfg = load_ok(&edit(
        &plain_only,
        "[server]\n",
        "[server]\nallow_plaintext_bind = true\n",
    ));
    assert_eq!(cfg.server.tls_cert, None);
    assert_eq!(cfg.server.ldaps_listen, None);
}

#[test]
fn tenant_problems() {
    let m = minimal();
    let name = |to: &str| edit(&m, "name = \"contoso\"", &format!("name = \"{to}\""));
    assert_problem(&name(""), "tenant[0].name", "is empty");
    assert_problem(&name("Contoso Ltd"), "tenant[0].name", "not a usable name");

    let id = |to: &str| {
        edit(
            &m,
            "tenant_id = \"5f3c2a1e-7b4d-4e9a-8c6f-2d1b0a9e8c7d\"",
            &format!("tenant_id = \"{to}\""),
        )
    };
    for bad in [
        "common",
        "",
        "{5f3c2a1e-7b4d-4e9a-8c6f-2d1b0a9e8c7d}",
        "5f3c2a1e7b4d4e9a8c6f2d1b0a9e8c7d",
        "contoso..com",
    ] {
        assert_problem(&id(bad), "tenant[contoso].tenant_id", "");
    }
    assert_eq!(
        load_ok(&id("contoso.onmicrosoft.com")).tenant[0].tenant_id,
        "contoso.onmicrosoft.com"
    );

    let dn = |to: &str| edit(&m, "\"dc=contoso,dc=com\"", &format!("\"{to}\""));
    let key = "tenant[contoso].base_dn";
    assert_problem(&dn("cn=contoso,dc=com"), key, "only dc=, o= and ou=");
    assert_problem(&dn("dc=contoso,com"), key, "without `=`");
    assert_problem(&dn("dc=contoso+ou=it,dc=com"), key, "multi-valued");
    assert_problem(&dn("dc=contoso.com"), key, "one domain label");
    assert_problem(&dn("dc=,dc=com"), key, "empty `dc=`");
    assert_problem(&dn(""), key, "is empty");
    // Escaped commas and plus signs in o= values are fine.
    let cfg = load_ok(&dn(r"o=Contoso\\, Ltd\\+Partners,dc=com"));
    assert_eq!(
        cfg.tenant[0].base_dn.as_deref(),
        Some(r"o=Contoso\, Ltd\+Partners,dc=com")
    );

    let cred = |from: &str, to: &str| edit(&m, from, to);
    let ckey = "tenant[contoso].credential[0].client_id";
    assert_problem(
        &cred("\"3b9c1f7e-5d2a-4c8e-9f61-0a7b2c4d6e8f\"", "\"my-app\""),
        ckey,
        "not a GUID",
    );
    assert_problem(
        &cred("\"3b9c1f7e-5d2a-4c8e-9f61-0a7b2c4d6e8f\"", "\"\""),
        ckey,
        "is empty",
    );
    let no_cred = edit(
        &m,
        "  [[tenant.credential]]\n  client_id = \"3b9c1f7e-5d2a-4c8e-9f61-0a7b2c4d6e8f\"\n  client_secret_env = \"CONTOSO_SECRET\"\n",
        "",
    );
    assert_problem(
        &no_cred,
        "tenant[contoso].credential",
        "no [[tenant.credential]]",
    );
}

#[test]
fn duplicate_tenants_and_base_dns() {
    let second = r#"
[[tenant]]
name = "CONTOSO"
tenant_id = "contoso.onmicrosoft.com"
base_dn = "DC=Contoso, dc=COM"
  [[tenant.credential]]
  client_id = "3b9c1f7e-5d2a-4c8e-9f61-0a7b2c4d6e8f"
  client_secret_env = "CONTOSO_SECRET"
"#;
    let text = format!("{}{second}", minimal());
    assert_problem(
        &text,
        "tenant[CONTOSO].name",
        "also the name of tenant number 0",
    );
    assert_problem(
        &text,
        "tenant[CONTOSO].base_dn",
        "also the base_dn of tenant[contoso]",
    );
    // Different names and DNs, both left to default: fine.
    let ok = second
        .replace("name = \"CONTOSO\"", "name = \"fabrikam\"")
        .replace("base_dn = \"DC=Contoso, dc=COM\"\n", "");
    let cfg = load_ok(&format!("{}{ok}", minimal()));
    assert_eq!(cfg.tenant.len(), 2);
    assert_eq!(cfg.tenant[1].base_dn, None);
}

#[test]
fn no_tenant_is_a_problem() {
    let text = minimal();
    let cut = text.find("[[tenant]]").expect("tenant block");
    let text = edit(
        text.get(..cut).expect("prefix"),
        "tenants = [\"contoso\"]",
        "",
    );
    assert_problem(&text, "tenant", "no [[tenant]] is configured");
}

#[test]
fn service_urls() {
    let m = minimal();
    let url = |v: &str| {
        edit(
            &m,
            "base_dn = \"dc=contoso,dc=com\"\n",
            &format!("base_dn = \"dc=contoso,dc=com\"\ngraph_url = \"{v}\"\n"),
        )
    };
    let p = assert_problem(
        &url("http://graph.microsoft.com"),
        "tenant[contoso].graph_url",
        "http:// is allowed only for loopback hosts",
    );
    assert_eq!(
        format!("{p}"),
        "tenant[contoso].graph_url: http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://"
    );
    for ok in [
        "https://graph.microsoft.us",
        "http://127.0.0.2:8080",
        "http://[::1]:8080/graph",
        "http://LOCALHOST:3000",
    ] {
        assert_eq!(load_ok(&url(ok)).tenant[0].graph_url, ok);
    }
    assert_problem(
        &url("ftp://graph.microsoft.com"),
        "tenant[contoso].graph_url",
        "scheme `ftp:`",
    );
    assert_problem(
        &url("graph.microsoft.com"),
        "tenant[contoso].graph_url",
        "not a valid absolute URL",
    );
    assert_problem(
        &url("http://10.0.0.5:8080"),
        "tenant[contoso].graph_url",
        "loopback",
    );
    assert_problem(
        &url("https://graph.microsoft.com/?x=1"),
        "tenant[contoso].graph_url",
        "query",
    );
    let p = assert_problem(
        &url("https://app:hunter2@graph.microsoft.com"),
        "tenant[contoso].graph_url",
        "user name or password",
    );
    assert!(!p.message.contains("hunter2"), "{p}");

    let login = edit(
        &m,
        "base_dn = \"dc=contoso,dc=com\"\n",
        "base_dn = \"dc=contoso,dc=com\"\nlogin_url = \"http://login.example.net\"\n",
    );
    assert_problem(&login, "tenant[contoso].login_url", "loopback");
}

#[test]
fn sync_users_groups_domains_problems() {
    let m = minimal();
    let section = |table: &str, body: &str| format!("{m}\n  [tenant.{table}]\n  {body}\n");
    let t = "tenant[contoso]";
    let cases: Vec<(String, String, &str)> = vec![
        (
            section("sync", "interval = \"10s\""),
            format!("{t}.sync.interval"),
            "30s",
        ),
        (
            section("users", "uid_number_range = [5000, 2000]"),
            format!("{t}.users.uid_number_range"),
            "backwards",
        ),
        (
            section("users", "uid_number_range = [500, 2000]"),
            format!("{t}.users.uid_number_range"),
            "within [1000, 2147483647]",
        ),
        (
            section("users", "uid_number_range = [1000, 4294967295]"),
            format!("{t}.users.uid_number_range"),
            "within [1000, 2147483647]",
        ),
        (
            section("users", "uid_number_range = [100000, 450000]"),
            format!("{t}.groups.gid_number_range"),
            "overlaps users.uid_number_range [100000, 450000]",
        ),
        (
            section("groups", "gid_number_range = [399999, 400000]"),
            format!("{t}.groups.gid_number_range"),
            "overlaps",
        ),
        (
            section("groups", "gid_number_range = [2000, 999]"),
            format!("{t}.groups.gid_number_range"),
            "backwards",
        ),
        (
            section("users", "home_directory = \"/home/shared\""),
            format!("{t}.users.home_directory"),
            "{uid}",
        ),
        (
            section("users", "home_directory = \"home/{uid}\""),
            format!("{t}.users.home_directory"),
            "absolute",
        ),
        (
            section("users", "home_directory = \"/home/{user}\""),
            format!("{t}.users.home_directory"),
            "{user}",
        ),
        (
            section("users", "gecos = \"{displayName\""),
            format!("{t}.users.gecos"),
            "closing",
        ),
        (
            section("users", "gecos = \"{cn}\""),
            format!("{t}.users.gecos"),
            "{displayName}",
        ),
        (
            section("users", "primary_group = \" \""),
            format!("{t}.users.primary_group"),
            "is empty",
        ),
        (
            section(
                "users",
                "uid_number_attribute = \"onPremisesExtensionAttributes..x\"",
            ),
            format!("{t}.users.uid_number_attribute"),
            "empty part",
        ),
        (
            section(
                "groups",
                "gid_number_attribute = \"onPremisesExtensionAttributes.extensionAttribute1\"",
            ),
            format!("{t}.groups.gid_number_attribute"),
            "only users do",
        ),
        (
            section("groups", "gid_number_attribute = \"gid-number\""),
            format!("{t}.groups.gid_number_attribute"),
            "not a Graph property name",
        ),
        (
            section("users", "login_shell = \"bash\""),
            format!("{t}.users.login_shell"),
            "absolute",
        ),
        (
            section("users", "blocked_emails = [\"*@svc.contoso.com\", \" \"]"),
            format!("{t}.users.blocked_emails[1]"),
            "is empty",
        ),
        (
            section("groups", "types = []"),
            format!("{t}.groups.types"),
            "is empty",
        ),
        (
            section("domains", "allowed = [\"contoso\"]"),
            format!("{t}.domains.allowed[0]"),
            "not a domain name",
        ),
    ];
    for (text, key, needle) in &cases {
        assert_problem(text, key, needle);
    }
    // Adjacent but disjoint ranges are fine.
    let cfg = load_ok(&format!(
        "{m}\n  [tenant.users]\n  uid_number_range = [10000, 19999]\n  [tenant.groups]\n  gid_number_range = [20000, 29999]\n  types = [\"security\"]\n"
    ));
    assert_eq!(cfg.tenant[0].groups.types, vec![GroupType::Security]);
}

#[test]
fn service_account_problems() {
    let m = minimal();
    assert_problem(
        &edit(&m, "name = \"vpn\"", "name = \"vpn gateway\""),
        "service_account[0].name",
        "letters, digits",
    );
    let dup = format!("[[service_account]]\nname = \"VPN\"\npassword_hash = \"{HASH}\"\n\n{m}");
    assert_problem(
        &dup,
        "service_account[vpn].name",
        "also the name of service account number 0",
    );

    let hash = |to: &str| edit(&m, HASH, to);
    for bad in [
        "hunter2",
        "$argon2i$v=19$m=19456,t=2,p=1$c1PT7M0EvW4roXQByrAIWg$au02b8RyPjUuwQXbkYB1i1KidHl8i6vjU23asL+toxk",
        "$argon2id$not-a-phc-string",
        "$argon2id$v=19$m=19456,t=2,p=1$c1PT7M0EvW4roXQByrAIWg",
        "$argon2id$v=19$m=1,t=2,p=1$c1PT7M0EvW4roXQByrAIWg$au02b8RyPjUuwQXbkYB1i1KidHl8i6vjU23asL+toxk",
        "",
    ] {
        let p = assert_problem(
            &hash(bad),
            "service_account[vpn].password_hash",
            "run `o365-ldap hash-password` and paste its output",
        );
        assert!(bad.is_empty() || !p.message.contains(bad), "{p}");
    }

    assert_problem(
        &edit(
            &m,
            "tenants = [\"contoso\"]",
            "tenants = [\"contoso\", \"fabrikam\"]",
        ),
        "service_account[vpn].tenants[1]",
        "no [[tenant]] is named `fabrikam`; known tenants: contoso",
    );
    // Names are matched ignoring case, like everywhere else.
    let cfg = load_ok(&edit(
        &m,
        "tenants = [\"contoso\"]",
        "tenants = [\"Contoso\"]",
    ));
    assert_eq!(cfg.service_account[0].tenants, vec!["Contoso".to_string()]);
}

#[test]
fn every_problem_is_reported_one_per_line() {
    let fx = Fixture::new();
    let text = edit(
        &edit(
            &edit(&minimal(), "[server]\n", "[server]\nsize_limit = 0\n"),
            "name = \"vpn\"",
            "name = \"vpn gw\"",
        ),
        "\"CONTOSO_SECRET\"",
        "\"UNSET_SECRET\"",
    );
    let err = fx.load(&text).expect_err("accepted");
    let shown = err.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    let prefix = format!("{}: ", fx.origin().display());
    assert!(lines.iter().all(|l| l.starts_with(&prefix)), "{shown}");
    assert!(shown.contains("server.size_limit: "), "{shown}");
    assert!(shown.contains("service_account[0].name: "), "{shown}");
    assert!(
        shown.contains("tenant[contoso].credential[0].client_secret_env: "),
        "{shown}"
    );
}

// ---- rendering -------------------------------------------------------------------------------

#[test]
fn render_effective_redacts_secrets_and_hashes() {
    let fx = Fixture::new();
    let text = format!(
        "{}\n  [[tenant.credential]]\n  client_id = \"0d5e7a21-6c3b-4f9a-8e2d-1b4c6a8e0f35\"\n  client_secret_file = \"backup.secret\"\n",
        minimal()
    );
    let backup = "Bk9Q~other.secret-value_0123456789abcdef";
    std::fs::write(fx.path("backup.secret"), format!("{backup}\n")).expect("write");
    let cfg = fx.load(&text).expect("load");
    let out = render_effective(&cfg);

    assert!(!out.contains(SECRET), "{out}");
    assert!(!out.contains(backup), "{out}");
    assert!(!out.contains(HASH), "{out}");
    assert!(
        !out.contains("c1PT7M0EvW4roXQByrAIWg"),
        "salt leaked:\n{out}"
    );
    assert!(
        out.contains("password_hash = \"$argon2id$<redacted>\""),
        "{out}"
    );
    assert_eq!(
        out.matches("# client secret: <redacted>").count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("client_secret_env = \"CONTOSO_SECRET\""),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "client_secret_file = \"{}\"",
            fx.path("backup.secret").display()
        )),
        "{out}"
    );
    // Debug of the whole config is just as safe.
    let debug = format!("{cfg:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains(backup),
        "{debug}"
    );
}

#[test]
fn render_effective_round_trips() {
    let fx = Fixture::new();
    let mut text = format!(
        "{}\n  [tenant.users]\n  home_directory = \"/home/\\\"quoted\\\"/{{uid}}\"\n  blocked_emails = [\"*@svc.contoso.com\"]\n  [tenant.domains]\n  allowed = [\"contoso.com\"]\n  include_subdomains = false\n",
        minimal()
    );
    text = edit(
        &text,
        "[server]\n",
        "[server]\nldap_listen = \"\"\nlog_format = \"json\"\n",
    );
    text.push_str(
        "\n[[tenant]]\nname = \"fabrikam\"\ntenant_id = \"fabrikam.onmicrosoft.com\"\n  [[tenant.credential]]\n  client_id = \"0d5e7a21-6c3b-4f9a-8e2d-1b4c6a8e0f35\"\n  client_secret_env = \"CONTOSO_SECRET\"\n  [tenant.users]\n  uid_number_range = [500000, 799999]\n  uid_number_attribute = \"onPremisesExtensionAttributes.extensionAttribute1\"\n  primary_group = \"Linux \\\"Admins\\\"\"\n  gecos = \"{displayName},{department}\"\n  [tenant.groups]\n  gid_number_range = [800000, 899999]\n  gid_number_attribute = \"extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_gidNumber\"\n  nested = \"flatten\"\n",
    );
    let cfg = fx.load(&text).expect("load");
    let out = render_effective(&cfg);
    assert!(out.contains("ldap_listen = \"\"  # disabled"), "{out}");
    assert!(out.contains("# base_dn: not set"), "{out}");
    assert!(out.contains("tenants = [\"contoso\"]"), "{out}");

    // Rendered output is a valid config describing the same settings (once a real hash is
    // put back), so `check` output can be trusted and reused.
    let again = fx
        .load(&out.replace(render::REDACTED_HASH, HASH))
        .unwrap_or_else(|e| panic!("rendered config rejected:\n{e}\n---\n{out}"));
    assert_eq!(again, cfg);
}

#[test]
fn secret_display_and_debug_are_redacted() {
    let s = Secret::new(SECRET);
    assert_eq!(s.to_string(), "<redacted>");
    assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    assert_eq!(s.expose(), SECRET);
}

#[test]
fn documented_minimal_config_is_valid() {
    let doc = include_str!("../../../docs/configuration.md");
    let block = doc
        .split("## Minimal configuration")
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("minimal config block in docs/configuration.md");
    let fx = Fixture::new();
    // Only the secret file, which lives outside the test's reach, may be missing.
    let problems = problems_of(&fx, block);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].key,
        "tenant[contoso].credential[0].client_secret_file"
    );
    assert!(
        problems[0]
            .message
            .contains("/etc/o365-ldap/contoso.secret"),
        "{}",
        problems[0]
    );
}

#[test]
fn policy_key_problems() {
    let m = minimal();
    let t = "tenant[contoso]";
    let cases = [
        (
            format!("{m}\n  [tenant.users]\n  only_members_of = [\" \"]\n"),
            format!("{t}.users.only_members_of[0]"),
            "is empty",
        ),
        (
            format!("{m}\n  [tenant.groups.map]\n  \"Sales\" = \"\"\n"),
            format!("{t}.groups.map"),
            "empty side",
        ),
        (
            format!("{m}\n  [[tenant.local_group]]\n  name = \"x\"\n  gid_number = 400100\n"),
            format!("{t}.local_group[0].gid_number"),
            "inside",
        ),
        (
            format!(
                "{m}\n  [[tenant.local_group]]\n  name = \"Staff\"\n  [[tenant.local_group]]\n  name = \" staff\"\n"
            ),
            format!("{t}.local_group[1].name"),
            "also the name",
        ),
        (
            format!(
                "{m}\n  [[tenant.local_group]]\n  name = \"a\"\n  gid_number = 5000\n  [[tenant.local_group]]\n  name = \"b\"\n  gid_number = 5000\n"
            ),
            format!("{t}.local_group[1].gid_number"),
            "also the gid_number",
        ),
    ];
    for (text, key, needle) in cases {
        assert_problem(&text, &key, needle);
    }
}

#[test]
fn policy_keys_render_and_load_back() {
    let fx = Fixture::new();
    let text = format!(
        "{}\n  [tenant.users]\n  inactive = \"lock\"\n  include_guests = true\n  active_members_of = [\"VPN Users\"]\n  [tenant.groups]\n  sync = false\n  name_prefixes = [\"Eng\"]\n  [tenant.groups.map]\n  \"R&D, \\\"Europe\\\"\" = \"rd\"\n  [[tenant.local_group]]\n  name = \"staff\"\n  gid_number = 5000\n  members_from = [\"Sales\"]\n",
        minimal()
    );
    let cfg = fx.load(&text).expect("valid");
    let t = &cfg.tenant[0];
    assert_eq!(t.users.inactive, super::InactiveMode::Lock);
    assert_eq!(
        t.groups.map.get("R&D, \"Europe\"").map(String::as_str),
        Some("rd")
    );
    let rendered = super::render_effective(&cfg);
    assert!(rendered.contains("inactive = \"lock\""), "{rendered}");
    let back: super::Config = toml::from_str(&rendered).expect("rendered config parses");
    assert_eq!(back.tenant[0].groups, t.groups);
    assert_eq!(back.tenant[0].local_group, t.local_group);
    assert_eq!(back.tenant[0].users.inactive, t.users.inactive);
}

#[test]
fn top_level_local_groups_are_placed_in_their_tenants() {
    // docs/configuration.md documents a top-level [[local_group]]: it lands in every tenant
    // (one here).
    let text = format!(
        "{}\n[[local_group]]\nname = \"staff\"\ngid_number = 50000\nmembers_from = [\"Sales\"]\n",
        minimal()
    );
    let cfg = load_ok(&text);
    assert!(cfg.local_group.is_empty(), "moved into the tenants");
    let lg = &cfg.tenant[0].local_group;
    assert_eq!(lg.len(), 1);
    assert_eq!(lg[0].name, "staff");
    assert_eq!(lg[0].gid_number, Some(50000));
    assert_eq!(lg[0].tenant, None);
    // Naming a tenant that does not exist is an error naming the key.
    let bad = format!(
        "{}\n[[local_group]]\nname = \"x\"\ntenant = \"nope\"\n",
        minimal()
    );
    assert_problem(
        &bad,
        "local_group[x].tenant",
        "no [[tenant]] is named \"nope\"",
    );
}

#[test]
fn ssh_keys_attribute_is_checked_selected_and_rendered() {
    let m = minimal();
    let t = "tenant[contoso]";
    let with = |v: &str| format!("{m}\n  [tenant.users]\n  ssh_keys_attribute = \"{v}\"\n");
    for (value, needle) in [
        ("jobTitle", "not a property that can hold SSH keys"),
        ("onPremisesExtensionAttributes", "extensionAttribute1 to"),
        (
            "onPremisesExtensionAttributes.extensionAttribute16",
            "extensionAttribute15",
        ),
        (
            "onPremisesExtensionAttributes.extensionAttribute0",
            "extensionAttribute15",
        ),
        (
            "extension_abc_ssh..keys",
            "not a dotted Graph property path",
        ),
        ("extension_abc_ssh key", "not a dotted Graph property path"),
        ("", "not a dotted Graph property path"),
    ] {
        assert_problem(
            &with(value),
            &format!("{t}.users.ssh_keys_attribute"),
            needle,
        );
    }
    let ext = "extension_0123456789abcdef0123456789abcdef_sshPublicKey";
    let cfg = load_ok(&with(&format!("{ext}.keys")));
    let users = &cfg.tenant[0].users;
    assert_eq!(users.extra_user_properties(), vec![ext]);
    let rendered = super::render_effective(&cfg);
    assert!(
        rendered.contains(&format!("ssh_keys_attribute = \"{ext}.keys\"")),
        "{rendered}"
    );
    let back: super::Config = toml::from_str(&rendered).expect("rendered config parses");
    assert_eq!(
        back.tenant[0].users.ssh_keys_attribute,
        users.ssh_keys_attribute
    );
    let cfg = load_ok(&with("onPremisesExtensionAttributes.extensionAttribute10"));
    assert_eq!(
        model::graph::select_with(
            model::graph::USER_SELECT,
            &cfg.tenant[0].users.extra_user_properties()
        ),
        model::graph::USER_SELECT,
        "onPremisesExtensionAttributes is selected already"
    );
    assert!(
        model::graph::select_with(model::graph::USER_SELECT, &[ext]).ends_with(&format!(",{ext}")),
        "a directory extension is added to $select"
    );
    // Not set: nothing extra is selected, and `check` says where keys come from.
    let plain = load_ok(&m);
    assert!(plain.tenant[0].users.extra_user_properties().is_empty());
    assert!(super::render_effective(&plain).contains("# ssh_keys_attribute: not set"));
}

#[test]
fn ssh_keys_and_number_attributes_are_selected_together() {
    use model::graph::{GROUP_SELECT, USER_SELECT, select_with};
    let keys = "extension_0123456789abcdef0123456789abcdef_sshPublicKey";
    let uid = "extension_0123456789abcdef0123456789abcdef_uidNumber";
    let gid = "extension_0123456789abcdef0123456789abcdef_gidNumber";
    let users = super::UsersConfig {
        ssh_keys_attribute: Some(format!("{keys}.keys")),
        uid_number_attribute: Some(uid.into()),
        ..Default::default()
    };
    assert_eq!(users.extra_user_properties(), vec![keys, uid]);
    assert_eq!(
        select_with(USER_SELECT, &users.extra_user_properties()),
        format!("{USER_SELECT},{keys},{uid}")
    );
    // One property for both: selected once.
    let same = super::UsersConfig {
        ssh_keys_attribute: Some("employeeId".into()),
        uid_number_attribute: Some("EmployeeId".into()),
        ..Default::default()
    };
    assert_eq!(
        select_with(USER_SELECT, &same.extra_user_properties()),
        USER_SELECT
    );
    let groups = super::GroupsConfig {
        gid_number_attribute: Some(gid.into()),
        ..Default::default()
    };
    assert_eq!(
        select_with(GROUP_SELECT, &groups.extra_group_properties()),
        format!("{GROUP_SELECT},{gid}")
    );
    assert!(
        super::GroupsConfig::default()
            .extra_group_properties()
            .is_empty()
    );
}

// ---- bind throttling -------------------------------------------------------------------------

#[test]
fn trusted_sources_take_addresses_and_cidr_blocks_and_name_a_bad_one() {
    let fx = Fixture::new();
    let text = format!(
        "{}\n[auth]\ntrusted_sources = [\"192.0.2.10\", \"10.8.0.0/16\", \"2001:db8::/32\"]\n",
        minimal()
    );
    let cfg = fx.load(&text).expect("valid");
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let t = &cfg.auth.trusted_sources;
    assert!(t[0].contains(&ip("192.0.2.10")) && !t[0].contains(&ip("192.0.2.11")));
    assert!(t[1].contains(&ip("10.8.200.1")) && t[1].contains(&ip("::ffff:10.8.0.1")));
    assert!(t[2].contains(&ip("2001:db8::1")));
    let rendered = super::render_effective(&cfg);
    assert!(
        rendered.contains(r#"trusted_sources = ["192.0.2.10", "10.8.0.0/16", "2001:db8::/32"]"#),
        "{rendered}"
    );
    let msg = parse_error(&format!(
        "{}\n[auth]\ntrusted_sources = [\"10.8.0.0/33\"]\n",
        minimal()
    ));
    assert!(msg.contains("auth.trusted_sources"), "{msg}");
    assert!(msg.contains("not an IP address or CIDR block"), "{msg}");
}

#[test]
fn the_two_account_budgets_must_stay_below_entras_lockout() {
    let text = format!(
        "{}\n[auth]\nmax_failures_per_account = 6\nmax_failures_unfamiliar = 4\n",
        minimal()
    );
    assert_problem(&text, "auth.max_failures_per_account", "below Entra");
    let text = format!("{}\n[auth]\nfailure_delay = \"1m\"\n", minimal());
    assert_problem(&text, "auth.failure_delay", "at most");
}

#[test]
fn operations_keys_load_and_validate() {
    let fx = Fixture::new();
    std::fs::write(
        fx.path("hook.url"),
        "https://hooks.example.com/services/T0/B0/tok\n",
    )
    .unwrap();
    let text = format!(
        "{}\n  [tenant.sync]\n  interval = \"10m\"\n",
        edit(
            &minimal(),
            "[server]\n",
            "[notify]\nwebhook_url_file = \"hook.url\"\nemail_to = [\"it@contoso.com\"]\nemail_from = \"o365-ldap@contoso.com\"\n\n[server]\nhttp_listen = \"127.0.0.1:9389\"\n",
        )
    );
    let cfg = fx.load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.server.http_listen.as_deref(), Some("127.0.0.1:9389"));
    assert_eq!(cfg.notify.webhook_url_file, Some(fx.path("hook.url")));
    assert_eq!(
        cfg.notify.resolved_webhook.as_ref().map(|s| s.expose()),
        Some("https://hooks.example.com/services/T0/B0/tok")
    );
    // max_staleness defaults to four intervals.
    assert_eq!(
        cfg.tenant[0].sync.staleness_limit(),
        Duration::from_secs(40 * 60)
    );
    let out = render_effective(&cfg);
    assert!(!out.contains("tok"), "webhook token shown:\n{out}");
    assert!(out.contains("4 × interval (40m)"), "{out}");

    assert_problem(
        &edit(
            &minimal(),
            "[server]\n",
            "[server]\nhttp_listen = \"localhost:80\"\n",
        ),
        "server.http_listen",
        "not an IP address and port",
    );
    let p = assert_problem(
        &edit(
            &minimal(),
            "[server]\n",
            "[notify]\nwebhook_url = \"ftp://hooks.example.com/secret-token\"\n[server]\n",
        ),
        "notify.webhook_url",
        "https://",
    );
    assert!(!p.message.contains("secret-token"));
    assert_problem(
        &edit(
            &minimal(),
            "[server]\n",
            "[notify]\nemail_to = [\"it@contoso.com\"]\n[server]\n",
        ),
        "notify.email_from",
        "Mail.Send",
    );
    assert_problem(
        &format!(
            "{}\n  [tenant.sync]\n  interval = \"1h\"\n  max_staleness = \"30m\"\n",
            minimal()
        ),
        "tenant[contoso].sync.max_staleness",
        "shorter than sync.interval",
    );
    assert_problem(
        &edit(
            &minimal(),
            "[server]\n",
            "[network]\ntls_ca_file = \"missing-ca.pem\"\n[server]\n",
        ),
        "network.tls_ca_file",
        "cannot read",
    );
}

#[test]
fn credentials_directory_paths_come_from_systemd() {
    let fx = Fixture::new();
    let creds = fx.path("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("contoso.secret"), SECRET).unwrap();
    let text = edit(
        &minimal(),
        "client_secret_env = \"CONTOSO_SECRET\"",
        "client_secret_file = \"${CREDENTIALS_DIRECTORY}/contoso.secret\"",
    );
    let dir = creds.display().to_string();
    let cfg = load_str_with_env(&text, &fx.origin(), |name| match name {
        CREDENTIALS_DIRECTORY => Ok(dir.clone()),
        _ => Err(VarError::NotPresent),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let cred = &cfg.tenant[0].credential[0];
    assert_eq!(cred.client_secret_file, Some(creds.join("contoso.secret")));
    assert_eq!(
        cred.resolved_secret.as_ref().map(|s| s.expose()),
        Some(SECRET)
    );
    // Outside systemd the variable is missing: said under the key, not a confusing path.
    let problems = problems_of(&fx, &text);
    assert!(
        problems.iter().any(
            |p| p.key == "tenant[contoso].credential[0].client_secret_file"
                && p.message.contains("LoadCredential")
        ),
        "{problems:?}"
    );
}

// ---- [store] ---------------------------------------------------------------------------------

const PG_URL: &str = "postgres://o365:S3cr~et@db.example:5432/o365?sslmode=verify-full";

#[test]
fn store_defaults_to_redb_and_check_says_it_is_for_one_server() {
    let cfg = load_ok(&minimal());
    assert_eq!(cfg.store.backend, StoreBackend::Redb);
    let shown = render_effective(&cfg);
    assert!(shown.contains("backend = \"redb\""), "{shown}");
    assert!(shown.contains("ONE server"), "{shown}");
}

#[test]
fn postgres_url_is_read_from_a_file_or_the_environment_and_never_shown() {
    let fx = Fixture::new();
    std::fs::write(fx.path("pg.url"), format!("{PG_URL}\n")).expect("write url");
    let text = format!(
        "{}\n[store]\nbackend = \"postgres\"\nurl_file = \"pg.url\"\n",
        minimal()
    );
    let cfg = fx.load(&text).expect("postgres config");
    assert_eq!(cfg.store.url_file, Some(fx.path("pg.url")));
    assert_eq!(
        cfg.store.resolved_url.as_ref().map(Secret::expose),
        Some(PG_URL)
    );
    let shown = render_effective(&cfg);
    assert!(shown.contains("backend = \"postgres\""), "{shown}");
    assert!(
        !shown.contains("S3cr~et") && !shown.contains("db.example"),
        "{shown}"
    );
    assert!(!format!("{cfg:?}").contains("S3cr~et"));

    let env = |name: &str| match name {
        "PG_URL" => Ok(PG_URL.to_string()),
        _ => Err(VarError::NotPresent),
    };
    let text = format!(
        "{}\n[store]\nbackend = \"postgres\"\nurl_env = \"PG_URL\"\n",
        minimal()
    )
    .replace(
        "client_secret_env = \"CONTOSO_SECRET\"",
        "client_secret_env = \"PG_URL\"",
    );
    let cfg = load_str_with_env(&text, &fx.origin(), env).expect("url from env");
    assert_eq!(
        cfg.store.resolved_url.as_ref().map(Secret::expose),
        Some(PG_URL)
    );
}

#[test]
fn store_problems_name_the_key_and_never_echo_the_url() {
    let base = minimal();
    assert_problem(
        &format!("{base}\n[store]\nbackend = \"postgres\"\n"),
        "store",
        "url_file",
    );
    assert_problem(
        &format!("{base}\n[store]\nurl_env = \"PG_URL\"\n"),
        "store.url_env",
        "only applies to backend = \"postgres\"",
    );
    assert_problem(
        &format!("{base}\n[store]\nbackend = \"postgres\"\nurl_env = \"{PG_URL}\"\n"),
        "store.url_env",
        "not an environment variable name",
    );
    let p = assert_problem(
        &format!("{base}\n[store]\nbackend = \"postgres\"\nurl_file = \"missing.url\"\n"),
        "store.url_file",
        "cannot read",
    );
    assert!(!p.message.contains("S3cr"));
    // A file that holds something else than a URL: not echoed.
    let fx = Fixture::new();
    std::fs::write(fx.path("pg.url"), "host=db password=S3cr~et").expect("write");
    let problems = problems_of(
        &fx,
        &format!("{base}\n[store]\nbackend = \"postgres\"\nurl_file = \"pg.url\"\n"),
    );
    assert!(
        problems
            .iter()
            .any(|p| p.key == "store.url_file" && p.message.contains("PostgreSQL URL")),
        "{problems:?}"
    );
    assert!(problems.iter().all(|p| !p.message.contains("S3cr~et")));
    let e = parse_error(&format!("{base}\n[store]\nbackend = \"mysql\"\n"));
    assert!(e.contains("store.backend") && e.contains("postgres"), "{e}");
}
