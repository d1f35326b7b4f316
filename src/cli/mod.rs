//! The command line (DESIGN.md §6): argument parsing and one function per sub-command.

pub mod check;
pub mod ctl;
pub mod demo;
pub mod serve;
pub mod setpw;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
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
    },
    /// Validate the config and print the effective settings (secrets redacted).
    Check {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// A sample tenant in the built-in Graph emulator plus the server, on localhost.
    Demo,
    /// The Microsoft Graph emulator on its own.
    Emulator {
        /// Tenant fixture (JSON); see docs/emulator.md.
        #[arg(long)]
        fixture: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Largest page the emulator returns, whatever `$top` asks (shows paging on small tenants).
        #[arg(long, default_value_t = 100)]
        page_size: usize,
    },
    /// Read a password on stdin and print an argon2id PHC string for `password_hash`.
    HashPassword,
    /// Talk to the running server over its admin socket.
    Ctl(ctl::CtlArgs),
}
