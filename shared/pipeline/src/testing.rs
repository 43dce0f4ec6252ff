//! In-memory fakes of the pipeline's edges, for deterministic tests here and in the crates
//! built on the pipeline (the daemon's health, the Lambda handlers): an audit source whose
//! events become visible late and that can refuse or fail, and a sink that records what it
//! confirmed and can be switched off. With `MemoryStore` and [`ManualClock`](crate::ManualClock)
//! they run the real runner without a network. Behind the `test-util` feature.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use auditfwd_checkpoint::manifest::Confirmation;
use auditfwd_oci::audit::{AuditEvent, RawEvent};
use auditfwd_oci::identity::{Compartment, CompartmentTree};
use auditfwd_oci::{Error, Ocid, ServiceError, Window};
use chrono::{DateTime, Utc};

use crate::clock::{Clock, ManualClock};
use crate::sink::{Outbound, Sink, SinkFailure};
use crate::source::{AuditSource, EventPages, Page};

/// The region every fake lives in.
pub const REGION: &str = "us-ashburn-1";

/// A compartment of a fake tree.
///
/// # Panics
/// On an id the OCI model refuses (tests only).
pub fn compartment(id: &str, parent: &str, name: &str) -> Compartment {
    #[allow(clippy::expect_used)]
    serde_json::from_value(serde_json::json!({
        "id": id, "compartmentId": parent, "name": name, "lifecycleState": "ACTIVE"
    }))
    .expect("a valid compartment")
}

/// An OCI service error as the client reports it.
pub fn service_error(operation: &'static str, status: u16, code: &str) -> Error {
    Error::Service {
        operation,
        error: ServiceError {
            status,
            code: code.into(),
            message: "fake".into(),
            request_id: Some("req-1".into()),
            retry_after: None,
        },
    }
}

type Events = Vec<(String, DateTime<Utc>, AuditEvent)>;

/// Events of a fake tenancy, each visible from its own moment on (by the source's clock).
#[derive(Debug)]
pub struct FakeSource {
    tenancy: Ocid,
    clock: ManualClock,
    compartments: Vec<Compartment>,
    /// (compartment, visible_at, event)
    events: Arc<Mutex<Events>>,
    /// Events per page.
    pub page_size: usize,
    /// Compartments OCI refuses (404).
    pub refused: Arc<Mutex<HashSet<String>>>,
    /// The next n ListEvents calls fail with 503.
    pub transient_failures: Arc<AtomicU32>,
    /// The compartment tree cannot be listed (401).
    pub tree_refused: AtomicBool,
    /// ListEvents calls made.
    pub calls: Arc<AtomicU32>,
    /// Every ListEvents call, in order, as `fetch <compartment> <offset>`; a [`FakeSink`]
    /// given the same log adds `sent <last id>` as each batch is confirmed.
    pub timeline: Arc<Mutex<Vec<String>>>,
}

impl FakeSource {
    /// A tenancy `tenancy` whose root has `children` (OCIDs; named after their last part).
    ///
    /// # Panics
    /// On a tenancy id that is not an OCID (tests only).
    pub fn new(clock: ManualClock, tenancy: &str, children: &[&str]) -> Self {
        let mut compartments = vec![compartment(tenancy, tenancy, "root")];
        for c in children {
            let name = c.rsplit('.').next().unwrap_or(c);
            compartments.push(compartment(c, tenancy, name));
        }
        #[allow(clippy::expect_used)]
        let tenancy = Ocid::parse(tenancy).expect("a tenancy OCID");
        FakeSource {
            tenancy,
            clock,
            compartments,
            events: Arc::default(),
            page_size: 7,
            refused: Arc::default(),
            transient_failures: Arc::default(),
            tree_refused: AtomicBool::new(false),
            calls: Arc::default(),
            timeline: Arc::default(),
        }
    }

    /// Adds an event of type `TerminateInstance` at `at`, visible `delay` later, carrying a
    /// credential header the scrubber must remove.
    ///
    /// # Panics
    /// Never for sane input (tests only).
    pub fn add(&self, compartment: &str, id: &str, at: DateTime<Utc>, delay: chrono::Duration) {
        #[allow(clippy::expect_used)]
        let event: AuditEvent = serde_json::from_value(serde_json::json!({
            "eventType": "com.oraclecloud.ComputeApi.TerminateInstance",
            "eventId": id,
            "eventTime": at.to_rfc3339(),
            "data": {"compartmentId": compartment, "request": {"headers": {"Authorization": ["Signature secret"]}}}
        }))
        .expect("a valid event");
        lock(&self.events).push((compartment.to_owned(), at + delay, event));
    }

