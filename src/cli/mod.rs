//! The command line (README.md, "Commands"): argument parsing and one function per sub-command.

pub mod check;
pub mod ctl;
#[cfg(feature = "demo")]
pub mod demo;
pub mod export;
pub mod health;
mod reload;
pub mod serve;
pub(crate) mod setpw;
pub mod store_import;
pub mod tools;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Where the package and docs/operations.md install the config: `-c`'s default when neither it
/// nor `O365_LDAP_CONFIG` is given and the file exists.
pub const DEFAULT_CONFIG: &str = "/etc/o365-ldap/o365-ldap.toml";

/// `-c`'s default without `/etc/o365-ldap/o365-ldap.toml`: the path a checkout of this
/// repository (and every guide written before the package existed) uses.
pub const LOCAL_CONFIG: &str = "config/o365-ldap.toml";

/// `-c`'s default: the installed config when there is one, else `config/o365-ldap.toml`, so
/// both `ctl status` after the package's install and a server run from a checkout find theirs.
pub fn default_config() -> PathBuf {
    let installed = std::path::Path::new(DEFAULT_CONFIG);
    if installed.exists() {
        installed.to_path_buf()
    } else {
        PathBuf::from(LOCAL_CONFIG)
    }
}

/// The environment variable that replaces `DEFAULT_CONFIG`.
pub const CONFIG_ENV: &str = "O365_LDAP_CONFIG";

/// An error and its causes on one line, each cause once: many errors already include their
/// cause's text in their own message, which `{:#}` would then print twice.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[derive(Parser, Debug)]
#[command(
    name = "o365-ldap",
    version,
    about = "An LDAP directory served from a Microsoft 365 (Entra ID) tenant"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: sync scheduler, LDAP/LDAPS listeners.
    Serve {
        #[arg(short, long, env = CONFIG_ENV, default_value_os_t = default_config())]
        config: PathBuf,
        /// Start even if the store is damaged, missing or emptied: move it aside and start
        /// empty (the next sync round refills the directory; directory passwords, SSH keys set
        /// with `ctl` and numbers of deleted users are lost). Restoring a backup is better.
        #[arg(long)]
        force: bool,
    },
    /// Validate the config and print the effective settings (secrets redacted).
    Check {
        #[arg(short, long, env = CONFIG_ENV, default_value_os_t = default_config())]
        config: PathBuf,
    },
    /// A sample tenant in the built-in Graph emulator plus the server, on localhost.
    #[cfg(feature = "demo")]
    Demo,
    /// The Microsoft Graph emulator on its own.
    #[cfg(feature = "demo")]
    Emulator(emulator::cli::EmulatorArgs),
    /// Print the served directory as LDIF (RFC 2849) from the store; the server must be
    /// stopped (redb allows one process at a time), or point the config at a copy of data_dir.
    ExportLdif {
        #[arg(short, long, env = CONFIG_ENV, default_value_os_t = default_config())]
        config: PathBuf,
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Print the schema file the target server needs to load the LDIF with schema
        /// checking (`slapd` or `389ds`) instead of the entries.
        #[arg(long, value_name = "SERVER")]
        schema: Option<export::SchemaFor>,
    },
    /// Exit 0 when the running server is ready: every tenant served and not stale (asks
    /// /readyz when server.http_listen is set, else the admin socket).
    Healthcheck {
        #[arg(short, long, env = CONFIG_ENV, default_value_os_t = default_config())]
        config: PathBuf,
    },
    /// Print an argon2id PHC string for `password_hash`: the password from a no-echo prompt,
    /// or from stdin when it is not a terminal.
    HashPassword,
    /// Certificates for LDAPS.
    #[command(subcommand)]
    Cert(tools::CertCommand),
    /// Shell completions on stdout (e.g. `o365-ldap completions bash >
    /// /usr/share/bash-completion/completions/o365-ldap`).
    Completions { shell: clap_complete::Shell },
    /// The man page (roff) on stdout (`o365-ldap man | man -l -`).
    Man,
    /// Talk to the running server over its admin socket.
    Ctl(ctl::CtlArgs),
    /// The shared PostgreSQL store (`[store] backend = "postgres"`).
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy a single server's redb store (its data_dir) into the configured PostgreSQL
    /// database: mirror, every number and name ever handed out, the directory, history,
    /// directory passwords and SSH keys, unchanged. Stop that server first.
    Import {
        /// The data_dir holding o365-ldap.redb.
        #[arg(long)]
        from: PathBuf,
        #[arg(short, long, env = CONFIG_ENV, default_value_os_t = default_config())]
        config: PathBuf,
    },
}
