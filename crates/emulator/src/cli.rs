//! The `emulator` sub-command: the Graph emulator on its own, serving a fixture or a generated
//! scale tenant.

use crate::{EmulatorOptions, scale};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EmulatorArgs {
    /// Tenant fixture (JSON); see docs/emulator.md.
    #[arg(long, required_unless_present = "users", conflicts_with = "users")]
    pub fixture: Option<PathBuf>,
    /// Generate a scale tenant with this many users instead of reading a fixture.
    #[arg(long, requires = "groups")]
    pub users: Option<usize>,
    /// Groups in the generated scale tenant.
    #[arg(long, requires = "users")]
    pub groups: Option<usize>,
    /// Seed of the generated scale tenant (same seed, same tenant).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest page the emulator returns, whatever `$top` asks (shows paging on small tenants).
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
}

/// Serve until interrupted.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let opts = EmulatorOptions {
        page_size: args.page_size,
        ..Default::default()
    };
    match (args.fixture, args.users, args.groups) {
        (_, Some(users), Some(groups)) => {
            let spec = scale::ScaleSpec {
                users,
                groups,
                seed: args.seed,
            };
            scale::run_cli(spec, args.listen, opts).await
        }
        (Some(fixture), _, _) => crate::run_cli(&fixture, args.listen, opts).await,
        _ => Err(anyhow::anyhow!(
            "give --fixture FILE or --users N --groups M"
        )),
    }
}
