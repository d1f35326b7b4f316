//! One round, from the caller's side: prepare it (`prepare.rs`), then record a failure, stop
//! at a dry run or at the deletion guard, or commit it — mirror, allocations, delta links, the
//! rows of the stored directory and the history record in one transaction — and swap the new
//! snapshot in.

use super::prepare::{Prepared, RoundDerivation};
use super::{
    HISTORY_KEEP, HistoryOutcome, HistoryRecord, Mode, Progress, RoundOptions, RoundReport,
    SyncEngine, SyncError, drop_in_background, patch, persist, say,
};
use crate::store::TenantState;
use config::TenantConfig;
use std::collections::HashMap;
use std::sync::Arc;

/// When a round ran, for its history record.
#[derive(Clone, Copy)]
struct Span {
    started: i64,
    ended: i64,
}

impl SyncEngine {
    /// One round for `tenant` (delta when links are stored, else full), triggered manually.
    pub async fn sync_tenant(&self, tenant: &str) -> Result<RoundReport, SyncError> {
        self.run_round(tenant, RoundOptions::default(), None).await
    }

    /// One round: read Graph (delta or full), derive, check the deletion guard, then commit
    /// mirror, allocations, delta links and the history record in one transaction and swap the
    /// snapshot. A failed or refused round commits nothing but its history record; a dry run
    /// commits only its history record.
    pub async fn run_round(
        &self,
        tenant: &str,
        opts: RoundOptions,
        progress: Option<&Progress>,
    ) -> Result<RoundReport, SyncError> {
        let started = std::time::Instant::now();
        let result = self.round(tenant, opts, progress).await;
        self.finished(tenant, opts, &result, started.elapsed());
        result
    }

