//! Hostile clients over real sockets, bounded in time and count, loopback only: the attribute
//! list bomb, guesses at a service account, slow and idle connections filling the server, a log
//! flood and forged log lines, parked oversized messages, SIGHUP, and kill -9 in the middle of
//! sync rounds. What is measured here is behaviour (who is served, what is written); the speed
//! goals are measured by `bench/hostile.sh`.

use crate::common;

use crate::common::harness::{Env, Running, SERVICE, SERVICE_PASSWORD};
use crate::common::raw::{self, Raw, code, is_notice};
use ldap3_proto::proto::{LdapResultCode, LdapSearchScope};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_o365-ldap");
const WAIT: Duration = Duration::from_secs(20);
/// The service account's DN under the generated tenant (base DN from its domain).
const SCALE_SERVICE: &str = "cn=vpn,ou=services,dc=scale,dc=example";

fn long_attribute_list(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("a{i}")).collect()
}

async fn start(server_extra: &str, auth: &str) -> Running {
    let env = Env::contoso().await;
    let cfg = env.config_with(
        &format!("allow_plaintext_bind = true\n{server_extra}"),
        &format!("\n[auth]\nfailure_delay = \"0s\"\n{auth}\n"),
    );
    Running::start_with(env, cfg).await
}

fn ldap_addr(r: &Running) -> SocketAddr {
    r.server.ldap_addr().expect("LDAP listener")
}

