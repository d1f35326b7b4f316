//! `o365-ldap ctl`: the admin client (DESIGN.md §6). Sends one request over the admin socket
//! named in the config and prints the answer as a human table, or as JSON with `--json`.

use crate::admin::{Request, SshKeyAction, client};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CtlArgs {
    #[arg(short, long, default_value = super::DEFAULT_CONFIG, global = true)]
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
    Status,
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
        CtlCommand::Status => Request::Status,
        CtlCommand::Sync {
            tenant,
            full,
            dry_run,
            force,
        } => Request::Sync {
            tenant: tenant.clone(),
            full: *full,
            dry_run: *dry_run,
            force: *force,
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
    } else {
        print!(
            "{}",
            match &args.command {
                CtlCommand::Status => human_status(&data),
                CtlCommand::Sync { .. } => human_sync(&data),
                CtlCommand::History { .. } => human_history(&data),
                CtlCommand::Explain { .. } => human_explain(&data),
                CtlCommand::Verify { .. } => human_verify(&data),
                CtlCommand::SshKey(_) => human_ssh_keys(&data),
                CtlCommand::SetPassword { .. } => format!(
                    "{}\n",
                    data.get("message").and_then(Value::as_str).unwrap_or("")
                ),
            }
        );
    }
    // A refused or failed round, or a failed verification, is a failing command for scripts.
    let failed = data.as_array().is_some_and(|a| {
        a.iter().any(|x| {
            x.get("outcome").is_some_and(|o| o != "ok") || x.get("ok").is_some_and(|o| o == false)
        })
    });
    if failed
        && matches!(
            args.command,
            CtlCommand::Sync { .. } | CtlCommand::Verify { .. }
        )
    {
        anyhow::bail!("not everything succeeded (see above)");
    }
    Ok(())
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(x) => x.clone(),
        other => other.to_string(),
    }
}

