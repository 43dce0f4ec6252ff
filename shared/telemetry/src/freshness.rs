//! Freshness over every collected compartment, recorded in one call.
//!
//! Why one call over *all* compartments: a Lambda invocation works only some of them (a
//! worker gets a batch of five, a poller that fans out works none), and a lag computed over
//! the compartments one invocation happened to work says nothing about the others. The caller
//! (the runner after a cycle, the poller over the whole tree) passes every (region,
//! compartment) it knows with the compartment's lag, and [`record`] sets:
//!
//! | metric | labels | value |
//! |---|---|---|
//! | [`CHECKPOINT_LAG`] | `region` | the largest lag in the region (compartments without a cursor yet left out) |
//! | [`OPEN_GAPS`] | `region` | gap-ledger entries summed over the region |
//! | [`COMPARTMENTS`] | `region` | how many compartments the region has |
//! | [`COMPARTMENT_LAG`] | `region`, `compartment` | each compartment's lag, only while at most [`COMPARTMENT_LAG_LIMIT`] are given |
//!
//! and logs the [`TOP_LAGGING`] compartments furthest behind as one `compartment lag` line
//! each (fields `rank`, `region`, `compartment`, `name`, `lag_seconds`). That is how
//! per-compartment freshness reaches CloudWatch without a metric per compartment: the
//! dashboard's Logs Insights table reads the latest line of each rank. A metric label per
//! compartment would make thousands of series (each a billed CloudWatch metric) in a large
//! tenancy, and the top-N set changes from run to run.
//!
//! [`record_unfinished`] counts what a run left undone ([`COMPARTMENTS_UNFINISHED`]).

use std::collections::BTreeMap;

use crate::names::{
    CHECKPOINT_LAG, COMPARTMENT_LAG, COMPARTMENT_LAG_LIMIT, COMPARTMENTS, COMPARTMENTS_UNFINISHED,
    OPEN_GAPS,
};

/// How many of the compartments furthest behind are logged by [`record`].
pub const TOP_LAGGING: usize = 10;

/// The message of the per-compartment lines [`record`] logs (what the dashboard's Logs
/// Insights table filters on).
pub const LOG_MESSAGE: &str = "compartment lag";

/// The fields of those lines.
pub const LOG_FIELDS: &[&str] = &["rank", "region", "compartment", "name", "lag_seconds"];

/// One (region, compartment) as [`record`] takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CompartmentFreshness<'a> {
    /// The region id (`eu-frankfurt-1`).
    pub region: &'a str,
    /// The compartment OCID.
    pub compartment: &'a str,
    /// Its path in the tree (`root/prod/app`).
    pub name: &'a str,
    /// Now minus its `delivered_until`, in seconds; `None` when it has no cursor yet (never
    /// worked) or its state could not be read.
    pub lag_seconds: Option<f64>,
    /// Gap-ledger entries open.
    pub open_gaps: usize,
}

/// Records freshness over `compartments`, which should be every collected (region,
/// compartment): see the module documentation for what is set and logged. Returns the
/// compartments furthest behind, largest lag first (at most [`TOP_LAGGING`]).
pub fn record<'a>(compartments: &[CompartmentFreshness<'a>]) -> Vec<CompartmentFreshness<'a>> {
    #[derive(Default)]
    struct Region {
        lag: Option<f64>,
        gaps: usize,
        count: usize,
    }
    let mut regions: BTreeMap<&str, Region> = BTreeMap::new();
    for c in compartments {
        let r = regions.entry(c.region).or_default();
        r.count += 1;
        r.gaps += c.open_gaps;
        if let Some(lag) = c.lag_seconds {
            r.lag = Some(r.lag.map_or(lag, |m| m.max(lag)));
        }
    }
    for (region, r) in regions {
        if let Some(lag) = r.lag {
            metrics::gauge!(CHECKPOINT_LAG, "region" => region.to_owned()).set(lag);
        }
        metrics::gauge!(OPEN_GAPS, "region" => region.to_owned()).set(r.gaps as f64);
        metrics::gauge!(COMPARTMENTS, "region" => region.to_owned()).set(r.count as f64);
    }
    if compartments.len() <= COMPARTMENT_LAG_LIMIT {
        for c in compartments {
            if let Some(lag) = c.lag_seconds {
                metrics::gauge!(COMPARTMENT_LAG, "region" => c.region.to_owned(), "compartment" => c.name.to_owned())
                    .set(lag);
            }
        }
    }
    let top = top_lagging(compartments);
    for (rank, c) in top.iter().enumerate() {
        tracing::info!(
            rank = rank + 1,
            region = c.region,
            compartment = c.compartment,
            name = c.name,
            lag_seconds = c.lag_seconds.unwrap_or_default(),
            open_gaps = c.open_gaps,
            "{LOG_MESSAGE}"
        );
    }
    top
}

/// The compartments with a lag, largest first (ties by region and name, so the order is
/// stable), at most [`TOP_LAGGING`].
fn top_lagging<'a>(compartments: &[CompartmentFreshness<'a>]) -> Vec<CompartmentFreshness<'a>> {
    let mut with_lag: Vec<&CompartmentFreshness<'a>> = compartments
        .iter()
        .filter(|c| c.lag_seconds.is_some_and(f64::is_finite))
        .collect();
    with_lag.sort_by(|a, b| {
        b.lag_seconds
            .unwrap_or_default()
            .total_cmp(&a.lag_seconds.unwrap_or_default())
            .then_with(|| (a.region, a.name).cmp(&(b.region, b.name)))
    });
    with_lag.into_iter().take(TOP_LAGGING).cloned().collect()
}

