//! Issue 7: the Lambda handlers called directly (no runtime), against the emulator, a real
//! rsyslogd over RELP, and moto (S3 checkpoint, SQS work queue): the scheduled direct path and
//! the SQS fan-out path deliver the same events exactly once; a compartment that turns
//! inaccessible comes back as a batch item failure; a deadline a few seconds away stops
//! cleanly, commits only delivered windows and still emits its metrics; a replay too long for
//! its invocation continues through the work queue to the end.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auditfwd_checkpoint::ObjectStore;
use auditfwd_e2e::checkpoint::assert_cursor_not_ahead;
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::assert_exactly_once;
use auditfwd_lambda::budget::STOP_MARGIN;
use auditfwd_lambda::fanout::Route;
use auditfwd_lambda::message::{Work, WorkMessage};
use auditfwd_lambda::poller::{self, Trigger};
use auditfwd_lambda::replay::{self, CompartmentRecord, PartStatus};
use auditfwd_lambda::{Budget, Function, Invocation, Metrics, worker};
use oci_emulator::{Access, Api, EmulatorBuilder, FaultKind, FaultRule};
use tokio::time::Instant;

use crate::lambda_common::{LambdaEnv, assert_manifests_delivered, fixture, set, sqs_event};

fn shape(b: EmulatorBuilder) -> EmulatorBuilder {
    b.compartments(6)
        .max_depth(2)
        .events_per_minute(3.0)
        .backlog(chrono::Duration::minutes(40))
        .page_size(25)
}

/// The scheduled-event fixture as the poller's typed payload.
fn scheduled() -> Trigger {
    serde_json::from_value(fixture("scheduled-event.json")).unwrap()
}