    async fn round(
        &self,
        tenant: &str,
        opts: RoundOptions,
        progress: Option<&Progress>,
    ) -> Result<RoundReport, SyncError> {
        let config = self.config();
        let cfg = config
            .tenant
            .iter()
            .find(|t| t.name == tenant)
            .ok_or_else(|| SyncError::UnknownTenant(tenant.to_string()))?;
        let started = self.clock.now_unix();
        // With a shared store: one round per tenant across replicas, starting from the last
        // committed version whichever replica committed it. The lock is taken before the
        // mirror is read, so a replica whose round another one runs never reads it.
        let mut guard = self.states.lock().await;
        let _lock = match self
            .shared_round_start(tenant, opts, &mut guard, progress)
            .await
        {
            Ok(lock) => lock,
            Err(e) => {
                say(progress, format!("round not run: {e}"));
                return Err(e);
            }
        };
        let mut states = match self.loaded(guard).await {
            Ok(s) => s,
            Err(e) => {
                say(progress, format!("round failed: {e}"));
                return Err(e);
            }
        };
        let basis = self.take_basis(tenant);
        let prepared = self
            .prepare(cfg, &states, basis.as_ref(), opts, progress, started)
            .await;
        let mut prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.put_basis(tenant, basis);
                say(progress, format!("round failed: {e}"));
                let mode = if opts.dry_run {
                    Mode::DryRun
                } else {
                    Mode::Full
                };
                self.record_failure(tenant, opts, mode, started, e.to_string());
                return Err(e);
            }
        };
        let span = Span {
            started,
            ended: self.clock.now_unix(),
        };
        if opts.dry_run {
            self.put_basis(tenant, basis);
            let rec = prepared
                .report
                .history(opts.trigger, span.started, span.ended);
            self.record(tenant, &rec);
            return Ok(prepared.report);
        }
        if let Err(e) = self.check_guard(cfg, opts, &mut prepared.report, span, progress) {
            self.put_basis(tenant, basis);
            return Err(e);
        }
        self.commit(cfg, opts, prepared, basis, &mut states, span, progress)
    }

    /// The deletion guard (`sync.max_deletions`): a round that would remove too many served
    /// users is refused, and recorded as refused, unless `--force` was given.
    fn check_guard(
        &self,
        cfg: &TenantConfig,
        opts: RoundOptions,
        report: &mut RoundReport,
        span: Span,
        progress: Option<&Progress>,
    ) -> Result<(), SyncError> {
        let Some(msg) = report.would_refuse.take() else {
            return Ok(());
        };
        if opts.force {
            say(progress, format!("{msg}; applied because of --force"));
            return Ok(());
        }
        let removed = report.changes.users_removed.len();
        let served = report.changes.users_before;
        let limit = cfg.sync.max_deletions.limit(served);
        let err = SyncError::Refused {
            tenant: cfg.name.clone(),
            removed,
            served,
            limit,
            report: Box::new(report.clone()),
        };
        let mut rec = report.history(opts.trigger, span.started, span.ended);
        rec.outcome = HistoryOutcome::Refused;
        rec.error = Some(err.to_string());
        self.record(&cfg.name, &rec);
        say(progress, msg);
        Err(err)
    }

    /// Commit a prepared round in one transaction, then adopt it: the next round's basis, the
    /// served snapshot and the committed state.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        cfg: &TenantConfig,
        opts: RoundOptions,
        prepared: Prepared,
        basis: Option<patch::Basis>,
        states: &mut HashMap<String, TenantState>,
        span: Span,
        progress: Option<&Progress>,
    ) -> Result<RoundReport, SyncError> {
        let tenant = cfg.name.as_str();
        let Prepared {
            report,
            snapshot,
            state: committed,
            derived,
        } = prepared;
        let empty = TenantState::default();
        let old = states.get(tenant).unwrap_or(&empty);
        let rec = report.history(opts.trigger, span.started, span.ended);
        if let Err(e) =
            self.write_round(tenant, &report, &rec, &snapshot, &derived, old, &committed)
        {
            self.put_basis(tenant, basis);
            self.record_failure(tenant, opts, report.mode, span.started, e.to_string());
            return Err(e);
        }
        let patch_applied = match &derived {
            RoundDerivation::Patch {
                upserts, removals, ..
            } => Some((upserts.clone(), removals.clone())),
            RoundDerivation::Full => None,
        };
        let next = match derived {
            RoundDerivation::Patch { groups_changed, .. } => basis.map(|b| {
                patch::advance(
                    b,
                    report.build.clone(),
                    &report.changes,
                    &groups_changed,
                    &old.mirror,
                    &committed.mirror,
                )
            }),
            RoundDerivation::Full => Some(patch::Basis::after_full(
                report.build.clone(),
                &committed.mirror,
                &report.changes,
            )),
        };
        self.put_basis(tenant, next);
        self.note_committed(tenant);
        let snapshot = Arc::new(snapshot);
        drop_in_background(self.snapshot.swap(Arc::clone(&snapshot)));
        self.after_swap(&snapshot, patch_applied);
        drop_in_background(states.insert(tenant.to_string(), committed));
        say(progress, "committed");
        Ok(report)
    }

    /// The round's one transaction: the tenant's new state, the rows of the stored directory
    /// it rewrites (with the record of how it was derived) and its history record.
    #[allow(clippy::too_many_arguments)]
    fn write_round(
        &self,
        tenant: &str,
        report: &RoundReport,
        rec: &HistoryRecord,
        snapshot: &directory::Snapshot,
        derived: &RoundDerivation,
        old: &TenantState,
        committed: &TenantState,
    ) -> Result<(), SyncError> {
        let rec_json = serde_json::to_value(rec).unwrap_or_default();
        let before = self.snapshot.load();
        let index = self
            .config()
            .tenant
            .iter()
            .position(|t| t.name == tenant)
            .unwrap_or(0) as u16;
        let fingerprint = self.fingerprint();
        let rows = persist::info(snapshot, tenant).map(|info| match derived {
            RoundDerivation::Full => persist::changes(&before, snapshot, index, &fingerprint, info),
            RoundDerivation::Patch {
                upserts, removals, ..
            } => patch::rows(&fingerprint, info, upserts, removals),
        });
        let rows = rows.map(|mut w| {
            w.basis = Some(patch::record(&report.build, &report.changes));
            w
        });
        self.store
            .commit_round(
                tenant,
                old,
                committed,
                Some((&rec_json, HISTORY_KEEP)),
                rows.as_ref(),
            )
            .map_err(|source| SyncError::Store {
                tenant: tenant.to_string(),
                source,
            })
    }

    /// Record a round that failed before it could commit.
    fn record_failure(
        &self,
        tenant: &str,
        opts: RoundOptions,
        mode: Mode,
        started: i64,
        message: String,
    ) {
        let rec = HistoryRecord {
            tenant: tenant.to_string(),
            trigger: opts.trigger,
            mode,
            started,
            ended: self.clock.now_unix(),
            outcome: HistoryOutcome::Failed,
            error: Some(message),
            ..HistoryRecord::default()
        };
        self.record(tenant, &rec);
    }

    fn record(&self, tenant: &str, rec: &HistoryRecord) {
        let json = serde_json::to_value(rec).unwrap_or_default();
        if let Err(e) = self.store.record_history(tenant, &json, HISTORY_KEEP) {
            tracing::error!(tenant = %tenant, "cannot record the round in history: {e}");
        }
    }
}
