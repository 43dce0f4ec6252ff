//! The recorder's documents, golden and against the EMF limits.

use super::limits::MAX_DIMENSION_VALUE_LEN;
use super::*;
use crate::names::{self, Unit};
use serde_json::json;

const T0: u64 = 1_700_000_000_000;

/// A small table, so golden documents stay readable.
const SPECS: &[MetricSpec] = &[
    MetricSpec {
        name: names::EVENTS_FORWARDED,
        kind: MetricKind::Counter,
        unit: Unit::Count,
        labels: &["region", "pass"],
        help: "",
        total: Total::Sum,
    },
    MetricSpec {
        name: names::CHECKPOINT_LAG,
        kind: MetricKind::Gauge,
        unit: Unit::Seconds,
        labels: &["region"],
        help: "",
        total: Total::Max,
    },
    MetricSpec {
        name: names::OPEN_GAPS,
        kind: MetricKind::Gauge,
        unit: Unit::Count,
        labels: &["region"],
        help: "",
        total: Total::Sum,
    },
    MetricSpec {
        name: names::SINK_SEND_SECONDS,
        kind: MetricKind::Histogram,
        unit: Unit::Seconds,
        labels: &[],
        help: "",
        total: Total::Sum,
    },
];

fn recorder() -> (EmfRecorder, EmfHandle) {
    let recorder = EmfRecorder::with_specs(DEFAULT_NAMESPACE, SPECS, DIMENSIONS).unwrap();
    let handle = recorder.handle();
    (recorder, handle)
}

/// Flushes through the text path, parses every line back, and checks each against the EMF
/// rules.
fn flush(handle: &EmfHandle) -> Vec<Value> {
    let mut out = Vec::new();
    let written = handle.flush_at(&mut out, T0).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    let docs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), written);
    docs.iter().for_each(assert_valid_emf);
    docs
}

/// The EMF specification's rules, as this module relies on them.
fn assert_valid_emf(doc: &Value) {
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let root = doc.as_object().expect("the root is an object");
    let aws = root["_aws"].as_object().expect("_aws is an object");
    assert!(
        aws["Timestamp"].is_u64(),
        "Timestamp is integer milliseconds: {doc}"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics array");
    assert!(!directives.is_empty());
    for directive in directives {
        let ns = directive["Namespace"].as_str().expect("Namespace string");
        assert!((1..=255).contains(&ns.len()));
        let sets = directive["Dimensions"]
            .as_array()
            .expect("Dimensions array");
        assert!(!sets.is_empty(), "at least one dimension set");
        for set in sets {
            let set = set.as_array().expect("a dimension set is an array");
            assert!(set.len() <= MAX_DIMENSIONS);
            for key in set {
                let key = key.as_str().expect("dimension keys are strings");
                let value = root.get(key).and_then(Value::as_str);
                let value = value.unwrap_or_else(|| panic!("dimension {key} has no string: {doc}"));
                assert!(!value.trim().is_empty() && value.len() <= MAX_DIMENSION_VALUE_LEN);
                assert!(value.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics array");
        assert!(!metrics.is_empty() && metrics.len() <= MAX_METRICS_PER_DOCUMENT);
        for m in metrics {
            let name = m["Name"].as_str().expect("Name string");
            assert!((1..=255).contains(&name.len()));
            let unit = m["Unit"].as_str().expect("Unit string");
            assert!(UNITS.contains(&unit), "{unit} is a CloudWatch unit");
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values)) => {
                    assert!(!values.is_empty() && values.len() <= MAX_VALUES_PER_ARRAY);
                    assert!(values.iter().all(Value::is_number));
                }
                other => panic!("metric {name} targets {other:?}, not numbers: {doc}"),
            }
        }
    }
}

fn directive(doc: &Value) -> &Value {
    &doc["_aws"]["CloudWatchMetrics"][0]
}

fn dimensions_of(doc: &Value) -> Vec<String> {
    directive(doc)["Dimensions"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{k}={}", doc[k.as_str().unwrap()]))
        .collect()
}

fn find<'a>(docs: &'a [Value], dims: &[&str]) -> &'a Value {
    let want: Vec<String> = dims.iter().map(|d| (*d).to_owned()).collect();
    let mut found = docs.iter().filter(|d| {
        dimensions_of(d)
            .iter()
            .map(|s| s.replace('"', ""))
            .collect::<Vec<_>>()
            == want
    });
    let doc = found
        .next()
        .unwrap_or_else(|| panic!("no document with {dims:?}: {docs:#?}"));
    assert!(found.next().is_none(), "one document per dimension values");
    doc
}

