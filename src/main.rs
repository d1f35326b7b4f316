//! The `o365-ldap` binary: parse the command line and hand over to `o365_ldap::cli`.

use clap::Parser;
use o365_ldap::cli::{Cli, Command};
use std::process::ExitCode;

// The directory is rebuilt from many small strings on every sync round and at start-up;
// mimalloc's thread-local free lists cut that work (and the fragmentation glibc leaves behind)
// roughly in half compared with the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check { config } => o365_ldap::cli::check::run(&config),
        Command::HashPassword => o365_ldap::cli::tools::hash_password(),
        Command::Cert(cmd) => block_on(async move { o365_ldap::cli::tools::cert(&cmd) }),
        Command::Completions { shell } => {
            o365_ldap::cli::tools::completions(shell);
            0
        }
        Command::Man => block_on(async { o365_ldap::cli::tools::man() }),
        Command::Healthcheck { config } => {
            block_on(async move { o365_ldap::cli::health::healthcheck(&config).await })
        }
        Command::Ctl(args) => block_on(o365_ldap::cli::ctl::run(args)),
        Command::Store(o365_ldap::cli::StoreCommand::Import { from, config }) => {
            block_on(o365_ldap::cli::store_import::run(&config, &from))
        }
        Command::Serve { config, force } => block_on(o365_ldap::cli::serve::run(&config, force)),
        #[cfg(feature = "demo")]
        Command::Demo => block_on(o365_ldap::cli::demo::run()),
        Command::ExportLdif {
            schema: Some(target),
            ..
        } => o365_ldap::cli::export::print_schema(target),
        Command::ExportLdif { config, tenant, .. } => {
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
        // An exit code of its own (`ctl status --check`): its message is a verdict, not an error.
        Err(e) => match e.downcast_ref::<o365_ldap::cli::health::ExitWith>() {
            Some(x) => {
                eprintln!("{}", x.message);
                x.code
            }
            None => {
                eprintln!("error: {}", o365_ldap::cli::error_chain(&e));
                1
            }
        },
    }
}