fn invocation(function: Function, id: &str) -> Invocation {
    Invocation::new(
        function,
        id,
        Budget::from_remaining(Duration::from_secs(900), STOP_MARGIN),
        Metrics::disabled(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_fan_out_paths_deliver_the_same_events_exactly_once() {
    let env = LambdaEnv::start(701, shape).await;
    let truth = env.tenancy.truth_ids();
    let scopes = env.tenancy.scopes();
    let trigger = scheduled();
    assert_eq!(trigger.source, "aws.events");

    // Direct: the poller works every compartment itself.
    let direct = env.deps(env.vars("off"), "poller-direct");
    let r = poller::poll(&direct, &trigger, &invocation(Function::Poller, "p-1"))
        .await
        .unwrap();
    assert!(r.complete, "{}", r.summary);
    assert_eq!(r.route, Some(Route::Direct));
    assert_eq!(r.work_items, scopes.len());
    assert_eq!(r.messages_sent, 0);
    assert_eq!(
        r.totals.counts.forwarded as usize,
        truth.len(),
        "{}",
        r.summary
    );
    assert_exactly_once(&truth, &env.rsyslog.counts());
    assert!(env.receive_all().await.is_empty(), "nothing queued");
    assert!(env.leases().await.is_empty(), "leases released");
    let again = poller::poll(&direct, &trigger, &invocation(Function::Poller, "p-2"))
        .await
        .unwrap();
    assert!(
        again.complete && again.totals.counts.forwarded == 0,
        "{}",
        again.summary
    );

    // Fan-out over SQS, on a second checkpoint and receiver over the same tenancy.
    let second = Rsyslog::start();
    let mut vars = env.vars("on");
    set(&mut vars, "AUDITFWD_SYSLOG_URL", &second.relp_url());
    let poller_deps = env.deps_at(vars.clone(), "poller-fanout", "fanout");
    let r = poller::poll(&poller_deps, &trigger, &invocation(Function::Poller, "p-3"))
        .await
        .unwrap();
    assert_eq!(r.route, Some(Route::FanOut), "{}", r.summary);
    assert!(r.complete);
    assert!(
        second.received().is_empty(),
        "the poller itself sends nothing"
    );
    let messages = env.receive_all().await;
    assert_eq!(r.messages_sent, messages.len());
    let mut compartments: Vec<String> = Vec::new();
    for m in &messages {
        let w = WorkMessage::parse(m.body().unwrap()).unwrap();
        assert!(matches!(w.work, Work::Live { shard: Some(_), .. }));
        assert_eq!(w.sent_by, "poller p-3");
        compartments.extend(w.items().iter().map(|i| i.scope.compartment.to_string()));
    }
    compartments.sort();
    let mut expected: Vec<String> = scopes.iter().map(|s| s.compartment.to_string()).collect();
    expected.sort();
    assert_eq!(
        compartments, expected,
        "every compartment in exactly one shard message"
    );
    assert!(
        messages.len() < scopes.len(),
        "one message per shard, not per compartment"
    );
    // Back-pressure: polled again before a worker took the messages, it sends nothing more.
    let r = poller::poll(&poller_deps, &trigger, &invocation(Function::Poller, "p-4"))
        .await
        .unwrap();
    assert_eq!(r.messages_sent, 0, "{}", r.summary);
    assert!(env.receive_all().await.is_empty());

    let worker_deps = env.deps_at(vars, "worker", "fanout");
    for (i, batch) in messages.chunks(5).enumerate() {
        let r = worker::work(
            &worker_deps,
            sqs_event(batch),
            &invocation(Function::Worker, &format!("w-{i}")),
        )
        .await
        .unwrap();
        assert!(r.failed_ids().is_empty(), "{:?}", r.failures);
        assert_eq!(
            serde_json::to_value(&r.batch).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }
    let direct_received = env.rsyslog.counts();
    let fanned_received = second.counts();
    assert_exactly_once(&truth, &fanned_received);
    assert_eq!(
        direct_received.keys().collect::<Vec<_>>(),
        fanned_received.keys().collect::<Vec<_>>(),
        "the SQS path delivered the same events as the direct path"
    );

    // A message delivered twice (SQS is at-least-once) finds nothing left to do.
    let r = worker::work(
        &worker_deps,
        sqs_event(&messages[..1]),
        &invocation(Function::Worker, "w-again"),
    )
    .await
    .unwrap();
    assert!(r.failed_ids().is_empty());
    assert_eq!(r.totals.counts.forwarded, 0);
    assert!(env.leases().await.is_empty(), "leases released");

    // Worked: the next poll sends every shard again.
    let r = poller::poll(&poller_deps, &trigger, &invocation(Function::Poller, "p-5"))
        .await
        .unwrap();
    assert_eq!(r.messages_sent, messages.len(), "{}", r.summary);
}

/// A compartment that turns inaccessible is recorded in its shard's state (its window failing
/// at the cursor) and does not fail the message: the next poll sends the shard again, and
/// once access is back everything is delivered. Only work left pending (here: the syslog
/// destination down) returns a message to the queue, and a poison body fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inaccessible_compartment_waits_in_the_shard_state_and_a_pending_shard_returns_to_the_queue()
 {
    let env = LambdaEnv::start(703, shape).await;
    let emu = &env.tenancy.emu;
    let deps = env.deps(env.vars("on"), "fanout");
    let poll = |id: &'static str| {
        let deps = &deps;
        async move {
            let r = poller::poll(deps, &Trigger::manual(), &invocation(Function::Poller, id))
                .await
                .unwrap();
            assert_eq!(r.route, Some(Route::FanOut));
            r
        }
    };

    // The syslog destination is down: every compartment is pending, every message returns.
    poll("p-0").await;
    let messages = env.receive_all().await;
    let mut down = env.vars("on");
    set(&mut down, "AUDITFWD_SYSLOG_URL", "relp://127.0.0.1:9");
    let down_deps = env.deps(down, "worker-down");
    let r = worker::work(
        &down_deps,
        sqs_event(&messages),
        &invocation(Function::Worker, "w-0"),
    )
    .await
    .unwrap();
    let mut failed: Vec<&str> = r.failed_ids();
    failed.sort_unstable();
    let mut all: Vec<&str> = messages.iter().map(|m| m.message_id().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(failed, all, "{:?}", r.failures);
    assert!(env.rsyslog.counts().is_empty());
    assert!(env.leases().await.is_empty(), "leases released");

    // A leaf compartment with events turns inaccessible before the worker gets there.
    let parents: BTreeSet<String> = emu
        .compartments()
        .iter()
        .map(|c| c.compartment.compartment_id.clone())
        .collect();
    let truth = env.tenancy.truth();
    let lost = emu
        .compartments()
        .into_iter()
        .filter(|c| c.depth > 0 && !parents.contains(&c.compartment.id))
        .max_by_key(|c| {
            truth
                .iter()
                .filter(|e| e.compartment == c.compartment.id)
                .count()
        })
        .unwrap()
        .compartment;
    emu.set_compartment_access(&lost.id, Access::NotFound)
        .unwrap();
    // SQS delivers the failed messages again.
    let r = worker::work(
        &deps,
        sqs_event(&messages),
        &invocation(Function::Worker, "w-1"),
    )
    .await
    .unwrap();
    assert!(r.failed_ids().is_empty(), "{:?}", r.failures);
    let expected: BTreeSet<String> = truth
        .iter()
        .filter(|e| e.compartment != lost.id)
        .map(|e| e.id.clone())
        .collect();
    assert_exactly_once(&expected, &env.rsyslog.counts());
    let states = env.states().await;
    let cursor = states[&lost.id].as_ref().unwrap();
    assert!(
        cursor.failing.is_some() || !cursor.gaps.is_empty(),
        "the inaccessible compartment's failure is recorded: {cursor:?}"
    );

    // Access is back; the next poll sends the shard again (it was worked), and its worker
    // delivers the rest.
    emu.set_compartment_access(&lost.id, Access::Normal)
        .unwrap();
    let r = poll("p-1").await;
    assert!(r.messages_sent > 0, "{}", r.summary);
    let again = env.receive_all().await;
    let r = worker::work(
        &deps,
        sqs_event(&again),
        &invocation(Function::Worker, "w-2"),
    )
    .await
    .unwrap();
    assert!(r.failed_ids().is_empty(), "{:?}", r.failures);
    assert_exactly_once(&env.tenancy.truth_ids(), &env.rsyslog.counts());
    let states = env.states().await;
    // What the gap ledger still holds only waits for its settle re-listing (not_before).
    let now = chrono::Utc::now();
    for (c, s) in &states {
        let s = s.as_ref().unwrap();
        assert!(s.failing.is_none(), "{c} still failing: {:?}", s.failing);
        assert!(
            s.gaps.iter().all(|g| !g.needs_attention(now)),
            "{c}: gaps left: {:?}",
            s.gaps
        );
    }

    // Poison: a body that is not a work message fails alone.
    let mut poison = sqs_event(&again);
    poison.records[0].body = Some("{\"hello\": 1}".to_owned());
    poison.records[0].message_id = Some("poison-1".to_owned());
    let r = worker::work(&deps, poison, &invocation(Function::Worker, "w-3"))
        .await
        .unwrap();
    assert_eq!(r.failed_ids(), vec!["poison-1"]);
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: the EMF recorder is this thread's local recorder, so only this test's pipeline
// records into it (the other tests run beside it in the same process).
#[tokio::test(flavor = "current_thread")]
async fn a_deadline_seconds_away_stops_cleanly_commits_only_delivered_windows_and_emits_metrics() {
    let env = LambdaEnv::start(704, |b| {
        b.compartments(4)
            .max_depth(1)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(60))
            .page_size(10)
    })
    .await;
    // Slow pages: the whole backlog takes far longer than the budget.
    env.tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 400 }).for_api(Api::Audit),
    ]);
    let recorder = auditfwd_telemetry::EmfRecorder::new("auditfwd").unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let capture = Capture::default();
    let out: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(capture.clone()));
    let metrics = Metrics::to_writer(recorder.handle(), out);

    let mut vars = env.vars("off");
    set(&mut vars, "AUDITFWD_CONCURRENCY", "2");
    // The whole backlog is due (it starts an hour back; the default look-back is one hour).
    set(&mut vars, "AUDITFWD_INITIAL_LOOKBACK", "2h");
    let deps = env.deps(vars, "poller-deadline");
    let now = Instant::now();
    // Start no window after 5 s (the whole backlog needs about 20 s at 400 ms a page); the hard
    // stop is far away, so the windows in flight finish.
    let inv = Invocation::new(
        Function::Poller,
        "p-deadline",
        Budget::new(now + Duration::from_secs(5), now + Duration::from_secs(120)),
        metrics.clone(),
    );
    let r = poller::poll(&deps, &scheduled(), &inv).await.unwrap();
    assert!(
        !r.complete,
        "the budget was meant to be too short: {}",
        r.summary
    );
    assert!(r.stopped_for_deadline, "{}", r.summary);
    assert!(r.totals.windows_committed > 0, "{}", r.summary);

    // Nothing committed that was not received, and nothing received that was not committed
    // (the windows in flight at the stop finished and committed).
    let received = env.rsyslog.counts();
    let manifests = env.manifests().await;
    let committed = assert_manifests_delivered(&env.tenancy, &manifests, &received);
    assert_exactly_once(&committed, &received);
    assert!(committed.len() < env.tenancy.truth_ids().len());
    assert_cursor_not_ahead(&env.tenancy, &env.states().await, &received);
    assert!(
        env.leases().await.is_empty(),
        "a clean stop releases its leases"
    );

    // The metrics of the stopped invocation were flushed before it returned.
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let totals = docs
        .iter()
        .find(|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == serde_json::json!([[]]))
        .unwrap_or_else(|| panic!("no dimensionless EMF document: {text}"));
    assert_eq!(
        totals["auditfwd_windows_committed_total"],
        serde_json::json!(r.totals.windows_committed),
        "{text}"
    );
    assert_eq!(
        totals["auditfwd_events_forwarded_total"],
        serde_json::json!(received.len()),
        "{text}"
    );
    assert!(text.contains("auditfwd_checkpoint_lag_seconds"), "{text}");

    // The next invocation delivers the rest.
    env.tenancy.emu.set_faults(Vec::new());
    let rest = poller::poll(
        &deps,
        &Trigger::manual(),
        &Invocation::new(
            Function::Poller,
            "p-rest",
            Budget::from_remaining(Duration::from_secs(900), STOP_MARGIN),
            metrics,
        ),
    )
    .await
    .unwrap();
    assert!(rest.complete, "{}", rest.summary);
    assert_exactly_once(&env.tenancy.truth_ids(), &env.rsyslog.counts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_too_long_for_its_invocation_continues_through_the_work_queue() {
    let env = LambdaEnv::start(705, |b| {
        b.compartments(3)
            .max_depth(1)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(60))
            .page_size(10)
    })
    .await;
    env.tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 300 }).for_api(Api::Audit),
    ]);
    let deps = env.deps(env.vars("off"), "replay");
    let from = env.tenancy.emu.backlog_start() - chrono::Duration::minutes(1);
    let from = auditfwd_oci::MinuteTimestamp::floor(from);
    let to = auditfwd_oci::MinuteTimestamp::floor(chrono::Utc::now());
    let mut payload = fixture("replay-request.json");
    payload["from"] = serde_json::json!(from.to_rfc3339());
    payload["to"] = serde_json::json!(to.to_rfc3339());
    let now = Instant::now();
    let inv = Invocation::new(
        Function::Replay,
        "replay-1",
        Budget::new(now + Duration::from_secs(2), now + Duration::from_secs(120)),
        Metrics::disabled(),
    );
    let payload: replay::ReplayPayload = serde_json::from_value(payload).unwrap();
    let r = replay::replay(&deps, &payload, &inv).await.unwrap();
    assert!(!r.complete, "{}", r.summary);
    assert!(!r.continuing.is_empty(), "{r:?}");
    assert!(r.not_continued.is_empty(), "{r:?}");
    assert_eq!(r.results, "s3://auditfwd-state/auditfwd/replays/replay-1/");
    assert!(
        env.store
            .get(&replay::record_key("replay-1").unwrap())
            .await
            .unwrap()
            .is_some(),
        "replays/<id>/replay.json written"
    );

    // Workers take the parts until the queue is empty (each hands on its rest at its deadline).
    env.tenancy.emu.set_faults(Vec::new());
    let mut rounds = 0;
    loop {
        let messages = env.receive_all().await;
        if messages.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds < 10, "the replay does not end");
        let r = worker::work(
            &deps,
            sqs_event(&messages),
            &invocation(Function::Worker, &format!("w-{rounds}")),
        )
        .await
        .unwrap();
        assert!(r.failed_ids().is_empty(), "{:?}", r.failures);
        env.delete(&messages, &r.failed_ids()).await;
    }
    for c in &r.continuing {
        let key = replay::compartment_key("replay-1", &c.region, &c.compartment).unwrap();
        let doc: CompartmentRecord =
            serde_json::from_slice(&env.store.get(&key).await.unwrap().unwrap().body).unwrap();
        assert_eq!(doc.status, PartStatus::Complete, "{doc:?}");
        assert_eq!(doc.replayed_until, to);
    }
    // Every event of the range arrived exactly once, over the invocation and the parts.
    let expected: BTreeSet<String> = env
        .tenancy
        .truth()
        .into_iter()
        .filter(|e| e.time >= from.as_datetime() && e.time < to.as_datetime())
        .map(|e| e.id)
        .collect();
    assert_exactly_once(&expected, &env.rsyslog.counts());
    // The live state is untouched by a replay.
    assert!(env.states().await.values().all(Option::is_none));
}