#[test]
fn golden_documents_for_one_cycle() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        crate::describe();
        let fwd = |region: &'static str, pass: &'static str, n| {
            metrics::counter!(names::EVENTS_FORWARDED, "region" => region, "pass" => pass)
                .increment(n);
        };
        fwd("eu-frankfurt-1", "live", 5);
        fwd("eu-frankfurt-1", "settle", 2);
        fwd("us-ashburn-1", "live", 1);
        metrics::gauge!(names::CHECKPOINT_LAG, "region" => "eu-frankfurt-1").set(30.0);
        metrics::gauge!(names::CHECKPOINT_LAG, "region" => "us-ashburn-1").set(90.0);
        metrics::histogram!(names::SINK_SEND_SECONDS).record(0.5);
        metrics::histogram!(names::SINK_SEND_SECONDS).record(0.25);
        // Not in the test table: its unit comes from `describe`; `status` is no dimension.
        metrics::counter!(names::OCI_REQUESTS, "operation" => "ListEvents", "status" => "200")
            .increment(3);
        metrics::counter!(names::OCI_REQUESTS, "operation" => "ListEvents", "status" => "429")
            .increment(2);
    });

    let docs = flush(&handle);
    let aws = |dims: Value, metrics: Value| {
        json!({"Timestamp": T0, "CloudWatchMetrics": [{
            "Namespace": "auditfwd", "Dimensions": [dims], "Metrics": metrics,
        }]})
    };
    let forwarded = json!([{"Name": "auditfwd_events_forwarded_total", "Unit": "Count"}]);
    let lag = json!([{"Name": "auditfwd_checkpoint_lag_seconds", "Unit": "Seconds"}]);
    let expected = vec![
        json!({
            "_aws": aws(json!([]), json!([
                {"Name": "auditfwd_checkpoint_lag_seconds", "Unit": "Seconds"},
                {"Name": "auditfwd_events_forwarded_total", "Unit": "Count"},
                {"Name": "auditfwd_oci_requests_total", "Unit": "Count"},
                {"Name": "auditfwd_sink_send_seconds", "Unit": "Seconds"},
            ])),
            "auditfwd_checkpoint_lag_seconds": 90.0,
            "auditfwd_events_forwarded_total": 8,
            "auditfwd_oci_requests_total": 5,
            "auditfwd_sink_send_seconds": [0.5, 0.25],
        }),
        json!({
            "_aws": aws(json!(["operation"]), json!([
                {"Name": "auditfwd_oci_requests_total", "Unit": "Count"},
            ])),
            "operation": "ListEvents",
            "auditfwd_oci_requests_total": 5,
        }),
        json!({
            "_aws": aws(json!(["pass", "region"]), forwarded.clone()),
            "pass": "live", "region": "eu-frankfurt-1",
            "auditfwd_events_forwarded_total": 5,
        }),
        json!({
            "_aws": aws(json!(["pass", "region"]), forwarded.clone()),
            "pass": "live", "region": "us-ashburn-1",
            "auditfwd_events_forwarded_total": 1,
        }),
        json!({
            "_aws": aws(json!(["pass", "region"]), forwarded),
            "pass": "settle", "region": "eu-frankfurt-1",
            "auditfwd_events_forwarded_total": 2,
        }),
        json!({
            "_aws": aws(json!(["region"]), lag.clone()),
            "region": "eu-frankfurt-1",
            "auditfwd_checkpoint_lag_seconds": 30.0,
        }),
        json!({
            "_aws": aws(json!(["region"]), lag),
            "region": "us-ashburn-1",
            "auditfwd_checkpoint_lag_seconds": 90.0,
        }),
    ];
    assert_eq!(
        docs,
        expected,
        "{}",
        serde_json::to_string_pretty(&docs).unwrap()
    );
}

#[test]
fn the_first_document_line_is_byte_for_byte_stable() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!(names::EVENTS_FORWARDED, "region" => "eu-frankfurt-1").increment(4);
    });
    let mut out = Vec::new();
    handle.flush_at(&mut out, T0).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"auditfwd","Dimensions":[[]],"Metrics":[{"Name":"auditfwd_events_forwarded_total","Unit":"Count"}]}]},"auditfwd_events_forwarded_total":4}"#
    );
}

