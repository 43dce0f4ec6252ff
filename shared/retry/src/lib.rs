//! The one backoff every retry loop in auditfwd uses: the OCI client's request retries, the
//! syslog sender's reconnects, the runner's page re-fetches and the SQS entry retries.
//!
//! Waits grow roughly threefold per attempt from `base` up to `cap`, each drawn at random
//! ("decorrelated jitter": uniformly between `base` and three times the previous wait), so
//! many clients that failed together do not retry together. A server's `Retry-After` replaces
//! the drawn wait exactly, even above the cap: the server knows when it will have capacity.

use std::time::Duration;

/// A sequence of waits for one retry loop (make a new one per operation).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    prev: Duration,
}

impl Backoff {
    /// Waits of at least `base` and at most `cap` (a `cap` below `base` counts as `base`).
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap: cap.max(base),
            prev: base,
        }
    }

    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        let upper = self.prev.saturating_mul(3).max(self.base);
        let span = upper.saturating_sub(self.base).as_micros();
        let jitter = u64::try_from(span).map_or(0, |span| fastrand::u64(0..=span));
        let delay = self
            .base
            .saturating_add(Duration::from_micros(jitter))
            .min(self.cap);
        self.prev = delay;
        delay
    }

    /// The next wait, or exactly `retry_after` when the server said how long to wait.
    pub fn next_delay_or(&mut self, retry_after: Option<Duration>) -> Duration {
        let drawn = self.next_delay();
        retry_after.unwrap_or(drawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_between_base_and_cap_and_grow() {
        fastrand::seed(7);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let delays: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(30)),
            "{delays:?}"
        );
        assert!(
            delays.iter().any(|d| *d > Duration::from_secs(5)),
            "backoff should grow: {delays:?}"
        );
    }

    #[test]
    fn waits_are_jittered() {
        fastrand::seed(11);
        let firsts: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| {
                let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
                b.next_delay();
                b.next_delay()
            })
            .collect();
        assert!(firsts.len() > 10, "{firsts:?}");
    }

    #[test]
    fn retry_after_is_waited_exactly_even_above_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(
            b.next_delay_or(Some(Duration::from_secs(45))),
            Duration::from_secs(45)
        );
        assert_eq!(b.next_delay_or(Some(Duration::ZERO)), Duration::ZERO);
        assert!(b.next_delay_or(None) <= Duration::from_secs(2));
    }

    #[test]
    fn a_cap_below_the_base_is_the_base() {
        let mut b = Backoff::new(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(b.next_delay(), Duration::from_secs(3));
    }
}
