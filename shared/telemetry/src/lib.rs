//! auditfwd's telemetry: metric names, their exporters, and logging.
//!
//! - [`names`] is the single table of every metric ([`METRICS`]: name, kind, unit, labels,
//!   help), used by every crate that records through the `metrics` facade, and documented in
//!   `docs/metrics.md` (a test here keeps the two equal).
//! - [`prometheus`] installs the recorder behind the daemon's `/metrics` endpoint
//!   ([`install_prometheus`]); the daemon serves [`PrometheusHandle::render`] itself.
//! - [`emf`] is a `metrics` recorder for Lambda that writes CloudWatch Embedded Metric Format
//!   lines on stdout when flushed ([`install_emf`], [`EmfHandle::flush_to_stdout`]).
//! - [`freshness`] records lag, gaps and compartment counts over every collected compartment in
//!   one call, and logs the compartments furthest behind (per-compartment freshness without a
//!   metric per compartment).
//! - [`logging`] sets up `tracing` for the CLI/daemon (stderr) or Lambda (stdout, honouring
//!   `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`) ([`init_logging`]).
//!
//! The pipeline records with `metrics::counter!(names::EVENTS_FORWARDED, ...)` and never knows
//! which exporter the entry point installed; both publish the same names.

pub mod emf;
mod error;
pub mod freshness;
pub mod logging;
pub mod names;
pub mod prometheus;

pub use emf::{EmfHandle, EmfRecorder, install_emf};
pub use error::TelemetryError;
pub use logging::{LogFormat, LogSettings, LogTarget, init_logging, printable};
pub use names::{METRICS, MetricKind, MetricSpec, Total, Unit};
pub use prometheus::{PrometheusHandle, install_prometheus};

/// Registers every metric's help text and unit with the current recorder (the global one, or a
/// local one inside `metrics::with_local_recorder`).
///
/// The install functions call it; call it yourself only for a recorder you installed by hand.
pub fn describe() {
    for m in METRICS {
        let unit = m.unit.to_metrics();
        match m.kind {
            MetricKind::Counter => metrics::describe_counter!(m.name, unit, m.help),
            MetricKind::Gauge => metrics::describe_gauge!(m.name, unit, m.help),
            MetricKind::Histogram => metrics::describe_histogram!(m.name, unit, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// One row of the metrics table in `docs/metrics.md`.
    #[derive(Debug, PartialEq)]
    struct DocRow {
        kind: String,
        unit: String,
        labels: Vec<String>,
    }

    /// The rows of the table under `## Metrics` in `docs/metrics.md`, by metric name.
    fn documented_metrics() -> BTreeMap<String, DocRow> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
        let doc = std::fs::read_to_string(path).expect("docs/metrics.md exists");
        let section = doc
            .split("\n## ")
            .find(|s| s.starts_with("Metrics\n"))
            .expect("docs/metrics.md has a `## Metrics` section");
        let mut rows = BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert!(
                cells.len() >= 5,
                "a row has name, type, unit, labels, meaning: {line}"
            );
            let name = cells[0].trim_matches('`').to_owned();
            let labels = cells[3]
                .split(',')
                .map(|l| l.trim().trim_matches('`').to_owned())
                .filter(|l| !l.is_empty() && l != "none")
                .collect();
            let row = DocRow {
                kind: cells[1].to_owned(),
                unit: cells[2].to_owned(),
                labels,
            };
            assert!(
                rows.insert(name.clone(), row).is_none(),
                "{name} is documented twice"
            );
        }
        rows
    }

    #[test]
    fn docs_metrics_md_lists_exactly_the_metrics_table() {
        let documented = documented_metrics();
        for m in METRICS {
            let expected = DocRow {
                kind: format!("{:?}", m.kind).to_lowercase(),
                unit: format!("{:?}", m.unit).to_lowercase(),
                labels: m.labels.iter().map(|l| (*l).to_owned()).collect(),
            };
            let row = documented.get(m.name);
            assert!(row.is_some(), "{} is missing from docs/metrics.md", m.name);
            assert_eq!(
                row,
                Some(&expected),
                "{}: docs/metrics.md disagrees with METRICS",
                m.name
            );
        }
        for name in documented.keys() {
            assert!(
                METRICS.iter().any(|m| m.name == name),
                "docs/metrics.md lists {name}, which is not in METRICS"
            );
        }
    }

    #[test]
    fn describe_reaches_the_recorder_with_units() {
        let recorder = prometheus::prometheus_recorder().unwrap();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            metrics::counter!(names::HEADERS_REDACTED).increment(1);
        });
        let text = handle.render();
        assert!(text.contains(
            "# HELP auditfwd_headers_redacted_total Credential headers replaced by the redaction marker."
        ));
    }
}
