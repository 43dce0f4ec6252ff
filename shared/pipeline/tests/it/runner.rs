//! The runner against in-memory fakes of its edges (an audit source whose events become
//! visible late, a sink that can go down, the in-memory checkpoint store, a manual clock), so
//! every rule of "nothing lost, nothing sent twice" is checked deterministically. The same
//! scenarios run against the OCI emulator, real rsyslog and real stores in `tests/e2e`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use auditfwd_checkpoint::layout::{self, Layout};
use auditfwd_checkpoint::manifest::Confirmation;
use auditfwd_checkpoint::shard::ShardId;
use auditfwd_checkpoint::shard::{self, CompartmentCursor, ShardLease, ShardState};
use auditfwd_checkpoint::shard_manifest::{self, RangeRecord};
use auditfwd_checkpoint::store::{ObjectKey, StoredObject, WriteCondition};
use auditfwd_checkpoint::{Etag, MemoryStore, ObjectStore, Scope, StoreError};
use auditfwd_oci::{Ocid, Window};
use auditfwd_pipeline::plan::WindowPolicy;
use auditfwd_pipeline::testing::{FakeSink, FakeSource, REGION};
use auditfwd_pipeline::{
    Clock, ManualClock, Outcome, RateLimits, RunContext, Runner, RunnerConfig,
};
use chrono::{DateTime, TimeZone, Utc};

const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaatenancy";

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

struct Rig {
    clock: ManualClock,
    source: Arc<FakeSource>,
    store: Arc<MemoryStore>,
    sink: FakeSink,
}

const A: &str = "ocid1.compartment.oc1..aaaaaaaaalpha";
const B: &str = "ocid1.compartment.oc1..aaaaaaaabravo";

impl Rig {
    fn new(start: DateTime<Utc>) -> Self {
        let clock = ManualClock::new(start);
        Rig {
            source: Arc::new(FakeSource::new(clock.clone(), TENANCY, &[A, B])),
            clock,
            store: Arc::new(MemoryStore::new()),
            sink: FakeSink::default(),
        }
    }

    fn policy() -> WindowPolicy {
        WindowPolicy {
            fresh_lag: Duration::from_secs(60),
            settle_lag: Duration::from_secs(180),
            initial_lookback: Duration::from_secs(30 * 60),
            max_window_minutes: 5,
            retention: Duration::from_secs(90 * 86_400),
        }
    }

    fn runner(&self, owner: &str) -> Runner<FakeSource, MemoryStore, FakeSink> {
        self.runner_on(self.store.clone(), owner)
    }

    /// A runner on another store than the rig's.
    fn runner_on<S: ObjectStore + 'static>(
        &self,
        store: Arc<S>,
        owner: &str,
    ) -> Runner<FakeSource, S, FakeSink> {
        let mut config = RunnerConfig::new(Self::policy(), owner);
        config.page_retry_delay = Duration::from_millis(1);
        let sink = self.sink.clone();
        Runner::new(
            self.source.clone(),
            store,
            move || sink.clone(),
            Arc::new(self.clock.clone()),
            config,
            RateLimits::default(),
        )
    }

    /// The compartment's cursor in its shard's state.
    async fn state(&self, c: &str) -> CompartmentCursor {
        self.cursor(c).await.expect("the compartment has state")
    }

    /// Every range record of compartment `c` in its shard's manifests.
    async fn manifest_ranges(&self, c: &str) -> Vec<RangeRecord> {
        let tenancy = Ocid::parse(TENANCY).unwrap();
        let layout = layout::load(&*self.store, &tenancy).await.unwrap().unwrap();
        let shard = layout.shard_of(&tenancy, REGION, c);
        let from = t(0, 0);
        let to = t(23, 59);
        shard_manifest::list(&*self.store, &shard, from, to)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|m| m.ranges)
            .filter(|r| r.compartment == c)
            .collect()
    }

    async fn cursor(&self, c: &str) -> Option<CompartmentCursor> {
        let tenancy = Ocid::parse(TENANCY).unwrap();
        let layout = layout::load(&*self.store, &tenancy).await.unwrap()?;
        let shard = layout.shard_of(&tenancy, REGION, c);
        let (state, _) = shard::load(&*self.store, &shard).await.unwrap()?;
        state.compartments.get(c).cloned()
    }
}

