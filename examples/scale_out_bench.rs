//! Benchmark (not a test): replicas on one PostgreSQL, with a generated tenant in the Graph
//! emulator. Prints the full sync's commit into PostgreSQL against the same commit into redb, a
//! replica's cold start with an empty cache (read from the database) and with a filled one,
//! and the time from a 100-change round's commit on one replica until another serves it.
//!
//! `bench/scale_out.sh [USERS] [GROUPS]` starts a private PostgreSQL cluster and runs this with
//! `O365_LDAP_BENCH_PG_URL` set; by hand:
//! `O365_LDAP_BENCH_PG_URL=postgres://... cargo run --release --example scale_out_bench -- 100000 1000`.

use emulator::scale::{self, ScaleSpec};
use emulator::{EmulatorOptions, Mutation};
use o365_ldap::store::{Remote, Store};
use o365_ldap::sync::SyncEngine;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config(
    dir: &Path,
    name: &str,
    tenant: &str,
    url: &str,
    pg: bool,
) -> anyhow::Result<config::Config> {
    let store = if pg {
        format!(
            "[store]\nbackend = \"postgres\"\nurl_file = {:?}\n",
            dir.join("pg.url").display().to_string()
        )
    } else {
        String::new()
    };
    let toml = format!(
        r#"
[server]
ldap_listen = "127.0.0.1:0"
ldaps_listen = ""
tls_cert = ""
tls_key = ""
allow_plaintext_bind = true
data_dir = {data:?}
admin_socket = {sock:?}
{store}
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
        data = dir.join(format!("data-{name}")).display().to_string(),
        sock = dir.join(format!("{name}.sock")).display().to_string(),
        client = scale::CLIENT_ID,
        secret = dir.join("secret").display().to_string(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml)?;
    Ok(o365_ldap::settings::load(&path)?)
}

fn open(cfg: &config::Config) -> anyhow::Result<Store> {
    let store = Store::open(&cfg.server.data_dir)?;
    Ok(match &cfg.store.resolved_url {
        Some(url) => store.with_remote(Remote::new(url)?),
        None => store,
    })
}

/// A replica as `serve` starts one: fill an empty cache from the database, then load.
async fn replica(cfg: config::Config) -> anyhow::Result<Arc<SyncEngine>> {
    let cfg = Arc::new(cfg);
    let store = open(&cfg)?;
    let store = tokio::task::spawn_blocking(move || -> anyhow::Result<Store> {
        if store.cache_version("bench")?.is_none() {
            store.pull("bench")?;
        }
        Ok(store)
    })
    .await??;
    Ok(Arc::new(SyncEngine::load(cfg, Arc::new(store))?))
}

/// A round, and the milliseconds of its commit: the round's wall time after what its report
/// accounts for (reading Graph, merging and deriving).
async fn timed_round(e: &SyncEngine) -> anyhow::Result<(o365_ldap::sync::RoundReport, u128)> {
    let t = Instant::now();
    let r = e.sync_tenant("bench").await?;
    let commit = t.elapsed().as_millis().saturating_sub(r.duration_ms);
    Ok((r, commit))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let groups: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let url = std::env::var("O365_LDAP_BENCH_PG_URL")
        .map_err(|_| anyhow::anyhow!("set O365_LDAP_BENCH_PG_URL (bench/scale_out.sh does)"))?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("secret"), scale::CLIENT_SECRET)?;
    std::fs::write(dir.path().join("pg.url"), &url)?;
    let fx = scale::generate(ScaleSpec {
        users,
        groups,
        seed: 1,
    });
    let tenant = fx.tenant_id.clone();
    let ids: Vec<String> = fx
        .users
        .iter()
        .filter_map(|u| u.get("id").and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    let emu = emulator::start(fx, EmulatorOptions::default(), "127.0.0.1:0".parse()?).await?;
    let graph = emu.base_url();

    // The same full sync committed into redb, then into PostgreSQL.
    let single = SyncEngine::load(
        Arc::new(config(dir.path(), "redb", &tenant, &graph, false)?),
        Arc::new(open(&config(dir.path(), "redb", &tenant, &graph, false)?)?),
    )?;
    let (r, commit) = timed_round(&single).await?;
    println!(
        "full sync into redb: Graph and merge {} ms, derivation {} ms, commit {commit} ms",
        r.fetch_ms, r.derive_ms
    );
    drop(single);
    let a = replica(config(dir.path(), "a", &tenant, &graph, true)?).await?;
    let (r, commit) = timed_round(&a).await?;
    println!(
        "full sync into PostgreSQL: Graph and merge {} ms, derivation {} ms, commit {commit} ms (the database, then the replica's redb cache)",
        r.fetch_ms, r.derive_ms
    );

    // Cold starts of a second replica: empty cache (the database is read), then its cache.
    let t = Instant::now();
    let b = replica(config(dir.path(), "b", &tenant, &graph, true)?).await?;
    println!(
        "replica cold start, empty cache (read from PostgreSQL): {:.2}s, {} entries served",
        t.elapsed().as_secs_f64(),
        b.snapshot().load().len()
    );
    drop(b);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    let cfg = config(dir.path(), "b", &tenant, &graph, true)?;
    let b = Arc::new(SyncEngine::load(
        Arc::new(cfg.clone()),
        Arc::new(open(&cfg)?),
    )?);
    println!(
        "replica cold start from its cache (no database call before serving, as when it is unreachable): {:.2}s, {} entries served",
        t.elapsed().as_secs_f64(),
        b.snapshot().load().len()
    );
    b.spawn_follower();

    // 100-change rounds on a; time from a's commit until b serves the round.
    let mut times = Vec::new();
    for round in 0..5usize {
        for i in 0..100usize {
            let n = round * 100 + i;
            let m = if i % 2 == 0 {
                Mutation::UpdateUser {
                    id: ids[(n * 7919) % ids.len()].clone(),
                    patch: json!({"jobTitle": format!("Title {n}")})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                }
            } else {
                Mutation::CreateUser {
                    user: json!({"userPrincipalName": format!("new{n}@scale.example"), "accountEnabled": true})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                }
            };
            emu.mutate(m).await?;
        }
        let last = format!("new{}", round * 100 + 99);
        let (r, commit) = timed_round(&a).await?;
        let committed = Instant::now();
        loop {
            let snap = b.snapshot().load_full();
            if !snap.find_eq("uid", &last).is_empty() {
                break;
            }
            if committed.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("replica b did not serve round {round} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ms = committed.elapsed().as_millis();
        println!(
            "100-change round on a: {} ms before the commit, commit {commit} ms; served by b {ms} ms after a's commit returned",
            r.duration_ms
        );
        times.push(ms);
    }
    times.sort_unstable();
    println!(
        "commit → other replica serving: median {} ms, max {} ms over {} rounds; b patched {} and reloaded {} times",
        times[times.len() / 2],
        times[times.len() - 1],
        times.len(),
        b.follow_counts().0,
        b.follow_counts().1
    );
    emu.shutdown().await;
    Ok(())
}
