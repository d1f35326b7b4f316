//! `o365-ldap ctl`: the admin client. Sends one request over the admin socket named in the
//! config and prints the answer (the reply types of `admin/protocol.rs`) as a human table, or
//! as the server sent it with `--json`.

use crate::admin::{
    CredentialReport, Done, Explanation, Request, RoundOutcome, RoundResult, SshKeyAction, SshKeys,
    TenantStatus, client,
};
use crate::sync::HistoryRecord;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CtlArgs {
    #[arg(short, long, env = super::CONFIG_ENV, default_value_os_t = super::default_config(), global = true)]
    pub config: PathBuf,
    /// Print the server's answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Per tenant: last success, last error, served counts, next scheduled round.
    Status {
        /// Exit 0 when every tenant is fine, 1 when a round failed (not stale yet), 2 when a
        /// tenant is stale or was never synced (for cron, Nagios and the like).
        #[arg(long)]
        check: bool,
    },
    /// Run a sync round now and wait for it.
    Sync {
        #[arg(long)]
        tenant: Option<String>,
        /// Read everything, not only the changes since the last round.
        #[arg(long)]
        full: bool,
        /// Fetch and apply policy, report what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply a round that sync.max_deletions would refuse.
        #[arg(long)]
        force: bool,
        /// With --dry-run: send the report to the [notify] webhook and e-mail (a test sync).
        #[arg(long, requires = "dry_run")]
        notify: bool,
    },
    /// Recent sync rounds.
    History {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Why a user is in, out or inactive: Graph facts, policy rules, DN, numbers, groups.
    Explain {
        /// UPN, mail, uid or Graph object id.
        who: String,
    },
    /// Get a token with each credential and probe each Graph permission the sync needs.
    Verify {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Set a user's local (directory) password, read from stdin or a no-echo prompt.
    SetPassword {
        /// DN, UPN, mail or uid of a served user.
        user: String,
        /// Remove the local password instead.
        #[arg(long)]
        remove: bool,
    },
    /// A user's admin-managed SSH public keys, served as sshPublicKey with Microsoft 365 ones.
    #[command(subcommand)]
    SshKey(SshKeyCommand),
    /// The served directory as LDIF on stdout, from the running server.
    ExportLdif {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Write a consistent copy of the store to FILE while serving (the server writes it: it
    /// must be in a directory the server may write; the file must not exist).
    Backup { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum SshKeyCommand {
    /// Add a key (one authorized_keys line); `-` or nothing reads it from stdin.
    Add {
        /// DN, UPN, mail or uid of a served user.
        user: String,
        /// The key: type, base64 and optional comment (quoted or not).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        key: Vec<String>,
    },
    /// Remove an admin-managed key, named by its line or its SHA256 fingerprint.
    Remove {
        user: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        key: Vec<String>,
    },
    /// The keys served for a user, with SHA256 fingerprints and where each comes from.
    List { user: String },
}

/// The key text of `ctl ssh-key add|remove`: the words joined, or stdin for `-` or none.
fn key_text(words: &[String]) -> anyhow::Result<String> {
    use std::io::{IsTerminal, Read};
    if !words.is_empty() && words != ["-"] {
        return Ok(words.join(" "));
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Paste the public key line, then press Ctrl-D:");
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("reading the key from stdin: {e}"))?;
    Ok(text.trim().to_string())
}

pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    let cfg = crate::settings::load(&args.config)?;
    let path = cfg.server.admin_socket.clone();
    let req = match &args.command {
        CtlCommand::Status { .. } => Request::Status,
        CtlCommand::Sync {
            tenant,
            full,
            dry_run,
            force,
            notify,
        } => Request::Sync {
            tenant: tenant.clone(),
            full: *full,
            dry_run: *dry_run,
            force: *force,
            notify: *notify,
        },
        CtlCommand::History { tenant } => Request::History {
            tenant: tenant.clone(),
        },
        CtlCommand::Explain { who } => Request::Explain { who: who.clone() },
        CtlCommand::SetPassword { user, remove } => Request::SetPassword {
            user: user.clone(),
            password: if *remove {
                None
            } else {
                Some(super::setpw::read_password()?)
            },
        },
        CtlCommand::Verify { tenant } => Request::Verify {
            tenant: tenant.clone(),
        },
        CtlCommand::ExportLdif { tenant } => Request::ExportLdif {
            tenant: tenant.clone(),
        },
        CtlCommand::Backup { file } => Request::Backup {
            path: std::path::absolute(file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
                .display()
                .to_string(),
        },
        CtlCommand::SshKey(cmd) => match cmd {
            SshKeyCommand::Add { user, key } => Request::SshKey {
                action: SshKeyAction::Add,
                user: user.clone(),
                key: Some(key_text(key)?),
            },
            SshKeyCommand::Remove { user, key } => Request::SshKey {
                action: SshKeyAction::Remove,
                user: user.clone(),
                key: Some(key_text(key)?),
            },
            SshKeyCommand::List { user } => Request::SshKey {
                action: SshKeyAction::List,
                user: user.clone(),
                key: None,
            },
        },
    };
    let json = args.json;
    let data = client::call(&path, &req, |m| {
        if !json {
            eprintln!("… {m}");
        }
    })
    .await
    .map_err(|e| match e {
        // The server's own answer needs no guess about whether it runs.
        crate::admin::AdminError::Remote(m) => anyhow::anyhow!(m),
        other => anyhow::anyhow!(
            "{other} (is `o365-ldap serve` running? server.admin_socket = {path:?})"
        ),
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&data)?);
    }
    // A refused or failed round, or a failed verification, is a failing command for scripts.
    let failed = match &args.command {
        CtlCommand::Status { check } => {
            let rows: Vec<TenantStatus> = serde_json::from_value(data.clone())
                .map_err(|e| anyhow::anyhow!("unexpected answer from the server: {e}"))?;
            if !json {
                print!("{}", human_status(&rows));
            }
            if *check {
                super::health::status_exit(&rows)?;
            }
            false
        }
        CtlCommand::Sync { .. } => show(json, &data, |d: Vec<RoundResult>| {
            let failed = d.iter().any(|r| r.outcome != RoundOutcome::Ok);
            (human_sync(&d), failed)
        })?,
        CtlCommand::History { .. } => show(json, &data, |d: Vec<HistoryRecord>| human_history(&d))?,
        CtlCommand::Explain { .. } => show(json, &data, |d: Explanation| human_explain(&d))?,
        CtlCommand::Verify { .. } => show(json, &data, |d: Vec<CredentialReport>| {
            let failed = d.iter().any(|c| !c.ok);
            (human_verify(&d), failed)
        })?,
        CtlCommand::SshKey(_) => show(json, &data, |d: SshKeys| human_ssh_keys(&d))?,
        CtlCommand::SetPassword { .. } | CtlCommand::Backup { .. } => {
            show(json, &data, |d: Done| format!("{}\n", d.message))?
        }
        CtlCommand::ExportLdif { .. } => show(json, &data, |d: crate::admin::Ldif| d.ldif)?,
    };
    if failed {
        anyhow::bail!("not everything succeeded (see above)");
    }
    Ok(())
}

/// What a human view gives: the text, and whether the command failed (a refused or failed
/// round, a failed verification).
trait Shown {
    fn parts(self) -> (String, bool);
}

impl Shown for String {
    fn parts(self) -> (String, bool) {
        (self, false)
    }
}

impl Shown for (String, bool) {
    fn parts(self) -> (String, bool) {
        self
    }
}

/// Read the server's answer as the command's reply type; print its human view unless `--json`
/// printed the answer already. Returns whether the command failed.
fn show<T: DeserializeOwned, S: Shown>(
    json: bool,
    data: &Value,
    view: impl FnOnce(T) -> S,
) -> anyhow::Result<bool> {
    let reply: T = serde_json::from_value(data.clone())
        .map_err(|e| anyhow::anyhow!("unexpected answer from the server: {e}"))?;
    let (text, failed) = view(reply).parts();
    if !json {
        print!("{text}");
    }
    Ok(failed)
}

/// A value as the tables show it: `-` for none, strings as they are, the wire spelling of
/// enums (`dry_run`, `ok`).
fn s(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::Null) | Err(_) => "-".into(),
        Ok(Value::String(x)) => x,
        Ok(other) => other.to_string(),
    }
}

fn when(t: Option<i64>) -> String {
    match t {
        Some(t) => {
            model::time::generalized_time(t)
                .trim_end_matches('Z')
                .chars()
                .enumerate()
                .fold(String::new(), |mut acc, (i, c)| {
                    if matches!(i, 4 | 6) {
                        acc.push('-');
                    } else if i == 8 {
                        acc.push(' ');
                    } else if matches!(i, 10 | 12) {
                        acc.push(':');
                    }
                    acc.push(c);
                    acc
                })
                + " UTC"
        }
        None => "-".into(),
    }
}

fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let width = w.get(i).copied().unwrap_or(0);
            out.push_str(&format!("{c:<width$}  "));
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(head.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

fn human_status(d: &[TenantStatus]) -> String {
    let rows = d
        .iter()
        .map(|t| {
            vec![
                t.tenant.clone(),
                t.condition.map_or("-", |c| c.as_str()).to_string(),
                when(t.last_success),
                t.last_error
                    .as_ref()
                    .map(|e| s(&e.message))
                    .unwrap_or_else(|| "-".into()),
                s(&t.users_active),
                s(&t.users_inactive),
                s(&t.groups),
                if t.automatic {
                    when(t.next_run)
                } else {
                    "manual only".into()
                },
            ]
        })
        .collect();
    table(
        &[
            "TENANT",
            "STATE",
            "LAST SUCCESS",
            "LAST ERROR",
            "ACTIVE",
            "INACTIVE",
            "GROUPS",
            "NEXT RUN",
        ],
        rows,
    ) + &store_lines(d)
        + &bind_lines(d)
}

/// The shared store's state, when the backend is PostgreSQL.
fn store_lines(d: &[TenantStatus]) -> String {
    let Some(st) = d.iter().find_map(|t| t.store.as_ref()) else {
        return String::new();
    };
    let mut out = match st.unreachable_since {
        Some(since) => format!(
            "\nShared store (PostgreSQL): UNREACHABLE since {}; serving this replica's cache (binds included), rounds resume when it answers\n",
            when(Some(since))
        ),
        None => "\nShared store (PostgreSQL): reachable\n".to_string(),
    };
    for t in d {
        if let Some(v) = t.store.as_ref().and_then(|s| s.version) {
            out.push_str(&format!("  {}: serving version {v}\n", t.tenant));
        }
    }
    out
}

/// The process-wide bind counters (the same on every tenant row), one line per method.
fn bind_lines(d: &[TenantStatus]) -> String {
    let Some(first) = d.first() else {
        return String::new();
    };
    let mut out = String::from("\nBinds since start:\n");
    for (method, c) in &first.binds {
        if c.ok + c.failed + c.throttled + c.unavailable > 0 {
            out.push_str(&format!(
                "  {method:<10} ok {}, failed {}, throttled {}, unavailable {}\n",
                c.ok, c.failed, c.throttled, c.unavailable
            ));
        }
    }
    let l = &first.lockouts;
    if l.account + l.account_unfamiliar + l.address > 0 {
        out.push_str(&format!(
            "Lockouts since start: account {}, account from unfamiliar addresses {}, address {}\n",
            l.account, l.account_unfamiliar, l.address
        ));
    }
    out
}

fn list(out: &mut String, label: &str, names: &[String]) {
    if !names.is_empty() {
        out.push_str(&format!(
            "  {label} ({}): {}\n",
            names.len(),
            names.join(", ")
        ));
    }
}

fn human_sync(d: &[RoundResult]) -> String {
    let mut out = String::new();
    for t in d {
        let dry_run = t.report.as_ref().is_some_and(|r| r.dry_run);
        out.push_str(&format!(
            "tenant {}: {}{}\n",
            t.tenant,
            s(&t.outcome),
            if dry_run {
                " (dry run: nothing was changed)"
            } else {
                ""
            }
        ));
        if let Some(e) = &t.error {
            out.push_str(&format!("  {e}\n"));
        }
        let Some(r) = &t.report else {
            continue;
        };
        out.push_str(&format!(
            "  mode {}, Graph read {}, directory {}, {} users and {} groups read, {} ms\n",
            s(&r.mode),
            if r.full_read {
                "in full"
            } else {
                "as changes (delta)"
            },
            if r.patched {
                "patched"
            } else {
                "derived in full"
            },
            r.users_read,
            r.groups_read,
            r.duration_ms
        ));
        let c = &r.changes;
        let verb = if r.dry_run { "would be " } else { "" };
        list(&mut out, &format!("users {verb}added"), &c.users_added);
        list(&mut out, &format!("users {verb}updated"), &c.users_updated);
        list(&mut out, &format!("users {verb}removed"), &c.users_removed);
        list(
            &mut out,
            &format!("users {verb}inactivated"),
            &c.users_inactivated,
        );
        list(&mut out, &format!("groups {verb}added"), &c.groups_added);
        list(
            &mut out,
            &format!("groups {verb}updated"),
            &c.groups_updated,
        );
        list(
            &mut out,
            &format!("groups {verb}removed"),
            &c.groups_removed,
        );
        for col in &r.collisions {
            out.push_str(&format!(
                "  name collision: {:?} is held by {}; {} gets a suffixed name\n",
                col.name, col.holder, col.loser
            ));
        }
        for n in &r.notices {
            out.push_str(&format!("  notice: {n}\n"));
        }
        if let Some(g) = &r.would_refuse {
            out.push_str(&format!("  guard: {g}\n"));
        }
    }
    out
}

fn human_history(d: &[HistoryRecord]) -> String {
    let rows = d
        .iter()
        .map(|h| {
            vec![
                h.tenant.clone(),
                when(Some(h.started)),
                s(&h.trigger),
                s(&h.mode),
                format!("{}s", h.ended - h.started),
                format!(
                    "+{} ~{} -{}",
                    h.users_added, h.users_updated, h.users_removed
                ),
                format!("{}/{}", h.users_active, h.users_inactive),
                s(&h.groups),
                s(&h.outcome),
                s(&h.error),
            ]
        })
        .collect();
    table(
        &[
            "TENANT",
            "STARTED",
            "TRIGGER",
            "MODE",
            "TOOK",
            "USERS +~-",
            "ACT/INACT",
            "GROUPS",
            "OUTCOME",
            "ERROR",
        ],
        rows,
    )
}

fn human_explain(d: &Explanation) -> String {
    let mut out = String::new();
    for line in &d.summary {
        out.push_str(&format!("NOTE: {line}\n"));
    }
    for (label, value) in [
        ("tenant", s(&d.tenant)),
        ("Graph id", s(&d.id)),
        ("userPrincipalName", s(&d.upn)),
        ("mail", s(&d.mail)),
        ("displayName", s(&d.display_name)),
        ("accountEnabled", s(&d.enabled)),
        ("userType", s(&d.user_type)),
        ("guest", s(&d.guest)),
        ("UPN domain", s(&d.domain)),
    ] {
        out.push_str(&format!("{label:<18} {value}\n"));
    }
    out.push_str(&format!("{:<18} {}\n", "verdict", s(&d.status)));
    out.push_str("policy, rule by rule:\n");
    for (i, r) in d.trail.iter().enumerate() {
        out.push_str(&format!("  {}. {r}\n", i + 1));
    }
    if d.dn.is_none() {
        out.push_str("not served in the directory\n");
    } else {
        for (label, value) in [
            ("DN", s(&d.dn)),
            ("uid", s(&d.uid)),
            ("uidNumber", s(&d.uid_number)),
            ("gidNumber", s(&d.gid_number)),
            ("locked", s(&d.locked)),
        ] {
            out.push_str(&format!("{label:<18} {value}\n"));
        }
        out.push_str("groups:\n");
        for g in &d.groups {
            out.push_str(&format!("  {g}\n"));
        }
    }
    out
}

fn human_ssh_keys(d: &SshKeys) -> String {
    let mut out = String::new();
    if let Some(m) = &d.message {
        out.push_str(m);
        out.push('\n');
    }
    if d.keys.is_empty() {
        out.push_str(&format!("{} has no SSH keys\n", d.dn));
        return out;
    }
    let rows = d
        .keys
        .iter()
        .map(|k| {
            vec![
                k.key_type.clone(),
                k.fingerprint.clone(),
                k.source.clone(),
                s(&k.comment),
            ]
        })
        .collect();
    out + &table(&["TYPE", "FINGERPRINT", "SOURCE", "COMMENT"], rows)
}

fn human_verify(d: &[CredentialReport]) -> String {
    let mut out = String::new();
    for c in d {
        out.push_str(&format!(
            "tenant {} credential {} (client {}): {}\n",
            c.tenant,
            c.credential,
            c.client_id,
            if c.ok { "OK" } else { "PROBLEMS" }
        ));
        for p in &c.problems {
            out.push_str(&format!("  - {p}\n"));
        }
    }
    out
}
