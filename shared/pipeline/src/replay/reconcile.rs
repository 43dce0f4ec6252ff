//! Replay reconciliation: what a replay forwarded, against what the live run recorded in the
//! shard manifests for the same windows (see the parent module).

use std::collections::BTreeMap;

use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::layout;
use auditfwd_checkpoint::{IdDigest, ObjectStore, shard, shard_manifest};
use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};

use super::{Reconciliation, WindowDifference};
use crate::plan::{aligned_window, split_on_grid};
use crate::runner::{Runner, WorkItem};
use crate::sink::Sink;
use crate::source::AuditSource;

/// One live window's record, and what the replay put in it.
#[derive(Debug, Default)]
struct LiveWindow {
    live_forwarded: u64,
    live_digest: IdDigest,
    replay_forwarded: u64,
    replay_digest: IdDigest,
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Compares what the replay forwarded over `[from, until)` with what the live run
    /// delivered: per aligned window of `eventTime`, the counts and id digests summed over
    /// every shard manifest of the compartment (fresh, settle and gap listings alike).
    pub(super) async fn reconcile(
        &self,
        item: &WorkItem,
        from: MinuteTimestamp,
        until: MinuteTimestamp,
        replayed: &[(DateTime<Utc>, IdHash)],
    ) -> Reconciliation {
        let mut r = Reconciliation::default();
        if until <= from {
            return r;
        }
        let store = &**self.store();
        let tenancy = &item.scope.tenancy;
        let id = item.scope.compartment.as_str();
        let layout = match layout::load(store, tenancy).await {
            Ok(Some(l)) => l,
            Ok(None) => {
                r.minutes_without_record =
                    u64::try_from(Window::new(from, until).map_or(0, |w| w.minutes())).unwrap_or(0);
                return r;
            }
            Err(e) => {
                r.error = Some(format!("cannot read the shard layout: {e}"));
                return r;
            }
        };
        let sid = layout.shard_of(tenancy, &item.scope.region, id);
        let cursor = match shard::load(store, &sid).await {
            Ok(state) => state.and_then(|(s, _)| s.compartments.get(id).cloned()),
            Err(e) => {
                r.error = Some(format!("cannot read the shard state: {e}"));
                return r;
            }
        };
        let now = self.clock().now();
        let horizon = (until.as_datetime() + chrono::Duration::days(2)).min(now);
        let manifests = match shard_manifest::list(store, &sid, from.as_datetime(), horizon).await {
            Ok(m) => m,
            Err(e) => {
                r.error = Some(format!("cannot read the delivery manifests: {e}"));
                return r;
            }
        };
        // The aligned windows wholly inside the range that the live run has listed (below its
        // cursor, not in its gap ledger), each with what the live run forwarded there.
        let step = self.config().windows.max_window_minutes;
        let mut live: BTreeMap<Window, LiveWindow> = BTreeMap::new();
        let covered_until = cursor
            .as_ref()
            .map_or(from, |c| c.delivered_until.min(until));
        let in_gap = |w: &Window| {
            cursor.as_ref().is_some_and(|c| {
                c.gaps
                    .iter()
                    .any(|g| g.window.start() < w.end() && w.start() < g.window.end())
            })
        };
        if let Ok(span) = Window::new(from, covered_until) {
            for w in split_on_grid(span, step) {
                if aligned_window(w.start().as_datetime(), step) == Some(w) && !in_gap(&w) {
                    live.insert(w, LiveWindow::default());
                }
            }
        }
        for m in &manifests {
            for rec in m.ranges.iter().filter(|rec| rec.compartment == id) {
                for t in &rec.windows {
                    let Some(entry) = live.get_mut(&t.window) else {
                        continue;
                    };
                    entry.live_forwarded += t.forwarded;
                    match IdDigest::from_hex(&t.digest) {
                        Some(d) => entry.live_digest.merge(&d),
                        None => {
                            r.error =
                                Some(format!("manifest of {} has an unreadable digest", t.window));
                            return r;
                        }
                    }
                }
            }
        }
        for (time, hash) in replayed {
            if let Some(w) = aligned_window(*time, step)
                && let Some(entry) = live.get_mut(&w)
            {
                entry.replay_forwarded += 1;
                entry.replay_digest.add_hash(hash);
            }
        }
        let total = Window::new(from, until).map_or(0, |w| w.minutes());
        let covered: i64 = live.keys().map(Window::minutes).sum();
        let partial = Window::new(from, covered_until)
            .map(|span| {
                split_on_grid(span, step)
                    .into_iter()
                    .filter(|w| aligned_window(w.start().as_datetime(), step) != Some(*w))
                    .count()
            })
            .unwrap_or(0);
        r.partial_windows = partial as u64;
        let partial_minutes: i64 = Window::new(from, covered_until)
            .map(|span| {
                split_on_grid(span, step)
                    .into_iter()
                    .filter(|w| aligned_window(w.start().as_datetime(), step) != Some(*w))
                    .map(|w| w.minutes())
                    .sum()
            })
            .unwrap_or(0);
        r.minutes_without_record =
            u64::try_from((total - covered - partial_minutes).max(0)).unwrap_or(0);
        for (window, lw) in live {
            r.live_windows += 1;
            r.live_forwarded += lw.live_forwarded;
            r.replay_forwarded += lw.replay_forwarded;
            if lw.live_forwarded == lw.replay_forwarded && lw.live_digest == lw.replay_digest {
                r.matching_windows += 1;
            } else {
                r.differing.push(WindowDifference {
                    window,
                    live_forwarded: lw.live_forwarded,
                    replay_forwarded: lw.replay_forwarded,
                });
            }
        }
        r
    }
}
