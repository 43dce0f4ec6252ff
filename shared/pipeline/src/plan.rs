//! Which windows are due: the pure heart of "nothing lost, nothing sent twice".
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

/// A window to list for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshWindow {
    /// The window.
    pub window: Window,
    /// Whether it must be listed once more after the settle lag.
    pub needs_settle: bool,
}

/// The work due for one compartment now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// First listings, oldest first, contiguous from the cursor; commit them in this order.
    pub fresh: Vec<FreshWindow>,
    /// Windows whose settle pass is due, oldest first.
    pub settle: Vec<Window>,
    /// Minutes that fell out of OCI's retention before they were delivered: they can no longer
    /// be listed and must be reported (gap ledger, alarm), never skipped silently.
    pub expired: Option<Window>,
}

fn minus(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Plans one compartment: `cursor` is its `delivered_until` (`None` when first seen), and
/// `awaiting_settle` the windows listed once whose settle pass has not happened yet.
pub fn plan<'a>(
    cursor: Option<MinuteTimestamp>,
    awaiting_settle: impl IntoIterator<Item = &'a Window>,
    now: DateTime<Utc>,
    policy: &WindowPolicy,
) -> Plan {
    let fresh_end = MinuteTimestamp::floor(minus(now, policy.fresh_lag));
    // The first whole minute still inside retention.
    let retention_floor = MinuteTimestamp::floor(minus(now, policy.retention))
        .plus_minutes(1)
        .unwrap_or(fresh_end);
    let settle_cutoff = minus(now, policy.settle_lag);
    let settle_enabled = !policy.settle_lag.is_zero();

    let mut start =
        cursor.unwrap_or_else(|| MinuteTimestamp::floor(minus(now, policy.initial_lookback)));
    let mut expired = None;
    if start < retention_floor {
        // A first look-back is simply capped; a real cursor behind retention lost events.
        if cursor.is_some() {
            expired = Window::new(start, retention_floor).ok();
        }
        start = retention_floor;
    }

    let mut fresh = Vec::new();
    if let Ok(span) = Window::new(start, fresh_end) {
        for window in split_aligned(span, policy.max_window_minutes) {
            let needs_settle = settle_enabled && window.end().as_datetime() > settle_cutoff;
            fresh.push(FreshWindow {
                window,
                needs_settle,
            });
        }
    }

    let mut settle: Vec<Window> = awaiting_settle
        .into_iter()
        .filter(|w| !settle_enabled || w.end().as_datetime() <= settle_cutoff)
        .copied()
        .collect();
    settle.sort();
    Plan {
        fresh,
        settle,
        expired,
    }
}

