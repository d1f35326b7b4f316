//! Sync: reading tenants from Microsoft Graph into the mirror, committing each round to the
//! store in one transaction, and swapping in the snapshot derived from it. Readers never wait:
//! a failed round commits nothing and the previous snapshot keeps being served.
//!
//! The engine (`engine.rs`) starts by serving the stored directory or deriving it from the
//! stored mirror (`startup.rs`). A round (`round.rs`) prepares its result without committing
//! anything (`prepare.rs`: read Graph in full or as delta changes, merge them into the mirror,
//! derive the directory in full or as a patch of the served one, `patch_round.rs` and
//! `patch.rs`), then commits and swaps. `schedule.rs` runs rounds every `sync.interval`.

mod engine;
pub(crate) mod fetch;
mod follow;
pub(crate) mod guard;
pub mod health;
pub(crate) mod patch;
mod patch_round;
pub(crate) mod persist;
mod prepare;
mod refresh;
pub(crate) mod report;
mod round;
mod schedule;
mod startup;

use crate::store::StoreError;
use directory::derive::BuildReport;
pub use engine::SyncEngine;
pub use health::{Condition, RoundObserver, TenantHealth};
use model::mirror::merge::{self as delta, DeltaStats};
pub use report::{Changes, HistoryRecord, Mode, Outcome as HistoryOutcome, Trigger};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("internal error: {0}")]
    Internal(String),
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    #[error("tenant {tenant}: {source}")]
    Graph {
        tenant: String,
        source: graph::GraphError,
    },
    #[error("tenant {tenant}: {source}")]
    Store { tenant: String, source: StoreError },
    #[error(
        "tenant {tenant}: another replica is running this tenant's round; this replica serves its result once it commits"
    )]
    Elsewhere { tenant: String },
    #[error(
        "tenant {tenant}: a replica completed a round {ago} s ago, less than half of sync.interval; this scheduled round is skipped"
    )]
    Recent { tenant: String, ago: i64 },
    #[error("tenant {tenant}: {source}")]
    Delta {
        tenant: String,
        source: delta::DeltaError,
    },
    #[error(
        "tenant {tenant}: refused: this round would remove {removed} of {served} served users, more than sync.max_deletions allows ({limit}); nothing was changed. Check Microsoft 365, then run `o365-ldap ctl sync --tenant {tenant} --force` to apply it"
    )]
    Refused {
        tenant: String,
        removed: usize,
        served: usize,
        limit: u64,
        report: Box<RoundReport>,
    },
}

/// How a round is asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundOptions {
    pub trigger: Trigger,
    /// Read everything even when delta links are stored.
    pub full: bool,
    /// Fetch and derive, report, commit nothing.
    pub dry_run: bool,
    /// Apply a round `sync.max_deletions` would refuse.
    pub force: bool,
    /// Send the report to the notification targets (a dry run's test-sync report).
    pub notify: bool,
}

/// Progress lines for `ctl sync` while a round runs.
pub type Progress = tokio::sync::mpsc::UnboundedSender<String>;

fn say(p: Option<&Progress>, msg: impl Into<String>) {
    if let Some(p) = p {
        let _ = p.send(msg.into());
    }
}

/// What a finished round did.
#[derive(Debug, Clone, Default)]
pub struct RoundReport {
    pub tenant: String,
    pub users_read: usize,
    pub groups_read: usize,
    pub build: BuildReport,
    pub credential_used: Option<usize>,
    pub duration_ms: u128,
    pub mode: Mode,
    /// Graph was read in full (asked, first round, periodic reconcile, or expired delta link).
    pub full_read: bool,
    pub dry_run: bool,
    pub changes: Changes,
    pub delta: DeltaStats,
    /// Why a real round would be (or, with --force, was) refused by `sync.max_deletions`.
    pub would_refuse: Option<String>,
    /// The directory was patched from the changed objects rather than derived in full.
    pub patched: bool,
    /// Milliseconds spent reading Graph and merging into the mirror, and deriving.
    pub fetch_ms: u64,
    pub derive_ms: u64,
}

impl RoundReport {
    pub fn history(&self, trigger: Trigger, started: i64, ended: i64) -> HistoryRecord {
        let c = &self.changes;
        HistoryRecord {
            tenant: self.tenant.clone(),
            trigger,
            mode: self.mode,
            full_read: self.full_read,
            patched: self.patched,
            started,
            ended,
            users_read: self.users_read,
            users_added: c.users_added.len(),
            users_updated: c.users_updated.len(),
            users_removed: c.users_removed.len(),
            users_inactivated: c.users_inactivated.len(),
            groups: c.groups,
            groups_added: c.groups_added.len(),
            groups_updated: c.groups_updated.len(),
            groups_removed: c.groups_removed.len(),
            memberships_changed: self.delta.memberships_changed,
            users_active: c.users_active,
            users_inactive: c.users_inactive,
            outcome: HistoryOutcome::Ok,
            error: None,
            credential: self.credential_used,
            collisions: self
                .build
                .collisions
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} keeps it, {} gets a suffixed name",
                        c.name, c.holder, c.loser
                    )
                })
                .collect(),
        }
    }
}

/// History records kept per tenant.
pub const HISTORY_KEEP: usize = 200;

/// Free a large value on a blocking thread: dropping a 100k-user snapshot or mirror takes
/// a noticeable time that a sync round or an LDAP answer should not wait for.
fn drop_in_background<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn_blocking(move || drop(value));
        }
        Err(_) => drop(value),
    }
}