fn scope(c: &str) -> Scope {
    Scope::new(
        Ocid::parse(TENANCY).unwrap(),
        REGION,
        Ocid::parse(c).unwrap(),
    )
}

fn assert_exactly_once(sink: &FakeSink, expected: &BTreeSet<String>) {
    let ids = sink.ids();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &ids {
        *counts.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let got: BTreeSet<String> = ids.into_iter().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(missing.is_empty(), "never sent: {missing:?}");
}

#[tokio::test]
async fn late_events_arrive_exactly_once_over_fresh_and_settle_passes_and_a_cold_start() {
    let rig = Rig::new(t(10, 0));
    // History before the first run, and events that OCI shows up to 2.5 minutes late.
    for i in 0..40u32 {
        let at = t(9, 40) + secs(i64::from(i) * 61);
        let delay = if i % 4 == 0 { secs(150) } else { secs(5) };
        rig.source.add(
            if i % 2 == 0 { A } else { B },
            &format!("e{i:03}"),
            at,
            delay,
        );
    }
    let mut late_total = 0;
    let mut runner = rig.runner("runner-1");
    for step in 0..30 {
        rig.clock.set(t(10, 0) + secs(step * 60 + 30));
        // More events as time goes on, a quarter of them visible 150 s late.
        let at = t(10, 0) + secs(step * 60 + 10);
        rig.source.add(
            A,
            &format!("live{step:03}"),
            at,
            if step % 4 == 0 { secs(150) } else { secs(2) },
        );
        if step == 12 {
            // A cold start: a new process with an empty in-memory cache.
            runner = rig.runner("runner-2");
        }
        let report = runner.run_once(&RunContext::default()).await;
        assert!(report.is_complete(), "step {step}: {report}");
        late_total += report.totals().late_arrivals;
    }
    // Past the last settle pass of everything added.
    rig.clock.set(t(10, 40));
    let report = runner.run_once(&RunContext::default()).await;
    late_total += report.totals().late_arrivals;
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
    // Late events of the live period were first seen on their settle pass.
    assert!(late_total >= 5, "late arrivals counted: {late_total}");
    // Every minute that ended a settle lag ago has had its settle pass; credential headers
    // were scrubbed.
    let st = rig.state(A).await;
    assert!(
        st.settled_until.as_datetime() >= t(10, 40) - secs(180) - secs(60),
        "{st:?}"
    );
    let records = rig.sink.delivered.lock().unwrap();
    let sent = String::from_utf8(records[0].text.to_bytes().into_owned()).unwrap();
    assert!(!sent.contains("Signature secret"), "{sent}");
}

#[tokio::test]
async fn the_next_page_is_fetched_while_a_batch_is_being_sent() {
    let mut rig = Rig::new(t(10, 0));
    // 30 events in one minute: pages of 7 at offsets 0, 7, 14, 21 and 28.
    for i in 0..30u32 {
        rig.source.add(
            A,
            &format!("p{i:03}"),
            t(9, 50) + secs(i64::from(i)),
            secs(1),
        );
    }
    rig.sink.timeline = Some(rig.source.timeline.clone());
    let report = rig
        .runner("runner-1")
        .run_once(&RunContext::default())
        .await;
    assert!(report.is_complete(), "{report}");
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
    let timeline = rig.source.timeline.lock().unwrap().clone();
    let at = |entry: &str| {
        timeline
            .iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("{entry} not in {timeline:#?}"))
    };
    // The minute's third page was asked for before its second batch was confirmed, and so on.
    for (page, end_of_previous_batch) in [(14, "p013"), (21, "p020"), (28, "p027")] {
        let fetch = format!("fetch {A} {page}");
        let sent = format!("sent {end_of_previous_batch}");
        assert!(
            at(&fetch) < at(&sent),
            "{fetch} after {sent}: {timeline:#?}"
        );
    }
}

