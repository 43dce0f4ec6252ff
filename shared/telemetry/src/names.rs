//! Metric names, one constant each, and [`METRICS`]: the table that describes them.
//!
//! Labels are low-cardinality by design: `region`, `pass`, `reason`, `operation`, `status`, `limit`.
//! A compartment OCID is never a label (tenancies have thousands); the compartment's path is one
//! only on [`COMPARTMENT_LAG`], and only while few compartments are collected. Per-compartment
//! detail is in `auditfwd status`, the checkpoint, and the "compartment lag" log lines of the
//! compartments furthest behind ([`crate::freshness`]).

/// What kind of metric a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// A value that is set.
    Gauge,
    /// A distribution of observations.
    Histogram,
}

/// The unit of a metric's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count of things.
    Count,
    /// Seconds.
    Seconds,
}

impl Unit {
    /// The unit as the `metrics` facade names it (for `describe_*!`).
    pub const fn to_metrics(self) -> metrics::Unit {
        match self {
            Unit::Count => metrics::Unit::Count,
            Unit::Seconds => metrics::Unit::Seconds,
        }
    }

    /// The CloudWatch unit name (`MetricDatum.Unit`, and `Unit` in an EMF metric definition).
    pub const fn cloudwatch(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// How several series of one metric combine into one.
///
/// CloudWatch needs this where Prometheus does not: the dimensionless total that alarms watch is
/// one number per flush, made from every labelled series, and series that differ only in labels
/// that are not CloudWatch dimensions (such as `status`) are merged the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// Add them up: counters (their deltas), histograms (their observations), and gauges that
    /// count things spread over the series (open gaps in all regions).
    Sum,
    /// Take the largest: gauges where the worst series is what matters (freshness lag).
    Max,
}

/// One metric's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    /// Its name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The unit of its values.
    pub unit: Unit,
    /// The labels it carries.
    pub labels: &'static [&'static str],
    /// What it means.
    pub help: &'static str,
    /// How its series combine into the dimensionless CloudWatch total.
    pub total: Total,
}

/// The description of a metric name, if it is one of [`METRICS`].
pub fn spec(name: &str) -> Option<&'static MetricSpec> {
    METRICS.iter().find(|m| m.name == name)
}

/// Events OCI returned in listings.
pub const EVENTS_LISTED: &str = "auditfwd_events_listed_total";
/// Events the sink confirmed.
pub const EVENTS_FORWARDED: &str = "auditfwd_events_forwarded_total";
/// Events skipped because they were delivered before.
pub const EVENTS_DEDUPLICATED: &str = "auditfwd_events_deduplicated_total";
/// Events removed by a filter, by reason.
pub const EVENTS_FILTERED: &str = "auditfwd_events_filtered_total";
/// Events dropped by a drop-policy rate cap, by reason.
pub const EVENTS_DROPPED: &str = "auditfwd_events_dropped_total";
/// Events first seen on a window's settle pass.
pub const LATE_ARRIVALS: &str = "auditfwd_late_arrivals_total";
/// Credential headers redacted.
pub const HEADERS_REDACTED: &str = "auditfwd_headers_redacted_total";
/// OCI API requests, by operation and outcome.
pub const OCI_REQUESTS: &str = "auditfwd_oci_requests_total";
/// OCI requests retried by the client, by operation and the failure that caused it.
pub const OCI_RETRIES: &str = "auditfwd_oci_retries_total";
/// OCI answers with 429 (throttled), every attempt, by operation.
pub const OCI_THROTTLED: &str = "auditfwd_oci_throttled_total";
/// (region, compartment) pairs collected, as last listed.
pub const COMPARTMENTS: &str = "auditfwd_compartments";
/// (region, compartment) pairs whose due work the last run left undone.
pub const COMPARTMENTS_UNFINISHED: &str = "auditfwd_compartments_unfinished";
/// Per-compartment lag, only while few compartments are collected.
pub const COMPARTMENT_LAG: &str = "auditfwd_compartment_lag_seconds";
/// The most (region, compartment) pairs for which [`COMPARTMENT_LAG`] is recorded; above it,
/// only the per-region [`CHECKPOINT_LAG`] is (a label per compartment would make thousands of
/// series in a large tenancy).
pub const COMPARTMENT_LAG_LIMIT: usize = 25;
/// Windows committed, by pass.
pub const WINDOWS_COMMITTED: &str = "auditfwd_windows_committed_total";
/// Windows that failed and went to (or stayed in) the gap ledger.
pub const WINDOWS_FAILED: &str = "auditfwd_windows_failed_total";
/// Open gap-ledger entries.
pub const OPEN_GAPS: &str = "auditfwd_open_gaps";
/// How far the oldest compartment's cursor is behind now.
pub const CHECKPOINT_LAG: &str = "auditfwd_checkpoint_lag_seconds";
/// Time spent in one syslog send.
pub const SINK_SEND_SECONDS: &str = "auditfwd_sink_send_seconds";
/// Failed sends followed by a reconnect.
pub const SINK_RECONNECTS: &str = "auditfwd_sink_reconnects_total";
/// Time spent waiting for a rate limit (back-pressure), by limit.
pub const RATE_LIMIT_WAIT: &str = "auditfwd_rate_limit_wait_seconds";
/// Compartments skipped because another runner holds their lease.
pub const COMPARTMENTS_LEASED_ELSEWHERE: &str = "auditfwd_compartments_leased_elsewhere_total";
/// Ranges that fell out of OCI's audit retention before they were delivered: counted once, when
/// the loss is recorded.
pub const GAPS_LOST: &str = "auditfwd_gaps_lost_total";