/// Cuts `span` at multiples of `step` minutes since the epoch.
fn split_aligned(span: Window, step: u32) -> Vec<Window> {
    let step = i64::from(step.max(1));
    let mut out = Vec::new();
    let mut start = span.start();
    while start < span.end() {
        let minutes = start.as_datetime().timestamp().div_euclid(60);
        let to_boundary = step - minutes.rem_euclid(step);
        let end = start
            .plus_minutes(to_boundary)
            .map_or(span.end(), |b| b.min(span.end()));
        match Window::new(start, end) {
            Ok(w) => out.push(w),
            Err(_) => break,
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
    }

    fn m(h: u32, mi: u32) -> MinuteTimestamp {
        MinuteTimestamp::new(t(h, mi, 0)).unwrap()
    }

    fn w(a: (u32, u32), b: (u32, u32)) -> Window {
        Window::new(m(a.0, a.1), m(b.0, b.1)).unwrap()
    }

    #[test]
    fn a_new_compartment_starts_at_the_look_back_and_settles_only_young_windows() {
        let p = plan(None, &[], t(10, 30, 45), &WindowPolicy::default());
        let got: Vec<(Window, bool)> = p.fresh.iter().map(|f| (f.window, f.needs_settle)).collect();
        assert_eq!(
            got,
            vec![
                (w((9, 30), (9, 40)), false),
                (w((9, 40), (9, 50)), false),
                (w((9, 50), (10, 0)), false),
                (w((10, 0), (10, 10)), false),
                (w((10, 10), (10, 20)), true),
                (w((10, 20), (10, 29)), true),
            ]
        );
        assert!(p.settle.is_empty() && p.expired.is_none());
    }

    #[test]
    fn windows_align_to_the_grid_from_any_cursor() {
        let p = plan(Some(m(10, 3)), &[], t(10, 40, 0), &WindowPolicy::default());
        let windows: Vec<Window> = p.fresh.iter().map(|f| f.window).collect();
        assert_eq!(
            windows,
            vec![
                w((10, 3), (10, 10)),
                w((10, 10), (10, 20)),
                w((10, 20), (10, 30)),
                w((10, 30), (10, 39))
            ]
        );
    }

    #[test]
    fn settle_passes_fall_due_after_the_settle_lag() {
        let awaiting = [
            w((10, 10), (10, 20)),
            w((10, 0), (10, 10)),
            w((10, 20), (10, 29)),
        ];
        let p = plan(
            Some(m(10, 29)),
            &awaiting,
            t(10, 40, 0),
            &WindowPolicy::default(),
        );
        assert_eq!(
            p.settle,
            vec![w((10, 0), (10, 10)), w((10, 10), (10, 20))],
            "10:20 + 20 min = 10:40 is due; 10:29 + 20 is not"
        );
        assert_eq!(
            p.fresh.iter().map(|f| f.window).collect::<Vec<_>>(),
            vec![w((10, 29), (10, 30)), w((10, 30), (10, 39))]
        );
    }

    #[test]
    fn a_zero_settle_lag_disables_the_second_pass_and_drains_leftovers() {
        let policy = WindowPolicy {
            settle_lag: Duration::ZERO,
            ..WindowPolicy::default()
        };
        let p = plan(Some(m(10, 0)), &[w((9, 50), (10, 0))], t(10, 5, 0), &policy);
        assert!(p.fresh.iter().all(|f| !f.needs_settle));
        assert_eq!(p.settle, vec![w((9, 50), (10, 0))]);
    }

    #[test]
    fn nothing_is_due_when_the_cursor_is_current_or_the_clock_went_back() {
        assert_eq!(
            plan(
                Some(m(10, 29)),
                &[],
                t(10, 30, 59),
                &WindowPolicy::default()
            ),
            Plan::default()
        );
        assert_eq!(
            plan(Some(m(11, 0)), &[], t(10, 30, 0), &WindowPolicy::default()),
            Plan::default()
        );
    }

    #[test]
    fn a_cursor_behind_retention_is_reported_not_skipped() {
        let policy = WindowPolicy {
            retention: Duration::from_secs(3600),
            initial_lookback: Duration::from_secs(600),
            ..WindowPolicy::default()
        };
        let p = plan(Some(m(8, 0)), &[], t(10, 30, 0), &policy);
        assert_eq!(p.expired, Some(w((8, 0), (9, 31))));
        assert_eq!(p.fresh.first().map(|f| f.window.start()), Some(m(9, 31)));
        // A brand-new compartment's look-back is capped without a report.
        let long = WindowPolicy {
            initial_lookback: Duration::from_secs(7200),
            retention: Duration::from_secs(7201),
            ..WindowPolicy::default()
        };
        assert_eq!(plan(None, &[], t(10, 30, 0), &long).expired, None);
    }

    #[test]
    fn policies_are_validated() {
        assert!(WindowPolicy::default().validate().is_ok());
        assert_eq!(
            WindowPolicy {
                max_window_minutes: 0,
                ..WindowPolicy::default()
            }
            .validate(),
            Err(PolicyError::WindowTooSmall)
        );
        let bad = WindowPolicy {
            initial_lookback: Duration::from_secs(91 * 86_400),
            ..WindowPolicy::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .starts_with("the initial look-back")
        );
    }
}