#[tokio::test]
async fn a_spent_page_budget_makes_listings_wait_instead_of_fetching_and_loses_nothing() {
    let mut rig = Rig::new(t(10, 0));
    // Two busy compartments, each with pages of 7 at offsets 0, 7, 14, 21 and 28.
    for c in [A, B] {
        for i in 0..30u32 {
            rig.source.add(
                c,
                &format!("{}{i:03}", &c[c.len() - 5..]),
                t(9, 50) + secs(i64::from(i)),
                secs(1),
            );
        }
    }
    rig.sink.timeline = Some(rig.source.timeline.clone());
    // A budget of one byte: one page with events is held at a time across the process, however
    // many tasks run.
    let mut config = RunnerConfig::new(Rig::policy(), "r");
    config.page_memory = 1;
    config.concurrency = 4;
    let sink = rig.sink.clone();
    let runner = Runner::new(
        rig.source.clone(),
        rig.store.clone(),
        move || sink.clone(),
        Arc::new(rig.clock.clone()),
        config,
        RateLimits::default(),
    );
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        runner.run_once(&RunContext::default()),
    )
    .await
    .expect("listings waiting for the budget never wait on each other");
    assert!(report.is_complete(), "{report}");
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
    // Nothing was fetched ahead: each page of the busy minute was asked for only after the
    // batch before it was confirmed.
    let timeline = rig.source.timeline.lock().unwrap().clone();
    let at = |entry: &str| {
        timeline
            .iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("{entry} not in {timeline:#?}"))
    };
    for c in [A, B] {
        let tag = &c[c.len() - 5..];
        for (page, end_of_previous_batch) in [(7, 6), (14, 13), (21, 20), (28, 27)] {
            let fetch = format!("fetch {c} {page}");
            let sent = format!("sent {tag}{end_of_previous_batch:03}");
            assert!(
                at(&sent) < at(&fetch),
                "{fetch} before {sent}: {timeline:#?}"
            );
        }
    }
}

