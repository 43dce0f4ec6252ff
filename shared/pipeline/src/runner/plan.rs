//! Step 2, plan: what is due for one compartment now, from its cursors alone (pure, so it is
//! property-tested with [`super::walk`] in `tests/it/plan_simulation.rs`).
//!
//! - Minutes whose first listing fell behind OCI's retention can never be listed: they go to
//!   the gap ledger as lost, never skipped silently.
//! - Open gap-ledger entries are delivered first, oldest first.
//! - Then the live range: from `settled_until` when a settle pass is due (the minutes that ended
//!   `settle_lag` ago or earlier and have not been re-listed), otherwise from
//!   `delivered_until`, up to the newest minute that ended `fresh_lag` ago. One range, so an
//!   idle compartment costs one call for its settle and fresh passes together; a compartment
//!   marked busy gets the two as separate ranges, so it does not re-read its young minutes.

use auditfwd_checkpoint::shard::CompartmentCursor;
use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};

use crate::plan::WindowPolicy;

/// What one compartment should list now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// Minutes never listed that fell out of retention: recorded as lost.
    pub(crate) expired: Option<Window>,
    /// Open gap-ledger ranges, oldest first.
    pub(crate) gaps: Vec<Window>,
    /// Live ranges to list, in order.
    pub(crate) ranges: Vec<Window>,
}

fn minus(now: DateTime<Utc>, d: std::time::Duration) -> MinuteTimestamp {
    let t = chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    MinuteTimestamp::floor(t)
}

/// Where a compartment seen for the first time starts: the initial look-back, inside
/// retention.
pub(crate) fn first_start(now: DateTime<Utc>, policy: &WindowPolicy) -> MinuteTimestamp {
    minus(now, policy.initial_lookback).max(retention_floor(now, policy))
}

/// The first whole minute still inside OCI's retention.
fn retention_floor(now: DateTime<Utc>, policy: &WindowPolicy) -> MinuteTimestamp {
    let floor = minus(now, policy.retention);
    floor.plus_minutes(1).unwrap_or(floor)
}

/// What is due for `cursor` at `now`.
pub(crate) fn due(cursor: &CompartmentCursor, now: DateTime<Utc>, policy: &WindowPolicy) -> Due {
    let fresh_end = minus(now, policy.fresh_lag);
    let settle_end = if policy.settle_lag.is_zero() {
        fresh_end
    } else {
        minus(now, policy.settle_lag).min(fresh_end)
    };
    let floor = retention_floor(now, policy);
    let mut due = Due::default();
    let mut delivered = cursor.delivered_until;
    let mut settled = cursor.settled_until;
    if delivered < floor {
        due.expired = Window::new(delivered, floor).ok();
        delivered = floor;
    }
    // Minutes listed once whose settle pass fell behind retention are settled as they are.
    settled = settled.max(floor).min(delivered);
    due.gaps = cursor
        .open_gaps(now)
        .filter(|g| g.window.end() > floor)
        .map(|g| Window::new(g.window.start().max(floor), g.window.end()).unwrap_or(g.window))
        .collect();
    let settle_due = settled < settle_end;
    if cursor.busy {
        if settle_due && let Ok(w) = Window::new(settled, settle_end.min(delivered)) {
            due.ranges.push(w);
        }
        if let Ok(w) = Window::new(delivered, fresh_end) {
            due.ranges.push(w);
        }
    } else {
        let start = if settle_due { settled } else { delivered };
        if let Ok(w) = Window::new(start, fresh_end) {
            due.ranges.push(w);
        }
    }
    due
}

#[cfg(test)]
mod tests {

    use super::*;

    fn m(s: &str) -> MinuteTimestamp {
        MinuteTimestamp::parse(s).unwrap()
    }

    /// The defaults: fresh lag 1m, settle lag 20m, look-back 1h, windows of 10 minutes.
    fn policy() -> WindowPolicy {
        WindowPolicy::default()
    }

    #[test]
    fn an_idle_compartment_lists_its_settle_and_fresh_minutes_in_one_range() {
        let mut c = CompartmentCursor::starting_at(m("2026-11-22T10:00:00Z"));
        c.settled_until = m("2026-11-22T09:41:00Z");
        let now = "2026-11-22T10:02:30Z".parse().unwrap();
        let d = due(&c, now, &policy());
        assert_eq!(
            d.ranges,
            vec![Window::new(m("2026-11-22T09:41:00Z"), m("2026-11-22T10:01:00Z")).unwrap()]
        );
        assert!(d.expired.is_none() && d.gaps.is_empty());
    }

