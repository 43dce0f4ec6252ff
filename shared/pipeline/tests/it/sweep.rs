//! The runner's sweep (records that change in place, such as Cloud Guard problems): the
//! changes it finds are delivered before the state that would hide them is written, a quiet
//! sweep writes nothing, and a damaged state stops the sweep instead of forgetting what was
//! open. The Cloud Guard source's own sweep runs against the OCI emulator in
//! `tests/e2e/tests/it/cloud_guard.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auditfwd_checkpoint::store::{ObjectKey, WriteCondition};
use auditfwd_checkpoint::{MemoryStore, ObjectStore};
use auditfwd_oci::audit::RawEvent;
use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::{Error, Ocid, Window};
use auditfwd_pipeline::plan::WindowPolicy;
use auditfwd_pipeline::testing::{FakePages, FakeSink, FakeSource};
use auditfwd_pipeline::{
    AuditSource, ManualClock, RateLimits, Runner, RunnerConfig, SweepError, SweepState, Swept,
};
use chrono::{DateTime, TimeZone, Utc};

const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaatenancy";

/// A source with no compartments to speak of whose open records are set by the test; a record
/// that leaves the open set comes back from the sweep as `<id>/closed`.
#[derive(Debug)]
struct Changing {
    inner: FakeSource,
    open: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

impl AuditSource for Changing {
    type Pages = FakePages;

    fn tenancy(&self) -> &Ocid {
        self.inner.tenancy()
    }

    fn regions(&self) -> Vec<String> {
        self.inner.regions()
    }

    async fn compartment_tree(&self) -> Result<CompartmentTree, Error> {
        self.inner.compartment_tree().await
    }

    fn list_events(&self, region: &str, compartment: &Ocid, window: Window) -> FakePages {
        self.inner.list_events(region, compartment, window)
    }

    fn sweeps(&self) -> bool {
        true
    }

    async fn sweep(
        &self,
        known: Option<&SweepState>,
        now: DateTime<Utc>,
        _settle_lag: chrono::Duration,
    ) -> Result<Swept, Error> {
        let open = self.open.lock().unwrap().clone();
        let events = known
            .map(|k| {
                k.open
                    .iter()
                    .filter(|(id, _)| !open.contains_key(*id))
                    .map(|(id, at)| closed(id, *at))
                    .collect()
            })
            .unwrap_or_default();
        let _ = now;
        Ok(Swept {
            events,
            open,
            ..Swept::default()
        })
    }
}

fn closed(id: &str, at: DateTime<Utc>) -> RawEvent {
    let text = serde_json::json!({
        "eventId": format!("{id}/closed"),
        "eventType": "com.example.closed",
        "eventTime": at.to_rfc3339(),
        "data": {}
    });
    RawEvent::parse(serde_json::to_vec(&text).unwrap().into()).unwrap()
}

fn t(m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, m, 0).unwrap()
}

struct Rig {
    clock: ManualClock,
    source: Arc<Changing>,
    store: Arc<MemoryStore>,
    sink: FakeSink,
}

impl Rig {
    fn new() -> Self {
        let clock = ManualClock::new(t(0));
        Rig {
            source: Arc::new(Changing {
                inner: FakeSource::new(clock.clone(), TENANCY, &[]),
                open: Mutex::default(),
            }),
            clock,
            store: Arc::new(MemoryStore::new()),
            sink: FakeSink::default(),
        }
    }

    fn runner(&self) -> Runner<Changing, MemoryStore, FakeSink> {
        let policy = WindowPolicy {
            fresh_lag: Duration::from_secs(60),
            settle_lag: Duration::from_secs(180),
            initial_lookback: Duration::from_secs(30 * 60),
            max_window_minutes: 5,
            retention: Duration::from_secs(90 * 86_400),
        };
        let sink = self.sink.clone();
        Runner::new(
            self.source.clone(),
            self.store.clone(),
            move || sink.clone(),
            Arc::new(self.clock.clone()),
            RunnerConfig::new(policy, "sweeper"),
            RateLimits::default(),
        )
    }

