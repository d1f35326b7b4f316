//! The benchmark load generator (bench/compare.sh drives it): N concurrent ldap3 connections
//! run one workload for a duration against any LDAP server and report ops/s, latency
//! percentiles, errors and entries returned. `cargo run --release --example loadgen -- --help`.
//!
//! Every server gets the same operations: the workload's targets (uids, DNs, gidNumbers) are read
//! from the server itself, sorted, and visited in a fixed pseudo-random order; a fixed `check`
//! sequence run before the timed phase gives an entry count that must match across servers.

use clap::{Parser, ValueEnum};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// `(uid=X)` subtree search from the base.
    Uid,
    /// Base-scope lookup of a user DN (what SSSD does per group member).
    Base,
    /// SSSD `id`: user by uid, initgroups by member=, group by gid, member DN lookup, in turn.
    SssdId,
    /// Paged listing (500 per page) of every user; one op is the whole listing.
    Paged,
    /// Service-account simple bind, repeated on an open connection.
    Bind,
    /// New plain LDAP connection, simple bind, unbind.
    NewConn,
    /// New LDAPS connection (full TLS handshake), simple bind, unbind.
    Ldaps,
}

#[derive(Parser, Debug)]
#[command(about = "LDAP load generator for the o365-ldap vs slapd benchmark")]
struct Args {
    /// Write ca.crt, server.crt, server.key into DIR and exit.
    #[arg(long)]
    make_certs: Option<PathBuf>,
    /// Poll a `(uid=...)`-less subtree search until the server answers with an entry, print
    /// the milliseconds waited, and exit (cold-start measurement).
    #[arg(long)]
    wait_ready: bool,
    #[arg(long, default_value = "ldap://127.0.0.1:3389")]
    url: String,
    #[arg(long, default_value = "ldaps://localhost:3636")]
    ldaps_url: String,
    #[arg(long)]
    ca: Option<PathBuf>,
    #[arg(long, default_value = "dc=scale,dc=example")]
    base: String,
    #[arg(long, default_value = "")]
    bind_dn: String,
    #[arg(long, default_value = "", env = "LOADGEN_PASSWORD")]
    password: String,
    #[arg(long, value_enum, default_value = "uid")]
    workload: Workload,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of timed load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Runtime threads of the load generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Operations of the untimed check sequence whose entry count is compared across servers.
    #[arg(long, default_value_t = 400)]
    check_ops: usize,
    /// One JSON object on stdout instead of a text line.
    #[arg(long)]
    json: bool,
    /// Read a JSON-lines file of results (two labels: ours first, then the baseline), print a
    /// Markdown table with medians per workload and our ratio, and exit 2 unless every run had
    /// zero errors and both servers returned the same check entry counts.
    #[arg(long)]
    summarize: Option<PathBuf>,
    /// Label printed with the results (e.g. the server's name).
    #[arg(long, default_value = "server")]
    label: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the workloads aim at, read once from the server and sorted so that every server gets
/// the same targets in the same order.
#[derive(Default)]
struct Targets {
    uids: Vec<String>,
    user_dns: Vec<String>,
    gids: Vec<String>,
}

struct Ctx {
    args: Args,
    tls: Arc<rustls::ClientConfig>,
    targets: Targets,
}

fn tls_config(ca: Option<&PathBuf>) -> Result<Arc<rustls::ClientConfig>, BoxError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)?;
        for c in CertificateDer::pem_slice_iter(&pem) {
            roots.add(c?)?;
        }
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    ))
}

async fn connect(ctx: &Ctx, url: &str) -> Result<ldap3::Ldap, BoxError> {
    let settings = LdapConnSettings::new()
        .set_config(ctx.tls.clone())
        .set_conn_timeout(Duration::from_secs(10));
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await?;
    ldap3::drive!(conn);
    Ok(ldap)
}

async fn bind(ctx: &Ctx, ldap: &mut ldap3::Ldap) -> Result<(), BoxError> {
    if !ctx.args.bind_dn.is_empty() {
        ldap.simple_bind(&ctx.args.bind_dn, &ctx.args.password)
            .await?
            .success()?;
    }
    Ok(())
}

/// Every entry of a paged subtree search, 500 per page.
async fn paged(
    ldap: &mut ldap3::Ldap,
    base: &str,
    filter: &str,
    attrs: Vec<&'static str>,
) -> Result<Vec<SearchEntry>, BoxError> {
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(500)),
    ];
    let mut stream = ldap
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await?;
    let mut out = Vec::new();
    while let Some(e) = stream.next().await? {
        out.push(SearchEntry::construct(e));
    }
    stream.finish().await.success()?;
    Ok(out)
}

