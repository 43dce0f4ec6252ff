//! A `metrics` recorder that writes CloudWatch Embedded Metric Format (EMF) documents.
//!
//! On Lambda, every JSON line a function writes to stdout goes to CloudWatch Logs, and a line
//! carrying an `_aws.CloudWatchMetrics` directive becomes metric data points: no CloudWatch API
//! call, no client, no credentials. The recorder keeps everything in memory until
//! [`EmfHandle::flush`], which the function calls before every return (including a stop for the
//! deadline).
//!
//! What one flush writes, one JSON document per line:
//!
//! - **Counters** emit the *delta* since the previous flush (CloudWatch adds the data points of a
//!   period with the `Sum` statistic). **Gauges** emit their last value, but only if they were set
//!   since the previous flush: a warm Lambda container keeps the recorder, and re-emitting the
//!   last invocation's lag would report freshness nobody measured. **Histograms** emit their
//!   observations as a value array.
//! - Labels named in the dimension allow-list ([`DIMENSIONS`]) become CloudWatch dimensions; other
//!   labels (`status`, `limit`) are dropped, and series that then coincide are combined
//!   (counters and histograms add up, gauges by their [`Total`] rule). Each distinct set of
//!   dimension values gets one document, whose single dimension set is all of its keys.
//! - One more document carries the **dimensionless totals**: every metric's series combined into
//!   one value (counters summed, `auditfwd_checkpoint_lag_seconds` the maximum, gauges with
//!   [`Total::Sum`] summed). Alarms watch these series, so they need no dimension values and
//!   cover every region at once. Every counter in the table appears there on every flush, 0 when
//!   nothing happened, so a flush proves the function ran and dashboards show zeros, not gaps.
//!
//! EMF limits are kept: at most 100 metrics per document (more spill into further documents
//! with the same dimensions), at most 100 values per value array (a histogram with more
//! observations spills its remaining values into further documents, so `SampleCount`, `Sum`,
//! `Minimum`, `Maximum` and percentiles stay exact), at most 30 keys in a dimension set,
//! dimension values made non-empty ASCII of at most 1024 characters, and no NaN or infinity
//! (JSON cannot carry them; such values are skipped).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::{
    Counter, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
};
use serde_json::{Map, Value, json};

use crate::TelemetryError;
use crate::names::{METRICS, MetricKind, MetricSpec, Total};

/// The CloudWatch namespace auditfwd publishes in.
pub const DEFAULT_NAMESPACE: &str = "auditfwd";

/// Labels that become CloudWatch dimensions; every other label is dropped in CloudWatch.
///
/// Each is low-cardinality: CloudWatch bills every distinct combination of dimension values as
/// one custom metric. A compartment OCID is never a label at all.
pub const DIMENSIONS: &[&str] = &["region", "pass", "reason", "operation", "function"];

/// EMF: a directive's `Metrics` array holds at most this many definitions.
const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// EMF: a metric's value array holds at most this many numbers.
const MAX_VALUES_PER_ARRAY: usize = 100;
/// CloudWatch: a metric has at most this many dimensions.
const MAX_DIMENSIONS: usize = 30;
/// CloudWatch: a dimension value is at most this long.
const MAX_DIMENSION_VALUE_LEN: usize = 1024;
/// CloudWatch: metric names, dimension names and namespaces are at most this long.
const MAX_NAME_LEN: usize = 255;
/// Observations one histogram series keeps between flushes; more are counted and dropped, so a
/// process that never flushes cannot grow without bound. 100 documents' worth.
const MAX_SAMPLES_PER_SERIES: usize = 10_000;

/// Installs an [`EmfRecorder`] for [`METRICS`] as the process's global `metrics` recorder,
/// describes every metric, and returns the handle that flushes it.
pub fn install_emf(namespace: &str) -> Result<EmfHandle, TelemetryError> {
    let recorder = EmfRecorder::new(namespace)?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| TelemetryError::RecorderAlreadyInstalled)?;
    crate::describe();
    Ok(handle)
}