/// Every metric auditfwd records.
pub const METRICS: &[MetricSpec] = &[
    MetricSpec {
        name: EVENTS_LISTED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "pass", "tenancy", "source"],
        help: "Audit events OCI returned in ListEvents pages.",
        total: Total::Sum,
    },
    MetricSpec {
        name: EVENTS_FORWARDED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "pass", "tenancy", "source"],
        help: "Audit events the syslog sink confirmed (RELP ack, TCP/TLS flush or UDP send).",
        total: Total::Sum,
    },
    MetricSpec {
        name: EVENTS_DEDUPLICATED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "pass", "tenancy", "source"],
        help: "Audit events not sent because they had been delivered before.",
        total: Total::Sum,
    },
    MetricSpec {
        name: EVENTS_FILTERED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "Audit events removed by a configured filter, by reason.",
        total: Total::Sum,
    },
    MetricSpec {
        name: EVENTS_DROPPED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "Audit events dropped by a per-event-type rate cap with the drop policy.",
        total: Total::Sum,
    },
    MetricSpec {
        name: LATE_ARRIVALS,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "tenancy", "source"],
        help: "Audit events first seen on a window's settle pass: OCI made them visible late.",
        total: Total::Sum,
    },
    MetricSpec {
        name: HEADERS_REDACTED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Credential headers replaced by the redaction marker.",
        total: Total::Sum,
    },
    MetricSpec {
        name: OCI_REQUESTS,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["operation", "status"],
        help: "OCI API calls made by the pipeline, by operation and final outcome (HTTP status, or error kind).",
        total: Total::Sum,
    },
    MetricSpec {
        name: OCI_RETRIES,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["operation", "reason"],
        help: "OCI requests the client retried, by operation and the failure (HTTP status or error kind).",
        total: Total::Sum,
    },
    MetricSpec {
        name: OCI_THROTTLED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["operation"],
        help: "OCI answers with HTTP 429 (throttled), counting every attempt.",
        total: Total::Sum,
    },
    MetricSpec {
        name: WINDOWS_COMMITTED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "pass", "tenancy", "source"],
        help: "Windows whose delivery was confirmed and checkpointed.",
        total: Total::Sum,
    },
    MetricSpec {
        name: WINDOWS_FAILED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "reason", "tenancy", "source"],
        help: "Window passes that failed (the window stays due or goes to the gap ledger).",
        total: Total::Sum,
    },
    MetricSpec {
        name: OPEN_GAPS,
        kind: MetricKind::Gauge,
        unit: Unit::Count,
        labels: &["region"],
        help: "Windows in the gap ledger, not yet delivered.",
        total: Total::Sum,
    },
    MetricSpec {
        name: CHECKPOINT_LAG,
        kind: MetricKind::Gauge,
        unit: Unit::Seconds,
        labels: &["region"],
        help: "Now minus the oldest delivered_until among the region's compartments (freshness).",
        total: Total::Max,
    },
    MetricSpec {
        name: COMPARTMENTS,
        kind: MetricKind::Gauge,
        unit: Unit::Count,
        labels: &["region"],
        help: "(region, compartment) pairs collected, as the compartment tree was last listed.",
        total: Total::Sum,
    },
    MetricSpec {
        name: COMPARTMENTS_UNFINISHED,
        kind: MetricKind::Gauge,
        unit: Unit::Count,
        labels: &["region"],
        help: "(region, compartment) pairs whose due work the last run left undone (stopped for the deadline, pending, a failing window, open gaps).",
        total: Total::Sum,
    },
    MetricSpec {
        name: COMPARTMENT_LAG,
        kind: MetricKind::Gauge,
        unit: Unit::Seconds,
        labels: &["region", "compartment"],
        help: "Now minus one compartment's delivered_until; recorded only while at most 25 (region, compartment) pairs are collected.",
        total: Total::Max,
    },
    MetricSpec {
        name: SINK_SEND_SECONDS,
        kind: MetricKind::Histogram,
        unit: Unit::Seconds,
        labels: &[],
        help: "Duration of one syslog batch send, until confirmation.",
        total: Total::Sum,
    },
    MetricSpec {
        name: SINK_RECONNECTS,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Syslog sends that failed and were retried on a new connection.",
        total: Total::Sum,
    },
    MetricSpec {
        name: RATE_LIMIT_WAIT,
        kind: MetricKind::Histogram,
        unit: Unit::Seconds,
        labels: &["limit"],
        help: "Time one acquisition waited for a rate limit (events to syslog, OCI requests, per-type caps).",
        total: Total::Sum,
    },
    MetricSpec {
        name: COMPARTMENTS_LEASED_ELSEWHERE,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Compartments skipped because another runner held their lease.",
        total: Total::Sum,
    },
    MetricSpec {
        name: GAPS_LOST,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "tenancy", "source"],
        help: "Ranges that fell out of OCI's audit retention before they were delivered (each counted once).",
        total: Total::Sum,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_prometheus_names_with_unit_suffixes() {
        let mut seen = std::collections::BTreeSet::new();
        for m in METRICS {
            assert!(seen.insert(m.name), "{} listed twice", m.name);
            assert!(m.name.starts_with("auditfwd_"));
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
            if m.kind == MetricKind::Counter {
                assert!(
                    m.name.ends_with("_total"),
                    "{}: counters end in _total",
                    m.name
                );
            }
            if m.unit == Unit::Seconds {
                assert!(m.name.contains("_seconds"), "{}: unit in the name", m.name);
            }
            if m.kind != MetricKind::Gauge {
                assert_eq!(
                    m.total,
                    Total::Sum,
                    "{}: counters and histograms add up",
                    m.name
                );
            }
            assert_eq!(spec(m.name), Some(m));
        }
    }
}
