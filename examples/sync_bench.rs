//! Benchmark (not a test): full-sync time and peak memory for a generated tenant in the Graph
//! emulator, then the time of a delta round applying 100 changes.
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
    for i in 0..100u64 {
        let m = match i % 4 {
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
                group: uuid(2, 0),
                member: uuid(1, i + 1),
            },
        };
        emu.mutate(m).await?;
    }
    let t = Instant::now();
    let r = engine.sync_tenant("bench").await?;
    println!(
        "delta round, 100 changes: {:.3}s (mode {:?}, patched {}: Graph reads and merge {} ms, derivation {} ms, {} added, {} updated, {} removed); peak RSS {} MiB",
        t.elapsed().as_secs_f64(),
        r.mode,
        r.patched,
        r.fetch_ms,
        r.derive_ms,
        r.changes.users_added.len(),
        r.changes.users_updated.len(),
        r.changes.users_removed.len(),
        peak_kib() / 1024
    );
    emu.shutdown().await;
    Ok(())
}
