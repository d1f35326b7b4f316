//! Benchmark (not a test): full-sync time and peak memory for a generated tenant in the Graph
//! emulator, then the time of delta rounds applying 100, 10 and 1000 changes, and of 60 more
//! 100-change rounds.
//!
//! `cargo run --release --example sync_bench -- 100000 1000` (users, groups). Peak memory is the
//! process's VmHWM and includes the emulator, which runs in the same process.

use emulator::scale::{self, ScaleSpec};
use emulator::{self as _, EmulatorOptions, Mutation};
use o365_ldap::store::Store;
use o365_ldap::sync::SyncEngine;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

// The same allocator as the server binary, so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = emulator::scale::CLIENT_SECRET;

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
    // The tenant `o365-ldap emulator --users N --groups M --seed 1` serves (what
    // bench/compare.sh syncs): departments of thousands, nested and duplicate groups.
    let fx = scale::generate(ScaleSpec {
        users: users as usize,
        groups: groups as usize,
        seed: 1,
    });
    let tenant = fx.tenant_id.clone();
    let user_ids: Vec<String> = fx
        .users
        .iter()
        .filter_map(|u| u.get("id").and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    // A plain (non-department) group gains the new memberships; its members, to skip them.
    let (group_id, in_group): (String, std::collections::HashSet<String>) = fx
        .groups
        .iter()
        .filter(|g| {
            g.get("displayName")
                .and_then(|v| v.as_str())
                .is_some_and(|n| !n.starts_with("dept-"))
        })
        .find_map(|g| {
            let id = g.get("id")?.as_str()?.to_string();
            let members = g
                .get("members")
                .and_then(|m| m.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Some((id, members))
        })
        .ok_or_else(|| anyhow::anyhow!("the generated tenant has no plain group"))?;
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
tenant_id = "{tenant}"
graph_url = "{url}"
login_url = "{url}"
  [[tenant.credential]]
  client_id = "{client}"
  client_secret_file = {secret:?}
  [tenant.sync]
  automatic = false
"#,
        data = dir.path().join("data").display().to_string(),
        sock = dir.path().join("admin.sock").display().to_string(),
        url = emu.base_url(),
        client = scale::CLIENT_ID,
        secret = dir.path().join("secret").display().to_string(),
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, toml)?;
    let cfg = Arc::new(o365_ldap::settings::load(&path)?);
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
    let mut next = 0usize;
    let mut round = |n: u64| {
        let first = next;
        next += n as usize;
        let mut out = Vec::new();
        for i in first..first + n as usize {
            let id = || user_ids[(i * 7919) % user_ids.len()].clone();
            out.push(match i % 4 {
                0 => Mutation::UpdateUser {
                    id: id(),
                    patch: json!({"jobTitle": format!("Title {i}")}).as_object().cloned().unwrap_or_default(),
                },
                1 => Mutation::UpdateUser {
                    id: id(),
                    patch: json!({"accountEnabled": false}).as_object().cloned().unwrap_or_default(),
                },
                2 => Mutation::CreateUser {
                    user: json!({"userPrincipalName": format!("new{i}@scale.example"), "accountEnabled": true})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                },
                _ => {
                    let mut j = i;
                    while in_group.contains(&user_ids[(j * 7919) % user_ids.len()]) {
                        j += user_ids.len() / 2 + 1;
                    }
                    Mutation::AddMember {
                        group: group_id.clone(),
                        member: user_ids[(j * 7919) % user_ids.len()].clone(),
                    }
                }
            });
        }
        out
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