#[tokio::test]
async fn a_second_run_sends_nothing_and_manifests_describe_each_window() {
    let rig = Rig::new(t(10, 0));
    // 09:35 to 09:58; at 10:00 the fresh pass covers up to 09:59 (one minute's lag).
    for i in 0..24u32 {
        rig.source.add(
            A,
            &format!("e{i}"),
            t(9, 35) + secs(i64::from(i) * 60),
            secs(1),
        );
    }
    let runner = rig.runner("r");
    let first = runner.run_once(&RunContext::default()).await;
    assert!(first.is_complete(), "{first}");
    assert_eq!(first.totals().forwarded, 24);
    let second = runner.run_once(&RunContext::default()).await;
    assert_eq!(second.totals().forwarded, 0, "{second}");
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
    let st = rig.state(A).await;
    assert_eq!(st.delivered_until.as_datetime(), t(9, 59));
    // The manifests record A's listings and, per aligned window, what they forwarded. 24 events
    // do not fit the fake's 7-event pages, so the look-back was walked window by window.
    let w = Window::parse("2026-11-22T09:35:00Z", "2026-11-22T09:40:00Z").unwrap();
    let ranges = rig.manifest_ranges(A).await;
    let listed: u64 = ranges.iter().map(|r| r.counts.listed).sum();
    assert_eq!(listed, 24, "{ranges:?}");
    let first = ranges
        .iter()
        .find(|r| r.counts.forwarded > 0)
        .expect("a range of A");
    assert_eq!(first.confirmation, Confirmation::ReceiverAck);
    assert_eq!(first.first_event_time, Some(t(9, 35)));
    let tally: u64 = ranges
        .iter()
        .flat_map(|r| &r.windows)
        .filter(|t| t.window == w)
        .map(|t| t.forwarded)
        .sum();
    assert_eq!(tally, 5);
    // Every range lies on the 5-minute grid or at the ends of what was due.
    for r in &ranges {
        let minutes = r.range.start().as_datetime().timestamp() / 60;
        assert!(
            minutes % 5 == 0 || r.range.start().as_datetime() == t(9, 30),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn a_sink_outage_leaves_the_cursor_where_delivery_stopped_and_loses_nothing() {
    let rig = Rig::new(t(10, 0));
    for i in 0..30u32 {
        rig.source.add(
            if i % 2 == 0 { A } else { B },
            &format!("e{i}"),
            t(9, 31) + secs(i64::from(i) * 55),
            secs(1),
        );
    }
    let runner = rig.runner("r");
    rig.sink.down.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        rig.sink.attempts.store(0, Ordering::SeqCst);
        let report = runner.run_once(&RunContext::default()).await;
        assert!(!report.is_complete());
        // A and B share one shard and its sink: once a batch failed, the other compartment
        // stops instead of trying the dead receiver again.
        assert_eq!(rig.sink.attempts.load(Ordering::SeqCst), 1, "{report}");
        assert!(
            report.to_string().contains("syslog delivery failed"),
            "{report}"
        );
        // No cursor moved past delivery: it is still at the initial look-back (09:30).
        if let Some(c) = rig.cursor(A).await {
            assert_eq!(c.delivered_until.as_datetime(), t(9, 30), "{c:?}");
            assert!(c.last_error.is_some());
        }
    }
    rig.sink.down.store(false, Ordering::SeqCst);
    let report = runner.run_once(&RunContext::default()).await;
    assert!(report.is_complete(), "{report}");
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
}

#[tokio::test]
async fn a_refused_compartment_goes_to_the_gap_ledger_and_is_delivered_when_access_returns() {
    let rig = Rig::new(t(10, 0));
    for i in 0..20u32 {
        rig.source.add(
            A,
            &format!("a{i}"),
            t(9, 31) + secs(i64::from(i) * 60),
            secs(1),
        );
        rig.source.add(
            B,
            &format!("b{i}"),
            t(9, 31) + secs(i64::from(i) * 60),
            secs(1),
        );
    }
    rig.source.refused.lock().unwrap().insert(B.to_owned());
    let runner = rig.runner("r");
    let report = runner.run_once(&RunContext::default()).await;
    assert!(!report.is_complete());
    let text = report.to_string();
    assert!(text.contains("GAP") && text.contains(B), "{text}");
    // The other compartment is unaffected.
    let st = rig.state(B).await;
    assert_eq!(st.gaps.len(), 1, "one merged entry: {:?}", st.gaps);
    assert!(st.gaps[0].reason.contains("NotAuthorizedOrNotFound"));
    assert_eq!(st.delivered_until, st.gaps[0].window.end());

    // Still refused a few minutes later: the same entry grows, nothing is dropped.
    rig.clock.set(t(10, 3));
    runner.run_once(&RunContext::default()).await;
    let st = rig.state(B).await;
    assert_eq!(st.gaps.len(), 1);
    assert!(st.gaps[0].attempts >= 2);

    rig.source.refused.lock().unwrap().clear();
    rig.clock.set(t(10, 5));
    let report = runner.run_once(&RunContext::default()).await;
    assert!(report.is_complete(), "{report}");
    assert!(rig.state(B).await.gaps.is_empty());
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
}

#[tokio::test]
async fn transient_failures_wait_at_the_cursor_then_go_to_the_ledger_without_losing_events() {
    let rig = Rig::new(t(10, 0));
    for i in 0..10u32 {
        rig.source.add(
            A,
            &format!("a{i}"),
            t(9, 31) + secs(i64::from(i) * 120),
            secs(1),
        );
    }
    let mut config = RunnerConfig::new(Rig::policy(), "r");
    config.page_retry_delay = Duration::from_millis(1);
    config.include = vec![auditfwd_pipeline::compartments::CompartmentRule::new(A)];
    let sink = rig.sink.clone();
    let runner = Runner::new(
        rig.source.clone(),
        rig.store.clone(),
        move || sink.clone(),
        Arc::new(rig.clock.clone()),
        config,
        RateLimits::default(),
    );
    // Every attempt of one cycle fails (3 page attempts).
    rig.source.transient_failures.store(3, Ordering::SeqCst);
    let report = runner.run_once(&RunContext::default()).await;
    assert!(!report.is_complete());
    let st = rig.state(A).await;
    let failing = st
        .failing
        .clone()
        .expect("the window at the cursor is failing");
    assert_eq!(failing.attempts, 1);
    assert_eq!(st.delivered_until, failing.window.start(), "cursor waits");
    // The report names the failing window as the reason, as a value (the daemon's health and
    // the Lambda worker decide on it), and says the same window is failing.
    let rep = &report.compartments[0];
    let pending = rep.pending().expect("pending");
    assert_eq!(pending.failed_window(), Some(failing.window), "{pending}");
    assert_eq!(rep.failing.as_ref().map(|g| g.window), Some(failing.window));
    assert!(!pending.is_sink() && !pending.is_deadline());
    assert!(st.gaps.is_empty());
    // Two more failed cycles: the window goes to the ledger and the cursor moves on.
    for _ in 0..2 {
        rig.source.transient_failures.store(3, Ordering::SeqCst);
        runner.run_once(&RunContext::default()).await;
    }
    let st = rig.state(A).await;
    assert!(st.failing.is_none());
    assert_eq!(st.gaps.len(), 1);
    assert_eq!(st.gaps[0].window, failing.window);
    // Healthy again: the gap and the rest are delivered.
    let report = runner.run_once(&RunContext::default()).await;
    assert!(report.is_complete(), "{report}");
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
}

#[tokio::test]
async fn a_compartment_leased_by_another_runner_is_left_alone() {
    let rig = Rig::new(t(10, 0));
    rig.source.add(A, "a", t(9, 50), secs(1));
    rig.source.add(B, "b", t(9, 50), secs(1));
    // Another runner holds the shard of A (and of B: a tenancy this small has one shard).
    let tenancy = Ocid::parse(TENANCY).unwrap();
    let layout = layout::create(&*rig.store, &tenancy, &Layout::new(1, t(9, 0)))
        .await
        .unwrap();
    let held = ShardState {
        lease: Some(ShardLease {
            owner: "other-runner".into(),
            acquired_at: t(10, 0),
            expires_at: t(10, 10),
        }),
        ..ShardState::default()
    };
    shard::save(
        &*rig.store,
        &layout.shard_of(&tenancy, REGION, A),
        &held,
        None,
    )
    .await
    .unwrap();
    let report = rig.runner("me").run_once(&RunContext::default()).await;
    let a = report
        .compartments
        .iter()
        .find(|c| c.scope == scope(A))
        .unwrap();
    assert!(
        matches!(&a.outcome, Outcome::LeasedElsewhere { owner, until }
            if owner == "other-runner" && *until == t(10, 10)),
        "{:?}",
        a.outcome
    );
    // This run delivered nothing there: it must not claim success.
    assert!(!report.is_complete());
    assert!(
        report.to_string().contains("holds its lease until"),
        "{report}"
    );
    assert!(
        rig.sink.ids().is_empty(),
        "nothing sent from a shard held elsewhere"
    );
    assert!(
        report
            .compartments
            .iter()
            .all(|c| matches!(c.outcome, Outcome::LeasedElsewhere { .. }))
    );
    // Once the lease lapses (its holder died), the next run takes over and delivers.
    rig.clock.set(t(10, 11));
    let report = rig.runner("me").run_once(&RunContext::default()).await;
    assert!(report.is_complete(), "{report}");
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
}

/// A store on which another runner takes a shard's lease between this runner's read of the
/// shard's state and its conditional write (two runners started at the same moment).
#[derive(Debug)]
struct RivalTakesTheLease {
    inner: MemoryStore,
    shard: ShardId,
    rival: ShardState,
    raced: std::sync::atomic::AtomicBool,
}

impl ObjectStore for RivalTakesTheLease {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        self.inner.get(key).await
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: bytes::Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        if *key == self.shard.state_key()? && !self.raced.swap(true, Ordering::SeqCst) {
            shard::save(&self.inner, &self.shard, &self.rival, None).await?;
        }
        self.inner.put(key, body, condition).await
    }

    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        self.inner.delete(key, if_match).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        self.inner.list(prefix, start_after).await
    }
}