async fn load_targets(ctx: &Ctx) -> Result<Targets, BoxError> {
    let mut ldap = connect(ctx, &ctx.args.url).await?;
    bind(ctx, &mut ldap).await?;
    let users = paged(
        &mut ldap,
        &format!("ou=people,{}", ctx.args.base),
        "(objectClass=posixAccount)",
        vec!["uid"],
    )
    .await?;
    let mut t = Targets::default();
    for u in users {
        if let Some(uid) = u.attrs.get("uid").and_then(|v| v.first()) {
            t.uids.push(uid.clone());
        }
        t.user_dns.push(u.dn);
    }
    // Real groups only: user-private groups have a single member and are not what `id` walks.
    // (Not `entryUUID=*`: slapd gives every entry one.)
    let groups = paged(
        &mut ldap,
        &format!("ou=groups,{}", ctx.args.base),
        "(&(objectClass=posixGroup)(!(description=User private group of *)))",
        vec!["gidNumber"],
    )
    .await?;
    for g in groups {
        if let Some(gid) = g.attrs.get("gidNumber").and_then(|v| v.first()) {
            t.gids.push(gid.clone());
        }
    }
    t.uids.sort();
    t.user_dns.sort_by_key(|d| d.to_ascii_lowercase());
    t.gids.sort();
    let _ = ldap.unbind().await;
    if t.uids.is_empty() || t.gids.is_empty() {
        return Err("the server returned no users or no groups to aim at".into());
    }
    Ok(t)
}

/// Deterministic index for operation `i` of connection `w`.
fn pick(w: usize, i: u64, len: usize) -> usize {
    let mut z = (w as u64) << 40 ^ i ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % len.max(1) as u64) as usize
}

fn nth(v: &[String], w: usize, i: u64) -> &str {
    v.get(pick(w, i, v.len())).map(String::as_str).unwrap_or("")
}

const USER_ATTRS: &[&str] = &[
    "objectClass",
    "uid",
    "cn",
    "uidNumber",
    "gidNumber",
    "homeDirectory",
    "loginShell",
    "gecos",
    "mail",
    "memberOf",
];

async fn search(
    ldap: &mut ldap3::Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[&str],
) -> Result<u64, BoxError> {
    let (entries, _res) = ldap
        .search(base, scope, filter, attrs.to_vec())
        .await?
        .success()?;
    Ok(entries.len() as u64)
}

/// One operation on an open connection; returns the entries it received.
async fn op(ctx: &Ctx, ldap: &mut ldap3::Ldap, w: usize, i: u64) -> Result<u64, BoxError> {
    let t = &ctx.targets;
    let base = ctx.args.base.as_str();
    match ctx.args.workload {
        Workload::Uid => {
            let f = format!("(uid={})", nth(&t.uids, w, i));
            search(ldap, base, Scope::Subtree, &f, USER_ATTRS).await
        }
        Workload::Base => {
            let dn = nth(&t.user_dns, w, i);
            search(
                ldap,
                dn,
                Scope::Base,
                "(objectClass=posixAccount)",
                &["objectClass", "uid"],
            )
            .await
        }
        Workload::SssdId => match i % 4 {
            0 => {
                let f = format!(
                    "(&(uid={})(objectClass=posixAccount)(uid=*)(&(uidNumber=*)(!(uidNumber=0))))",
                    nth(&t.uids, w, i)
                );
                search(ldap, base, Scope::Subtree, &f, USER_ATTRS).await
            }
            1 => {
                let f = format!(
                    "(&(member={})(objectClass=posixGroup)(cn=*))",
                    nth(&t.user_dns, w, i)
                );
                search(
                    ldap,
                    base,
                    Scope::Subtree,
                    &f,
                    &["cn", "gidNumber", "objectClass"],
                )
                .await
            }
            2 => {
                let f = format!(
                    "(&(gidNumber={})(objectClass=posixGroup)(cn=*)(&(gidNumber=*)(!(gidNumber=0))))",
                    nth(&t.gids, w, i)
                );
                search(
                    ldap,
                    base,
                    Scope::Subtree,
                    &f,
                    &["cn", "gidNumber", "objectClass"],
                )
                .await
            }
            _ => {
                let dn = nth(&t.user_dns, w, i);
                search(
                    ldap,
                    dn,
                    Scope::Base,
                    "(objectClass=posixAccount)",
                    &["objectClass", "uid"],
                )
                .await
            }
        },
        Workload::Paged => {
            let entries = paged(
                ldap,
                &format!("ou=people,{base}"),
                "(objectClass=posixAccount)",
                vec!["uid", "uidNumber", "gidNumber", "cn"],
            )
            .await?;
            Ok(entries.len() as u64)
        }
        Workload::Bind => {
            bind(ctx, ldap).await?;
            Ok(0)
        }
        Workload::NewConn | Workload::Ldaps => {
            let url = if ctx.args.workload == Workload::Ldaps {
                &ctx.args.ldaps_url
            } else {
                &ctx.args.url
            };
            let mut fresh = connect(ctx, url).await?;
            bind(ctx, &mut fresh).await?;
            let _ = fresh.unbind().await;
            Ok(0)
        }
    }
}

