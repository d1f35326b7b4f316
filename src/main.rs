//! The `o365-ldap` binary: parse the command line and hand over to `o365_ldap::cli`.

use clap::Parser;
use o365_ldap::cli::{Cli, Command};
use std::io::Read;
use std::process::ExitCode;

// The directory is rebuilt from many small strings on every sync round and at start-up;
// mimalloc's thread-local free lists cut that work (and the fragmentation glibc leaves behind)
// roughly in half compared with the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check { config } => o365_ldap::cli::check::run(&config),
        Command::HashPassword => hash_password(),
        Command::Ctl(args) => block_on(o365_ldap::cli::ctl::run(args)),
        Command::Store(o365_ldap::cli::StoreCommand::Import { from, config }) => {
            block_on(o365_ldap::cli::store_import::run(&config, &from))
        }
        Command::Serve { config, force } => block_on(o365_ldap::cli::serve::run(&config, force)),
        #[cfg(feature = "demo")]
        Command::Demo => block_on(o365_ldap::cli::demo::run()),
        Command::ExportLdif { config, tenant } => {
            o365_ldap::cli::export::run(&config, tenant.as_deref())
        }
        #[cfg(feature = "demo")]
        Command::Emulator(args) => block_on(async move {
            o365_ldap::cli::serve::init_tracing(config::LogFormat::Text);
            emulator::cli::run(args).await
        }),
    };
    ExitCode::from(code as u8)
}

fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> i32 {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(f) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// The password comes from stdin (never an argument, which `ps` would show); one trailing
/// newline is removed because `echo` adds it, nothing else is trimmed.
fn hash_password() -> i32 {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read the password from stdin: {e}");
        return 1;
    }
    let pw = input
        .strip_suffix("\r\n")
        .or_else(|| input.strip_suffix('\n'))
        .unwrap_or(&input);
    if pw.is_empty() {
        eprintln!(
            "error: empty password; pipe it in, e.g. `printf '%s' \"$PW\" | o365-ldap hash-password`"
        );
        return 1;
    }
    match o365_ldap::auth::hash_password(pw) {
        Ok(h) => {
            println!("{h}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
