//! The Prometheus exporter behind the daemon's `/metrics`.
//!
//! Only the recorder comes from `metrics-exporter-prometheus` (its HTTP listener is compiled
//! out): the daemon's own HTTP server answers `/metrics` with [`PrometheusHandle::render`], so
//! `/metrics` and `/health` share one listener, one bind address and one shutdown.
//!
//! Names are exported exactly as [`METRICS`] spells them (the exporter's "recommended naming"
//! is off: our names already end in `_total` and carry their unit). Histograms are rendered as
//! real Prometheus histograms with [`SECONDS_BUCKETS`] (or [`COUNT_BUCKETS`]), not summaries, so
//! they can be aggregated across daemons.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

pub use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

use crate::TelemetryError;
use crate::names::{METRICS, MetricKind, Unit};

/// Bucket upper bounds for histograms in seconds: a syslog batch send takes milliseconds on a
/// LAN and up to the send timeout (tens of seconds) when the receiver stalls.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Bucket upper bounds for histograms that count things.
pub const COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// A Prometheus recorder configured for auditfwd's metrics, not installed.
///
/// For tests (with `metrics::with_local_recorder`) and for callers that combine recorders;
/// the daemon uses [`install_prometheus`].
pub fn prometheus_recorder() -> Result<PrometheusRecorder, TelemetryError> {
    let mut builder = PrometheusBuilder::new();
    for m in METRICS.iter().filter(|m| m.kind == MetricKind::Histogram) {
        let buckets = match m.unit {
            Unit::Seconds => SECONDS_BUCKETS,
            Unit::Count => COUNT_BUCKETS,
        };
        builder = builder.set_buckets_for_metric(Matcher::Full(m.name.to_owned()), buckets)?;
    }
    Ok(builder.build_recorder())
}

/// Installs the Prometheus recorder as the process's global `metrics` recorder, describes every
/// metric, and returns the handle that renders the `/metrics` body.
///
/// Call [`PrometheusHandle::run_upkeep`] every few seconds (a `tokio` interval in the daemon):
/// it drains histogram samples into their buckets, which otherwise only happens on a scrape.
pub fn install_prometheus() -> Result<PrometheusHandle, TelemetryError> {
    let recorder = prometheus_recorder()?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| TelemetryError::RecorderAlreadyInstalled)?;
    crate::describe();
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;
    use prometheus_parse::{Sample, Scrape, Value};

    /// Records a small cycle's worth of metrics through a local recorder and renders them.
    fn render_sample_cycle() -> String {
        let recorder = prometheus_recorder().unwrap();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            crate::describe();
            let fwd = |region: &'static str, pass: &'static str, n| {
                metrics::counter!(names::EVENTS_FORWARDED, "region" => region, "pass" => pass)
                    .increment(n);
            };
            fwd("eu-frankfurt-1", "live", 120);
            fwd("eu-frankfurt-1", "settle", 3);
            fwd("us-ashburn-1", "live", 7);
            metrics::counter!(names::OCI_REQUESTS, "operation" => "ListEvents", "status" => "429")
                .increment(2);
            metrics::gauge!(names::CHECKPOINT_LAG, "region" => "eu-frankfurt-1").set(312.5);
            metrics::gauge!(names::OPEN_GAPS, "region" => "eu-frankfurt-1").set(0.0);
            for secs in [0.004, 0.02, 0.02, 0.3] {
                metrics::histogram!(names::SINK_SEND_SECONDS).record(secs);
            }
        });
        handle.render()
    }

    fn parse(text: &str) -> Scrape {
        Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    fn find<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> &'a Sample {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:#?}", scrape.samples))
    }

    #[test]
    fn rendered_text_has_help_and_type_for_each_recorded_metric() {
        let text = render_sample_cycle();
        for (name, kind) in [
            (names::EVENTS_FORWARDED, "counter"),
            (names::OCI_REQUESTS, "counter"),
            (names::CHECKPOINT_LAG, "gauge"),
            (names::OPEN_GAPS, "gauge"),
            (names::SINK_SEND_SECONDS, "histogram"),
        ] {
            let help = names::spec(name).unwrap().help;
            assert!(
                text.contains(&format!("# HELP {name} {help}\n")),
                "{name}:\n{text}"
            );
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name}:\n{text}"
            );
        }
    }

    #[test]
    fn rendered_text_parses_with_values_and_labels() {
        let scrape = parse(&render_sample_cycle());

        let live = find(
            &scrape,
            names::EVENTS_FORWARDED,
            &[("region", "eu-frankfurt-1"), ("pass", "live")],
        );
        assert!(
            matches!(live.value, Value::Counter(v) if v == 120.0),
            "{live:?}"
        );
        let settle = find(
            &scrape,
            names::EVENTS_FORWARDED,
            &[("region", "eu-frankfurt-1"), ("pass", "settle")],
        );
        assert!(
            matches!(settle.value, Value::Counter(v) if v == 3.0),
            "{settle:?}"
        );
        let throttled = find(
            &scrape,
            names::OCI_REQUESTS,
            &[("operation", "ListEvents"), ("status", "429")],
        );
        assert!(
            matches!(throttled.value, Value::Counter(v) if v == 2.0),
            "{throttled:?}"
        );

        let lag = find(
            &scrape,
            names::CHECKPOINT_LAG,
            &[("region", "eu-frankfurt-1")],
        );
        assert!(
            matches!(lag.value, Value::Gauge(v) if v == 312.5),
            "{lag:?}"
        );

        let sends = find(&scrape, names::SINK_SEND_SECONDS, &[]);
        let Value::Histogram(buckets) = &sends.value else {
            panic!("{} is not a histogram: {sends:?}", names::SINK_SEND_SECONDS)
        };
        let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count);
        assert_eq!(at(0.005), Some(1.0));
        assert_eq!(at(0.025), Some(3.0));
        assert_eq!(at(0.5), Some(4.0));
        assert_eq!(
            buckets.len(),
            SECONDS_BUCKETS.len() + 1,
            "every bucket and +Inf"
        );

        assert_eq!(
            scrape.docs.get(names::CHECKPOINT_LAG).map(String::as_str),
            Some(names::spec(names::CHECKPOINT_LAG).unwrap().help)
        );
    }
}