    fn set_open(&self, ids: &[&str]) {
        *self.source.open.lock().unwrap() = ids.iter().map(|id| ((*id).to_owned(), t(0))).collect();
    }

    fn key() -> ObjectKey {
        ObjectKey::new(format!("sweeps/{TENANCY}.json")).unwrap()
    }

    async fn state(&self) -> Option<(SweepState, String)> {
        let o = self.store.get(&Self::key()).await.unwrap()?;
        Some((serde_json::from_slice(&o.body).unwrap(), o.etag.to_string()))
    }
}

#[tokio::test]
async fn a_closed_record_is_delivered_before_the_state_forgets_it_and_quiet_sweeps_write_nothing() {
    let rig = Rig::new();
    let runner = rig.runner();
    rig.set_open(&["p1", "p2"]);

    // The first sweep only learns what is open: nothing to compare with, nothing sent.
    let first = runner.sweep().await.expect("the source sweeps");
    assert!(first.failed.is_none(), "{first}");
    assert!(first.written);
    assert!(rig.sink.ids().is_empty());
    let (state, etag) = rig.state().await.expect("state written");
    assert_eq!(state.open.keys().collect::<Vec<_>>(), ["p1", "p2"]);

    // Nothing changed: no write at all.
    rig.clock.set(t(1));
    let quiet = runner.sweep().await.unwrap();
    assert!(!quiet.written && quiet.forwarded == 0, "{quiet}");
    assert_eq!(
        rig.state().await.unwrap().1,
        etag,
        "a quiet sweep writes nothing"
    );

    // p1 closes while the receiver is down: not confirmed, so the state keeps p1 open.
    rig.set_open(&["p2"]);
    rig.sink.down.store(true, Ordering::SeqCst);
    let down = runner.sweep().await.unwrap();
    assert!(matches!(down.failed, Some(SweepError::Sink(_))), "{down}");
    assert!(down.failed.as_ref().unwrap().is_retryable());
    assert!(!down.written);
    assert_eq!(rig.state().await.unwrap().1, etag, "nothing forgotten");
    assert!(rig.sink.ids().is_empty());

    // Back up: the same change is found again, delivered once, then forgotten.
    rig.sink.down.store(false, Ordering::SeqCst);
    let up = runner.sweep().await.unwrap();
    assert!(up.failed.is_none(), "{up}");
    assert_eq!(up.forwarded, 1);
    assert_eq!(rig.sink.ids(), ["p1/closed"]);
    let (state, _) = rig.state().await.unwrap();
    assert_eq!(state.open.keys().collect::<Vec<_>>(), ["p2"]);
    let again = runner.sweep().await.unwrap();
    assert_eq!(again.forwarded, 0);
    assert_eq!(rig.sink.ids(), ["p1/closed"], "never twice");
}

#[tokio::test]
async fn a_damaged_state_stops_the_sweep_and_names_it() {
    let rig = Rig::new();
    rig.store
        .put(
            &Rig::key(),
            bytes::Bytes::from_static(b"{not json"),
            WriteCondition::IfAbsent,
        )
        .await
        .unwrap();
    rig.set_open(&["p1"]);
    let report = rig.runner().sweep().await.unwrap();
    let failed = report
        .failed
        .expect("the sweep must not start over silently");
    assert!(matches!(failed, SweepError::Store(_)));
    assert!(failed.to_string().contains("sweeps/"), "{failed}");
    assert!(!report.written);
}

#[tokio::test]
async fn a_run_reports_its_sweep_and_is_incomplete_while_it_fails() {
    let rig = Rig::new();
    let runner = rig.runner();
    rig.set_open(&["p1"]);
    let ctx = auditfwd_pipeline::RunContext::default();
    let run = runner.run_once(&ctx).await;
    assert!(run.is_complete(), "{run}");
    assert!(run.to_string().contains("sweep: 1 open"), "{run}");
    rig.set_open(&[]);
    rig.sink.down.store(true, Ordering::SeqCst);
    rig.clock.set(t(2));
    let run = runner.run_once(&ctx).await;
    assert!(!run.is_complete(), "{run}");
    assert!(run.to_string().contains("FAILED"), "{run}");
}
