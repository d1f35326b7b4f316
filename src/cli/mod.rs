//! The command line (README.md, "Commands"): argument parsing and one function per sub-command.

pub mod check;
pub mod ctl;
#[cfg(feature = "demo")]
pub mod demo;
pub mod export;
pub mod serve;
pub(crate) mod setpw;
pub mod store_import;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub const DEFAULT_CONFIG: &str = "config/o365-ldap.toml";

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
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Start even if the store is damaged, missing or emptied: move it aside and start
        /// empty (the next sync round refills the directory; directory passwords, SSH keys set
        /// with `ctl` and numbers of deleted users are lost). Restoring a backup is better.
        #[arg(long)]
        force: bool,
    },
    /// Validate the config and print the effective settings (secrets redacted).
    Check {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
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
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Read a password on stdin and print an argon2id PHC string for `password_hash`.
    HashPassword,
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
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}