/// Records how many (region, compartment) pairs a run left with due work undone, per region
/// (every region the run covered, 0 included, so a region that caught up reads 0).
pub fn record_unfinished<'a>(per_region: impl IntoIterator<Item = (&'a str, usize)>) {
    for (region, n) in per_region {
        metrics::gauge!(COMPARTMENTS_UNFINISHED, "region" => region.to_owned()).set(n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::prometheus_recorder;
    use prometheus_parse::{Scrape, Value};

    fn c<'a>(
        region: &'a str,
        name: &'a str,
        lag: Option<f64>,
        gaps: usize,
    ) -> CompartmentFreshness<'a> {
        CompartmentFreshness {
            region,
            compartment: name,
            name,
            lag_seconds: lag,
            open_gaps: gaps,
        }
    }

    fn gauge(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .and_then(|s| match s.value {
                Value::Gauge(v) => Some(v),
                _ => None,
            })
    }

    fn recorded(f: impl FnOnce()) -> Scrape {
        let recorder = prometheus_recorder().unwrap();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, f);
        Scrape::parse(handle.render().lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    #[test]
    fn regional_lag_is_the_largest_over_every_compartment_given() {
        let all = [
            c("eu-frankfurt-1", "root/a", Some(120.0), 0),
            c("eu-frankfurt-1", "root/b", Some(7200.0), 2),
            c("eu-frankfurt-1", "root/new", None, 0),
            c("us-ashburn-1", "root/a", Some(60.0), 1),
        ];
        let scrape = recorded(|| {
            record(&all);
        });
        let fra = [("region", "eu-frankfurt-1")];
        let iad = [("region", "us-ashburn-1")];
        assert_eq!(gauge(&scrape, CHECKPOINT_LAG, &fra), Some(7200.0));
        assert_eq!(gauge(&scrape, CHECKPOINT_LAG, &iad), Some(60.0));
        assert_eq!(gauge(&scrape, OPEN_GAPS, &fra), Some(2.0));
        assert_eq!(
            gauge(&scrape, COMPARTMENTS, &fra),
            Some(3.0),
            "with or without a cursor"
        );
        assert_eq!(gauge(&scrape, COMPARTMENTS, &iad), Some(1.0));
        assert_eq!(
            gauge(
                &scrape,
                COMPARTMENT_LAG,
                &[("region", "eu-frankfurt-1"), ("compartment", "root/b")]
            ),
            Some(7200.0)
        );
    }

    #[test]
    fn a_region_without_any_cursor_reports_no_lag_rather_than_zero() {
        let scrape = recorded(|| {
            record(&[c("eu-frankfurt-1", "root/new", None, 0)]);
        });
        assert_eq!(
            gauge(&scrape, CHECKPOINT_LAG, &[("region", "eu-frankfurt-1")]),
            None
        );
        assert_eq!(
            gauge(&scrape, COMPARTMENTS, &[("region", "eu-frankfurt-1")]),
            Some(1.0)
        );
    }

    #[test]
    fn many_compartments_get_no_per_compartment_series_only_the_top_lagging_lines() {
        let names: Vec<String> = (0..COMPARTMENT_LAG_LIMIT + 5)
            .map(|i| format!("root/c{i:03}"))
            .collect();
        let all: Vec<CompartmentFreshness<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| c("eu-frankfurt-1", n, Some(i as f64 * 10.0), 0))
            .collect();
        let mut top = Vec::new();
        let scrape = recorded(|| top = record(&all));
        assert!(scrape.samples.iter().all(|s| s.metric != COMPARTMENT_LAG));
        assert_eq!(top.len(), TOP_LAGGING);
        let expected: Vec<&str> = names
            .iter()
            .rev()
            .take(TOP_LAGGING)
            .map(String::as_str)
            .collect();
        assert_eq!(
            top.iter().map(|c| c.name).collect::<Vec<_>>(),
            expected,
            "largest lag first"
        );
    }

    #[test]
    fn compartments_without_a_lag_are_never_among_the_furthest_behind() {
        let top = top_lagging(&[
            c("r", "root/new", None, 0),
            c("r", "root/nan", Some(f64::NAN), 0),
            c("r", "root/b", Some(5.0), 0),
            c("r", "root/a", Some(5.0), 0),
        ]);
        assert_eq!(
            top.iter().map(|c| c.name).collect::<Vec<_>>(),
            ["root/a", "root/b"]
        );
    }

    #[test]
    fn unfinished_is_set_per_region_zero_included() {
        let scrape = recorded(|| record_unfinished([("eu-frankfurt-1", 3), ("us-ashburn-1", 0)]));
        assert_eq!(
            gauge(
                &scrape,
                COMPARTMENTS_UNFINISHED,
                &[("region", "eu-frankfurt-1")]
            ),
            Some(3.0)
        );
        assert_eq!(
            gauge(
                &scrape,
                COMPARTMENTS_UNFINISHED,
                &[("region", "us-ashburn-1")]
            ),
            Some(0.0)
        );
    }
}
