//! Benchmark (not a test): full-sync time and peak memory for a generated tenant in the Graph
//! emulator, then the time of delta rounds applying 100, 10 and 1000 changes, and of 60 more
//! 100-change rounds.
//!
//! `cargo run --release --example sync_bench -- 100000 1000` (users, groups). Peak memory is the
//! process's VmHWM and includes the emulator, which runs in the same process.

use o365_ldap::emulator::{self, EmulatorOptions, Fixture, Mutation};
use o365_ldap::store::Store;
use o365_ldap::sync::SyncEngine;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

// The same allocator as the server binary, so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TENANT: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";
const CLIENT: &str = "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const SECRET: &str = "bench-secret";

fn uuid(kind: u32, n: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

fn fixture(users: u64, groups: u64) -> String {
    let us: Vec<_> = (0..users)
        .map(|i| {
            json!({
                "id": uuid(1, i),
                "userPrincipalName": format!("user{i}@bench.example"),
                "displayName": format!("User {i}, Bench"),
                "mail": format!("user{i}@bench.example"),
                "accountEnabled": true,
                "userType": "Member",
                "department": format!("Dept {}", i % 50),
            })
        })
        .collect();
    let gs: Vec<_> = (0..groups)
        .map(|g| {
            let members: Vec<String> = (g..users)
                .step_by(groups.max(1) as usize)
                .map(|i| uuid(1, i))
                .collect();
            json!({
                "id": uuid(2, g),
                "displayName": format!("Group {g}"),
                "groupTypes": [],
                "mailEnabled": false,
                "securityEnabled": true,
                "members": members,
            })
        })
        .collect();
    json!({
        "tenant_id": TENANT,
        "organization": {"displayName": "Bench"},
        "domains": [{"id": "bench.example", "isDefault": true, "isInitial": true, "isVerified": true}],
        "apps": [{"client_id": CLIENT, "display_name": "bench", "secrets": [SECRET],
                  "permissions": ["User.Read.All", "Group.Read.All", "Domain.Read.All"]}],
        "users": us,
        "groups": gs,
    })
    .to_string()
}

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let groups: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::tempdir()?;
    let fx = Fixture::from_json(&fixture(users, groups))?;
    let emu = emulator::start(fx, EmulatorOptions::default(), "127.0.0.1:0".parse()?).await?;
    std::fs::write(dir.path().join("secret"), SECRET)?;
    let toml = format!(
        r#"
[server]
# No listener is started by this benchmark; the keys only have to validate.
ldap_listen = "127.0.0.1:0"
ldaps_listen = ""
tls_cert = ""
tls_key = ""
allow_plaintext_bind = true
data_dir = {data:?}
admin_socket = {sock:?}
[[tenant]]
name = "bench"
tenant_id = "{TENANT}"
graph_url = "{url}"
login_url = "{url}"
  [[tenant.credential]]
  client_id = "{CLIENT}"
  client_secret_file = {secret:?}
  [tenant.sync]
  automatic = false
"#,
        data = dir.path().join("data").display().to_string(),
        sock = dir.path().join("admin.sock").display().to_string(),
        url = emu.base_url(),
        secret = dir.path().join("secret").display().to_string(),
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, toml)?;
    let cfg = Arc::new(o365_ldap::config::load(&path)?);
    let store = Arc::new(Store::open(&cfg.server.data_dir)?);
    let engine = SyncEngine::load(cfg, store)?;
    let base_kib = peak_kib();
    let t = Instant::now();
    let r = engine.sync_tenant("bench").await?;
    println!(
        "full sync: {users} users, {groups} groups: {:.2}s, {} users served; peak RSS {} MiB (before the round {} MiB)",
        t.elapsed().as_secs_f64(),
        r.build.users_active,
        peak_kib() / 1024,
        base_kib / 1024
    );
    // Rounds of `n` changes: a quarter title changes, a quarter disabled accounts, a quarter new
    // users, a quarter new memberships of one group; each round touches users no earlier round
    // touched. The first is the README's "100-change delta round"; the series shows the cost
    // follows the changes, and the steady state once the snapshot overlay compacts now and then.
    let mut next = 0u64;
    let mut rounds = 0u64;
    let mut round = |n: u64| {
        let first = next;
        next += n;
        rounds += 1;
        // One group per round gains members; fixture group g holds the users i ≡ g (mod groups).
        let g = rounds % groups.max(1);
        let joiner = move |i: u64| {
            if (i + 1) % groups.max(1) == g {
                i + 2
            } else {
                i + 1
            }
        };
        (first..first + n).map(move |i| match i % 4 {
            0 => Mutation::UpdateUser {
                id: uuid(1, i),
                patch: json!({"jobTitle": format!("Title {i}")}).as_object().cloned().unwrap_or_default(),
            },
            1 => Mutation::UpdateUser {
                id: uuid(1, i),
                patch: json!({"accountEnabled": false}).as_object().cloned().unwrap_or_default(),
            },
            2 => Mutation::CreateUser {
                user: json!({"userPrincipalName": format!("new{i}@bench.example"), "accountEnabled": true})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            },
            _ => Mutation::AddMember {
                group: uuid(2, g),
                member: uuid(1, joiner(i)),
            },
        })
    };
    let mut series: Vec<(u64, f64)> = Vec::new();
    for (k, n) in [100u64, 10, 1000]
        .into_iter()
        .chain(std::iter::repeat_n(100, 60))
        .enumerate()
    {
        if k >= 3 {
            // Rounds come minutes apart in service (sync.interval); half a second is enough for a
            // background compaction of the snapshot overlay to land between two of them.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        for m in round(n) {
            emu.mutate(m).await?;
        }
        let t = Instant::now();
        let r = engine.sync_tenant("bench").await?;
        let secs = t.elapsed().as_secs_f64();
        if k < 3 {
            println!(
                "delta round, {n} changes: {secs:.3}s (mode {:?}, patched {}: Graph reads and merge {} ms, derivation {} ms, {} added, {} updated, {} removed); peak RSS {} MiB",
                r.mode,
                r.patched,
                r.fetch_ms,
                r.derive_ms,
                r.changes.users_added.len(),
                r.changes.users_updated.len(),
                r.changes.users_removed.len(),
                peak_kib() / 1024
            );
        } else {
            series.push((n, secs));
        }
    }
    let mut times: Vec<f64> = series.iter().map(|s| s.1).collect();
    times.sort_by(f64::total_cmp);
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        println!(
            "{} more 100-change rounds, 0.5 s apart: median {:.3}s, min {min:.3}s, max {max:.3}s; peak RSS {} MiB",
            times.len(),
            times[times.len() / 2],
            peak_kib() / 1024
        );
    }
    emu.shutdown().await;
    Ok(())
}