fn when(v: &Value) -> String {
    match v.as_i64() {
        Some(t) => {
            crate::model::time::generalized_time(t)
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

fn human_status(d: &Value) -> String {
    let rows = d
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    vec![
                        s(&t["tenant"]),
                        when(&t["last_success"]),
                        t["last_error"]
                            .get("message")
                            .map(s)
                            .unwrap_or_else(|| "-".into()),
                        s(&t["users_active"]),
                        s(&t["users_inactive"]),
                        s(&t["groups"]),
                        if t["automatic"] == true {
                            when(&t["next_run"])
                        } else {
                            "manual only".into()
                        },
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(
        &[
            "TENANT",
            "LAST SUCCESS",
            "LAST ERROR",
            "ACTIVE",
            "INACTIVE",
            "GROUPS",
            "NEXT RUN",
        ],
        rows,
    ) + &bind_lines(d)
}

/// The process-wide bind counters (the same object on every tenant row), one line per method.
fn bind_lines(d: &Value) -> String {
    let Some(binds) = d
        .get(0)
        .and_then(|t| t.get("binds"))
        .and_then(Value::as_object)
    else {
        return String::new();
    };
    let lockouts = d.get(0).and_then(|t| t.get("lockouts"));
    let mut out = String::from("\nBinds since start:\n");
    for (method, c) in binds {
        let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
        if n("ok") + n("failed") + n("throttled") + n("unavailable") > 0 {
            out.push_str(&format!(
                "  {method:<10} ok {}, failed {}, throttled {}, unavailable {}\n",
                n("ok"),
                n("failed"),
                n("throttled"),
                n("unavailable")
            ));
        }
    }
    if let Some(l) = lockouts {
        let n = |k: &str| l.get(k).and_then(Value::as_u64).unwrap_or(0);
        if n("account") + n("account_unfamiliar") + n("address") > 0 {
            out.push_str(&format!(
                "Lockouts since start: account {}, account from unfamiliar addresses {}, address {}\n",
                n("account"),
                n("account_unfamiliar"),
                n("address")
            ));
        }
    }
    out
}

fn list(out: &mut String, label: &str, v: &Value) {
    if let Some(a) = v.as_array()
        && !a.is_empty()
    {
        let names: Vec<String> = a.iter().map(s).collect();
        out.push_str(&format!("  {label} ({}): {}\n", a.len(), names.join(", ")));
    }
}

fn human_sync(d: &Value) -> String {
    let mut out = String::new();
    for t in d.as_array().into_iter().flatten() {
        let r = &t["report"];
        out.push_str(&format!(
            "tenant {}: {}{}\n",
            s(&t["tenant"]),
            s(&t["outcome"]),
            if r["dry_run"] == true {
                " (dry run: nothing was changed)"
            } else {
                ""
            }
        ));
        if !t["error"].is_null() {
            out.push_str(&format!("  {}\n", s(&t["error"])));
        }
        if r.is_null() {
            continue;
        }
        out.push_str(&format!(
            "  mode {}, Graph read {}, directory {}, {} users and {} groups read, {} ms\n",
            s(&r["mode"]),
            if r["full_read"] == true {
                "in full"
            } else {
                "as changes (delta)"
            },
            if r["patched"] == true {
                "patched"
            } else {
                "derived in full"
            },
            s(&r["users_read"]),
            s(&r["groups_read"]),
            s(&r["duration_ms"])
        ));
        let c = &r["changes"];
        let verb = if r["dry_run"] == true {
            "would be "
        } else {
            ""
        };
        list(&mut out, &format!("users {verb}added"), &c["users_added"]);
        list(
            &mut out,
            &format!("users {verb}updated"),
            &c["users_updated"],
        );
        list(
            &mut out,
            &format!("users {verb}removed"),
            &c["users_removed"],
        );
        list(
            &mut out,
            &format!("users {verb}inactivated"),
            &c["users_inactivated"],
        );
        list(&mut out, &format!("groups {verb}added"), &c["groups_added"]);
        list(
            &mut out,
            &format!("groups {verb}updated"),
            &c["groups_updated"],
        );
        list(
            &mut out,
            &format!("groups {verb}removed"),
            &c["groups_removed"],
        );
        for col in r["collisions"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  name collision: {:?} is held by {}; {} gets a suffixed name\n",
                s(&col["name"]),
                s(&col["holder"]),
                s(&col["loser"])
            ));
        }
        for n in r["notices"].as_array().into_iter().flatten() {
            out.push_str(&format!("  notice: {}\n", s(n)));
        }
        if !r["would_refuse"].is_null() {
            out.push_str(&format!("  guard: {}\n", s(&r["would_refuse"])));
        }
    }
    out
}

fn human_history(d: &Value) -> String {
    let rows = d
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| {
                    let dur = h["ended"].as_i64().unwrap_or(0) - h["started"].as_i64().unwrap_or(0);
                    vec![
                        s(&h["tenant"]),
                        when(&h["started"]),
                        s(&h["trigger"]),
                        s(&h["mode"]),
                        format!("{dur}s"),
                        format!(
                            "+{} ~{} -{}",
                            s(&h["users_added"]),
                            s(&h["users_updated"]),
                            s(&h["users_removed"])
                        ),
                        format!("{}/{}", s(&h["users_active"]), s(&h["users_inactive"])),
                        s(&h["groups"]),
                        s(&h["outcome"]),
                        s(&h["error"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
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

fn human_explain(d: &Value) -> String {
    let mut out = String::new();
    for line in d["summary"].as_array().into_iter().flatten() {
        out.push_str(&format!("NOTE: {}\n", s(line)));
    }
    for (label, key) in [
        ("tenant", "tenant"),
        ("Graph id", "id"),
        ("userPrincipalName", "upn"),
        ("mail", "mail"),
        ("displayName", "display_name"),
        ("accountEnabled", "enabled"),
        ("userType", "user_type"),
        ("guest", "guest"),
        ("UPN domain", "domain"),
    ] {
        out.push_str(&format!("{label:<18} {}\n", s(&d[key])));
    }
    out.push_str(&format!("{:<18} {}\n", "verdict", s(&d["status"])));
    out.push_str("policy, rule by rule:\n");
    for (i, r) in d["trail"].as_array().into_iter().flatten().enumerate() {
        out.push_str(&format!("  {}. {}\n", i + 1, s(r)));
    }
    if d["dn"].is_null() {
        out.push_str("not served in the directory\n");
    } else {
        for (label, key) in [
            ("DN", "dn"),
            ("uid", "uid"),
            ("uidNumber", "uid_number"),
            ("gidNumber", "gid_number"),
            ("locked", "locked"),
        ] {
            out.push_str(&format!("{label:<18} {}\n", s(&d[key])));
        }
        out.push_str("groups:\n");
        for g in d["groups"].as_array().into_iter().flatten() {
            out.push_str(&format!("  {}\n", s(g)));
        }
    }
    out
}

fn human_ssh_keys(d: &Value) -> String {
    let mut out = String::new();
    if let Some(m) = d["message"].as_str() {
        out.push_str(m);
        out.push('\n');
    }
    let keys = d["keys"].as_array().cloned().unwrap_or_default();
    if keys.is_empty() {
        out.push_str(&format!("{} has no SSH keys\n", s(&d["dn"])));
        return out;
    }
    let rows = keys
        .iter()
        .map(|k| {
            vec![
                s(&k["type"]),
                s(&k["fingerprint"]),
                s(&k["source"]),
                s(&k["comment"]),
            ]
        })
        .collect();
    out + &table(&["TYPE", "FINGERPRINT", "SOURCE", "COMMENT"], rows)
}

fn human_verify(d: &Value) -> String {
    let mut out = String::new();
    for c in d.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "tenant {} credential {} (client {}): {}\n",
            s(&c["tenant"]),
            s(&c["credential"]),
            s(&c["client_id"]),
            if c["ok"] == true { "OK" } else { "PROBLEMS" }
        ));
        for p in c["problems"].as_array().into_iter().flatten() {
            out.push_str(&format!("  - {}\n", s(p)));
        }
    }
    out
}
