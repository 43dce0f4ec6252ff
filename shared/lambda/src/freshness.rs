//! Freshness over the whole tree, after a poller run.
//!
//! The runner records lag over the compartments one run worked, which on Lambda is not all of
//! them: a poller that fans out works none, one stopped by its deadline leaves some unstarted,
//! and a worker sees a few shards. So after each run the poller takes the cursor of every
//! collected compartment from the shard states (one GET per shard of about 128 compartments,
//! read anyway to decide what to send) and records freshness over all of them with
//! `auditfwd_telemetry::freshness::record`: `FreshnessLagAlarm` then covers compartments
//! whose work is stuck in the queue, and the dashboard's "furthest behind" table lists them.
//!
//! With several runners (tenancies, log searches) the poller gathers each runner's
//! compartments ([`tree`]) and records them in one call ([`record`]), since the regional
//! gauges are set, not added: recorded runner by runner, the last runner's would hide the
//! others'. With several tenancies each compartment's name carries its tenancy
//! (`acme: root/prod/app`), in the per-compartment gauge and log lines alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use auditfwd_checkpoint::shard::{self, ShardId, ShardState};
use auditfwd_checkpoint::{ObjectStore, Scope};
use auditfwd_pipeline::{RunReport, ShardItem, WorkItem};
use auditfwd_telemetry::freshness::{self, CompartmentFreshness};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;

/// State reads in flight at once.
const READS_AT_ONCE: usize = 16;

/// What is known of one compartment's cursor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cursor {
    delivered_until: Option<DateTime<Utc>>,
    open_gaps: usize,
}

/// Reads the state of every shard of `shards`, a few at a time. A shard without state, or
/// whose read failed (logged), is absent.
pub async fn read_shards<S: ObjectStore + 'static>(
    store: &Arc<S>,
    shards: &[ShardItem],
) -> BTreeMap<ShardId, ShardState> {
    let ids: Vec<ShardId> = shards.iter().map(|s| s.shard.clone()).collect();
    futures::stream::iter(ids)
        .map(|id| {
            let store = Arc::clone(store);
            async move {
                match shard::load(&*store, &id).await {
                    Ok(Some((s, _))) => Some((id, s)),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::warn!(shard = %id, error = %e, "cannot read the shard's state");
                        None
                    }
                }
            }
        })
        .buffer_unordered(READS_AT_ONCE)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// One compartment's freshness, owned, until every runner's are recorded together.
#[derive(Debug, Clone, PartialEq)]
pub struct Fresh {
    /// The region id.
    pub region: String,
    /// The compartment OCID.
    pub compartment: String,
    /// Its path in the tree, prefixed by its tenancy's name when several are configured.
    pub name: String,
    /// Now minus its cursor, in seconds; `None` without a cursor.
    pub lag_seconds: Option<f64>,
    /// Gap-ledger entries needing attention.
    pub open_gaps: usize,
}

/// The freshness of every compartment of `shards`: cursors from `report` where the run
/// reported one, from the shard states `states` otherwise. `tenancy` prefixes the names
/// (`Some` when several tenancies are configured).
pub fn tree(
    shards: &[ShardItem],
    report: &RunReport,
    states: &BTreeMap<ShardId, ShardState>,
    now: DateTime<Utc>,
    tenancy: Option<&str>,
) -> Vec<Fresh> {
    let mut cursors: BTreeMap<Scope, Cursor> = BTreeMap::new();
    for s in shards {
        let Some(state) = states.get(&s.shard) else {
            continue;
        };
        for item in &s.compartments {
            if let Some(c) = state.compartments.get(item.scope.compartment.as_str()) {
                cursors.insert(
                    item.scope.clone(),
                    Cursor {
                        delivered_until: Some(c.delivered_until.as_datetime()),
                        open_gaps: c.gaps.iter().filter(|g| g.needs_attention(now)).count(),
                    },
                );
            }
        }
    }
    for c in &report.compartments {
        if let Some(d) = c.delivered_until {
            cursors.insert(
                c.scope.clone(),
                Cursor {
                    delivered_until: Some(d.as_datetime()),
                    open_gaps: c.open_gaps.len(),
                },
            );
        }
    }
    let items: Vec<WorkItem> = shards
        .iter()
        .flat_map(|s| s.compartments.iter().cloned())
        .collect();
    freshness_of(&items, &cursors, now)
        .into_iter()
        .map(|c| Fresh {
            region: c.region.to_owned(),
            compartment: c.compartment.to_owned(),
            name: match tenancy {
                Some(t) => format!("{t}: {}", c.name),
                None => c.name.to_owned(),
            },
            lag_seconds: c.lag_seconds,
            open_gaps: c.open_gaps,
        })
        .collect()
}

/// Records freshness over `all` (every runner's compartments) in one call; returns how many
/// had no cursor (never worked, or their shard's state not read).
pub fn record(all: &[Fresh]) -> usize {
    let compartments: Vec<CompartmentFreshness<'_>> = all
        .iter()
        .map(|c| CompartmentFreshness {
            region: &c.region,
            compartment: &c.compartment,
            name: &c.name,
            lag_seconds: c.lag_seconds,
            open_gaps: c.open_gaps,
        })
        .collect();
    freshness::record(&compartments);
    all.iter().filter(|c| c.lag_seconds.is_none()).count()
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

    #[test]
    fn with_several_tenancies_each_name_carries_its_tenancy() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .to_utc();
        let shards = vec![ShardItem {
            shard: ShardId {
                tenancy: Ocid::parse("ocid1.tenancy.oc1..aaaaaaaatenancy").unwrap(),
                region: "eu-frankfurt-1".into(),
                index: 0,
                count: 1,
            },
            compartments: vec![item(
                "eu-frankfurt-1",
                "ocid1.compartment.oc1..aaaaaaaaa",
                "root/a",
            )],
        }];
        let report = RunReport::default();
        let named = tree(&shards, &report, &BTreeMap::new(), now, Some("acme"));
        assert_eq!(named[0].name, "acme: root/a");
        assert_eq!(named[0].lag_seconds, None);
        let plain = tree(&shards, &report, &BTreeMap::new(), now, None);
        assert_eq!(plain[0].name, "root/a", "one tenancy: names as before");
        assert_eq!(record(&named), 1, "one compartment without a cursor");
    }
}