/// The fixture events are what the functions' typed payloads take: the scheduled event is a
/// scheduled trigger (not a manual run), the SQS batch's bodies are work messages of both
/// kinds, the replay request is a valid request, and a misspelt field is refused.
#[test]
fn the_fixture_events_are_the_payloads_the_functions_take() {
    use auditfwd_lambda::serve::Incoming;
    use aws_lambda_events::sqs::SqsEvent;

    let trigger = scheduled();
    assert_ne!(trigger, Trigger::manual());
    assert_eq!(trigger.source, "aws.events");
    assert!(trigger.time.is_some() && trigger.id.is_some());

    let batch: Incoming<SqsEvent> = serde_json::from_value(fixture("sqs-batch.json")).unwrap();
    let batch = batch.0.unwrap();
    let kinds: Vec<&str> = batch
        .records
        .iter()
        .map(
            |r| match WorkMessage::parse(r.body.as_deref().unwrap()).unwrap().work {
                Work::Live { .. } => "live",
                Work::Replay(_) => "replay",
            },
        )
        .collect();
    assert_eq!(kinds, ["live", "replay"]);

    let request: Incoming<replay::ReplayPayload> =
        serde_json::from_value(fixture("replay-request.json")).unwrap();
    let request = request.0.unwrap();
    assert!(!request.dry_run);
    assert!(request.from < request.to);
    let typo: Incoming<replay::ReplayPayload> = serde_json::from_value(serde_json::json!(
        {"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T12:00:00Z", "dry_run": true}
    ))
    .unwrap();
    let reason = typo.0.unwrap_err();
    assert!(
        reason.contains("dry_run"),
        "an unknown field (a typo of dryRun) is refused, naming it: {reason}"
    );
}
