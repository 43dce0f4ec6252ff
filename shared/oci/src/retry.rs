//! Retry policy: how many attempts, how long to wait between them, and for how long in all.
//!
//! *What* is retryable is decided in one place, [`Error::is_retryable`](crate::Error::is_retryable).
//! This module decides *when*: decorrelated jitter (each wait is random between the base and
//! three times the previous wait, capped), a `Retry-After` from the service taking precedence,
//! a maximum attempt count and a total time budget. The defaults match the official SDKs'
//! default strategy (8 attempts, 1 s base, 30 s cap, 600 s in all).

use std::time::Duration;

pub(crate) use auditfwd_retry::Backoff;

/// When and how often a retryable failure is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(600),
        }
    }
}

impl RetryConfig {
    /// The official SDKs' default strategy.
    pub fn standard() -> Self {
        Self::default()
    }

    /// One attempt, no retries (for tests, or callers that retry at a higher level).
    pub fn disabled() -> Self {
        RetryConfig {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Total attempts including the first (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The smallest wait between attempts.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The largest wait between attempts chosen by jitter (a longer `Retry-After` still wins).
    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Give up rather than start a wait that would end later than this after the first attempt.
    pub fn with_max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }

    /// Total attempts including the first.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The total time budget.
    pub fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::new(self.initial_backoff, self.max_backoff)
    }
}

/// Parses `Retry-After`: delay-seconds, or an HTTP-date relative to `now`.
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        // (Oracle's sample date says "Thu", but 5 Jan 2014 was a Sunday, which httpdate rightly refuses.)
        let now = httpdate::parse_http_date("Sun, 05 Jan 2014 21:31:40 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 05 Jan 2014 21:32:00 GMT", now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            parse_retry_after("Sun, 05 Jan 2014 21:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn disabled_means_one_attempt() {
        assert_eq!(RetryConfig::disabled().max_attempts(), 1);
        assert_eq!(
            RetryConfig::default().with_max_attempts(0).max_attempts(),
            1
        );
    }
}