/// A `metrics` recorder that aggregates in memory until its [`EmfHandle`] flushes EMF documents.
#[derive(Debug, Clone)]
pub struct EmfRecorder {
    shared: Arc<Shared>,
}

/// Flushes what an [`EmfRecorder`] aggregated. Cheap to clone; all clones share the recorder.
#[derive(Debug, Clone)]
pub struct EmfHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    namespace: String,
    dimensions: Vec<String>,
    specs: &'static [MetricSpec],
    state: Mutex<State>,
}

/// Every series seen so far, keyed by name and sorted labels.
#[derive(Debug, Default)]
struct State {
    counters: BTreeMap<SeriesKey, CounterSeries>,
    gauges: BTreeMap<SeriesKey, Arc<GaugeCell>>,
    histograms: BTreeMap<SeriesKey, Arc<HistogramCell>>,
    /// Units given to `describe_*!` for names that are not in the table.
    described_units: BTreeMap<String, metrics::Unit>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    name: String,
    labels: Vec<(String, String)>,
}

impl SeriesKey {
    fn from_key(key: &Key) -> Self {
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        SeriesKey {
            name: key.name().to_owned(),
            labels,
        }
    }
}

#[derive(Debug)]
struct CounterSeries {
    value: Arc<AtomicU64>,
    /// The value at the previous flush; the next flush emits the difference.
    flushed: u64,
}

#[derive(Debug, Default)]
struct GaugeCell {
    bits: AtomicU64,
    /// Set since the previous flush.
    fresh: AtomicBool,
}

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        // The closure never returns None, so this cannot fail.
        let _ = self
            .bits
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                Some(f(f64::from_bits(bits)).to_bits())
            });
        self.fresh.store(true, Ordering::Release);
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Release);
        self.fresh.store(true, Ordering::Release);
    }
}

#[derive(Debug, Default)]
struct HistogramCell {
    samples: Mutex<Samples>,
}

#[derive(Debug, Default)]
struct Samples {
    values: Vec<f64>,
    dropped: u64,
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        self.record_many(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        if !value.is_finite() {
            return;
        }
        let mut samples = lock(&self.samples);
        let room = MAX_SAMPLES_PER_SERIES.saturating_sub(samples.values.len());
        let kept = count.min(room);
        samples.values.extend(std::iter::repeat_n(value, kept));
        samples.dropped += (count - kept) as u64;
    }
}