#[derive(Default)]
struct WorkerResult {
    ops: u64,
    errors: u64,
    entries: u64,
    lat_us: Vec<u32>,
    first_error: Option<String>,
}

async fn worker(ctx: Arc<Ctx>, w: usize, deadline: Instant) -> WorkerResult {
    let mut r = WorkerResult::default();
    let mut ldap = match connect(&ctx, &ctx.args.url).await {
        Ok(l) => l,
        Err(e) => {
            r.errors += 1;
            r.first_error = Some(e.to_string());
            return r;
        }
    };
    if let Err(e) = bind(&ctx, &mut ldap).await {
        r.errors += 1;
        r.first_error = Some(e.to_string());
        return r;
    }
    let mut i: u64 = 1_000_000; // disjoint from the check sequence
    while Instant::now() < deadline {
        let t0 = Instant::now();
        match op(&ctx, &mut ldap, w, i).await {
            Ok(n) => {
                r.ops += 1;
                r.entries += n;
                r.lat_us
                    .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            Err(e) => {
                r.errors += 1;
                if r.first_error.is_none() {
                    r.first_error = Some(e.to_string());
                }
            }
        }
        i += 1;
    }
    let _ = ldap.unbind().await;
    r
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0) as f64 / 1000.0
}

async fn wait_ready(ctx: &Ctx) -> Result<(), BoxError> {
    let t0 = Instant::now();
    loop {
        let attempt = async {
            let mut ldap = connect(ctx, &ctx.args.url).await?;
            bind(ctx, &mut ldap).await?;
            // One entry is enough: an unindexed or unlimited query would make a busy slapd
            // pile up abandoned scans between retries.
            let n = ldap
                .with_search_options(ldap3::SearchOptions::new().sizelimit(1))
                .search(
                    &format!("ou=people,{}", ctx.args.base),
                    Scope::OneLevel,
                    "(objectClass=posixAccount)",
                    vec!["1.1"],
                )
                .await
                .map_err(BoxError::from)
                .and_then(|r| r.success().map_err(BoxError::from))
                .map(|(e, _)| e.len() as u64);
            let _ = ldap.unbind().await;
            n
        };
        // A size limit error still proves the directory is loaded; only entries matter.
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(n)) if n > 0 => break,
            Ok(Err(e)) if e.to_string().contains("rc=4") => break,
            _ => {}
        }
        if t0.elapsed() > Duration::from_secs(300) {
            return Err("the server did not answer within 300 s".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("{}", t0.elapsed().as_millis());
    Ok(())
}

async fn run(args: Args) -> Result<bool, BoxError> {
    let tls = tls_config(args.ca.as_ref())?;
    let mut ctx = Ctx {
        args,
        tls,
        targets: Targets::default(),
    };
    if ctx.args.wait_ready {
        wait_ready(&ctx).await?;
        return Ok(true);
    }
    ctx.targets = load_targets(&ctx).await?;

    // The untimed check: a fixed sequence whose entry count must match across servers.
    let mut check_entries = 0u64;
    let mut check_errors = 0u64;
    {
        let mut ldap = connect(&ctx, &ctx.args.url).await?;
        bind(&ctx, &mut ldap).await?;
        let n = if ctx.args.workload == Workload::Paged {
            1
        } else {
            ctx.args.check_ops as u64
        };
        for i in 0..n {
            match op(&ctx, &mut ldap, 0, i).await {
                Ok(e) => check_entries += e,
                Err(_) => check_errors += 1,
            }
        }
        let _ = ldap.unbind().await;
    }

    let ctx = Arc::new(ctx);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(ctx.args.duration);
    let mut tasks = Vec::new();
    for w in 0..ctx.args.connections {
        tasks.push(tokio::spawn(worker(ctx.clone(), w + 1, deadline)));
    }
    let mut total = WorkerResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => {
                total.ops += r.ops;
                total.errors += r.errors;
                total.entries += r.entries;
                total.lat_us.extend(r.lat_us);
                if total.first_error.is_none() {
                    total.first_error = r.first_error;
                }
            }
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert(e.to_string());
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    total.lat_us.sort_unstable();
    let a = &ctx.args;
    let ops_s = total.ops as f64 / secs;
    let entries_s = total.entries as f64 / secs;
    let (p50, p99, p999) = (
        percentile(&total.lat_us, 0.5),
        percentile(&total.lat_us, 0.99),
        percentile(&total.lat_us, 0.999),
    );
    let errors = total.errors + check_errors;
    if a.json {
        let v = serde_json::json!({
            "label": a.label,
            "workload": format!("{:?}", a.workload),
            "connections": a.connections,
            "seconds": secs,
            "ops": total.ops,
            "ops_per_sec": ops_s,
            "entries": total.entries,
            "entries_per_sec": entries_s,
            "p50_ms": p50,
            "p99_ms": p99,
            "p999_ms": p999,
            "errors": errors,
            "first_error": total.first_error,
            "check_entries": check_entries,
        });
        println!("{v}");
    } else {
        println!(
            "{} {:?}: {:.0} ops/s, {:.0} entries/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, {} errors{}, check entries {}",
            a.label,
            a.workload,
            ops_s,
            entries_s,
            p50,
            p99,
            p999,
            errors,
            total
                .first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            check_entries
        );
    }
    Ok(errors == 0)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.make_certs {
        return match std::fs::create_dir_all(dir)
            .map_err(|e| e.to_string())
            .and_then(|_| emulator::selfsigned::generate(dir).map_err(|e| e.to_string()))
        {
            Ok(_) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(file) = &args.summarize {
        return match summarize(file) {
            Ok(true) => std::process::ExitCode::SUCCESS,
            Ok(false) => std::process::ExitCode::from(2),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn summarize(file: &PathBuf) -> Result<bool, BoxError> {
    use std::collections::BTreeMap;
    let text = std::fs::read_to_string(file)?;
    let mut labels: Vec<String> = Vec::new();
    // workload -> label -> runs
    let mut runs: BTreeMap<String, BTreeMap<String, Vec<serde_json::Value>>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let label = v["label"].as_str().unwrap_or("?").to_string();
        let wl = v["workload"].as_str().unwrap_or("?").to_string();
        if !labels.contains(&label) {
            labels.push(label.clone());
        }
        if !order.contains(&wl) {
            order.push(wl.clone());
        }
        runs.entry(wl)
            .or_default()
            .entry(label)
            .or_default()
            .push(v);
    }
    let [ours, base] = labels.as_slice() else {
        return Err(format!(
            "expected two servers in {}, found {labels:?}",
            file.display()
        )
        .into());
    };
    let mut ok = true;
    println!(
        "| workload | {ours} ops/s (range) | {base} ops/s (range) | ratio | {ours} entries/s | {base} entries/s | {ours} p50/p99/p99.9 ms | {base} p50/p99/p99.9 ms | errors | check entries |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---|---|---|");
    for wl in &order {
        let get = |label: &str, key: &str| -> Vec<f64> {
            runs.get(wl)
                .and_then(|m| m.get(label))
                .map(|rs| rs.iter().filter_map(|r| r[key].as_f64()).collect())
                .unwrap_or_default()
        };
        let errs: f64 = get(ours, "errors")
            .iter()
            .chain(get(base, "errors").iter())
            .sum();
        let checks_o = get(ours, "check_entries");
        let checks_b = get(base, "check_entries");
        let same = !checks_o.is_empty()
            && checks_o
                .iter()
                .chain(checks_b.iter())
                .all(|c| Some(c) == checks_o.first());
        ok &= errs == 0.0 && same;
        let (oo, bo) = (
            median(get(ours, "ops_per_sec")),
            median(get(base, "ops_per_sec")),
        );
        let lat = |l: &str| {
            format!(
                "{:.2} / {:.2} / {:.2}",
                median(get(l, "p50_ms")),
                median(get(l, "p99_ms")),
                median(get(l, "p999_ms"))
            )
        };
        // The median with the spread of the repetitions (lowest–highest).
        let spread = |l: &str, key: &str| {
            let v = get(l, key);
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(0.0, f64::max);
            if v.len() > 1 {
                format!("{:.0} ({lo:.0}–{hi:.0})", median(v))
            } else {
                format!("{:.0}", median(v))
            }
        };
        println!(
            "| {wl} | {} | {} | {:.2}x | {:.0} | {:.0} | {} | {} | {errs:.0} | {} |",
            spread(ours, "ops_per_sec"),
            spread(base, "ops_per_sec"),
            if bo > 0.0 { oo / bo } else { 0.0 },
            median(get(ours, "entries_per_sec")),
            median(get(base, "entries_per_sec")),
            lat(ours),
            lat(base),
            if same {
                format!("{} (same)", checks_o.first().copied().unwrap_or(0.0))
            } else {
                format!("DIFFER: {checks_o:?} vs {checks_b:?}")
            }
        );
    }
    Ok(ok)
}
