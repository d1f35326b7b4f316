//! SSH public keys end to end: a key in a Graph property (`users.ssh_keys_attribute`) is served
//! as `sshPublicKey` with `objectClass: ldapPublicKey`; `o365-ldap ctl ssh-key add|remove|list`
//! changes what `ldapsearch` sees at once; bad keys are refused with a clear message; a Graph
//! change arrives with a delta round; and everything survives a restart without Graph.

use crate::common::clients::{Run, ldapsearch, ldif_values};
use crate::common::harness::{BASE, Env, Running, SERVICE, SERVICE_PASSWORD};
use emulator::Mutation;
use o365_ldap::cli::serve::Server;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");
const BOB_ID: &str = "b0b00000-0000-4000-8000-000000000002";

/// alice's key in the fixture (onPremisesExtensionAttributes.extensionAttribute10).
const ALICE_GRAPH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqK6QsY1Y4CHzOI9SpArQUFRKlq4+gAMJ65DMvOHjrO alice@laptop";
const ALICE_GRAPH_FP: &str = "SHA256:XLA5Do/4a5Bbvmd633lsI1afrsIHgZI3TqM7c2+K4Yg";
const BOB_KEY: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCg+ShRiQi91sncKjZO5fwZRw5t0H5Wwo1PyIjX68lVdCTpYcJdut2tAN/pV7I0CaktRimcnohETby/ebrI+cjb43X2N3vfGceK7JPvQiwrnWE7MLSoiC/QWXcB5hlndsw== bob";
const BOB_FP: &str = "SHA256:v1UFX+dKglJFTnRf4mqFfa/nsBW3KsXayzEU7ofn8ao";
const RSA_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCfAg/GwGDc0ZRRTmJ2z8jSmZH5pLj0FcT3FOecAfbYTag3+TBbx34LJ/kuZEAL09wsGGkd0GTPEqZhMaeoxvj5TAHsh5dDfA3ORiyQTNyI+Tm91fGM3Aujpb7wr660zmhNUoivTZX1bbaG6NMjz+vdkYBoAZjC5tOtLsepm5KCoQ== alice's second, on a yubikey";
const RSA_FP: &str = "SHA256:MOVHMRMQchoW7PhA3ajskHMGHy/2l9GBYD99O6c1RVk";

const SSH_CONFIG: &str = "  [tenant.users]\n  ssh_keys_attribute = \"onPremisesExtensionAttributes.extensionAttribute10\"\n";

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn ctl(config: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = tokio::process::Command::new(BIN)
        .arg("ctl")
        .arg("-c")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ctl runs");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or("").as_bytes())
            .await
            .expect("stdin");
    }
    let out = child.wait_with_output().await.expect("ctl finishes");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(o: &Out) -> Value {
    serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", o.stdout, o.stderr))
}

async fn search(ca: &Path, server: &Server, filter: &str, attrs: &[&str]) -> Run {
    let url = format!("ldaps://localhost:{}", server.ldaps_addr().unwrap().port());
    let bind = (SERVICE, SERVICE_PASSWORD);
    let r = ldapsearch(ca, &url, bind, BASE, &[], filter, attrs).await;
    assert_eq!(r.code, 0, "{filter}: {}", r.stderr);
    r
}

async fn keys_of(ca: &Path, server: &Server, uid: &str) -> Vec<String> {
    let r = search(ca, server, &format!("(uid={uid})"), &["sshPublicKey"]).await;
    ldif_values(&r.stdout, "sshPublicKey")
}

