//! Replicas on one PostgreSQL (`[store] backend = "postgres"`), each test with a private
//! cluster (`common::postgres`) and the Graph emulator: replicas with different histories serve
//! the same DNs and numbers, admin changes made on one are served by the others within 2 s,
//! a replica killed mid-round leaves the next round to another, a stopped database leaves every
//! replica serving (binds included) until it returns, and `store import` keeps every number.

use crate::common::dump;
use crate::common::harness::{BASE, Env};
use crate::common::postgres::Cluster;
use emulator::Mutation;
use o365_ldap::cli::serve::Server;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");
const ALICE_ID: &str = "a1ce0000-0000-4000-8000-000000000001";
const ALICE_DN: &str = "uid=alice,ou=people,dc=contoso,dc=com";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqK6QsY1Y4CHzOI9SpArQUFRKlq4+gAMJ65DMvOHjrO admin@replica-a";
/// A narrow range, so a newcomer whose derived number was a deleted user's is quick to find.
const RANGE: [u32; 2] = [100_000, 100_999];

/// One replica's configuration file: the harness's, with its own data_dir and admin socket,
/// local binds and the shared store (or, with `url_file` `None`, the redb backend).
fn replica_config(env: &Env, name: &str, url_file: Option<&Path>) -> PathBuf {
    let mut extra = format!(
        "\n  [tenant.users]\n  uid_number_range = [{}, {}]\n\n[auth]\nuser_bind = \"local\"\n",
        RANGE[0], RANGE[1]
    );
    if let Some(f) = url_file {
        extra.push_str(&format!(
            "\n[store]\nbackend = \"postgres\"\nurl_file = {:?}\n",
            f.display().to_string()
        ));
    }
    let text = env
        .config_text("allow_plaintext_bind = true", &extra)
        .replace(
            &env.data_dir().display().to_string(),
            &env.dir
                .path()
                .join(format!("data-{name}"))
                .display()
                .to_string(),
        )
        .replace(
            &env.dir.path().join("admin.sock").display().to_string(),
            &env.dir
                .path()
                .join(format!("{name}.sock"))
                .display()
                .to_string(),
        );
    let path = env.dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(path: &Path) -> Server {
    let cfg = o365_ldap::settings::load(path).expect("config loads");
    Server::start(cfg, false).await.expect("replica starts")
}

fn url_file(env: &Env, url: &str) -> PathBuf {
    let f = env.dir.path().join("postgres.url");
    std::fs::write(&f, url).unwrap();
    f
}

fn snapshot(s: &Server) -> std::collections::BTreeMap<String, Vec<String>> {
    dump(&s.engine.snapshot().load_full())
}

fn number_of(s: &Server, uid: &str) -> Option<u32> {
    let snap = s.engine.snapshot().load_full();
    snap.iter()
        .map(|(_, e)| e)
        .find(|e| e.first("uid") == Some(uid))
        .and_then(|e| e.first("uidNumber"))
        .and_then(|n| n.parse().ok())
}

/// Wait up to `limit` for `f`; how long it took.
async fn within(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bind(s: &Server, dn: &str, pw: &str) -> u32 {
    let port = s.ldap_addr().expect("LDAP listener").port();
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&format!("ldap://127.0.0.1:{port}"))
        .await
        .expect("connects");
    ldap3::drive!(conn);
    let rc = ldap.simple_bind(dn, pw).await.expect("bind answered").rc;
    let _ = ldap.unbind().await;
    rc
}

async fn emu_mutate(env: &Env, m: Mutation) {
    env.emu.as_ref().unwrap().mutate(m).await.expect("mutation");
}

/// A change in Graph for the next round to pick up: alice's job title.
async fn retitle_alice(env: &Env, title: &str) {
    let patch = json!({ "jobTitle": title }).as_object().cloned().unwrap();
    emu_mutate(
        env,
        Mutation::UpdateUser {
            id: ALICE_ID.into(),
            patch,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_different_histories_serve_the_same_numbers() {
    let pg = Cluster::start();
    let env = Env::contoso().await;
    let url = url_file(&env, &pg.database());
    let a = start(&replica_config(&env, "a", Some(&url))).await;
    a.engine.sync_tenant("contoso").await.expect("first round");

    // A user holding the number derived from its own id, deleted before replica b exists.
    let snap = a.engine.snapshot().load_full();
    let (gone_id, gone_uid, n) = snap
        .iter()
        .map(|(_, e)| e)
        .find_map(|e| {
            let id = e.first("entryUUID")?;
            let num: u32 = e.first("uidNumber")?.parse().ok()?;
            let uid = e.first("uid")?;
            (num == directory::ids::preferred_number(id, RANGE[0], RANGE[1]))
                .then(|| (id.to_string(), uid.to_string(), num))
        })
        .expect("a user with its derived number");
    drop(snap);
    emu_mutate(
        &env,
        Mutation::HardDeleteUser {
            id: gone_id.clone(),
        },
    )
    .await;
    a.engine.sync_tenant("contoso").await.expect("delta round");
    assert_eq!(number_of(&a, &gone_uid), None, "{gone_uid} is gone");

    // A newcomer whose derived number is the deleted user's.
    let newcomer = (0u64..)
        .map(|i| format!("0000beef-0000-4000-8000-{i:012}"))
        .find(|id| directory::ids::preferred_number(id, RANGE[0], RANGE[1]) == n)
        .unwrap();
    emu_mutate(
        &env,
        Mutation::CreateUser {
            user: json!({"id": newcomer, "userPrincipalName": "newcomer@contoso.com",
                "displayName": "New Comer", "accountEnabled": true})
            .as_object()
            .cloned()
            .unwrap(),
        },
    )
    .await;
    a.engine
        .sync_tenant("contoso")
        .await
        .expect("round with newcomer");
    let on_a = number_of(&a, "newcomer").expect("newcomer served");
    assert_ne!(on_a, n, "a deleted user's number is never handed out again");

    // Without the shared store, a server that never saw the deleted user gives its number
    // away: what the shared store prevents.
    let alone = start(&replica_config(&env, "alone", None)).await;
    alone.engine.sync_tenant("contoso").await.unwrap();
    assert_eq!(number_of(&alone, "newcomer"), Some(n));
    alone.stop().await;

    // Replica b starts after all that, with an empty cache, and serves what a serves.
    let b = start(&replica_config(&env, "b", Some(&url))).await;
    assert_eq!(
        snapshot(&b),
        snapshot(&a),
        "b serves a's directory at start"
    );
    // Its own round (full: it has no basis yet) derives the same numbers and names.
    b.engine.sync_tenant("contoso").await.expect("b's round");
    assert_eq!(number_of(&b, "newcomer"), Some(on_a));
    // A third, started now, and a after following b's round: all the same.
    let c = start(&replica_config(&env, "c", Some(&url))).await;
    let same = within(Duration::from_secs(2), async || {
        snapshot(&a) == snapshot(&b)
    })
    .await;
    assert!(same.is_some(), "a follows b's round within 2 s");
    assert_eq!(
        a.engine.follow_counts(),
        (1, 0),
        "a patched its snapshot with b's round, without reading everything again"
    );
    assert_eq!(snapshot(&c), snapshot(&b));
    // The replica that ran the round holds the mirror; the one that followed it let its
    // mirror go, and the one started since never read it.
    assert!(b.engine.mirror_resident().await, "b ran the round");
    assert!(
        !a.engine.mirror_resident().await,
        "a follows without a mirror"
    );
    assert!(!c.engine.mirror_resident().await, "c never read the mirror");
    // Every replica's scheduler runs: one right after b's round is skipped, not repeated,
    // and the skipped replica does not read the mirror to find that out.
    let scheduled = o365_ldap::sync::RoundOptions {
        trigger: o365_ldap::sync::Trigger::Scheduled,
        ..Default::default()
    };
    let skipped = c.engine.run_round("contoso", scheduled, None).await;
    assert!(
        matches!(skipped, Err(o365_ldap::sync::SyncError::Recent { .. })),
        "{skipped:?}"
    );
    assert!(
        !c.engine.mirror_resident().await,
        "a skipped round reads no mirror"
    );
    // A follower's next round reads the mirror from its cache and still patches (the record
    // of how the directory was derived came with b's rows), and b, following it, lets go.
    retitle_alice(&env, "Follower round").await;
    let r = a.engine.sync_tenant("contoso").await.expect("a's round");
    assert!(r.patched, "a patched its served directory: {:?}", r.mode);
    assert!(a.engine.mirror_resident().await, "a runs the rounds now");
    let followed = within(Duration::from_secs(2), async || {
        snapshot(&b) == snapshot(&a) && !b.engine.mirror_resident().await
    })
    .await;
    assert!(
        followed.is_some(),
        "b follows a's round and releases its mirror"
    );
    for s in [a, b, c] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_keys_set_on_one_replica_work_on_another_within_2s() {
    let pg = Cluster::start();
    let env = Env::contoso().await;
    let url = url_file(&env, &pg.database());
    let a_cfg = replica_config(&env, "a", Some(&url));
    let a = start(&a_cfg).await;
    a.engine.sync_tenant("contoso").await.expect("first round");
    let b = start(&replica_config(&env, "b", Some(&url))).await;
    assert_eq!(bind(&b, ALICE_DN, "set-on-a 1").await, 49);

    o365_ldap::auth::set_password(&a.engine.store(), "contoso", ALICE_ID, "set-on-a 1").unwrap();
    let took = within(Duration::from_secs(2), async || {
        bind(&b, ALICE_DN, "set-on-a 1").await == 0
    })
    .await;
    assert!(took.is_some(), "a password set on a binds on b within 2 s");

    // An SSH key added through a's admin socket (`ctl`), served by b.
    let out = tokio::process::Command::new(BIN)
        .args(["ctl", "-c"])
        .arg(&a_cfg)
        .args(["ssh-key", "add", "alice@contoso.com", KEY])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served = |s: &Server| {
        let snap = s.engine.snapshot().load_full();
        snap.iter()
            .map(|(_, e)| e)
            .filter(|e| e.first("uid") == Some("alice"))
            .any(|e| e.values("sshPublicKey").any(|k| k == KEY))
    };
    assert!(served(&a));
    let took = within(Duration::from_secs(2), async || served(&b)).await;
    assert!(took.is_some(), "a key added on a is served by b within 2 s");
    let (patched, reloaded) = b.engine.follow_counts();
    assert!(
        patched >= 1 && reloaded == 0,
        "b patched ({patched}, {reloaded})"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_stopped_replicas_keep_serving_and_binding_then_resume() {
    let pg = Cluster::start();
    let mut env = Env::contoso().await;
    let url = url_file(&env, &pg.database());
    let a = start(&replica_config(&env, "a", Some(&url))).await;
    a.engine.sync_tenant("contoso").await.expect("first round");
    o365_ldap::auth::set_password(&a.engine.store(), "contoso", ALICE_ID, "pw on a").unwrap();
    let b_cfg = replica_config(&env, "b", Some(&url));
    let b = start(&b_cfg).await;
    let before = snapshot(&b);
    assert!(before.contains_key(ALICE_DN));

    pg.stop();
    // b restarts while the database is down: it serves its cache, binds included.
    b.stop().await;
    let b = start(&b_cfg).await;
    assert_eq!(snapshot(&b), before, "the cached directory is served");
    assert_eq!(bind(&b, ALICE_DN, "pw on a").await, 0);
    // a's round cannot take the lock: it fails and changes nothing served.
    assert!(a.engine.sync_tenant("contoso").await.is_err());
    assert_eq!(snapshot(&a), before);
    // status says the store is unreachable, and since when.
    let down = within(Duration::from_secs(5), async || {
        b.engine
            .store()
            .remote()
            .and_then(|r| r.unreachable_since())
            .is_some()
    })
    .await;
    assert!(down.is_some(), "b notices the database is unreachable");
    let out = tokio::process::Command::new(BIN)
        .args(["ctl", "-c"])
        .arg(&b_cfg)
        .arg("status")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("UNREACHABLE since"), "{text}");

    pg.start_again();
    emu_mutate(
        &env,
        Mutation::CreateUser {
            user: json!({"userPrincipalName": "after.outage@contoso.com", "accountEnabled": true})
                .as_object()
                .cloned()
                .unwrap(),
        },
    )
    .await;
    let resumed = within(Duration::from_secs(15), async || {
        a.engine.sync_tenant("contoso").await.is_ok()
    })
    .await;
    assert!(resumed.is_some(), "rounds resume when the database is back");
    let followed = within(Duration::from_secs(3), async || {
        number_of(&b, "after.outage").is_some()
    })
    .await;
    assert!(followed.is_some(), "b follows again");
    assert_eq!(number_of(&b, "after.outage"), number_of(&a, "after.outage"));
    env.stop_graph().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_round_leaves_the_next_round_to_another() {
    let pg = Cluster::start();
    let env = Env::contoso().await;
    let db = pg.database();
    let url = url_file(&env, &db);
    let a_cfg = replica_config(&env, "a", Some(&url));
    let b = start(&replica_config(&env, "b", Some(&url))).await;
    b.engine.sync_tenant("contoso").await.expect("first round");
    let version = || {
        pg.sql(
            &db,
            "SELECT version FROM o365_ldap_tenants WHERE tenant = 'contoso'",
        )
    };
    let committed = version();

    // Replica a, a process of its own, starts a slow full round and is killed holding the lock.
    let mut a = tokio::process::Command::new(BIN)
        .arg("serve")
        .arg("-c")
        .arg(&a_cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sock = env.dir.path().join("a.sock");
    assert!(
        within(Duration::from_secs(20), async || sock.exists())
            .await
            .is_some(),
        "replica a started"
    );
    let emu = env.emu.as_ref().unwrap();
    emu.set_faults(emulator::Faults {
        latency_ms: 400,
        ..Default::default()
    });
    let sync = tokio::process::Command::new(BIN)
        .args(["ctl", "-c"])
        .arg(&a_cfg)
        .args(["sync", "--full"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let locked = within(Duration::from_secs(10), async || {
        pg.sql(
            &db,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
        ) != "0"
    })
    .await;
    assert!(locked.is_some(), "a holds the round lock");
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.start_kill().unwrap();
    a.wait().await.unwrap();
    drop(sync);
    assert_eq!(version(), committed, "nothing of a's round was committed");

    emu.set_faults(emulator::Faults::default());
    // b's round (as `ctl sync` runs it) gets the lock and commits.
    let opts = o365_ldap::sync::RoundOptions {
        trigger: o365_ldap::sync::Trigger::Manual,
        ..Default::default()
    };
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        b.engine.run_round("contoso", opts, None),
    )
    .await
    .expect("b's round is not blocked by the dead replica's lock");
    assert!(r.is_ok(), "{r:?}");
    assert_ne!(version(), committed);
    assert!(snapshot(&b).contains_key(ALICE_DN));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_import_keeps_every_number_name_and_password() {
    let pg = Cluster::start();
    let env = Env::contoso().await;
    // A single server on redb, with some history and a directory password.
    let single_cfg = replica_config(&env, "single", None);
    let single = start(&single_cfg).await;
    single.engine.sync_tenant("contoso").await.unwrap();
    single.engine.sync_tenant("contoso").await.unwrap();
    o365_ldap::auth::set_password(&single.engine.store(), "contoso", ALICE_ID, "kept pw").unwrap();
    let served = snapshot(&single);
    let history = single.engine.history(Some("contoso"), 50).unwrap().len();
    single.stop().await;

    let url = url_file(&env, &pg.database());
    let pg_cfg = replica_config(&env, "r1", Some(&url));
    let out = std::process::Command::new(BIN)
        .args(["store", "import", "--from"])
        .arg(env.dir.path().join("data-single"))
        .arg("-c")
        .arg(&pg_cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A second import into the same database is refused.
    let again = std::process::Command::new(BIN)
        .args(["store", "import", "--from"])
        .arg(env.dir.path().join("data-single"))
        .arg("-c")
        .arg(&pg_cfg)
        .output()
        .unwrap();
    assert!(!again.status.success());
    // A replica with an empty cache serves exactly what the single server served.
    let r1 = start(&pg_cfg).await;
    assert_eq!(snapshot(&r1), served);
    assert_eq!(bind(&r1, ALICE_DN, "kept pw").await, 0);
    assert_eq!(
        r1.engine.history(Some("contoso"), 50).unwrap().len(),
        history
    );
    // Its rounds keep the numbers.
    r1.engine.sync_tenant("contoso").await.unwrap();
    let after = snapshot(&r1);
    for (dn, attrs) in &served {
        if let Some(now) = after.get(dn) {
            let nums = |v: &Vec<String>| -> Vec<String> {
                v.iter()
                    .filter(|l| l.starts_with("uidNumber:") || l.starts_with("gidNumber:"))
                    .cloned()
                    .collect()
            };
            assert_eq!(nums(attrs), nums(now), "{dn}");
        }
    }
    assert!(after.keys().all(|dn| dn.ends_with(BASE)));
    r1.stop().await;
    // The data_dir of the single server is refused as a replica's cache.
    let reuse = replica_config(&env, "single", Some(&url));
    let cfg = o365_ldap::settings::load(&reuse).unwrap();
    let err = Server::start(cfg, false).await.err().expect("refused");
    assert!(err.to_string().contains("store import"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_connection_honours_sslmode() {
    let env = Env::contoso().await;
    let pg = Cluster::start_tls(&env.certs.server_cert, &env.certs.server_key);
    let plain = pg.database();
    let db = plain
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let at =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{}/{db}?{query}", pg.port);
    let ca = env.certs.ca_cert.display().to_string();
    let other = tempfile::tempdir().unwrap();
    let other_ca = emulator::selfsigned::generate(other.path())
        .unwrap()
        .ca_cert;

    // The server's certificate checked against its CA, host name included: TLS, and it works.
    let url = url_file(
        &env,
        &at(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
    );
    let a = start(&replica_config(&env, "a", Some(&url))).await;
    a.engine
        .sync_tenant("contoso")
        .await
        .expect("round over verified TLS");
    let tls = pg.sql(
        &plain,
        "SELECT count(*) FROM pg_stat_ssl WHERE ssl AND pid <> pg_backend_pid()",
    );
    assert_ne!(tls, "0", "the replica's connections use TLS");
    a.stop().await;

    // Another CA: the connection is refused, nothing is committed, the reason is given.
    std::fs::write(
        &url,
        at(
            "localhost",
            &format!("sslmode=verify-ca&sslrootcert={}", other_ca.display()),
        ),
    )
    .unwrap();
    let b = start(&replica_config(&env, "b", Some(&url))).await;
    let err = b
        .engine
        .sync_tenant("contoso")
        .await
        .expect_err("untrusted server");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("postgres://"),
        "the URL is not shown: {err}"
    );
    b.stop().await;

    // require: TLS without checking the certificate (as libpq), so it works.
    std::fs::write(&url, at("127.0.0.1", "sslmode=require")).unwrap();
    let c = start(&replica_config(&env, "c", Some(&url))).await;
    c.engine
        .sync_tenant("contoso")
        .await
        .expect("round over unverified TLS");
    c.stop().await;
}

#[test]
fn a_commit_from_a_replica_behind_the_database_is_refused_and_writes_nothing() {
    use directory::ids::Allocations;
    use o365_ldap::store::{Remote, Store, StoreError};
    let pg = Cluster::start();
    let url = model::Secret::new(pg.database());
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(dirs.0.path())
        .unwrap()
        .with_remote(Remote::new(&url).unwrap());
    let b = Store::open(dirs.1.path())
        .unwrap()
        .with_remote(Remote::new(&url).unwrap());
    let give = |id: &str, n: u32| {
        let mut al = Allocations::default();
        al.uid.insert(id.to_string(), n);
        al.uid_used.insert(n, id.to_string());
        al
    };
    let none = Allocations::default();
    a.commit_alloc("t", &none, &give("x", 100_001)).unwrap();
    // b has not seen a's commit: handing out numbers from its older state is refused.
    let err = b.commit_alloc("t", &none, &give("y", 100_001)).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(
        b.load_tenant("t").unwrap().alloc.uid.is_empty(),
        "nothing written"
    );
    // Caught up, b sees a's number and may hand out another.
    assert!(b.pull("t").unwrap().is_some());
    let seen = b.load_tenant("t").unwrap().alloc;
    assert_eq!(seen.uid.get("x"), Some(&100_001));
    let mut more = seen.clone();
    more.uid.insert("y".into(), 100_002);
    more.uid_used.insert(100_002, "y".into());
    b.commit_alloc("t", &seen, &more).unwrap();
    assert!(a.pull("t").unwrap().is_some());
    assert_eq!(a.load_tenant("t").unwrap().alloc, more);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_holder_deleted_and_restored_is_named_alike_on_every_replica() {
    let pg = Cluster::start();
    let env = Env::contoso().await;
    let url = url_file(&env, &pg.database());
    let a = start(&replica_config(&env, "a", Some(&url))).await;
    a.engine.sync_tenant("contoso").await.expect("first round");
    let dn_of = |s: &Server, upn: &str| {
        let snap = s.engine.snapshot().load_full();
        snap.iter()
            .map(|(_, e)| e)
            .find(|e| e.first("userPrincipalName") == Some(upn))
            .map(|e| e.dn().to_string())
    };
    // alice@contoso.com holds "alice"; alice@fabrikam.com has a suffixed name.
    assert_eq!(dn_of(&a, "alice@contoso.com").as_deref(), Some(ALICE_DN));
    let other = dn_of(&a, "alice@fabrikam.com").expect("second alice served");
    assert_ne!(other, ALICE_DN);

    // The holder is deleted; replica b starts after that, with an empty cache.
    emu_mutate(
        &env,
        Mutation::SoftDeleteUser {
            id: ALICE_ID.into(),
        },
    )
    .await;
    a.engine
        .sync_tenant("contoso")
        .await
        .expect("round after the deletion");
    assert_eq!(dn_of(&a, "alice@contoso.com"), None);
    let b = start(&replica_config(&env, "b", Some(&url))).await;
    assert_eq!(snapshot(&b), snapshot(&a));

    // Restored, and synced by b (which never saw the holder): both replicas name everyone alike.
    emu_mutate(
        &env,
        Mutation::RestoreUser {
            id: ALICE_ID.into(),
        },
    )
    .await;
    b.engine
        .sync_tenant("contoso")
        .await
        .expect("b's round after the restore");
    let same = within(Duration::from_secs(2), async || {
        snapshot(&a) == snapshot(&b)
    })
    .await;
    assert!(same.is_some(), "a serves b's round within 2 s");
    assert!(
        dn_of(&b, "alice@contoso.com").is_some(),
        "the restored holder is served"
    );
    assert_eq!(dn_of(&a, "alice@fabrikam.com"), Some(other.clone()));
    assert_eq!(
        dn_of(&b, "alice@fabrikam.com"),
        Some(other),
        "nobody's entry changes identity"
    );
    a.stop().await;
    b.stop().await;
}

/// `replica_config` with a second tenant, "second", read from the same emulator and served
/// under its own base DN.
fn two_tenant_config(env: &Env, name: &str, url: &Path) -> PathBuf {
    let path = replica_config(env, name, Some(url));
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("[[tenant]]").expect("a tenant block");
    let end = start
        + text[start..]
            .find("automatic = false")
            .expect("its sync block");
    let block = text[start..end].replace(
        "name = \"contoso\"",
        "name = \"second\"\nbase_dn = \"dc=second,dc=example\"",
    );
    std::fs::write(&path, format!("{text}\n{block}automatic = false\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_running_one_tenants_rounds_keeps_the_mirrors_when_another_is_followed() {
    let pg = Cluster::start();
    let env = Env::contoso().await;
    let url = url_file(&env, &pg.database());
    let a = start(&two_tenant_config(&env, "a", &url)).await;
    let b = start(&two_tenant_config(&env, "b", &url)).await;
    let c = start(&two_tenant_config(&env, "c", &url)).await;
    // a runs contoso's rounds, b runs second's; c runs none.
    a.engine.sync_tenant("contoso").await.expect("a's round");
    b.engine.sync_tenant("second").await.expect("b's round");
    let caught_up = within(Duration::from_secs(3), async || {
        snapshot(&a) == snapshot(&b) && snapshot(&c) == snapshot(&b)
    })
    .await;
    assert!(caught_up.is_some(), "every replica serves both tenants");
    assert!(
        snapshot(&a)
            .keys()
            .any(|dn| dn.ends_with("dc=second,dc=example")),
        "the second tenant is served"
    );
    // Each of a and b followed the other's tenant and kept the mirrors it runs rounds with;
    // c, which runs no rounds, holds none.
    assert!(a.engine.mirror_resident().await, "a runs contoso's rounds");
    assert!(b.engine.mirror_resident().await, "b runs second's rounds");
    assert!(!c.engine.mirror_resident().await, "c follows both tenants");
    // a's next contoso round patches, from the mirror it kept.
    retitle_alice(&env, "Two tenants").await;
    let r = a
        .engine
        .sync_tenant("contoso")
        .await
        .expect("a's second round");
    assert!(r.patched, "{:?}", r.mode);
    let followed = within(Duration::from_secs(3), async || {
        snapshot(&b) == snapshot(&a) && snapshot(&c) == snapshot(&a)
    })
    .await;
    assert!(followed.is_some(), "b and c follow a's round");
    assert!(
        b.engine.mirror_resident().await,
        "b still runs second's rounds"
    );
    for s in [a, b, c] {
        s.stop().await;
    }
}
