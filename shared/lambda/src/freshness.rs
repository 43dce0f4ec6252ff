//! Freshness over the whole tree, after a poller run.
//!
//! The runner records lag over the compartments one run worked, which on Lambda is not all of
//! them: a poller that fans out works none, one stopped by its deadline leaves some unstarted,
//! and a worker sees a batch of five. So after each run the poller reads the cursor of every
//! collected compartment the run did not report one for (one state GET each, a few at a time)
//! and records freshness over all of them with `auditfwd_telemetry::freshness::record`:
//! `FreshnessLagAlarm` then covers compartments whose work is stuck in the queue, and the
//! dashboard's "furthest behind" table lists them.

use std::collections::BTreeMap;
use std::sync::Arc;

use auditfwd_checkpoint::{Scope, state};
use auditfwd_pipeline::{RunReport, WorkItem};
use auditfwd_telemetry::freshness::{self, CompartmentFreshness};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;

use crate::{Backend, BackendRunner};

/// State reads in flight at once.
const READS_AT_ONCE: usize = 16;

/// What is known of one compartment's cursor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cursor {
    delivered_until: Option<DateTime<Utc>>,
    open_gaps: usize,
}

/// Records freshness over every item of the tree: cursors from `report` where the run
/// reported one, read from the store otherwise (unless `read_missing` is false: an invocation
/// already past its stop point spends no time on reads, and the next run covers them).
/// Returns how many compartments had no cursor (never worked, not read, or the read failed:
/// logged).
pub async fn record_tree<B: Backend>(
    runner: &BackendRunner<B>,
    items: &[WorkItem],
    report: &RunReport,
    read_missing: bool,
) -> usize {
    let mut cursors: BTreeMap<Scope, Cursor> = report
        .compartments
        .iter()
        .filter_map(|c| {
            c.delivered_until.map(|d| {
                (
                    c.scope.clone(),
                    Cursor {
                        delivered_until: Some(d.as_datetime()),
                        open_gaps: c.open_gaps.len(),
                    },
                )
            })
        })
        .collect();
    let missing: Vec<Scope> = items
        .iter()
        .map(|i| i.scope.clone())
        .filter(|s| read_missing && !cursors.contains_key(s))
        .collect();
    // Owned scopes and a shared store: the reads run concurrently as 'static futures.
    let store = Arc::clone(runner.store());
    let read: Vec<(Scope, Cursor)> = futures::stream::iter(missing)
        .map(move |scope| {
            let store = Arc::clone(&store);
            async move {
                let cursor = match state::load(&*store, &scope).await {
                    Ok(Some((s, _))) => Cursor {
                        delivered_until: Some(s.delivered_until.as_datetime()),
                        open_gaps: s.gaps.len(),
                    },
                    Ok(None) => Cursor::default(),
                    Err(e) => {
                        tracing::warn!(%scope, error = %e, "cannot read the compartment's state for its freshness");
                        Cursor::default()
                    }
                };
                (scope, cursor)
            }
        })
        .buffer_unordered(READS_AT_ONCE)
        .collect()
        .await;
    cursors.extend(read);
    let now = runner.clock().now();
    let compartments = freshness_of(items, &cursors, now);
    freshness::record(&compartments);
    compartments
        .iter()
        .filter(|c| c.lag_seconds.is_none())
        .count()
}

/// One entry per item, in the items' order.
fn freshness_of<'a>(
    items: &'a [WorkItem],
    cursors: &BTreeMap<Scope, Cursor>,
    now: DateTime<Utc>,
) -> Vec<CompartmentFreshness<'a>> {
    items
        .iter()
        .map(|item| {
            let cursor = cursors.get(&item.scope).copied().unwrap_or_default();
            CompartmentFreshness {
                region: &item.scope.region,
                compartment: item.scope.compartment.as_str(),
                name: &item.name,
                lag_seconds: cursor
                    .delivered_until
                    .map(|d| (now - d).num_seconds().max(0) as f64),
                open_gaps: cursor.open_gaps,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditfwd_oci::Ocid;

    fn item(region: &str, compartment: &str, name: &str) -> WorkItem {
        WorkItem {
            scope: Scope::new(
                Ocid::parse("ocid1.tenancy.oc1..aaaaaaaatenancy").unwrap(),
                region,
                Ocid::parse(compartment).unwrap(),
            ),
            name: name.into(),
        }
    }

    #[test]
    fn lag_is_now_minus_the_cursor_and_unknown_without_one() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .to_utc();
        let items = [
            item(
                "eu-frankfurt-1",
                "ocid1.compartment.oc1..aaaaaaaaa",
                "root/a",
            ),
            item(
                "eu-frankfurt-1",
                "ocid1.compartment.oc1..aaaaaaaab",
                "root/b",
            ),
        ];
        let mut cursors = BTreeMap::new();
        cursors.insert(
            items[0].scope.clone(),
            Cursor {
                delivered_until: Some(now - chrono::Duration::minutes(90)),
                open_gaps: 2,
            },
        );
        let f = freshness_of(&items, &cursors, now);
        assert_eq!(f[0].lag_seconds, Some(5400.0));
        assert_eq!(f[0].open_gaps, 2);
        assert_eq!(f[0].name, "root/a");
        assert_eq!(f[1].lag_seconds, None, "no cursor: no lag, never 0");
        assert_eq!(f[1].compartment, "ocid1.compartment.oc1..aaaaaaaab");
    }
}
