//! Step 6, commit: a delivered listing moves its compartment's cursors (or closes part of a gap)
//! and becomes a range record of the shard's next manifest. The shard writes both (manifest
//! first, then its state, over the version it holds) at the end of its cycle, after a busy
//! window, or when its lease needs renewing ([`super::shard`]).

use auditfwd_checkpoint::ObjectStore;
use auditfwd_checkpoint::manifest::Confirmation;
use auditfwd_checkpoint::shard::CompartmentCursor;
use auditfwd_checkpoint::shard_manifest::RangeRecord;
use auditfwd_checkpoint::state::Gap;
use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};

use super::Runner;
use super::window::Delivered;
use crate::sink::Sink;
use crate::source::AuditSource;

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Applies a delivered live listing of `unit` (started at `started`) to `cursor`.
    pub(crate) fn record_listing(
        &self,
        cursor: &mut CompartmentCursor,
        compartment: &str,
        unit: Window,
        started: DateTime<Utc>,
        delivered_before: MinuteTimestamp,
        d: Delivered,
    ) -> RangeRecord {
        let settle_lag = self.config.windows.settle_lag;
        cursor.forwarded.add(self.clock.now(), d.counts.forwarded);
        let mut d = self.counted(compartment, unit, d);
        cursor.listed(unit, started, settle_lag, std::mem::take(&mut d.listed_ids));
        record(compartment, unit, delivered_before, d)
    }

    /// Applies a delivered listing of `unit`, part of `gap`, to `cursor`: that part of the gap
    /// is closed. Minutes of it that were still younger than the settle lag get their settle
    /// pass later, as a gap-ledger entry that waits until then.
    pub(crate) fn gap_delivered(
        &self,
        cursor: &mut CompartmentCursor,
        compartment: &str,
        gap: &Gap,
        unit: Window,
        started: DateTime<Utc>,
        d: Delivered,
    ) -> RangeRecord {
        let now = self.clock.now();
        let settle_lag = self.config.windows.settle_lag;
        cursor.forwarded.add(now, d.counts.forwarded);
        let mut d = self.counted(compartment, unit, d);
        close_gap_window(&mut cursor.gaps, gap, unit);
        let settled_by = chrono::Duration::from_std(settle_lag)
            .ok()
            .and_then(|lag| started.checked_sub_signed(lag))
            .map(MinuteTimestamp::floor);
        if !settle_lag.is_zero()
            && let Some(settled_by) = settled_by
            && let Ok(young) = Window::new(unit.start().max(settled_by), unit.end())
        {
            let mut listed = std::mem::take(&mut d.listed_ids);
            if let Some(before) = &gap.delivered {
                listed.extend(before);
            }
            let ready = young.end().as_datetime()
                + chrono::Duration::from_std(settle_lag).unwrap_or_default();
            cursor.gaps.push(Gap {
                delivered: Some(listed),
                not_before: Some(ready),
                ..Gap::new(
                    young,
                    "settle pass of minutes delivered from the gap ledger",
                    now,
                )
            });
            cursor.gaps.sort_by_key(|g| g.window);
        }
        record(compartment, unit, cursor.delivered_until, d)
    }

    fn counted(&self, compartment: &str, unit: Window, d: Delivered) -> Delivered {
        let c = &d.counts;
        if c.dropped > 0 {
            tracing::warn!(%compartment, window = %unit, dropped = c.dropped, "events dropped by per-event-type caps");
        }
        tracing::debug!(%compartment, window = %unit, listed = c.listed, forwarded = c.forwarded,
            deduplicated = c.deduplicated, filtered = c.filtered, late = c.late_arrivals, pages = d.pages, "range delivered");
        d
    }
}

fn record(
    compartment: &str,
    unit: Window,
    delivered_before: MinuteTimestamp,
    d: Delivered,
) -> RangeRecord {
    RangeRecord {
        compartment: compartment.to_owned(),
        range: unit,
        delivered_before,
        counts: d.counts,
        confirmation: d.confirmation.unwrap_or(Confirmation::NothingToSend),
        first_event_time: d.first,
        last_event_time: d.last,
        windows: d.tallies.into_records(),
    }
}

/// Removes `done` (a part of `gap`) from the ledger entry that holds it.
fn close_gap_window(gaps: &mut Vec<Gap>, gap: &Gap, done: Window) {
    let Some(idx) = gaps
        .iter()
        .position(|g| g.window.contains_window(&done) && g.delivered == gap.delivered)
    else {
        return;
    };
    let g = gaps.remove(idx);
    for (start, end) in [
        (g.window.start(), done.start()),
        (done.end(), g.window.end()),
    ] {
        if let Ok(rest) = Window::new(start, end) {
            gaps.push(Gap {
                window: rest,
                ..g.clone()
            });
        }
    }
    gaps.sort_by_key(|g| g.window);
}
