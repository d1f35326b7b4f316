//! Notifications: what happened (a failed round, recovery, staleness, a refused mass
//! deletion, a test-sync report) sent to `[notify]`'s webhook as JSON (Teams and Slack incoming
//! webhooks show its `text`) and as e-mail through Graph `sendMail` with the tenant's own
//! credential. Events are queued and sent by one background task, each retried a few times:
//! a round never waits for a notification, and a failure to notify is logged, not fatal.

use config::{Config, NotifyConfig};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Attempts per target and event, and the wait before the second (doubling after).
const ATTEMPTS: u32 = 3;
const FIRST_RETRY: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    RoundFailed,
    Recovered,
    Stale,
    DeletionRefused,
    TestSync,
}

/// One event, as the webhook receives it (the JSON body).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// What a chat client shows: one line of summary, then details.
    pub text: String,
    pub event: Kind,
    pub tenant: String,
    /// `critical`, `warning` or `info`.
    pub severity: &'static str,
    /// Unix time of the event.
    pub time: i64,
    /// The server's host name, so several servers can share one channel.
    pub host: String,
}

impl Event {
    pub fn new(kind: Kind, tenant: &str, summary: &str, details: &str) -> Event {
        let severity = match kind {
            Kind::RoundFailed | Kind::DeletionRefused => "warning",
            Kind::Stale => "critical",
            Kind::Recovered | Kind::TestSync => "info",
        };
        let host = host_name();
        let mut text = format!("o365-ldap on {host}: {summary}");
        if !details.is_empty() {
            text.push_str("\n\n");
            text.push_str(details);
        }
        Event {
            text,
            event: kind,
            tenant: tenant.to_string(),
            severity,
            time: model::time::SystemClock.now_unix(),
            host,
        }
    }

    fn subject(&self) -> String {
        let first = self.text.lines().next().unwrap_or_default();
        format!("[{}] {first}", self.severity)
    }
}

use model::time::Clock;

/// The host name, from the kernel or, where /proc/sys is hidden (the systemd unit's
/// `ProcSubset=pid`), from /etc/hostname.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Queues events for the sender task; cheap to clone, never blocks.
#[derive(Clone)]
pub struct Notifier {
    tx: Option<mpsc::UnboundedSender<Event>>,
}

impl Notifier {
    /// A notifier for `cfg`'s `[notify]`; one that drops every event when nothing is set.
    pub fn start(cfg: &Arc<Config>) -> Notifier {
        let n = &cfg.notify;
        let email = !n.email_to.is_empty() && n.email_from.is_some();
        if n.resolved_webhook.is_none() && !email {
            return Notifier { tx: None };
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver(Arc::clone(cfg), rx));
        Notifier { tx: Some(tx) }
    }

    /// Queue `event` (dropped when no target is configured: what it says is logged already).
    pub fn send(&self, event: Event) {
        let Some(tx) = &self.tx else {
            return;
        };
        tracing::info!(event = ?event.event, tenant = %event.tenant, "notification: {}", event.text.lines().next().unwrap_or_default());
        if tx.send(event).is_err() {
            tracing::warn!("the notification sender has stopped; notification dropped");
        }
    }
}

async fn deliver(cfg: Arc<Config>, mut rx: mpsc::UnboundedReceiver<Event>) {
    // A webhook on this machine (a local relay, a test receiver) is reached directly, never
    // through a proxy from the environment.
    let local = cfg
        .notify
        .resolved_webhook
        .as_ref()
        .and_then(|u| url::Url::parse(u.expose()).ok())
        .is_some_and(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        });
    let http = match crate::settings::http_client(&cfg, None, TIMEOUT, local) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("notifications disabled: cannot build the HTTP client: {e}");
            return;
        }
    };
    while let Some(ev) = rx.recv().await {
        let n = &cfg.notify;
        if let Some(url) = &n.resolved_webhook {
            let ok = retried("webhook", &ev, || webhook(&http, url.expose(), &ev)).await;
            super::metrics::notification("webhook", ok);
        }
        if let (Some(from), false) = (&n.email_from, n.email_to.is_empty()) {
            let ok = retried("e-mail", &ev, || email(&cfg, n, from, &ev)).await;
            super::metrics::notification("email", ok);
        }
    }
}

async fn retried<F, Fut>(target: &str, ev: &Event, mut send: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut wait = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        match send().await {
            Ok(()) => return true,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(tenant = %ev.tenant, event = ?ev.event, attempt, "{target} notification failed, retrying in {}s: {e}", wait.as_secs());
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                tracing::error!(tenant = %ev.tenant, event = ?ev.event, "{target} notification not sent after {ATTEMPTS} attempts: {e}");
            }
        }
    }
    false
}

async fn webhook(http: &reqwest::Client, url: &str, ev: &Event) -> Result<(), String> {
    let resp = http
        .post(url)
        .json(ev)
        .send()
        .await
        // Without the URL: it carries the webhook's token.
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {status}"))
    }
}

/// E-mail through Graph, with the credential of the tenant the event is about (the first
/// tenant's when that one is not configured).
async fn email(cfg: &Config, n: &NotifyConfig, from: &str, ev: &Event) -> Result<(), String> {
    let tenant = cfg
        .tenant(&ev.tenant)
        .or_else(|| cfg.tenant.first())
        .ok_or("no tenant to send e-mail with")?;
    let client = graph::GraphClient::new(
        &crate::settings::tenant_options(tenant),
        graph::ClientOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    client
        .send_mail(from, &n.email_to, &ev.subject(), &ev.text)
        .await
        .map_err(|e| e.to_string())
}
