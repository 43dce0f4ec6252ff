//! `monitoring/` (the daemon's Prometheus rules and Grafana dashboard) held to the metrics the
//! code records: every `auditfwd_*` series a rule or a panel reads is in `METRICS` (histograms
//! with their `_bucket`, `_sum`, `_count` series), and every label it matches or groups by is
//! one of that metric's labels.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use auditfwd_telemetry::{METRICS, MetricKind};
use yaml_rust2::YamlLoader;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The PromQL expressions of the alert rules.
fn rule_expressions() -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("monitoring/prometheus/auditfwd-rules.yml")).unwrap();
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    doc["groups"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_vec().unwrap().iter())
        .map(|r| r["expr"].as_str().unwrap().to_owned())
        .collect()
}

/// The PromQL expressions of the dashboard's panels.
fn panel_expressions() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("monitoring/grafana/auditfwd.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect()
}

/// A metric's series names and labels, as Prometheus exposes them.
fn exposed() -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for m in METRICS {
        let labels: BTreeSet<String> = m.labels.iter().map(|l| (*l).to_owned()).collect();
        if m.kind == MetricKind::Histogram {
            let mut with_le = labels.clone();
            with_le.insert("le".to_owned());
            out.push((format!("{}_bucket", m.name), with_le));
            out.push((format!("{}_sum", m.name), labels.clone()));
            out.push((format!("{}_count", m.name), labels));
        } else {
            out.push((m.name.to_owned(), labels));
        }
    }
    out
}

/// What is wrong with one expression: unknown series, labels no series in it has.
fn problems(expr: &str) -> Vec<String> {
    let exposed = exposed();
    let series = regex::Regex::new(r"\bauditfwd_[a-z0-9_]+").unwrap();
    let matcher = regex::Regex::new(r"(auditfwd_[a-z0-9_]+)\{([^}]*)\}").unwrap();
    let grouping = regex::Regex::new(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)").unwrap();
    let mut out = Vec::new();
    let mut labels_here = BTreeSet::new();
    for m in series.find_iter(expr) {
        match exposed.iter().find(|(n, _)| n == m.as_str()) {
            Some((_, labels)) => labels_here.extend(labels.iter().cloned()),
            None => out.push(format!("{} is not a metric auditfwd records", m.as_str())),
        }
    }
    for c in matcher.captures_iter(expr) {
        let Some((_, labels)) = exposed.iter().find(|(n, _)| n == &c[1]) else {
            continue;
        };
        for pair in c[2].split(',').filter(|p| !p.trim().is_empty()) {
            let label = pair.split(['=', '!', '~']).next().unwrap().trim();
            if !labels.contains(label) {
                out.push(format!("{} has no label {label}", &c[1]));
            }
        }
    }
    for c in grouping.captures_iter(expr) {
        for label in c[1].split(',').map(str::trim).filter(|l| !l.is_empty()) {
            if !labels_here.contains(label) {
                out.push(format!("no series in `{expr}` has the label {label}"));
            }
        }
    }
    out
}

#[test]
fn rules_and_panels_read_only_metrics_and_labels_auditfwd_records() {
    let rules = rule_expressions();
    let panels = panel_expressions();
    assert!(
        rules.len() >= 7 && panels.len() >= 15,
        "{rules:?} {panels:?}"
    );
    let wrong: Vec<String> = rules
        .iter()
        .chain(&panels)
        .flat_map(|e| problems(e))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn every_freshness_and_delivery_metric_is_on_the_dashboard() {
    let panels = panel_expressions().join("\n");
    let missing: Vec<&str> = METRICS
        .iter()
        .map(|m| m.name)
        .filter(|n| !panels.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "not on monitoring/grafana/auditfwd.json: {missing:?}"
    );
}

#[test]
fn a_misspelt_metric_or_label_is_caught() {
    assert_eq!(
        problems("sum by (region) (rate(auditfwd_events_forwarded[5m]))"),
        [
            "auditfwd_events_forwarded is not a metric auditfwd records",
            "no series in `sum by (region) (rate(auditfwd_events_forwarded[5m]))` has the label region"
        ]
    );
    assert_eq!(
        problems("auditfwd_open_gaps{compartment=\"x\"} > 0"),
        ["auditfwd_open_gaps has no label compartment"]
    );
    assert!(
        problems(
            "histogram_quantile(0.99, sum by (le) (rate(auditfwd_sink_send_seconds_bucket[5m])))"
        )
        .is_empty()
    );
}