/// Two runners read a shard's (absent) state at once; the one whose lease write loses reports
/// the winner's lease, not a conflict in the middle of work it never started.
#[tokio::test]
async fn the_runner_that_loses_the_race_for_a_shard_reports_the_winners_lease() {
    let rig = Rig::new(t(10, 0));
    rig.source.add(A, "a", t(9, 50), secs(1));
    let tenancy = Ocid::parse(TENANCY).unwrap();
    let inner = MemoryStore::new();
    let layout = layout::create(&inner, &tenancy, &Layout::new(1, t(9, 0)))
        .await
        .unwrap();
    let rival = ShardState {
        lease: Some(ShardLease {
            owner: "other-runner".into(),
            acquired_at: t(10, 0),
            expires_at: t(10, 5),
        }),
        ..ShardState::default()
    };
    let store = Arc::new(RivalTakesTheLease {
        inner,
        shard: layout.shard_of(&tenancy, REGION, A),
        rival: rival.clone(),
        raced: std::sync::atomic::AtomicBool::new(false),
    });
    let report = rig
        .runner_on(store.clone(), "me")
        .run_once(&RunContext::default())
        .await;
    assert!(!report.is_complete(), "{report}");
    assert!(
        report.compartments.iter().all(|c| matches!(&c.outcome,
            Outcome::LeasedElsewhere { owner, until } if owner == "other-runner" && *until == t(10, 5))),
        "{report}"
    );
    assert!(
        rig.sink.ids().is_empty(),
        "nothing sent from a shard held elsewhere"
    );
    let (kept, _) = shard::load(&store.inner, &store.shard)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, rival, "the winner's state is left as it wrote it");
}

