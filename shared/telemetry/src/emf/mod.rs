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

mod limits;

use limits::{
    MAX_DIMENSIONS, MAX_METRICS_PER_DOCUMENT, MAX_NAME_LEN, MAX_VALUES_PER_ARRAY, cloudwatch_unit,
    dimension_value, validate_dimension_name, validate_namespace,
};

/// The CloudWatch namespace auditfwd publishes in.
pub const DEFAULT_NAMESPACE: &str = "auditfwd";

/// Labels that become CloudWatch dimensions; every other label is dropped in CloudWatch.
///
/// Each is low-cardinality: CloudWatch bills every distinct combination of dimension values as
/// one custom metric. `source` has three values (`audit`, `log-search`, `cloud-guard`); the
/// tenancy's name is not a dimension (an MSSP's hundred customers would multiply the bill). A
/// compartment OCID is never a label at all.
pub const DIMENSIONS: &[&str] = &["region", "pass", "reason", "operation", "source"];

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

#[cfg(test)]
mod tests;
