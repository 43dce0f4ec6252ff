//! Runs the planner the way a runner does, cycle after cycle at irregular times, and checks the
//! promises it exists for: every minute listed fresh exactly once, in order; every minute listed
//! at least once no earlier than `settle_lag` after its window closed (so an event OCI makes
//! visible within the settle lag is caught); never more than two listings of a minute.

use std::collections::BTreeMap;
use std::time::Duration;

use auditfwd_oci::{MinuteTimestamp, Window};
use auditfwd_pipeline::plan::{WindowPolicy, plan};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

#[derive(Default, Debug)]
struct Listings {
    fresh: u32,
    total: u32,
    /// Latest listing time minus the end of the window the minute was listed in.
    best_margin: Option<chrono::Duration>,
}

fn simulate(
    policy: &WindowPolicy,
    t0: DateTime<Utc>,
    steps: &[u32],
) -> (BTreeMap<i64, Listings>, MinuteTimestamp, MinuteTimestamp) {
    let mut cursor: Option<MinuteTimestamp> = None;
    let mut awaiting: Vec<Window> = Vec::new();
    let mut minutes: BTreeMap<i64, Listings> = BTreeMap::new();
    let mut first_start = None;
    let mut now = t0;
    let mut record = |w: &Window, at: DateTime<Utc>, fresh: bool| {
        let mut m = w.start();
        while m < w.end() {
            let e = minutes.entry(m.as_datetime().timestamp() / 60).or_default();
            e.total += 1;
            e.fresh += u32::from(fresh);
            let margin = at - w.end().as_datetime();
            e.best_margin = Some(e.best_margin.map_or(margin, |b| b.max(margin)));
            m = m.plus_minutes(1).unwrap();
        }
    };
    for step in steps {
        now += chrono::Duration::seconds(i64::from(*step));
        let p = plan(cursor, &awaiting, now, policy);
        assert!(p.expired.is_none());
        for f in &p.fresh {
            if let Some(c) = cursor {
                assert_eq!(
                    f.window.start(),
                    c,
                    "fresh windows are contiguous with the cursor"
                );
            }
            first_start.get_or_insert(f.window.start());
            assert!(f.window.minutes() <= i64::from(policy.max_window_minutes));
            record(&f.window, now, true);
            if f.needs_settle {
                awaiting.push(f.window);
            }
            cursor = Some(f.window.end());
        }
        for s in &p.settle {
            record(s, now, false);
            awaiting.retain(|w| w != s);
        }
    }
    // One last cycle long after the others: every outstanding settle pass is due. Its fresh
    // windows lie past the horizon the properties are checked over, so they are not run.
    now += chrono::Duration::from_std(policy.settle_lag).unwrap() + chrono::Duration::hours(1);
    for s in &plan(cursor, &awaiting, now, policy).settle {
        record(s, now, false);
        awaiting.retain(|w| w != s);
    }
    assert!(awaiting.is_empty(), "every settle pass ran: {awaiting:?}");
    let (Some(first), Some(last)) = (first_start, cursor) else {
        return (
            minutes,
            MinuteTimestamp::floor(t0),
            MinuteTimestamp::floor(t0),
        );
    };
    (minutes, first, last)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_minute_is_listed_fresh_once_and_late_enough_at_least_once(
        fresh_lag in 0u64..300,
        settle_minutes in 0u64..40,
        max_window in 1u32..30,
        lookback_minutes in 5u64..180,
        start_offset in 0i64..86_400,
        steps in proptest::collection::vec(0u32..1800, 1..40),
    ) {
        let policy = WindowPolicy {
            fresh_lag: Duration::from_secs(fresh_lag),
            settle_lag: Duration::from_secs(settle_minutes * 60),
            initial_lookback: Duration::from_secs(lookback_minutes * 60),
            max_window_minutes: max_window,
            ..WindowPolicy::default()
        };
        let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap() + chrono::Duration::seconds(start_offset);
        let (minutes, first, last) = simulate(&policy, t0, &steps);

        let (first_min, last_min) = (first.as_datetime().timestamp() / 60, last.as_datetime().timestamp() / 60);
        prop_assert_eq!(minutes.keys().copied().collect::<Vec<_>>(), (first_min..last_min).collect::<Vec<_>>(), "no hole, nothing outside");
        for (minute, l) in &minutes {
            prop_assert_eq!(l.fresh, 1, "minute {} listed fresh {} times", minute, l.fresh);
            prop_assert!(l.total <= 2, "minute {} listed {} times", minute, l.total);
            let margin = l.best_margin.unwrap();
            prop_assert!(margin >= chrono::Duration::from_std(policy.settle_lag).unwrap(),
                "minute {} was last listed only {:?} after its window closed", minute, margin);
        }
    }
}