#[tokio::test]
async fn a_stop_request_starts_no_new_window() {
    let rig = Rig::new(t(10, 0));
    rig.source.add(A, "a", t(9, 50), secs(1));
    let token = tokio_util::sync::CancellationToken::new();
    token.cancel();
    let report = rig.runner("r").run_once(&RunContext::live(token)).await;
    assert!(!report.is_complete());
    assert!(rig.sink.ids().is_empty());
    assert!(
        report.to_string().contains("shutdown requested"),
        "{report}"
    );
}

/// A replay resends what OCI holds now, flagged, without moving the cursor; its
/// reconciliation matches the live windows, and names the window where OCI now shows an event
/// the live run never saw (visible only after both passes).
#[tokio::test]
async fn replay_reconciles_with_the_live_manifests_and_names_a_window_that_changed() {
    use auditfwd_oci::MinuteTimestamp;
    use auditfwd_pipeline::replay::{NoProgress, ReplayRequest};
    let rig = Rig::new(t(10, 0));
    for i in 0..30u32 {
        rig.source.add(
            A,
            &format!("e{i:03}"),
            t(9, 35) + secs(i64::from(i) * 50),
            secs(1),
        );
    }
    // Live: the look-back starts at 09:30 (5-minute windows), then every settle pass.
    let runner = rig.runner("live");
    rig.clock.set(t(10, 0) + secs(30));
    assert!(runner.run_once(&RunContext::default()).await.is_complete());
    rig.clock.set(t(10, 30));
    assert!(runner.run_once(&RunContext::default()).await.is_complete());
    let before = rig.state(A).await;
    let live_sent = rig.sink.ids().len();
    // OCI shows an event at 09:42 only now, long after both passes.
    rig.source.add(A, "very-late", t(9, 42), secs(0));

    let request = ReplayRequest {
        from: MinuteTimestamp::floor(t(9, 35)),
        to: MinuteTimestamp::floor(t(9, 55)),
        compartments: vec![auditfwd_pipeline::compartments::CompartmentRule::new(A)],
        regions: Vec::new(),
        dry_run: false,
    };
    request
        .validate(&[REGION.to_owned()], rig.clock.now())
        .unwrap();
    let report = rig
        .runner("replayer")
        .replay(&RunContext::default(), &request, &NoProgress)
        .await;
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.compartments.len(), 1, "{report}");
    let c = &report.compartments[0];
    assert_eq!(c.counts.listed, 25);
    assert_eq!(c.counts.forwarded, 25);
    let r = &c.reconciliation;
    assert!(r.error.is_none(), "{report}");
    assert_eq!(r.minutes_without_record, 0, "{report}");
    assert_eq!(r.live_windows, 4, "{report}");
    assert_eq!(r.matching_windows, 3, "{report}");
    assert_eq!(r.differing.len(), 1, "{report}");
    assert_eq!(
        r.differing[0].window,
        Window::new(
            MinuteTimestamp::floor(t(9, 40)),
            MinuteTimestamp::floor(t(9, 45))
        )
        .unwrap()
    );
    assert_eq!(
        (
            r.differing[0].live_forwarded,
            r.differing[0].replay_forwarded
        ),
        (6, 7)
    );
    assert!(report.to_string().contains("DIFFERS"), "{report}");

    let sent = rig.sink.delivered.lock().unwrap().clone();
    assert_eq!(sent.len(), live_sent + 25);
    assert!(sent[live_sent..].iter().all(|r| r.replay));
    assert!(sent[..live_sent].iter().all(|r| !r.replay));
    // The live state is untouched, and the live run still has the very late event to find
    // only by replay (its windows are settled).
    assert_eq!(rig.state(A).await, before);

    // A range off the window grid: the aligned windows wholly inside it are compared, the
    // pieces at its ends are partial.
    let off_grid = ReplayRequest {
        from: MinuteTimestamp::floor(t(9, 37)),
        to: MinuteTimestamp::floor(t(9, 53)),
        dry_run: true,
        ..request.clone()
    };
    let report = rig
        .runner("replayer")
        .replay(&RunContext::default(), &off_grid, &NoProgress)
        .await;
    let r = &report.compartments[0].reconciliation;
    assert_eq!(
        (r.live_windows, r.matching_windows, r.partial_windows),
        (2, 1, 2),
        "{report}"
    );
    assert_eq!(r.minutes_without_record, 0, "{report}");

    // A range that reaches into the current minute is refused.
    let future = ReplayRequest {
        to: MinuteTimestamp::floor(t(10, 31)),
        ..request
    };
    assert!(
        future
            .validate(&[REGION.to_owned()], rig.clock.now())
            .is_err()
    );
}