fn config_path(env: &Env) -> PathBuf {
    env.dir.path().join("o365-ldap.toml")
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_and_admin_keys_are_served_changed_at_once_and_kept() {
    let env = Env::contoso().await;
    let cfg = env.config_with("", SSH_CONFIG);
    let r = Running::start_with(env, cfg).await;
    let ca = r.ca();
    let conf = config_path(&r.env);

    // The Graph key is served, with the auxiliary class.
    let alice = search(
        &ca,
        &r.server,
        "(uid=alice)",
        &["objectClass", "sshPublicKey"],
    )
    .await;
    assert_eq!(
        ldif_values(&alice.stdout, "sshPublicKey"),
        [ALICE_GRAPH_KEY]
    );
    assert!(
        ldif_values(&alice.stdout, "objectClass").contains(&"ldapPublicKey".to_string()),
        "{}",
        alice.stdout
    );
    // Presence and equality filters on the key attribute find exactly her.
    let with_keys = search(&ca, &r.server, "(sshPublicKey=*)", &["uid"]).await;
    assert_eq!(ldif_values(&with_keys.stdout, "uid"), ["alice"]);
    let by_class = search(&ca, &r.server, "(objectClass=ldapPublicKey)", &["uid"]).await;
    assert_eq!(ldif_values(&by_class.stdout, "uid"), ["alice"]);
    assert!(keys_of(&ca, &r.server, "bob").await.is_empty());

    // ctl ssh-key add, the key as unquoted words: served immediately, no sync round.
    let words: Vec<&str> = BOB_KEY.split(' ').collect();
    let mut args = vec!["ssh-key", "add", "bob@contoso.com"];
    args.extend(&words);
    let add = ctl(&conf, &args, None).await;
    assert!(add.ok, "{}\n{}", add.stdout, add.stderr);
    assert!(add.stdout.contains(BOB_FP), "{}", add.stdout);
    assert_eq!(keys_of(&ca, &r.server, "bob").await, [BOB_KEY]);
    let bob = search(&ca, &r.server, "(uid=bob)", &["objectClass"]).await;
    assert!(ldif_values(&bob.stdout, "objectClass").contains(&"ldapPublicKey".to_string()));
    // Adding it again changes nothing.
    let again = ctl(&conf, &["ssh-key", "add", "bob", BOB_KEY], None).await;
    assert!(
        again.ok && again.stdout.contains("already has"),
        "{}",
        again.stdout
    );
    assert_eq!(keys_of(&ca, &r.server, "bob").await.len(), 1);

    // From stdin (`-`), by uid, with a comment holding spaces and a quote.
    let add = ctl(
        &conf,
        &["ssh-key", "add", "alice", "-"],
        Some(&format!("{RSA_KEY}\n")),
    )
    .await;
    assert!(add.ok, "{}\n{}", add.stdout, add.stderr);
    assert_eq!(
        keys_of(&ca, &r.server, "alice").await,
        [ALICE_GRAPH_KEY, RSA_KEY]
    );
    // A Graph key cannot be removed here.
    let graph_rm = ctl(&conf, &["ssh-key", "remove", "alice", ALICE_GRAPH_FP], None).await;
    assert!(!graph_rm.ok, "{}", graph_rm.stdout);
    assert!(
        graph_rm.stderr.contains("Microsoft 365"),
        "{}",
        graph_rm.stderr
    );
    // The Graph key added by an admin as well is served once.
    let dup = ctl(&conf, &["ssh-key", "add", "alice", ALICE_GRAPH_KEY], None).await;
    assert!(dup.ok, "{}", dup.stderr);
    assert_eq!(keys_of(&ca, &r.server, "alice").await.len(), 2);

    // list: human table with fingerprints, and JSON with sources.
    let list = ctl(&conf, &["ssh-key", "list", "alice"], None).await;
    assert!(list.ok, "{}", list.stderr);
    assert!(list.stdout.contains("FINGERPRINT"), "{}", list.stdout);
    assert!(list.stdout.contains(ALICE_GRAPH_FP), "{}", list.stdout);
    assert!(list.stdout.contains(RSA_FP), "{}", list.stdout);
    let j = json_of(&ctl(&conf, &["--json", "ssh-key", "list", "bob"], None).await);
    assert_eq!(j["dn"], "uid=bob,ou=people,dc=contoso,dc=com");
    assert_eq!(j["keys"][0]["fingerprint"], BOB_FP);
    assert_eq!(j["keys"][0]["type"], "ecdsa-sha2-nistp384");
    assert_eq!(j["keys"][0]["source"], "admin");
    assert_eq!(j["keys"][0]["comment"], "bob");

    // Bad input gets a clear refusal and changes nothing.
    let bad = ctl(
        &conf,
        &["ssh-key", "add", "bob", "ssh-ed25519", "AAAAnotakey"],
        None,
    )
    .await;
    assert!(!bad.ok);
    assert!(bad.stderr.contains("key refused"), "{}", bad.stderr);
    let dss = ctl(
        &conf,
        &["ssh-key", "add", "bob", "ssh-dss AAAAB3NzaC1kc3M="],
        None,
    )
    .await;
    assert!(
        !dss.ok && dss.stderr.contains("not a supported key type"),
        "{}",
        dss.stderr
    );
    let mismatch = ctl(
        &conf,
        &[
            "ssh-key",
            "add",
            "bob",
            &BOB_KEY.replacen("ecdsa-sha2-nistp384", "ssh-rsa", 1),
        ],
        None,
    )
    .await;
    assert!(
        !mismatch.ok && mismatch.stderr.contains("says it is"),
        "{}",
        mismatch.stderr
    );
    let nobody = ctl(&conf, &["ssh-key", "list", "nobody@contoso.com"], None).await;
    assert!(
        !nobody.ok && nobody.stderr.contains("no served user"),
        "{}",
        nobody.stderr
    );
    assert_eq!(keys_of(&ca, &r.server, "bob").await, [BOB_KEY]);

    // remove by fingerprint: gone at once, and the class with it.
    let rm = ctl(&conf, &["ssh-key", "remove", "bob", BOB_FP], None).await;
    assert!(rm.ok, "{}\n{}", rm.stdout, rm.stderr);
    assert!(keys_of(&ca, &r.server, "bob").await.is_empty());
    let bob = search(&ca, &r.server, "(uid=bob)", &["objectClass"]).await;
    assert!(!ldif_values(&bob.stdout, "objectClass").contains(&"ldapPublicKey".to_string()));
    let rm_again = ctl(&conf, &["ssh-key", "remove", "bob", BOB_FP], None).await;
    assert!(!rm_again.ok && rm_again.stderr.contains("no admin-managed key"));

    // A key set in Microsoft 365 arrives with a (delta) round, merged with admin keys.
    let add = ctl(&conf, &["ssh-key", "add", "bob", RSA_KEY], None).await;
    assert!(add.ok, "{}", add.stderr);
    r.env
        .emu
        .as_ref()
        .unwrap()
        .mutate(Mutation::UpdateUser {
            id: BOB_ID.into(),
            patch: json!({"onPremisesExtensionAttributes": {"extensionAttribute10": BOB_KEY}})
                .as_object()
                .cloned()
                .unwrap(),
        })
        .await
        .unwrap();
    let round = r.server.engine.sync_tenant("contoso").await.expect("round");
    assert!(!round.full_read, "the change came as a delta");
    assert_eq!(keys_of(&ca, &r.server, "bob").await, [BOB_KEY, RSA_KEY]);

    // Restart without Graph: the directory comes from disk with every key.
    let Running { mut env, server } = r;
    server.stop().await;
    env.stop_graph().await;
    let cfg = env.config_with("", SSH_CONFIG);
    let server = Server::start(cfg, false).await.expect("restarts");
    assert_eq!(
        keys_of(&ca, &server, "alice").await,
        [ALICE_GRAPH_KEY, RSA_KEY]
    );
    assert_eq!(keys_of(&ca, &server, "bob").await, [BOB_KEY, RSA_KEY]);
    let list = ctl(&conf, &["--json", "ssh-key", "list", "alice"], None).await;
    let j = json_of(&list);
    assert_eq!(j["keys"].as_array().map(Vec::len), Some(2), "{j}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_attribute_only_admin_keys_are_served() {
    let env = Env::contoso().await;
    let cfg = env.config();
    let r = Running::start_with(env, cfg).await;
    let ca = r.ca();
    // The fixture's Graph key is not read when no attribute is configured.
    assert!(keys_of(&ca, &r.server, "alice").await.is_empty());
    let conf = config_path(&r.env);
    let add = ctl(
        &conf,
        &["ssh-key", "add", "alice@contoso.com", BOB_KEY],
        None,
    )
    .await;
    assert!(add.ok, "{}", add.stderr);
    assert_eq!(keys_of(&ca, &r.server, "alice").await, [BOB_KEY]);
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_in_a_directory_extension_arrive_by_delta_and_full_rounds() {
    let ext = "extension_5f1d2c3b4a5948e7b6c5d4e3f2a1b0c9_sshPublicKey";
    let env = Env::contoso().await;
    let cfg = env.config_with(
        "",
        &format!("  [tenant.users]\n  ssh_keys_attribute = \"{ext}\"\n"),
    );
    let r = Running::start_with(env, cfg).await;
    let ca = r.ca();
    // The fixture key sits in extensionAttribute10, which this config does not read.
    assert!(keys_of(&ca, &r.server, "alice").await.is_empty());
    r.env
        .emu
        .as_ref()
        .unwrap()
        .mutate(Mutation::UpdateUser {
            id: BOB_ID.into(),
            patch: json!({ ext: [BOB_KEY, "not a key", RSA_KEY] })
                .as_object()
                .cloned()
                .unwrap(),
        })
        .await
        .unwrap();
    let round = r.server.engine.sync_tenant("contoso").await.expect("delta");
    assert!(!round.full_read);
    assert_eq!(keys_of(&ca, &r.server, "bob").await, [BOB_KEY, RSA_KEY]);
    let opts = o365_ldap::sync::RoundOptions {
        full: true,
        ..Default::default()
    };
    let round = r
        .server
        .engine
        .run_round("contoso", opts, None)
        .await
        .expect("full");
    assert!(round.full_read);
    assert_eq!(keys_of(&ca, &r.server, "bob").await, [BOB_KEY, RSA_KEY]);
    // Cleared in Microsoft 365: gone at the next full round. (The emulator's delta leaves
    // cleared properties out instead of sending them as null, so a delta round keeps them.)
    r.env
        .emu
        .as_ref()
        .unwrap()
        .mutate(Mutation::UpdateUser {
            id: BOB_ID.into(),
            patch: json!({ ext: null }).as_object().cloned().unwrap(),
        })
        .await
        .unwrap();
    r.server
        .engine
        .run_round("contoso", opts, None)
        .await
        .expect("full");
    assert!(keys_of(&ca, &r.server, "bob").await.is_empty());
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn configuring_a_directory_extension_later_reads_graph_in_full_once() {
    let ext = "extension_5f1d2c3b4a5948e7b6c5d4e3f2a1b0c9_sshPublicKey";
    let env = Env::contoso().await;
    let cfg = env.config();
    let r = Running::start_with(env, cfg).await;
    r.env
        .emu
        .as_ref()
        .unwrap()
        .mutate(Mutation::UpdateUser {
            id: BOB_ID.into(),
            patch: json!({ ext: BOB_KEY }).as_object().cloned().unwrap(),
        })
        .await
        .unwrap();
    let Running { env, server } = r;
    server.stop().await;
    // The stored delta links were made without the extension in $select.
    let cfg = env.config_with(
        "",
        &format!("  [tenant.users]\n  ssh_keys_attribute = \"{ext}\"\n"),
    );
    let server = Server::start(cfg, false).await.expect("restarts");
    let round = server.engine.sync_tenant("contoso").await.expect("round");
    assert!(round.full_read, "a changed user $select forces a full read");
    assert_eq!(keys_of(&env.certs.ca_cert, &server, "bob").await, [BOB_KEY]);
    let next = server.engine.sync_tenant("contoso").await.expect("round");
    assert!(!next.full_read, "then delta rounds resume");
    server.stop().await;
}