/// A poisoned lock only means another thread panicked mid-update; metrics stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EmfRecorder {
    /// A recorder for [`METRICS`] in `namespace`, with the [`DIMENSIONS`] allow-list.
    pub fn new(namespace: &str) -> Result<Self, TelemetryError> {
        Self::with_specs(namespace, METRICS, DIMENSIONS)
    }

    /// A recorder whose metric table and dimension allow-list are given: the table supplies
    /// units, the [`Total`] rule of each gauge, and the counters that always appear in the
    /// dimensionless totals.
    pub fn with_specs(
        namespace: &str,
        specs: &'static [MetricSpec],
        dimensions: &[&str],
    ) -> Result<Self, TelemetryError> {
        validate_namespace(namespace)?;
        if dimensions.len() > MAX_DIMENSIONS {
            return Err(TelemetryError::InvalidDimension {
                name: dimensions.join(","),
                reason: "CloudWatch allows at most 30 dimensions per metric",
            });
        }
        for d in dimensions {
            validate_dimension_name(d)?;
        }
        let mut dimensions: Vec<String> = dimensions.iter().map(|d| (*d).to_owned()).collect();
        dimensions.sort();
        dimensions.dedup();
        Ok(EmfRecorder {
            shared: Arc::new(Shared {
                namespace: namespace.to_owned(),
                dimensions,
                specs,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// The handle that flushes this recorder.
    pub fn handle(&self) -> EmfHandle {
        EmfHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.shared.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.shared.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.shared.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut state = lock(&self.shared.state);
        let series = state
            .counters
            .entry(SeriesKey::from_key(key))
            .or_insert_with(|| CounterSeries {
                value: Arc::default(),
                flushed: 0,
            });
        Counter::from_arc(Arc::clone(&series.value))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut state = lock(&self.shared.state);
        let cell = state.gauges.entry(SeriesKey::from_key(key)).or_default();
        Gauge::from_arc(Arc::clone(cell))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut state = lock(&self.shared.state);
        let cell = state
            .histograms
            .entry(SeriesKey::from_key(key))
            .or_default();
        Histogram::from_arc(Arc::clone(cell))
    }
}

impl Shared {
    fn describe(&self, key: KeyName, unit: Option<metrics::Unit>) {
        if let Some(unit) = unit {
            lock(&self.state)
                .described_units
                .insert(key.as_str().to_owned(), unit);
        }
    }
}

impl EmfHandle {
    /// Writes everything recorded since the previous flush to stdout, one document per line,
    /// and returns how many documents it wrote.
    pub fn flush_to_stdout(&self) -> Result<usize, TelemetryError> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        self.flush(&mut out)
    }

    /// Writes everything recorded since the previous flush to `out`, one document per line, and
    /// returns how many documents it wrote. The values are taken before writing: if the write
    /// fails, they are lost rather than counted twice.
    pub fn flush(&self, out: &mut dyn Write) -> Result<usize, TelemetryError> {
        self.flush_at(out, now_millis())
    }

    /// [`flush`](Self::flush) with the documents' `Timestamp` given (milliseconds since the
    /// Unix epoch), for tests.
    pub fn flush_at(
        &self,
        out: &mut dyn Write,
        timestamp_ms: u64,
    ) -> Result<usize, TelemetryError> {
        let documents = self.take_documents(timestamp_ms);
        let mut buf = Vec::new();
        for doc in &documents {
            // Serialising a `Value` to a Vec cannot fail: keys are strings, numbers are finite.
            serde_json::to_writer(&mut buf, doc)
                .map_err(|e| TelemetryError::Write(std::io::Error::other(e)))?;
            buf.push(b'\n');
        }
        out.write_all(&buf)
            .and_then(|()| out.flush())
            .map_err(TelemetryError::Write)?;
        Ok(documents.len())
    }

    /// Drains everything recorded since the previous flush into EMF documents.
    pub fn take_documents(&self, timestamp_ms: u64) -> Vec<Value> {
        let shared = &self.shared;
        let mut state = lock(&shared.state);
        let mut groups: BTreeMap<Dims, BTreeMap<String, Agg>> = BTreeMap::new();
        let mut totals: BTreeMap<String, Agg> = BTreeMap::new();
        let mut dropped_samples = 0_u64;

        for (key, series) in &mut state.counters {
            let now = series.value.load(Ordering::Acquire);
            // `absolute` may set a counter lower (a restart of what it mirrors): start again.
            let delta = now.checked_sub(series.flushed).unwrap_or(now);
            series.flushed = now;
            let dims = shared.dims_of(&key.labels);
            if delta > 0 && !dims.is_empty() {
                add(
                    groups.entry(dims).or_default(),
                    &key.name,
                    Agg::Counter(delta),
                    Total::Sum,
                );
            }
            add(&mut totals, &key.name, Agg::Counter(delta), Total::Sum);
        }
        for spec in shared
            .specs
            .iter()
            .filter(|s| s.kind == MetricKind::Counter)
        {
            totals
                .entry(spec.name.to_owned())
                .or_insert(Agg::Counter(0));
        }

        for (key, cell) in &state.gauges {
            if !cell.fresh.swap(false, Ordering::AcqRel) {
                continue;
            }
            let value = f64::from_bits(cell.bits.load(Ordering::Acquire));
            if !value.is_finite() {
                continue;
            }
            let rule = shared.total_rule(&key.name);
            let dims = shared.dims_of(&key.labels);
            if !dims.is_empty() {
                add(
                    groups.entry(dims).or_default(),
                    &key.name,
                    Agg::Gauge(value),
                    rule,
                );
            }
            add(&mut totals, &key.name, Agg::Gauge(value), rule);
        }

        for (key, cell) in &state.histograms {
            let samples = std::mem::take(&mut *lock(&cell.samples));
            dropped_samples += samples.dropped;
            if samples.values.is_empty() {
                continue;
            }
            let dims = shared.dims_of(&key.labels);
            if !dims.is_empty() {
                let agg = Agg::Histogram(samples.values.clone());
                add(groups.entry(dims).or_default(), &key.name, agg, Total::Sum);
            }
            add(
                &mut totals,
                &key.name,
                Agg::Histogram(samples.values),
                Total::Sum,
            );
        }

        if dropped_samples > 0 {
            tracing::warn!(
                dropped_samples,
                limit = MAX_SAMPLES_PER_SERIES,
                "histogram observations beyond the per-flush limit were not published"
            );
        }

        let mut documents = Vec::new();
        let render = |dims: &Dims, metrics: BTreeMap<String, Agg>, docs: &mut Vec<Value>| {
            shared.render(&state, dims, metrics, timestamp_ms, docs);
        };
        render(&Dims::new(), totals, &mut documents);
        for (dims, metrics) in groups {
            render(&dims, metrics, &mut documents);
        }
        documents
    }
}

/// Dimension values of a document, sorted by dimension name.
type Dims = Vec<(String, String)>;

/// One metric's value in one document, before rendering.
#[derive(Debug)]
enum Agg {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

/// Combines `value` into the metric `name` of a document.
///
/// A name recorded as two kinds (a programming error) keeps the first kind seen.
fn add(metrics: &mut BTreeMap<String, Agg>, name: &str, value: Agg, rule: Total) {
    let Some(existing) = metrics.get_mut(name) else {
        metrics.insert(name.to_owned(), value);
        return;
    };
    match (existing, value) {
        (Agg::Counter(a), Agg::Counter(b)) => *a = a.saturating_add(b),
        (Agg::Gauge(a), Agg::Gauge(b)) => match rule {
            Total::Sum => *a += b,
            Total::Max => *a = a.max(b),
        },
        (Agg::Histogram(a), Agg::Histogram(b)) => a.extend(b),
        _ => {}
    }
}

impl Shared {
    /// The CloudWatch dimensions of a series: its allowed labels, values made acceptable.
    fn dims_of(&self, labels: &[(String, String)]) -> Dims {
        labels
            .iter()
            .filter(|(k, _)| self.dimensions.iter().any(|d| d == k))
            .map(|(k, v)| (k.clone(), dimension_value(v)))
            .collect()
    }

    fn spec(&self, name: &str) -> Option<&'static MetricSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    fn total_rule(&self, name: &str) -> Total {
        self.spec(name).map_or(Total::Max, |s| s.total)
    }

    fn unit(&self, state: &State, name: &str) -> &'static str {
        match self.spec(name) {
            Some(spec) => spec.unit.cloudwatch(),
            None => state
                .described_units
                .get(name)
                .map_or("None", |u| cloudwatch_unit(*u)),
        }
    }

    /// Renders one group's metrics as one or more documents (see the module doc for the limits).
    fn render(
        &self,
        state: &State,
        dims: &Dims,
        metrics: BTreeMap<String, Agg>,
        timestamp_ms: u64,
        documents: &mut Vec<Value>,
    ) {
        // (name, value) pairs for the main documents, and histogram overflow chunks.
        let mut main: Vec<(String, Value)> = Vec::new();
        let mut overflow: Vec<(String, Value)> = Vec::new();
        for (name, agg) in metrics {
            if name == "_aws" || name.len() > MAX_NAME_LEN || dims.iter().any(|(k, _)| *k == name) {
                tracing::warn!(metric = %name, "metric name cannot be published in EMF; skipped");
                continue;
            }
            match agg {
                Agg::Counter(v) => main.push((name, json!(v))),
                Agg::Gauge(v) => main.push((name, json!(v))),
                Agg::Histogram(values) => {
                    let mut chunks = values.chunks(MAX_VALUES_PER_ARRAY);
                    if let Some(first) = chunks.next() {
                        main.push((name.clone(), json!(first)));
                    }
                    overflow.extend(chunks.map(|c| (name.clone(), json!(c))));
                }
            }
        }
        for chunk in main.chunks(MAX_METRICS_PER_DOCUMENT) {
            documents.push(self.document(state, dims, chunk, timestamp_ms));
        }
        for one in overflow.chunks(1) {
            documents.push(self.document(state, dims, one, timestamp_ms));
        }
    }

    fn document(
        &self,
        state: &State,
        dims: &Dims,
        metrics: &[(String, Value)],
        timestamp_ms: u64,
    ) -> Value {
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|(name, _)| json!({ "Name": name, "Unit": self.unit(state, name) }))
            .collect();
        let dimension_set: Vec<&str> = dims.iter().map(|(k, _)| k.as_str()).collect();
        let mut root = Map::new();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_set],
                    "Metrics": definitions,
                }],
            }),
        );
        for (k, v) in dims {
            root.insert(k.clone(), Value::String(v.clone()));
        }
        for (name, value) in metrics {
            root.insert(name.clone(), value.clone());
        }
        Value::Object(root)
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A label value as CloudWatch accepts a dimension value: printable ASCII (other characters
/// become `_`), at least one non-space character (`none` otherwise), at most 1024 characters.
fn dimension_value(v: &str) -> String {
    let cleaned: String = v
        .chars()
        .take(MAX_DIMENSION_VALUE_LEN)
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        "none".to_owned()
    } else {
        cleaned
    }
}

