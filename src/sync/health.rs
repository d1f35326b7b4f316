//! Per tenant: when the last successful round ended, the failed or refused rounds since, and
//! whether that makes the tenant failing or stale. Read from the history at start-up and kept
//! up to date by every round, so `/readyz`, `ctl status` and the staleness watch answer without
//! reading the store. Observers (metrics, notifications) are told of every finished round.

use super::{HistoryOutcome, Mode, RoundOptions, RoundReport, SyncEngine, SyncError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One tenant's record of rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantHealth {
    /// Unix time the last successful (not dry) round ended.
    pub last_success: Option<i64>,
    /// Unix time the last failed or refused round ended.
    pub last_failure: Option<i64>,
    /// Failed or refused rounds since the last success.
    pub failures: u32,
    /// Staleness of the current stale stretch was reported (cleared by a success).
    pub stale_reported: bool,
}

/// How a tenant is doing, worst first in the order `ctl status --check` ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Ok,
    /// The last round failed or was refused; the directory is not stale yet.
    Failing,
    /// No successful round for longer than `sync.max_staleness`, or none ever.
    Stale,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Ok => "ok",
            Condition::Failing => "failing",
            Condition::Stale => "stale",
        }
    }

    /// `ctl status --check`'s exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Condition::Ok => 0,
            Condition::Failing => 1,
            Condition::Stale => 2,
        }
    }
}

impl TenantHealth {
    pub fn condition(&self, now: i64, limit: Duration) -> Condition {
        let limit = i64::try_from(limit.as_secs()).unwrap_or(i64::MAX);
        match self.last_success {
            None => Condition::Stale,
            Some(t) if now.saturating_sub(t) > limit => Condition::Stale,
            Some(_) if self.failures > 0 => Condition::Failing,
            Some(_) => Condition::Ok,
        }
    }
}

/// Told of every finished round (metrics, notifications); must not block.
pub trait RoundObserver: Send + Sync {
    fn round_finished(
        &self,
        tenant: &str,
        opts: RoundOptions,
        result: &Result<RoundReport, SyncError>,
        took: Duration,
        before: TenantHealth,
        after: TenantHealth,
    );
}

impl SyncEngine {
    /// Rebuild every tenant's record from its stored history (newest first).
    pub(super) fn health_from_history(&self) {
        for t in &self.config().tenant {
            let rows = match self.history(Some(&t.name), super::HISTORY_KEEP) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(tenant = %t.name, "cannot read the sync history: {e}");
                    continue;
                }
            };
            let mut h = TenantHealth::default();
            for r in &rows {
                if r.mode == Mode::DryRun {
                    continue;
                }
                match r.outcome {
                    HistoryOutcome::Ok => {
                        h.last_success = Some(r.ended);
                        break;
                    }
                    _ => {
                        h.last_failure = h.last_failure.or(Some(r.ended));
                        h.failures += 1;
                    }
                }
            }
            if let Ok(mut m) = self.health.lock() {
                m.insert(t.name.clone(), h);
            }
        }
    }

    /// `tenant`'s record of rounds.
    pub fn health(&self, tenant: &str) -> TenantHealth {
        self.health
            .lock()
            .ok()
            .and_then(|m| m.get(tenant).copied())
            .unwrap_or_default()
    }

    /// `tenant`'s condition now, against its `sync.max_staleness`.
    pub fn condition(&self, tenant: &str) -> Condition {
        let limit = self
            .config()
            .tenant(tenant)
            .map(|t| t.sync.staleness_limit())
            .unwrap_or(Duration::ZERO);
        self.health(tenant).condition(self.clock.now_unix(), limit)
    }

    /// Mark the current stale stretch of `tenant` as reported; false if it already was.
    pub fn report_stale_once(&self, tenant: &str) -> bool {
        let Ok(mut m) = self.health.lock() else {
            return false;
        };
        let h = m.entry(tenant.to_string()).or_default();
        !std::mem::replace(&mut h.stale_reported, true)
    }

    /// Unix time the engine was created (a tenant never synced is stale only after its limit
    /// has passed since then, for notifications).
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// Have `observer` told of every finished round (one observer; a second is ignored).
    pub fn set_observer(&self, observer: std::sync::Arc<dyn RoundObserver>) {
        let _ = self.observer.set(observer);
    }

    /// Update the record with a finished round and tell the observer.
    pub(super) fn finished(
        &self,
        tenant: &str,
        opts: RoundOptions,
        result: &Result<RoundReport, SyncError>,
        took: Duration,
    ) {
        let now = self.clock.now_unix();
        let (before, after) = {
            let Ok(mut m) = self.health.lock() else {
                return;
            };
            let h = m.entry(tenant.to_string()).or_default();
            let before = *h;
            match result {
                // A dry run changes nothing that is served, whatever its outcome.
                _ if opts.dry_run => {}
                Ok(_) => {
                    h.last_success = Some(now);
                    h.failures = 0;
                    h.stale_reported = false;
                }
                // An unknown tenant has no record to spoil; a round another replica is
                // running says nothing about this tenant's health.
                Err(SyncError::UnknownTenant(_) | SyncError::Elsewhere { .. }) => {}
                // Another replica's round succeeded `ago` seconds ago, and this replica
                // follows its commits: the directory is as current as that round.
                Err(SyncError::Recent { ago, .. }) => {
                    let at = now.saturating_sub((*ago).max(0));
                    h.last_success = Some(h.last_success.map_or(at, |s| s.max(at)));
                    h.failures = 0;
                    h.stale_reported = false;
                }
                Err(_) => {
                    h.last_failure = Some(now);
                    h.failures = h.failures.saturating_add(1);
                }
            }
            (before, *h)
        };
        if let Some(o) = self.observer.get() {
            o.round_finished(tenant, opts, result, took, before, after);
        }
    }
}