    /// Every event id added.
    pub fn all_ids(&self) -> BTreeSet<String> {
        lock(&self.events)
            .iter()
            .map(|(_, _, e)| e.event_id.clone())
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AuditSource for FakeSource {
    type Pages = FakePages;

    fn tenancy(&self) -> &Ocid {
        &self.tenancy
    }

    fn regions(&self) -> Vec<String> {
        vec![REGION.into()]
    }

    async fn compartment_tree(&self) -> Result<CompartmentTree, Error> {
        if self.tree_refused.load(Ordering::SeqCst) {
            return Err(service_error("ListCompartments", 401, "NotAuthenticated"));
        }
        Ok(CompartmentTree::new(
            self.compartments[0].clone(),
            self.compartments[1..].to_vec(),
        ))
    }

    fn list_events(&self, _region: &str, compartment: &Ocid, window: Window) -> FakePages {
        FakePages {
            compartment: compartment.to_string(),
            window,
            next: Some(0),
            source: FakeSourceRef {
                clock: self.clock.clone(),
                events: self.events.clone(),
                page_size: self.page_size,
                refused: self.refused.clone(),
                transient_failures: self.transient_failures.clone(),
                calls: self.calls.clone(),
                timeline: self.timeline.clone(),
            },
        }
    }
}

#[derive(Debug)]
struct FakeSourceRef {
    clock: ManualClock,
    events: Arc<Mutex<Events>>,
    page_size: usize,
    refused: Arc<Mutex<HashSet<String>>>,
    transient_failures: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
    timeline: Arc<Mutex<Vec<String>>>,
}

/// A listing of [`FakeSource`]: pages of `page_size` events in event-time order, of what is
/// visible when each page is fetched.
#[derive(Debug)]
pub struct FakePages {
    compartment: String,
    window: Window,
    /// Offset of the next page; `None` after the last.
    next: Option<usize>,
    source: FakeSourceRef,
}

impl EventPages for FakePages {
    async fn next_page(&mut self) -> Option<Result<Page, Error>> {
        let from = self.next?;
        let s = &self.source;
        s.calls.fetch_add(1, Ordering::SeqCst);
        lock(&s.timeline).push(format!("fetch {} {from}", self.compartment));
        if lock(&s.refused).contains(&self.compartment) {
            return Some(Err(service_error(
                "ListEvents",
                404,
                "NotAuthorizedOrNotFound",
            )));
        }
        if s.transient_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Some(Err(service_error("ListEvents", 503, "ServiceUnavailable")));
        }
        let now = s.clock.now();
        let mut visible: Vec<AuditEvent> = lock(&s.events)
            .iter()
            .filter(|(c, vis, e)| {
                *c == self.compartment && *vis <= now && self.window.contains(e.event_time)
            })
            .map(|(_, _, e)| e.clone())
            .collect();
        visible.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
        let from = from.min(visible.len());
        let to = (from + s.page_size).min(visible.len());
        self.next = (to < visible.len()).then_some(to);
        let events = visible[from..to]
            .iter()
            .map(RawEvent::from_event)
            .collect::<Result<Vec<_>, _>>();
        Some(match events {
            Ok(events) => Ok(Page {
                events,
                next: self.next.map(|n| n.to_string()),
            }),
            Err(e) => Err(Error::Decode {
                operation: "ListEvents",
                status: 200,
                request_id: None,
                reason: e.to_string(),
            }),
        })
    }
}

/// A sink that records what it confirmed (as RELP would: acknowledged), and can be switched
/// off.
#[derive(Debug, Clone, Default)]
pub struct FakeSink {
    /// Every event confirmed, in order.
    pub delivered: Arc<Mutex<Vec<Outbound>>>,
    /// While set, every batch fails as a refused connection would.
    pub down: Arc<AtomicBool>,
    /// Batches offered, confirmed or not.
    pub attempts: Arc<std::sync::atomic::AtomicUsize>,
    /// When set (to a [`FakeSource::timeline`]): each send yields to the runtime a few times
    /// (as a real send waits for its confirmation), then logs `sent <last id>`.
    pub timeline: Option<Arc<Mutex<Vec<String>>>>,
}

impl FakeSink {
    /// The ids confirmed, in order (with repeats).
    pub fn ids(&self) -> Vec<String> {
        lock(&self.delivered)
            .iter()
            .map(|r| r.event_id.clone())
            .collect()
    }
}

impl Sink for FakeSink {
    async fn send(&mut self, batch: Vec<Outbound>) -> Result<Confirmation, SinkFailure> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            return Err(SinkFailure::new(batch.len(), true, refused));
        }
        if let Some(timeline) = &self.timeline {
            for _ in 0..16 {
                tokio::task::yield_now().await;
            }
            if let Some(last) = batch.last() {
                lock(timeline).push(format!("sent {}", last.event_id));
            }
        }
        lock(&self.delivered).extend(batch);
        Ok(Confirmation::ReceiverAck)
    }

    async fn close(&mut self) {}
}
