//! The handlers' unit-test backend: the pipeline's in-memory fakes (source, store, sink, a
//! manual clock) and a work queue that keeps what it was sent, so runner selection, the
//! worker's per-message answers and the replay's tenancy rule run without a network.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use auditfwd_checkpoint::MemoryStore;
use auditfwd_pipeline::plan::WindowPolicy;
use auditfwd_pipeline::testing::{FakeSink, FakeSource};
use auditfwd_pipeline::{ManualClock, RateLimits, Runner, RunnerConfig};
use chrono::{DateTime, Utc};

use crate::queue::{Entry, EntryFailure, QueueError, WorkQueue};
use crate::{Backend, BackendRunner};

/// In-memory everything.
#[derive(Debug)]
pub(crate) enum Fake {}

impl Backend for Fake {
    type Source = FakeSource;
    type Store = MemoryStore;
    type Sink = FakeSink;
    type Queue = RecordingQueue;
}

/// A work queue that accepts every message and keeps its body.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordingQueue {
    pub(crate) bodies: Arc<Mutex<Vec<String>>>,
}

impl RecordingQueue {
    pub(crate) fn bodies(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl WorkQueue for RecordingQueue {
    async fn send_batch(&self, entries: &[Entry]) -> Result<Vec<EntryFailure>, QueueError> {
        self.bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(entries.iter().map(|e| e.body.clone()));
        Ok(Vec::new())
    }
}

/// When the fakes' clocks start.
pub(crate) fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// The compartment every fake tenancy has besides its root.
pub(crate) const CHILD: &str = "ocid1.compartment.oc1..aaaaaaaachild";

/// A runner over a fake tenancy `tenancy` (root and [`CHILD`]), with its source and sink.
pub(crate) fn fake_runner(tenancy: &str) -> (BackendRunner<Fake>, Arc<FakeSource>, FakeSink) {
    let clock = ManualClock::new(start());
    let source = Arc::new(FakeSource::new(clock.clone(), tenancy, &[CHILD]));
    let sink = FakeSink::default();
    let policy = WindowPolicy {
        fresh_lag: Duration::from_secs(60),
        settle_lag: Duration::from_secs(180),
        initial_lookback: Duration::from_secs(30 * 60),
        max_window_minutes: 5,
        retention: Duration::from_secs(90 * 86_400),
    };
    let mut config = RunnerConfig::new(policy, "test");
    config.page_retry_delay = Duration::from_millis(1);
    let s = sink.clone();
    let runner = Runner::new(
        source.clone(),
        Arc::new(MemoryStore::new()),
        move || s.clone(),
        Arc::new(clock),
        config,
        RateLimits::default(),
    );
    (runner, source, sink)
}