fn validate_namespace(namespace: &str) -> Result<(), TelemetryError> {
    let invalid = |reason| TelemetryError::InvalidNamespace {
        namespace: namespace.to_owned(),
        reason,
    };
    if namespace.is_empty() || namespace.len() > MAX_NAME_LEN {
        return Err(invalid("must be 1 to 255 characters"));
    }
    if !namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        return Err(invalid(
            "may contain only letters, digits and . - _ / # : and spaces",
        ));
    }
    if namespace.starts_with("AWS/") || namespace.starts_with(':') {
        return Err(invalid("must not start with AWS/ (reserved) or a colon"));
    }
    Ok(())
}

fn validate_dimension_name(name: &str) -> Result<(), TelemetryError> {
    let invalid = |reason| TelemetryError::InvalidDimension {
        name: name.to_owned(),
        reason,
    };
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
        return Err(invalid("must be 1 to 255 characters, not all spaces"));
    }
    if !name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) || name.starts_with(':') {
        return Err(invalid(
            "must be printable ASCII and not start with a colon",
        ));
    }
    if name == "_aws" {
        return Err(invalid("is the EMF metadata member"));
    }
    Ok(())
}

/// The CloudWatch name of a `metrics` unit; `None` where CloudWatch has no equivalent.
fn cloudwatch_unit(unit: metrics::Unit) -> &'static str {
    use metrics::Unit as U;
    match unit {
        U::Count => "Count",
        U::Percent => "Percent",
        U::Seconds => "Seconds",
        U::Milliseconds => "Milliseconds",
        U::Microseconds => "Microseconds",
        U::Bytes => "Bytes",
        U::Kibibytes => "Kilobytes",
        U::Mebibytes => "Megabytes",
        U::Gibibytes => "Gigabytes",
        U::Tebibytes => "Terabytes",
        U::BitsPerSecond => "Bits/Second",
        U::KilobitsPerSecond => "Kilobits/Second",
        U::MegabitsPerSecond => "Megabits/Second",
        U::GigabitsPerSecond => "Gigabits/Second",
        U::TerabitsPerSecond => "Terabits/Second",
        U::CountPerSecond => "Count/Second",
        _ => "None",
    }
}

#[cfg(test)]
mod tests {
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
                    let value =
                        value.unwrap_or_else(|| panic!("dimension {key} has no string: {doc}"));
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
                metrics::counter!(format!("test_metric_{i:03}_total"), "region" => "r")
                    .increment(1);
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
}