/// `replay --gaps` works only the ledger: the gap closes, nothing else is listed.
#[tokio::test]
async fn gaps_only_mode_delivers_the_ledger_and_nothing_else() {
    let rig = Rig::new(t(10, 0));
    for i in 0..10u32 {
        rig.source.add(
            B,
            &format!("b{i:03}"),
            t(9, 45) + secs(i64::from(i) * 60),
            secs(1),
        );
    }
    rig.source.refused.lock().unwrap().insert(B.to_owned());
    let runner = rig.runner("live");
    assert!(!runner.run_once(&RunContext::default()).await.is_complete());
    assert_eq!(rig.state(B).await.gaps.len(), 1);
    let cursor = rig.state(B).await.delivered_until;
    rig.source.refused.lock().unwrap().clear();
    // Time passes: fresh windows come due, but gaps-only mode leaves them to the live run.
    rig.clock.set(t(10, 20));
    let report = rig
        .runner("gaps")
        .run_once(&RunContext::default().with_mode(auditfwd_pipeline::Mode::GapsOnly))
        .await;
    assert!(report.is_complete(), "{report}");
    let st = rig.state(B).await;
    assert!(st.gaps.is_empty(), "{st:?}");
    assert_eq!(
        st.delivered_until, cursor,
        "the cursor is the live run's business"
    );
    assert_exactly_once(&rig.sink, &rig.source.all_ids());
}
