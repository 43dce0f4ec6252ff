//! One request budget per process, shared by every client and every task, that adapts to
//! OCI's throttling (AIMD): on a 429 the rate halves (at most once per second, so a burst of
//! 429s from requests already in flight counts once) and every request waits out the
//! `Retry-After`; each second without a 429 the rate grows back by 1% of the ceiling, so
//! against a real limit far below the ceiling it settles into a slow sawtooth under the limit
//! (a 429 every few seconds) instead of climbing back over it every second.
//!
//! The ceiling is the process's share of the tenancy's budget
//! (`AUDITFWD_OCI_REQUESTS_PER_SECOND / AUDITFWD_OCI_BUDGET_SHARES`, see docs/design/scale.md).
//! The budget is taken at the transport, once per attempt, so retries are covered too. Many
//! requests may be in flight at once: the budget spaces their starts, it does not serialise
//! them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The slowest the budget goes (requests per second).
const FLOOR: f64 = 0.5;
/// Growth per second without a 429, as a share of the ceiling.
const GROWTH: f64 = 0.01;
/// Two 429s closer than this halve the rate once.
const HALVE_AT_MOST_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct State {
    /// Current rate (requests per second).
    rate: f64,
    /// When the next request may start (the bucket, as a virtual schedule).
    next: Instant,
    /// Nobody starts before this (a `Retry-After`).
    paused_until: Option<Instant>,
    /// The last halving.
    last_cut: Option<Instant>,
    /// The last additive increase.
    last_growth: Instant,
}

/// A shared, adaptive request budget. Clones share it.
#[derive(Debug, Clone)]
pub struct RequestBudget {
    ceiling: f64,
    state: Arc<Mutex<State>>,
}

impl RequestBudget {
    /// A budget of at most `per_second` requests a second, starting at the ceiling.
    pub fn per_second(per_second: f64) -> Self {
        let ceiling = per_second.max(FLOOR);
        let now = Instant::now();
        RequestBudget {
            ceiling,
            state: Arc::new(Mutex::new(State {
                rate: ceiling,
                next: now,
                paused_until: None,
                last_cut: None,
                last_growth: now,
            })),
        }
    }

    /// The ceiling (requests per second).
    pub fn ceiling(&self) -> f64 {
        self.ceiling
    }

    /// The current rate (requests per second).
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent numbers: keep using them.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for this request's turn; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let start = Instant::now();
        let at = {
            let mut s = self.lock();
            let now = Instant::now();
            grow(&mut s, self.ceiling, now);
            // At most one second's worth of requests may start at once after an idle spell.
            let burst = Duration::from_secs_f64(1.0);
            let earliest = now.checked_sub(burst).unwrap_or(now);
            let mut at = s.next.max(earliest);
            if let Some(p) = s.paused_until {
                at = at.max(p);
            }
            s.next = at + Duration::from_secs_f64(1.0 / s.rate);
            at
        };
        if at > start {
            tokio::time::sleep_until(at).await;
        }
        start.elapsed()
    }

    /// OCI answered 429: halve the rate (once per second at most) and let nobody start
    /// before `retry_after` has passed.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let mut s = self.lock();
        let now = Instant::now();
        if s.last_cut
            .is_none_or(|t| now.duration_since(t) >= HALVE_AT_MOST_EVERY)
        {
            s.rate = (s.rate / 2.0).max(FLOOR);
            s.last_cut = Some(now);
            tracing::warn!(
                rate = s.rate,
                ceiling = self.ceiling,
                "OCI throttled (429): request budget halved"
            );
        }
        s.last_growth = now;
        if let Some(wait) = retry_after {
            let until = now + wait;
            s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        }
    }
}

/// Additive increase: `GROWTH × ceiling` per second since the last growth or cut.
fn grow(s: &mut State, ceiling: f64, now: Instant) {
    let elapsed = now.duration_since(s.last_growth).as_secs_f64();
    if elapsed >= 1.0 && s.rate < ceiling {
        s.rate = (s.rate + GROWTH * ceiling * elapsed.floor()).min(ceiling);
        s.last_growth = now;
    } else if s.rate >= ceiling {
        s.last_growth = now;
    }
    if s.paused_until.is_some_and(|p| p <= now) {
        s.paused_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts of `n` requests, in seconds since `t0`.
    async fn starts(b: &RequestBudget, n: usize, t0: Instant) -> Vec<f64> {
        let mut out = Vec::new();
        for _ in 0..n {
            b.acquire().await;
            out.push(t0.elapsed().as_secs_f64());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_to_the_rate_and_an_idle_second_allows_a_burst() {
        let b = RequestBudget::per_second(10.0);
        let t0 = Instant::now();
        let s = starts(&b, 20, t0).await;
        for (i, t) in s.iter().enumerate() {
            assert!((t - 0.1 * i as f64).abs() < 0.002, "{s:?}");
        }
        // Idle for five seconds: one second's worth (10) plus the request due now start at
        // once, then the spacing again.
        tokio::time::advance(Duration::from_secs(5)).await;
        let t1 = Instant::now();
        let s = starts(&b, 15, t1).await;
        assert!(s[..11].iter().all(|t| *t < 0.001), "{s:?}");
        assert!((s[11] - 0.1).abs() < 0.002, "{s:?}");
        assert!((s[14] - 0.4).abs() < 0.002, "{s:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_once_per_second_waits_out_retry_after_and_recovers_additively() {
        let b = RequestBudget::per_second(100.0);
        b.throttled(Some(Duration::from_secs(3)));
        // A burst of 429s from requests already in flight counts once.
        b.throttled(None);
        b.throttled(None);
        assert_eq!(b.rate(), 50.0);
        let t0 = Instant::now();
        b.acquire().await;
        assert!(
            t0.elapsed() >= Duration::from_secs(3),
            "Retry-After is waited out"
        );
        // A second 429 more than a second later halves again.
        b.throttled(None);
        assert_eq!(b.rate(), 25.0);
        // Without 429s the rate grows by 1 per second (1% of 100) back to the ceiling.
        tokio::time::advance(Duration::from_secs(4)).await;
        b.acquire().await;
        assert!((b.rate() - 29.0).abs() < 1e-9, "{}", b.rate());
        tokio::time::advance(Duration::from_secs(80)).await;
        b.acquire().await;
        assert_eq!(b.rate(), 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_never_falls_below_the_floor() {
        let b = RequestBudget::per_second(4.0);
        for _ in 0..20 {
            b.throttled(None);
            tokio::time::advance(HALVE_AT_MOST_EVERY).await;
        }
        assert_eq!(b.rate(), FLOOR);
    }
}