#[test]
fn counters_emit_the_delta_since_the_previous_flush() {
    let (recorder, handle) = recorder();
    let record = |n| {
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!(names::EVENTS_FORWARDED, "region" => "eu-frankfurt-1", "pass" => "live")
                .increment(n);
        });
    };
    record(10);
    record(5);
    let docs = flush(&handle);
    assert_eq!(find(&docs, &[])[names::EVENTS_FORWARDED], 15);
    assert_eq!(
        find(&docs, &["pass=live", "region=eu-frankfurt-1"])[names::EVENTS_FORWARDED],
        15
    );

    record(7);
    let docs = flush(&handle);
    assert_eq!(find(&docs, &[])[names::EVENTS_FORWARDED], 7);
    assert_eq!(
        find(&docs, &["pass=live", "region=eu-frankfurt-1"])[names::EVENTS_FORWARDED],
        7
    );

    // Nothing new: the total says 0 (alarms see data, not a gap); the region series is quiet.
    let docs = flush(&handle);
    assert_eq!(docs.len(), 1);
    assert_eq!(find(&docs, &[])[names::EVENTS_FORWARDED], 0);
}

#[test]
fn gauges_emit_their_last_value_once_per_setting() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        let lag = metrics::gauge!(names::CHECKPOINT_LAG, "region" => "eu-frankfurt-1");
        lag.set(100.0);
        lag.set(40.0);
        let gaps = metrics::gauge!(names::OPEN_GAPS, "region" => "eu-frankfurt-1");
        gaps.increment(3.0);
        gaps.decrement(1.0);
        metrics::gauge!(names::OPEN_GAPS, "region" => "us-ashburn-1").set(5.0);
    });
    let docs = flush(&handle);
    assert_eq!(
        find(&docs, &["region=eu-frankfurt-1"])[names::CHECKPOINT_LAG],
        40.0
    );
    assert_eq!(
        find(&docs, &["region=eu-frankfurt-1"])[names::OPEN_GAPS],
        2.0
    );
    assert_eq!(find(&docs, &["region=us-ashburn-1"])[names::OPEN_GAPS], 5.0);
    // Open gaps add up over regions; lag is the worst region's.
    assert_eq!(find(&docs, &[])[names::OPEN_GAPS], 7.0);
    assert_eq!(find(&docs, &[])[names::CHECKPOINT_LAG], 40.0);

    // Not set again: not re-emitted (a warm container must not repeat an old measurement).
    let docs = flush(&handle);
    assert!(
        docs.iter().all(|d| d.get(names::CHECKPOINT_LAG).is_none()),
        "{docs:?}"
    );
    metrics::with_local_recorder(&recorder, || {
        metrics::gauge!(names::CHECKPOINT_LAG, "region" => "eu-frankfurt-1").set(40.0);
    });
    let docs = flush(&handle);
    assert_eq!(
        find(&docs, &["region=eu-frankfurt-1"])[names::CHECKPOINT_LAG],
        40.0
    );
}

#[test]
fn a_region_label_gives_a_region_series_and_a_dimensionless_total() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!(names::LATE_ARRIVALS, "region" => "eu-frankfurt-1").increment(2);
        metrics::counter!(names::LATE_ARRIVALS, "region" => "us-ashburn-1").increment(3);
    });
    let docs = flush(&handle);
    assert_eq!(
        find(&docs, &["region=eu-frankfurt-1"])[names::LATE_ARRIVALS],
        2
    );
    assert_eq!(
        find(&docs, &["region=us-ashburn-1"])[names::LATE_ARRIVALS],
        3
    );
    let total = find(&docs, &[]);
    assert_eq!(total[names::LATE_ARRIVALS], 5);
    assert_eq!(directive(total)["Dimensions"], json!([[]]));
    // Outside the recorder's table and never described: CloudWatch's unit "None".
    let definition = directive(total)["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["Name"] == names::LATE_ARRIVALS)
        .cloned();
    assert_eq!(
        definition,
        Some(json!({"Name": names::LATE_ARRIVALS, "Unit": "None"}))
    );
}

#[test]
fn every_counter_of_the_table_has_a_total_on_every_flush() {
    let recorder = EmfRecorder::new(DEFAULT_NAMESPACE).unwrap();
    let docs = flush(&recorder.handle());
    assert_eq!(docs.len(), 1);
    let counters: Vec<_> = METRICS
        .iter()
        .filter(|m| m.kind == MetricKind::Counter)
        .collect();
    assert_eq!(
        directive(&docs[0])["Metrics"].as_array().unwrap().len(),
        counters.len()
    );
    for m in counters {
        assert_eq!(docs[0][m.name], 0, "{}", m.name);
    }
    for definition in directive(&docs[0])["Metrics"].as_array().unwrap() {
        let spec = names::spec(definition["Name"].as_str().unwrap()).unwrap();
        assert_eq!(definition["Unit"], spec.unit.cloudwatch());
    }
}