/// A service-account search for alice from 127.0.0.1, and how long it took.
async fn service_search(addr: SocketAddr) -> (Option<LdapResultCode>, usize, Duration) {
    let started = Instant::now();
    let mut c = Raw::connect_from("127.0.0.1", addr)
        .await
        .expect("connects");
    assert_eq!(
        c.bind(1, SERVICE, SERVICE_PASSWORD).await,
        Some(LdapResultCode::Success)
    );
    c.send(raw::search(
        2,
        "uid=alice,ou=people,dc=contoso,dc=com",
        LdapSearchScope::Base,
        vec!["uid".into()],
    ))
    .await
    .expect("sends");
    let msgs = c.until_done(2, WAIT).await;
    let entries = msgs.len().saturating_sub(1);
    (msgs.last().and_then(code), entries, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_list_bombs_are_refused_and_block_nobody() {
    let r = start("", "").await;
    let addr = ldap_addr(&r);
    // Four anonymous clients, each with a ~1 MB search naming 110,000 attributes.
    let names: Vec<String> = (0..110_000).map(|i| format!("attr{i:06}")).collect();
    let bomb = raw::encode(raw::search(1, "", LdapSearchScope::Base, names));
    assert!(bomb.len() > 900_000);
    let mut hostile = Vec::new();
    for n in 2..6 {
        let bomb = bomb.clone();
        hostile.push(tokio::spawn(async move {
            let mut c = Raw::connect_from(&format!("127.0.0.{n}"), addr)
                .await
                .expect("connects");
            // The server refuses at the header and may close before the body is written.
            let _ = c.send_bytes(&bomb).await;
            c.recv(WAIT).await
        }));
    }
    let (rc, entries, took) = service_search(addr).await;
    assert_eq!((rc, entries), (Some(LdapResultCode::Success), 1));
    // A sanity bound only; bench/hostile.sh measures the latency.
    assert!(took < Duration::from_secs(5), "{took:?}");
    for h in hostile {
        let m = h.await.expect("task").expect("a notice of disconnection");
        assert!(is_notice(&m, LdapResultCode::ProtocolError), "{m:?}");
    }
    // Bound, the message fits max_pdu_size, and the list is refused by its length.
    let mut c = Raw::connect_from("127.0.0.1", addr)
        .await
        .expect("connects");
    assert_eq!(
        c.bind(1, SERVICE, SERVICE_PASSWORD).await,
        Some(LdapResultCode::Success)
    );
    c.send(raw::search(
        2,
        "dc=contoso,dc=com",
        LdapSearchScope::Subtree,
        long_attribute_list(80_000),
    ))
    .await
    .expect("sends");
    let msgs = c.until_done(2, WAIT).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(code(&msgs[0]), Some(LdapResultCode::AdminLimitExceeded));
    // The connection is still usable.
    c.send(raw::search(
        3,
        "uid=alice,ou=people,dc=contoso,dc=com",
        LdapSearchScope::Base,
        vec!["uid".into()],
    ))
    .await
    .expect("sends");
    assert_eq!(c.until_done(3, WAIT).await.len(), 2);
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_from_another_address_never_lock_the_service_account() {
    let r = start("", "").await;
    let addr = ldap_addr(&r);
    let mut gateway = Raw::connect_from("127.0.0.1", addr)
        .await
        .expect("connects");
    assert_eq!(
        gateway.bind(1, SERVICE, SERVICE_PASSWORD).await,
        Some(LdapResultCode::Success)
    );
    let mut attacker = Raw::connect_from("127.0.0.7", addr)
        .await
        .expect("connects");
    for n in 0..40 {
        let rc = attacker.bind(n + 1, SERVICE, &format!("guess-{n}")).await;
        assert_eq!(rc, Some(LdapResultCode::InvalidCredentials));
    }
    // The attacker's address is throttled, even with the right password...
    assert_eq!(
        attacker.bind(99, SERVICE, SERVICE_PASSWORD).await,
        Some(LdapResultCode::InvalidCredentials)
    );
    // ...while the gateway binds, on its open connection and on new ones.
    assert_eq!(
        gateway.bind(2, SERVICE, SERVICE_PASSWORD).await,
        Some(LdapResultCode::Success)
    );
    let (rc, entries, _) = service_search(addr).await;
    assert_eq!((rc, entries), (Some(LdapResultCode::Success), 1));
    r.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_cannot_keep_a_binding_client_out() {
    let r = start(
        "max_connections = 20\nmax_connections_per_address = 8\nanonymous_idle_timeout = \"3s\"",
        "",
    )
    .await;
    let addr = ldap_addr(&r);
    // Slowloris from one address: a header announcing 4 KiB, then nothing.
    let mut conns = Vec::new();
    for _ in 0..12 {
        let mut c = Raw::connect_from("127.0.0.2", addr)
            .await
            .expect("connects");
        let _ = c.send_bytes(&[0x30, 0x82, 0x10, 0x00, 0x02, 0x01]).await;
        conns.push(c);
    }
    let answers =
        futures::future::join_all(conns.iter_mut().map(|c| c.recv(Duration::from_secs(2)))).await;
    let mut slow = Vec::new();
    let mut refused = 0;
    for (c, answer) in conns.into_iter().zip(answers) {
        match answer {
            Some(m) if is_notice(&m, LdapResultCode::Busy) => refused += 1,
            Some(m) => panic!("{m:?}"),
            None => slow.push(c),
        }
    }
    assert_eq!((slow.len(), refused), (8, 4));
    // Idle connections from two more addresses fill the server.
    let mut idle = Vec::new();
    for n in 3..5 {
        for _ in 0..6 {
            idle.push(
                Raw::connect_from(&format!("127.0.0.{n}"), addr)
                    .await
                    .expect("connects"),
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // A client that binds gets in: the longest-idle unbound connection makes room.
    let (rc, entries, took) = service_search(addr).await;
    assert_eq!((rc, entries), (Some(LdapResultCode::Success), 1));
    assert!(took < Duration::from_secs(8), "{took:?}");
    // The slow ones are cut after anonymous_idle_timeout with a notice.
    let mut notices = 0;
    for c in slow.iter_mut().chain(idle.iter_mut()) {
        match c.recv(Duration::from_secs(6)).await {
            Some(m)
                if is_notice(&m, LdapResultCode::Unavailable)
                    || is_notice(&m, LdapResultCode::Busy) =>
            {
                notices += 1
            }
            None => {}
            Some(m) => panic!("{m:?}"),
        }
    }
    assert_eq!(notices, slow.len() + idle.len());
    r.server.stop().await;
}

/// The server binary as a child process, its stderr collected.
struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
    ldap: SocketAddr,
}

impl Serve {
    fn start(config: &std::path::Path) -> Serve {
        Serve::start_with(config, &[])
    }

    fn start_with(config: &std::path::Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "-c"])
            .arg(config)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            let mut sent = false;
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                if !sent {
                    let text = String::from_utf8_lossy(&line);
                    if let Some(at) = text.find("LDAP (StartTLS) listening on ") {
                        let addr = text[at + 29..].trim().to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
                sink.lock().unwrap().extend_from_slice(&line);
                line.clear();
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs its LDAP address");
        Serve {
            child,
            log,
            ldap: addr.parse().expect("an address"),
        }
    }

    fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_cannot_be_flooded_or_forged_and_parked_messages_cost_little() {
    let env = Env::contoso().await;
    let text = env.config_text("allow_plaintext_bind = true", "");
    let path = env.dir.path().join("serve.toml");
    std::fs::write(&path, text).unwrap();
    let serve = Serve::start(&path);
    let addr = serve.ldap;

    // A forged line and terminal escapes in a bind name.
    let forged = "x\n2026-12-06T00:00:00.000000Z  INFO o365_ldap::audit: forged\x1b[2J\x1b[31m";
    let mut c = Raw::connect_from("127.0.0.1", addr)
        .await
        .expect("connects");
    assert_eq!(
        c.bind(1, forged, "pw").await,
        Some(LdapResultCode::InvalidCredentials)
    );
    drop(c);

    // A flood: eight connections binding anonymously as fast as they can for two seconds.
    let before = serve.log_len();
    let until = Instant::now() + Duration::from_secs(2);
    let mut flooders = Vec::new();
    for _ in 0..8 {
        flooders.push(tokio::spawn(async move {
            let mut c = Raw::connect_from("127.0.0.2", addr)
                .await
                .expect("connects");
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                if c.bind(n, "", "").await != Some(LdapResultCode::Success) {
                    break;
                }
            }
            n
        }));
    }
    let mut binds = 0;
    for f in flooders {
        binds += f.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let flood_bytes = serve.log_len() - before;
    assert!(binds > 1000, "the flood sent only {binds} binds");
    // About 1 MB/s for all clients together; one address gets a few kilobytes a second.
    assert!(
        flood_bytes < 100_000,
        "{flood_bytes} bytes logged for {binds} binds"
    );

    // 300 parked connections from three addresses, each holding most of a 60 KB message.
    let rss_before = serve.rss_kib();
    let mut parked = Vec::new();
    for n in 0..300 {
        let mut c = Raw::connect_from(&format!("127.0.0.{}", 10 + n % 3), addr)
            .await
            .expect("connects");
        let mut msg = vec![0x30, 0x82, 0xea, 0x60];
        msg.extend(std::iter::repeat_n(0x04, 50_000));
        let _ = c.send_bytes(&msg).await;
        parked.push(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown_mib = serve.rss_kib().saturating_sub(rss_before) / 1024;
    assert!(
        grown_mib < 100,
        "300 parked connections cost {grown_mib} MiB"
    );
    drop(parked);

    // SIGHUP does not stop the server.
    serve.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Raw::connect_from("127.0.0.1", addr)
        .await
        .expect("connects");
    assert_eq!(c.bind(1, "", "").await, Some(LdapResultCode::Success));

    // The suppressed events are summed up within the summary period.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !serve.log_text().contains("suppressed") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = serve.log_text();
    assert!(log.contains("suppressed"), "{log}");
    assert!(!log.contains('\x1b'), "raw escape in the log");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-12-06T00:00:00.000000Z")),
        "a forged line"
    );
    assert!(log.contains("x\\n2026-12-06T00:00:00.000000Z"), "{log}");
    assert!(log.contains("SIGHUP"), "{log}");
}

/// Every served entry, as sorted LDIF blocks: what a client sees, independent of order.
async fn served(addr: SocketAddr, bind_dn: &str) -> Vec<String> {
    let out = tokio::process::Command::new("ldapsearch")
        .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H"])
        .arg(format!("ldap://{addr}"))
        .args(["-D", bind_dn, "-w", SERVICE_PASSWORD, "-b", "", "-s", "sub"])
        .args(["-E", "pr=500/noprompt", "(objectClass=*)", "*"])
        .output()
        .await
        .expect("ldapsearch runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut blocks: Vec<String> = text
        .split("\n\n")
        .map(|b| b.trim().to_string())
        .filter(|b| b.starts_with("dn:"))
        .collect();
    blocks.sort();
    blocks
}

async fn ctl(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .arg("ctl")
        .arg("-c")
        .arg(config)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("ctl runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_rounds_restarts_serving_the_state_before_or_after() {
    use emulator::scale::{self, ScaleSpec};
    use emulator::{EmulatorOptions, Mutation};
    let fx = scale::generate(ScaleSpec {
        users: 2000,
        groups: 40,
        seed: 7,
    });
    let ids: Vec<String> = fx
        .users
        .iter()
        .filter_map(|u| u.get("id")?.as_str().map(str::to_string))
        .collect();
    let emu = emulator::start(
        fx,
        EmulatorOptions::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("emulator starts");
    let env = Env::contoso().await;
    let dir = env.dir.path();
    std::fs::write(dir.join("scale.secret"), scale::CLIENT_SECRET).unwrap();
    let text = env
        .config_text("allow_plaintext_bind = true", "")
        .replace(&env.graph_url, &emu.base_url())
        .replace(common::harness::CONTOSO_TENANT_ID, emu.tenant_id())
        .replace(common::harness::CONTOSO_CLIENT_ID, scale::CLIENT_ID)
        .replace("contoso.secret", "scale.secret");
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();

    let mut serve = Serve::start(&path);
    let first = ctl(&path, &["sync", "--full"]).await;
    assert!(first.status.success(), "{first:?}");
    let mut state = served(serve.ldap, SCALE_SERVICE).await;
    assert!(state.len() > 2000);
    let mut interrupted = 0;
    // Kill points spread over a full round (milliseconds after it starts).
    for (round, kill_after) in [(0usize, 150u64), (1, 600), (2, 1500)] {
        for k in 0..60 {
            let id = ids[(round * 60 + k) * 13 % ids.len()].clone();
            let patch = serde_json::json!({"jobTitle": format!("round {round} change {k}")});
            emu.mutate(Mutation::UpdateUser {
                id,
                patch: patch.as_object().cloned().unwrap_or_default(),
            })
            .await
            .expect("mutation applies");
        }
        let sync = tokio::spawn({
            let path = path.clone();
            async move { ctl(&path, &["sync", "--full"]).await }
        });
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        serve.signal("-KILL");
        let _ = serve.child.wait();
        let interrupted_now = !sync.await.expect("ctl task").status.success();
        interrupted += usize::from(interrupted_now);
        // Restarted with automatic sync off, it serves what is on disk before Graph is asked.
        serve = Serve::start(&path);
        let after_kill = served(serve.ldap, SCALE_SERVICE).await;
        let done = ctl(&path, &["sync", "--full"]).await;
        assert!(done.status.success(), "{done:?}");
        let completed = served(serve.ldap, SCALE_SERVICE).await;
        assert!(
            after_kill == state || after_kill == completed,
            "round {round}: the restart served neither the state before nor after the round"
        );
        state = completed;
    }
    // At least one kill landed inside a round (the others may have hit after its commit).
    assert!(interrupted >= 1, "no kill interrupted a round");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_stops_the_server_with_what_to_do() {
    let env = Env::contoso().await;
    let path = env.dir.path().join("serve.toml");
    std::fs::write(&path, env.config_text("", "")).unwrap();
    let store = o365_ldap::store::Store::open(&env.data_dir()).expect("store");
    store
        .set_local_password(
            "contoso",
            "someone",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        )
        .expect("written");
    drop(store);
    let file = env.data_dir().join(o365_ldap::store::FILE_NAME);
    let mut bytes = std::fs::read(&file).unwrap();
    for b in bytes.iter_mut().take(8192) {
        *b ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&path)
        .output()
        .expect("serve runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("damaged") && err.contains("serve --force"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Emptied: refused too, not taken for a fresh install.
    std::fs::write(&file, b"").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&path)
        .output()
        .expect("serve runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty (zero bytes)"), "{err}");
    // --force starts empty and serves.
    let serve = Serve::start_with(&path, &["--force"]);
    let mut c = Raw::connect_from("127.0.0.1", serve.ldap)
        .await
        .expect("connects");
    assert_eq!(c.bind(1, "", "").await, Some(LdapResultCode::Success));
    assert!(
        serve.log_text().contains("moved aside"),
        "{}",
        serve.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_searches_held_open_cost_little_and_are_capped_per_identity() {
    use emulator::EmulatorOptions;
    use emulator::scale::{self, ScaleSpec};
    use ldap3_proto::control::LdapControl;
    use ldap3_proto::proto::{LdapMsg, LdapOp};
    let fx = scale::generate(ScaleSpec {
        users: 5000,
        groups: 20,
        seed: 11,
    });
    let emu = emulator::start(
        fx,
        EmulatorOptions::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("emulator starts");
    let env = Env::contoso().await;
    let dir = env.dir.path();
    std::fs::write(dir.join("scale.secret"), scale::CLIENT_SECRET).unwrap();
    let text = env
        .config_text("allow_plaintext_bind = true", "")
        .replace(&env.graph_url, &emu.base_url())
        .replace(common::harness::CONTOSO_TENANT_ID, emu.tenant_id())
        .replace(common::harness::CONTOSO_CLIENT_ID, scale::CLIENT_ID)
        .replace("contoso.secret", "scale.secret");
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();
    let serve = Serve::start(&path);
    let synced = ctl(&path, &["sync"]).await;
    assert!(synced.status.success(), "{synced:?}");
    let rss_before = serve.rss_kib();
    // 100 connections of one service account, each starting a paged listing of every user
    // (one entry per page) and leaving it open.
    let listing = |msgid| {
        let mut m = raw::search(
            msgid,
            "ou=people,dc=scale,dc=example",
            LdapSearchScope::OneLevel,
            vec!["uid".into()],
        );
        m.ctrl = vec![LdapControl::SimplePagedResults {
            size: 1,
            cookie: Vec::new(),
        }];
        m
    };
    let mut conns = Vec::new();
    let mut refused = 0;
    for _ in 0..100 {
        let mut c = Raw::connect_from("127.0.0.1", serve.ldap)
            .await
            .expect("connects");
        assert_eq!(
            c.bind(1, SCALE_SERVICE, SERVICE_PASSWORD).await,
            Some(LdapResultCode::Success)
        );
        c.send(listing(2)).await.expect("sends");
        let msgs: Vec<LdapMsg> = c.until_done(2, WAIT).await;
        match msgs.last().map(|m| &m.op) {
            Some(LdapOp::SearchResultDone(r)) if r.code == LdapResultCode::Success => {
                assert_eq!(msgs.len(), 2)
            }
            Some(LdapOp::SearchResultDone(r)) if r.code == LdapResultCode::AdminLimitExceeded => {
                assert!(r.message.contains("max_paged_searches_per_identity"));
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
        conns.push(c);
    }
    // The default quota is 64 per identity.
    assert_eq!(refused, 36);
    let grown_mib = serve.rss_kib().saturating_sub(rss_before) / 1024;
    assert!(
        grown_mib < 50,
        "64 open listings of 5,000 users cost {grown_mib} MiB"
    );
}
