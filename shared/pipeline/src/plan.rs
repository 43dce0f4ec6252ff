//! When windows are listed ([`WindowPolicy`]) and how time is cut into windows aligned to
//! `AUDITFWD_MAX_WINDOW` ([`aligned_window`], [`next_boundary`]). What is due for a compartment
//! is decided from its cursors in `runner/plan.rs`.
//!
//! Per (region, compartment) the cursor `delivered_until` says where the next *fresh* window
//! starts. Each cycle lists `[delivered_until, floor_minute(now - fresh_lag))`, cut into windows
//! of at most `max_window` at boundaries aligned to multiples of `max_window` since the Unix
//! epoch (so the same minutes always fall in the same windows, run after run). OCI makes events
//! visible late ("usually within 15 minutes"), so a window still younger than `settle_lag` when
//! first listed is listed once more after `settle_lag` has passed: its *settle* pass. A window
//! already older than that when first listed (the initial look-back, a catch-up after an
//! outage) is complete after one pass.
//!
//! Events older than OCI's audit retention cannot be listed any more. A cursor that has fallen
//! behind retention is reported as [`Plan::expired`], never skipped silently.

use std::time::Duration;

use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};

/// When windows are listed and how they are cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowPolicy {
    /// How long after a minute ends before its fresh pass (default 1 minute).
    pub fresh_lag: Duration,
    /// How long after a window ends before its settle pass; zero disables the second pass
    /// (default 20 minutes).
    pub settle_lag: Duration,
    /// How far back a compartment seen for the first time starts (default 1 hour).
    pub initial_lookback: Duration,
    /// The longest window listed in one go, in minutes (default 10).
    pub max_window_minutes: u32,
    /// OCI's audit retention (default 90 days; configurable 90-365 in OCI).
    pub retention: Duration,
}

impl Default for WindowPolicy {
    fn default() -> Self {
        WindowPolicy {
            fresh_lag: Duration::from_secs(60),
            settle_lag: Duration::from_secs(20 * 60),
            initial_lookback: Duration::from_secs(3600),
            max_window_minutes: 10,
            retention: Duration::from_secs(90 * 86_400),
        }
    }
}

/// Why a policy is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `max_window` below one minute.
    #[error("the maximum window must be at least 1 minute")]
    WindowTooSmall,
    /// A look-back or lag that reaches past retention would plan windows OCI no longer holds.
    #[error("{what} ({value:?}) must be shorter than the audit retention ({retention:?})")]
    BeyondRetention {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: Duration,
        /// The retention.
        retention: Duration,
    },
}

impl WindowPolicy {
    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.max_window_minutes == 0 {
            return Err(PolicyError::WindowTooSmall);
        }
        for (what, value) in [
            ("the initial look-back", self.initial_lookback),
            ("the settle lag", self.settle_lag),
            ("the fresh lag", self.fresh_lag),
        ] {
            if value >= self.retention {
                return Err(PolicyError::BeyondRetention {
                    what,
                    value,
                    retention: self.retention,
                });
            }
        }
        Ok(())
    }
}

/// The window of `step` minutes, aligned to multiples of `step` since the epoch, that holds
/// `t`.
pub fn aligned_window(t: DateTime<Utc>, step: u32) -> Option<Window> {
    let step = i64::from(step.max(1));
    let minutes = t.timestamp().div_euclid(60);
    let start = MinuteTimestamp::floor(t)
        .plus_minutes(-minutes.rem_euclid(step))
        .ok()?;
    Window::new(start, start.plus_minutes(step).ok()?).ok()
}

/// The first multiple of `step` minutes since the epoch after `t`.
pub fn next_boundary(t: MinuteTimestamp, step: u32) -> Option<MinuteTimestamp> {
    let step = i64::from(step.max(1));
    let minutes = t.as_datetime().timestamp().div_euclid(60);
    t.plus_minutes(step - minutes.rem_euclid(step)).ok()
}

/// `span` cut at every multiple of `step` minutes since the epoch: the aligned windows inside
/// it, with a partial piece at either end where `span` does not start or end on the grid.
pub fn split_on_grid(span: Window, step: u32) -> Vec<Window> {
    let mut out = Vec::new();
    let mut start = span.start();
    while start < span.end() {
        let end = next_boundary(start, step).map_or(span.end(), |b| b.min(span.end()));
        let Ok(piece) = Window::new(start, end) else {
            break;
        };
        out.push(piece);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_cut_on_the_grid_not_from_its_start() {
        let w = |a: &str, b: &str| Window::parse(a, b).unwrap();
        assert_eq!(
            split_on_grid(w("2026-11-22T10:07:00Z", "2026-11-22T10:37:00Z"), 10),
            vec![
                w("2026-11-22T10:07:00Z", "2026-11-22T10:10:00Z"),
                w("2026-11-22T10:10:00Z", "2026-11-22T10:20:00Z"),
                w("2026-11-22T10:20:00Z", "2026-11-22T10:30:00Z"),
                w("2026-11-22T10:30:00Z", "2026-11-22T10:37:00Z"),
            ]
        );
        let on = w("2026-11-22T10:00:00Z", "2026-11-22T10:20:00Z");
        assert_eq!(
            split_on_grid(on, 10),
            vec![
                w("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z"),
                w("2026-11-22T10:10:00Z", "2026-11-22T10:20:00Z"),
            ]
        );
        assert!(
            split_on_grid(on, 10)
                .iter()
                .all(|p| aligned_window(p.start().as_datetime(), 10) == Some(*p))
        );
    }

    #[test]
    fn windows_align_to_the_grid() {
        let t: DateTime<Utc> = "2026-11-22T10:03:27Z".parse().unwrap();
        let w = aligned_window(t, 10).unwrap();
        assert_eq!(
            w,
            Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z").unwrap()
        );
        let m = MinuteTimestamp::parse("2026-11-22T10:03:00Z").unwrap();
        assert_eq!(
            next_boundary(m, 10),
            MinuteTimestamp::parse("2026-11-22T10:10:00Z").ok()
        );
        let on = MinuteTimestamp::parse("2026-11-22T10:10:00Z").unwrap();
        assert_eq!(
            next_boundary(on, 10),
            MinuteTimestamp::parse("2026-11-22T10:20:00Z").ok()
        );
    }
}
