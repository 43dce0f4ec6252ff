//! An invocation's time budget: when to stop starting windows, and when to give up on work
//! still running so that metrics are flushed before Lambda's timeout kills the process.
//!
//! ```text
//! start ............................ stop_at ............ hard_stop_at ... deadline
//!        windows start                 no new window;       in-flight work    (Lambda kills
//!                                      the one in flight    is abandoned      the process)
//!                                      finishes and commits uncommitted; flush
//! ```
//!
//! `stop_at` is the deadline minus the stop margin ([`STOP_MARGIN`], 60 s: the window in flight
//! (at most `AUDITFWD_MAX_WINDOW`, 10 minutes by default, listed page by page at up to 10 OCI
//! requests per second) plus its manifest and state writes fit in it with room to spare).
//! Short timeouts would be eaten whole by 60 s, so the margin is at most a quarter of the time
//! left: a 60 s function stops starting windows after 45 s. `hard_stop_at` is the deadline
//! minus [`FLUSH_RESERVE`]: work still running then is abandoned uncommitted (its lease lapses
//! after its TTL), so the summary line and the metrics are still written before Lambda kills
//! the process.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Time kept before the deadline for the window in flight to finish and commit.
pub const STOP_MARGIN: Duration = Duration::from_secs(60);

/// Time kept after the hard stop to write the summary line and flush metrics.
pub const FLUSH_RESERVE: Duration = Duration::from_secs(2);

/// When an invocation stops starting work, and when it abandons work still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Start no new window from here on (the runner's deadline).
    pub stop_at: Instant,
    /// Abandon whatever still runs (uncommitted), flush and return.
    pub hard_stop_at: Instant,
}

impl Budget {
    /// A budget with both points given (tests, or callers with their own rules).
    pub fn new(stop_at: Instant, hard_stop_at: Instant) -> Self {
        Budget {
            stop_at,
            hard_stop_at: hard_stop_at.max(stop_at),
        }
    }

    /// The budget for an invocation that must end by `deadline` (the Lambda context's), with
    /// `margin` (normally [`STOP_MARGIN`]) kept for the window in flight.
    pub fn until(deadline: SystemTime, margin: Duration) -> Self {
        Self::from_remaining(
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default(),
            margin,
        )
    }

    /// The budget for the Lambda context's `deadline` (the `Lambda-Runtime-Deadline-Ms`
    /// header: milliseconds since the Unix epoch). `cargo lambda watch` (1.9) sends the time
    /// left instead (`600000`), so a value that would lie before 2001 is read that way; real
    /// Lambda never sends one.
    pub fn from_deadline_ms(deadline_ms: u64, margin: Duration) -> Self {
        /// 2001-09-09T01:46:40Z in milliseconds since the epoch.
        const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
        if deadline_ms < PLAUSIBLE_EPOCH_MS {
            Self::from_remaining(Duration::from_millis(deadline_ms), margin)
        } else {
            Self::until(
                SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms),
                margin,
            )
        }
    }

    /// The budget for an invocation with `remaining` time left now.
    pub fn from_remaining(remaining: Duration, margin: Duration) -> Self {
        let now = Instant::now();
        let margin = margin.min(remaining / 4);
        Budget::new(
            now + remaining.saturating_sub(margin),
            now + remaining.saturating_sub(FLUSH_RESERVE),
        )
    }

    /// Whether the stop point has passed.
    pub fn stopping(&self) -> bool {
        Instant::now() >= self.stop_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_margin_is_the_stop_margin_or_a_quarter_of_the_time_left() {
        let now = Instant::now();
        let long = Budget::from_remaining(Duration::from_secs(900), Duration::from_secs(60));
        assert_eq!(long.stop_at - now, Duration::from_secs(840));
        assert_eq!(long.hard_stop_at - now, Duration::from_secs(898));

        let short = Budget::from_remaining(Duration::from_secs(60), Duration::from_secs(60));
        assert_eq!(short.stop_at - now, Duration::from_secs(45));
        assert_eq!(short.hard_stop_at - now, Duration::from_secs(58));
    }

    #[tokio::test(start_paused = true)]
    async fn a_relative_deadline_from_a_local_emulator_is_read_as_time_left() {
        let now = Instant::now();
        let b = Budget::from_deadline_ms(600_000, STOP_MARGIN);
        assert_eq!(b.stop_at - now, Duration::from_secs(540));
        let absolute = SystemTime::now() + Duration::from_secs(300);
        let ms = absolute
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let b = Budget::from_deadline_ms(ms, STOP_MARGIN);
        let left = b.stop_at - now;
        assert!(
            left > Duration::from_secs(230) && left <= Duration::from_secs(240),
            "{left:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_past_stops_at_once() {
        let b = Budget::until(SystemTime::UNIX_EPOCH, Duration::from_secs(60));
        assert!(b.stopping());
        assert_eq!(b.stop_at, b.hard_stop_at);
    }
}