    #[test]
    fn a_busy_compartment_lists_settle_and_fresh_separately() {
        let mut c = CompartmentCursor::starting_at(m("2026-11-22T10:00:00Z"));
        c.settled_until = m("2026-11-22T09:41:00Z");
        c.busy = true;
        let now = "2026-11-22T10:02:30Z".parse().unwrap();
        let d = due(&c, now, &policy());
        assert_eq!(
            d.ranges,
            vec![
                Window::new(m("2026-11-22T09:41:00Z"), m("2026-11-22T09:42:00Z")).unwrap(),
                Window::new(m("2026-11-22T10:00:00Z"), m("2026-11-22T10:01:00Z")).unwrap(),
            ]
        );
    }

    #[test]
    fn a_cursor_behind_retention_reports_the_lost_minutes() {
        let c = CompartmentCursor::starting_at(m("2026-01-01T00:00:00Z"));
        let now = "2026-11-22T10:02:30Z".parse().unwrap();
        let d = due(&c, now, &policy());
        let lost = d.expired.unwrap();
        assert_eq!(lost.start(), m("2026-01-01T00:00:00Z"));
        assert_eq!(
            d.ranges[0].start(),
            lost.end(),
            "listing resumes where the loss ends"
        );
    }

    #[test]
    fn the_first_start_is_the_look_back() {
        let now = "2026-11-22T10:02:30Z".parse().unwrap();
        assert_eq!(first_start(now, &policy()), m("2026-11-22T09:02:00Z"));
    }

    /// Runs the planner, the walk and the cursor rules the way a runner does, cycle after cycle
    /// at irregular times, with listings that randomly page (busy) or not, and checks the two
    /// promises they exist for: every minute from the first start is listed, in order, and
    /// every minute before `settled_until` was listed at least once no earlier than
    /// `settle_lag` after it ended (so an event OCI makes visible within the settle lag, under
    /// either reading of the API, is caught).
    mod simulation {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::*;
        use crate::runner::walk::Walk;

        fn simulate(steps: &[(u32, bool)]) -> Result<(), TestCaseError> {
            let policy = policy();
            let t0: DateTime<Utc> = "2026-11-22T10:00:30Z".parse().unwrap();
            let start = first_start(t0, &policy);
            let mut cursor = CompartmentCursor::starting_at(start);
            // Per minute: every listing time.
            let mut listed: BTreeMap<MinuteTimestamp, Vec<DateTime<Utc>>> = BTreeMap::new();
            let mut now = t0;
            for &(gap, busy) in steps {
                now += chrono::Duration::seconds(i64::from(gap));
                let due = due(&cursor, now, &policy);
                prop_assert!(due.expired.is_none());
                for range in due.ranges {
                    prop_assert!(
                        range.start() <= cursor.delivered_until,
                        "no range skips ahead"
                    );
                    let mut walk = Walk::new(range, policy.max_window_minutes);
                    while let Some((unit, probe)) = walk.next_unit() {
                        if probe && busy {
                            walk.busy();
                            continue;
                        }
                        let mut m = unit.start();
                        while m < unit.end() {
                            listed.entry(m).or_default().push(now);
                            m = m.plus_minutes(1).unwrap();
                        }
                        cursor.listed(unit, now, policy.settle_lag, Default::default());
                        walk.delivered(unit.end(), busy);
                    }
                }
                prop_assert!(cursor.settled_until <= cursor.delivered_until);
            }
            let mut m = start;
            while m < cursor.delivered_until {
                prop_assert!(listed.contains_key(&m), "minute {m} never listed");
                m = m.plus_minutes(1).unwrap();
            }
            let lag = chrono::Duration::from_std(policy.settle_lag).unwrap();
            let mut m = start;
            while m < cursor.settled_until {
                let end = m.plus_minutes(1).unwrap().as_datetime();
                let late_enough = listed[&m].iter().any(|t| *t >= end + lag);
                prop_assert!(
                    late_enough,
                    "minute {m} settled without a listing {lag} after it: {:?}",
                    listed[&m]
                );
                m = m.plus_minutes(1).unwrap();
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn every_minute_is_listed_and_settled_late_enough(
                steps in proptest::collection::vec((1u32..900, any::<bool>()), 1..80)
            ) {
                simulate(&steps)?;
            }
        }

        #[test]
        fn a_long_quiet_run_settles_everything_but_the_last_settle_lag() {
            let steps: Vec<(u32, bool)> = (0..120).map(|_| (60, false)).collect();
            simulate(&steps).unwrap();
        }
    }
}