#[test]
fn histograms_spill_over_documents_of_at_most_100_values() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        let h = metrics::histogram!(names::SINK_SEND_SECONDS);
        for i in 0..250 {
            h.record(f64::from(i) / 1000.0);
        }
        h.record(f64::NAN);
    });
    let docs = flush(&handle);
    let arrays: Vec<&Vec<Value>> = docs
        .iter()
        .filter_map(|d| d.get(names::SINK_SEND_SECONDS).and_then(Value::as_array))
        .collect();
    assert_eq!(
        arrays.iter().map(|a| a.len()).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let sum: f64 = arrays
        .iter()
        .flat_map(|a| a.iter())
        .filter_map(Value::as_f64)
        .sum();
    assert!((sum - (0..250).map(|i| f64::from(i) / 1000.0).sum::<f64>()).abs() < 1e-9);
    assert!(
        flush(&handle)
            .iter()
            .all(|d| d.get(names::SINK_SEND_SECONDS).is_none())
    );
}

#[test]
fn more_than_100_metrics_spill_into_further_documents() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..150 {
            metrics::counter!(format!("test_metric_{i:03}_total"), "region" => "r").increment(1);
        }
    });
    let docs = flush(&handle);
    let region_docs: Vec<&Value> = docs.iter().filter(|d| d.get("region").is_some()).collect();
    assert_eq!(region_docs.len(), 2);
    let counts: Vec<usize> = docs
        .iter()
        .map(|d| directive(d)["Metrics"].as_array().unwrap().len())
        .collect();
    // Totals: 150 recorded and the table's one counter; each region document at most 100.
    assert_eq!(counts, [100, 51, 100, 50]);
}

#[test]
fn labels_that_are_not_dimensions_are_merged_away() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("test_waits_total", "limit" => "syslog").increment(4);
        metrics::counter!("test_waits_total", "limit" => "oci").increment(1);
        metrics::histogram!("test_wait_seconds", "limit" => "syslog").record(0.5);
        metrics::histogram!("test_wait_seconds", "limit" => "oci").record(2.0);
        metrics::counter!(names::OCI_REQUESTS, "operation" => "ListEvents", "status" => "200")
            .increment(1);
        metrics::counter!(names::OCI_REQUESTS, "operation" => "ListEvents", "status" => "429")
            .increment(1);
    });
    let docs = flush(&handle);
    // `limit` is no dimension: only the total exists.
    let total = find(&docs, &[]);
    assert_eq!(total["test_waits_total"], 5);
    assert_eq!(
        total["test_wait_seconds"],
        json!([2.0, 0.5]),
        "series in label order"
    );
    assert!(
        docs.iter()
            .all(|d| d.get("limit").is_none() && d.get("status").is_none())
    );
    // `status` is no dimension, `operation` is: one series per operation.
    assert_eq!(
        find(&docs, &["operation=ListEvents"])[names::OCI_REQUESTS],
        2
    );
    assert_eq!(docs.len(), 2);
}

#[test]
fn dimension_values_are_made_acceptable_to_cloudwatch() {
    assert_eq!(dimension_value("eu-frankfurt-1"), "eu-frankfurt-1");
    assert_eq!(dimension_value(""), "none");
    assert_eq!(dimension_value("  "), "none");
    assert_eq!(dimension_value("zürich\n"), "z_rich_");
    assert_eq!(dimension_value(&"x".repeat(2000)).len(), 1024);
}

#[test]
fn namespaces_and_dimensions_are_checked() {
    assert!(EmfRecorder::new("auditfwd").is_ok());
    assert!(EmfRecorder::new("Custom/auditfwd-prod").is_ok());
    for bad in ["", "AWS/Lambda", ":x", "naïve", &"n".repeat(256)] {
        let err = EmfRecorder::new(bad).unwrap_err();
        assert!(
            matches!(err, TelemetryError::InvalidNamespace { .. }),
            "{bad}: {err}"
        );
        assert!(!err.is_retryable());
    }
    let many: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(matches!(
        EmfRecorder::with_specs("auditfwd", SPECS, &many),
        Err(TelemetryError::InvalidDimension { .. })
    ));
    assert!(EmfRecorder::with_specs("auditfwd", SPECS, &["_aws"]).is_err());
}

#[test]
fn non_finite_gauges_are_skipped() {
    let (recorder, handle) = recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::gauge!(names::CHECKPOINT_LAG, "region" => "r").set(f64::INFINITY);
    });
    let docs = flush(&handle);
    assert!(docs.iter().all(|d| d.get(names::CHECKPOINT_LAG).is_none()));
}
