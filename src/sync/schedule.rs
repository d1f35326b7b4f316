//! The scheduler: a round for every tenant with `sync.automatic` at start, then one every
//! `sync.interval`. Both are read again before each round, so a reloaded configuration's
//! interval applies from the next wait on, and `automatic = false` pauses the tenant.

use super::{RoundOptions, SyncEngine, Trigger};
use std::sync::Arc;

impl SyncEngine {
    /// Run rounds for every tenant with `sync.automatic`: one at start, then every
    /// `sync.interval`. Failures are logged and retried at the next interval.
    pub fn spawn_scheduler(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        self.config()
            .tenant
            .iter()
            .filter(|t| t.sync.automatic)
            .map(|t| {
                let engine = self.clone();
                let name = t.name.clone();
                let first_every = t.sync.interval.get();
                tokio::spawn(async move {
                    let mut trigger = Trigger::Startup;
                    loop {
                        let (automatic, every) = engine
                            .config()
                            .tenant(&name)
                            .map_or((false, first_every), |t| (t.sync.automatic, t.sync.interval.get()));
                        if !automatic {
                            tokio::time::sleep(every).await;
                            continue;
                        }
                        let opts = RoundOptions {
                            trigger,
                            ..RoundOptions::default()
                        };
                        match engine.run_round(&name, opts, None).await {
                            Ok(r) => tracing::info!(
                                tenant = %name,
                                mode = ?r.mode,
                                users = r.build.users_active,
                                groups = r.build.groups,
                                collisions = r.build.collisions.len(),
                                ms = r.duration_ms as u64,
                                "sync round committed"
                            ),
                            Err(
                                e @ (super::SyncError::Elsewhere { .. }
                                | super::SyncError::Recent { .. }),
                            ) => {
                                tracing::info!(tenant = %name, "{e}")
                            }
                            Err(e) => tracing::error!(tenant = %name, "sync round not applied, still serving the last committed directory: {e}"),
                        }
                        trigger = Trigger::Scheduled;
                        engine.set_next_run(&name, engine.clock.now_unix().saturating_add(every.as_secs() as i64));
                        tokio::time::sleep(every).await;
                    }
                })
            })
            .collect()
    }
}
