//! Operations: the metrics registry (`metrics.rs`), the HTTP listener for `/metrics`,
//! `/healthz` and `/readyz` (`http.rs`), notifications (`notify.rs`) and what ties them to the
//! sync engine: an observer of finished rounds and a watch for staleness (this file).

pub mod http;
pub mod metrics;
pub mod notify;
pub mod sd_notify;

use crate::sync::{Condition, RoundOptions, RoundReport, SyncEngine, SyncError, TenantHealth};
use notify::{Event, Kind, Notifier};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Turns finished rounds into metrics and notifications.
pub struct Observer {
    pub notifier: Notifier,
}

impl crate::sync::RoundObserver for Observer {
    fn round_finished(
        &self,
        tenant: &str,
        opts: RoundOptions,
        result: &Result<RoundReport, SyncError>,
        took: Duration,
        before: TenantHealth,
        after: TenantHealth,
    ) {
        let outcome = match result {
            Ok(_) if opts.dry_run => "dry_run",
            Ok(_) => "ok",
            Err(SyncError::Refused { .. }) => "refused",
            // Another replica ran, or is running, the tenant's round.
            Err(SyncError::Elsewhere { .. } | SyncError::Recent { .. }) => "skipped",
            Err(_) => "failed",
        };
        metrics::round(tenant, outcome, took.as_secs_f64());
        metrics::tenant_state(tenant, after.last_success, None);
        if let Some(ev) = event_for(tenant, opts, result, before.failures, after.failures) {
            self.notifier.send(ev);
        }
    }
}

/// The notification a finished round calls for, if any: the first failure of a run (later
/// ones are logged and counted; staleness follows if they go on), every refused deletion, the
/// first success after failures, and a dry run's report when asked for.
fn event_for(
    tenant: &str,
    opts: RoundOptions,
    result: &Result<RoundReport, SyncError>,
    failures_before: u32,
    failures_after: u32,
) -> Option<Event> {
    match result {
        Ok(r) if opts.dry_run => opts.notify.then(|| {
            Event::new(
                Kind::TestSync,
                tenant,
                &format!("test sync of tenant {tenant} (nothing was changed)"),
                &test_sync_text(r),
            )
        }),
        Err(e) if opts.dry_run => opts.notify.then(|| {
            Event::new(
                Kind::TestSync,
                tenant,
                &format!("test sync of tenant {tenant} failed"),
                &e.to_string(),
            )
        }),
        Ok(_) if failures_before > 0 => Some(Event::new(
            Kind::Recovered,
            tenant,
            &format!("tenant {tenant}: sync works again"),
            &format!(
                "A sync round succeeded after {failures_before} failed or refused round(s); \
                 the directory is up to date."
            ),
        )),
        Ok(_) => None,
        Err(e @ SyncError::Refused { .. }) => Some(Event::new(
            Kind::DeletionRefused,
            tenant,
            &format!("tenant {tenant}: a sync round was refused (mass deletion)"),
            &e.to_string(),
        )),
        Err(
            SyncError::UnknownTenant(_) | SyncError::Elsewhere { .. } | SyncError::Recent { .. },
        ) => None,
        Err(e) if failures_after == 1 => Some(Event::new(
            Kind::RoundFailed,
            tenant,
            &format!("tenant {tenant}: sync round failed"),
            &format!(
                "{e}\n\nThe last committed directory is still served. Further failures are \
                 logged; a notification follows if the tenant becomes stale."
            ),
        )),
        Err(_) => None,
    }
}

fn test_sync_text(r: &RoundReport) -> String {
    let c = &r.changes;
    let mut out = format!(
        "{} users and {} groups read from Microsoft 365. Would be served: {} active users, {} \
         inactive, {} groups.\nUsers that would be added: {}, updated: {}, removed: {}, \
         inactivated: {}. Groups added: {}, updated: {}, removed: {}.",
        r.users_read,
        r.groups_read,
        c.users_active,
        c.users_inactive,
        c.groups,
        c.users_added.len(),
        c.users_updated.len(),
        c.users_removed.len(),
        c.users_inactivated.len(),
        c.groups_added.len(),
        c.groups_updated.len(),
        c.groups_removed.len(),
    );
    for (label, names) in [
        ("added", &c.users_added),
        ("removed", &c.users_removed),
        ("inactivated", &c.users_inactivated),
    ] {
        if !names.is_empty() {
            let shown: Vec<&str> = names.iter().take(20).map(String::as_str).collect();
            let more = names.len().saturating_sub(shown.len());
            out.push_str(&format!("\nUsers {label}: {}", shown.join(", ")));
            if more > 0 {
                out.push_str(&format!(" and {more} more"));
            }
        }
    }
    if let Some(g) = &r.would_refuse {
        out.push_str(&format!("\nA real round would be refused: {g}"));
    }
    out
}

/// Check every tenant's staleness now and then; the first check that finds a tenant stale
/// sends one notification for that stale stretch (a success ends it).
pub fn spawn_staleness_watch(
    engine: Arc<SyncEngine>,
    notifier: Notifier,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let shortest = engine
        .config()
        .tenant
        .iter()
        .map(|t| t.sync.staleness_limit())
        .min()
        .unwrap_or(Duration::from_secs(3600));
    // A tenth of the shortest limit, between 1 s and a minute.
    let every = (shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            check_staleness(&engine, &notifier);
        }
    })
}

fn check_staleness(engine: &SyncEngine, notifier: &Notifier) {
    let now = engine.clock().now_unix();
    for t in &engine.config().tenant {
        let stale = engine.condition(&t.name) == Condition::Stale;
        let h = engine.health(&t.name);
        metrics::tenant_state(&t.name, h.last_success, Some(stale));
        let limit = t.sync.staleness_limit();
        // A tenant never synced counts from the start of the process.
        let since = h.last_success.unwrap_or_else(|| engine.started_at());
        let over = now.saturating_sub(since) > i64::try_from(limit.as_secs()).unwrap_or(i64::MAX);
        if stale && over && engine.report_stale_once(&t.name) {
            let last = match h.last_success {
                Some(t) => format!(
                    "The last successful round ended {}.",
                    model::time::generalized_time(t)
                ),
                None => "No round has succeeded yet.".into(),
            };
            tracing::error!(tenant = %t.name, "the directory is stale: no successful sync round for longer than sync.max_staleness");
            notifier.send(Event::new(
                Kind::Stale,
                &t.name,
                &format!("tenant {}: the directory is stale", t.name),
                &format!(
                    "{last} sync.max_staleness is {}. Users removed or disabled in Microsoft 365 \
                     since then are still served. Run `o365-ldap ctl sync --tenant {}` to see \
                     why rounds fail.",
                    config::Dur(limit),
                    t.name
                ),
            ));
        }
    }
}
