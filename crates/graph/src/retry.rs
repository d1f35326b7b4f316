//! Throttling and transient-failure handling: `Retry-After` parsing, exponential backoff with
//! jitter, and the retrying send loop shared by Graph calls and the token endpoint.

use super::error::GraphError;
use bytes::Bytes;
use model::time::Clock;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// Largest response body read; far above a 999-item Graph page, low enough that a broken or
/// hostile endpoint cannot exhaust memory.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How often and how long to retry. 429/503/504 and transport failures are retried up to
/// `max_attempts` in total; 500/502 only up to `max_server_error_attempts`, since an
/// `UnknownError` rarely clears up (docs/graph-behaviour.md §10).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total (first try included) for throttling, 503/504 and transport errors.
    pub max_attempts: u32,
    /// Attempts in total for 500/502.
    pub max_server_error_attempts: u32,
    /// First backoff when the server gives no `Retry-After`; doubles each retry.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a larger value is clamped so a sync round cannot stall
    /// for hours on one bogus header.
    pub max_retry_after: Duration,
    /// Randomise backoff so concurrent member fetches do not retry in lockstep.
    pub jitter: bool,
    /// Per-request timeout (connect to end of body).
    pub request_timeout: Duration,
    /// Told about each retry, in words an admin reads (`ctl sync` prints them), so a round
    /// that waits on a failing Graph says so at once instead of after all its retries.
    pub notify: Option<RetryNotify>,
}

/// A callback for [`RetryPolicy::notify`].
#[derive(Clone)]
pub struct RetryNotify(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for RetryNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryNotify")
    }
}

impl PartialEq for RetryNotify {
    /// Callbacks are not compared: two policies are equal when their numbers are.
    fn eq(&self, _: &RetryNotify) -> bool {
        true
    }
}

impl RetryPolicy {
    fn tell(&self, message: impl FnOnce() -> String) {
        if let Some(n) = &self.notify {
            (n.0)(&message());
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            max_server_error_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            jitter: true,
            request_timeout: Duration::from_secs(30),
            notify: None,
        }
    }
}

impl RetryPolicy {
    /// Millisecond delays and a short timeout, for tests and the local emulator.
    pub fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            max_server_error_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(40),
            max_retry_after: Duration::from_secs(2),
            jitter: false,
            request_timeout: Duration::from_secs(5),
            notify: None,
        }
    }

    /// Backoff before retry number `retry` (1 = the first retry): initial × 2^(retry-1), capped.
    /// With jitter the result lies in [d/2, d] ("equal jitter"), so it never collapses to zero.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        let d = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        if self.jitter && !d.is_zero() {
            let half = d / 2;
            half + half.mul_f64(rand::random::<f64>())
        } else {
            d
        }
    }

    /// The wait before retry number `retry`: the server's `Retry-After` (clamped) when present,
    /// else backoff.
    pub fn delay(&self, retry_after: Option<Duration>, retry: u32) -> Duration {
        match retry_after {
            Some(d) => d.min(self.max_retry_after),
            None => self.backoff(retry),
        }
    }
}

/// Parse a `Retry-After` value: seconds, possibly fractional (Graph sends `2.128`), or an
/// HTTP-date. A date in the past means "now". Garbage, negative or non-finite values give `None`
/// (the caller then backs off on its own).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = v.parse().ok()?;
        // Reject absurd values instead of overflowing; the policy clamps sane ones anyway.
        if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
            return None;
        }
        return Some(Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn retry_after_of(headers: &HeaderMap, clock: &dyn Clock) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, clock.now())
}

/// A complete HTTP response: status, headers, body.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

enum Failure {
    Transport(reqwest::Error),
    TooLarge,
}

async fn read_capped(mut resp: reqwest::Response) -> Result<RawResponse, Failure> {
    let status = resp.status();
    let headers = std::mem::take(resp.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Failure::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        status,
        headers,
        body: Bytes::from(body),
    })
}

/// Transport errors, described without the URL (reqwest's Display includes it, and callers
/// already say which request failed), walking the source chain for the useful cause.
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> GraphError {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    GraphError::Transport {
        what: what.to_owned(),
        detail,
        timeout,
    }
}

/// Send the request `build` makes (called again for every attempt, because a request body is
/// consumed by sending) and retry transport failures and transient statuses per `policy`.
/// Returns the last response whatever its status; the caller turns error statuses into errors.
/// `what` names the request in logs and errors, e.g. `GET /v1.0/users`; it must not contain secrets.
pub(crate) async fn send_with_retry<F>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    what: &str,
    mut build: F,
) -> Result<RawResponse, GraphError>
where
    F: FnMut(u32) -> reqwest::RequestBuilder,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt: u32 = 0;
    let mut server_errors: u32 = 0;
    loop {
        attempt += 1;
        let sent = build(attempt)
            .timeout(policy.request_timeout)
            .send()
            .await
            .map_err(Failure::Transport);
        let outcome = match sent {
            Ok(resp) => read_capped(resp).await,
            Err(f) => Err(f),
        };
        let resp = match outcome {
            Ok(r) => r,
            Err(Failure::TooLarge) => {
                return Err(GraphError::Decode {
                    what: what.to_owned(),
                    detail: format!("response body larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            Err(Failure::Transport(e)) => {
                super::stats::transport_error();
                // A refused connection means Graph (or the network to it) is down, not busy:
                // give up as soon as for 5xx, so a round fails fast and the next one retries.
                let limit = if e.is_connect() {
                    policy.max_server_error_attempts.max(1).min(max_attempts)
                } else {
                    max_attempts
                };
                if attempt >= limit {
                    let mut err = transport_error(what, e);
                    if let GraphError::Transport {
                        detail, timeout, ..
                    } = &mut err
                    {
                        if *timeout {
                            *detail =
                                format!("no complete response within {:?}", policy.request_timeout);
                        }
                        detail.push_str(&format!(" (after {attempt} attempts)"));
                    }
                    return Err(err);
                }
                let delay = policy.backoff(attempt);
                let e = e.without_url();
                tracing::warn!(
                    request = what,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    error = %e,
                    "Graph request failed; retrying"
                );
                super::stats::retry();
                policy.tell(|| {
                    format!(
                        "{what} failed ({e}); retrying in {:.1} s (attempt {attempt} of {limit})",
                        delay.as_secs_f64()
                    )
                });
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        let status = resp.status.as_u16();
        super::stats::answered(status);
        let retryable = match status {
            429 | 503 | 504 => attempt < max_attempts,
            500 | 502 => {
                server_errors += 1;
                server_errors < policy.max_server_error_attempts.max(1) && attempt < max_attempts
            }
            _ => false,
        };
        if !retryable {
            return Ok(resp);
        }
        let retry_after = retry_after_of(&resp.headers, clock);
        let delay = policy.delay(retry_after, attempt);
        tracing::warn!(
            request = what,
            status,
            attempt,
            retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
            delay_ms = delay.as_millis() as u64,
            request_id = resp.header("request-id").unwrap_or(""),
            "Graph request throttled or failed transiently; retrying"
        );
        super::stats::retry();
        policy.tell(|| {
            format!(
                "Graph answered {status} to {what}; retrying in {:.1} s (attempt {attempt} of {max_attempts})",
                delay.as_secs_f64()
            )
        });
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_fractional_seconds() {
        assert_eq!(
            parse_retry_after("2.128", at(0)),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            parse_retry_after(" 0.5 ", at(0)),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn retry_after_integer_seconds() {
        assert_eq!(parse_retry_after("7", at(0)), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0", at(0)), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_http_date() {
        // 1994-11-06 08:49:37 UTC = 784111777.
        let now = at(784_111_777 - 30);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date already past means "retry now", not an error.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at(784_111_777 + 100)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage() {
        for v in [
            "",
            "soon",
            "-1",
            "1.2.3",
            "1e3",
            "NaN",
            "inf",
            "99999999999999999999",
        ] {
            assert_eq!(parse_retry_after(v, at(0)), None, "{v:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(2), Duration::from_secs(2));
        assert_eq!(p.backoff(4), Duration::from_secs(8));
        assert_eq!(p.backoff(7), Duration::from_secs(60));
        assert_eq!(p.backoff(1000), Duration::from_secs(60));
    }

    #[test]
    fn jittered_backoff_stays_within_half_to_full() {
        let p = RetryPolicy::default();
        for retry in 1..10 {
            let full = RetryPolicy {
                jitter: false,
                ..p.clone()
            }
            .backoff(retry);
            let d = p.backoff(retry);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} vs {full:?}"
            );
        }
    }

    #[test]
    fn retry_after_wins_over_backoff_but_is_clamped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(Some(Duration::from_millis(2128)), 5),
            Duration::from_millis(2128)
        );
        assert_eq!(
            p.delay(Some(Duration::from_secs(86_400)), 1),
            p.max_retry_after
        );
    }
}
