//! The poller: invoked by the EventBridge schedule (or by hand), it runs every runner of the
//! deployment (each configured tenancy's Audit runner, and its log searches' runner when it
//! has some) side by side. For each it lists the compartment tree (a log search is listed
//! like one compartment), groups it into shards, then works every shard itself or sends each
//! to the work queue
//! ([`crate::fanout`]): one message per shard of about 128 compartments, and only when the
//! shard's last message has been worked ([`crate::dispatch`]), so the queue never holds more
//! than one message per shard however far the workers fall behind.
//!
//! Working directly, it starts no window after the budget's stop point, commits what was
//! delivered and leaves the rest to the next run. Its answer ([`PollerResponse`]) lists the
//! compartments that did not complete and why, each with its tenancy, and every runner's
//! route and totals; it returns an error only when a runner failed as a whole (its tree could
//! not be listed, its work messages could not be sent, its tenancy could not start at cold
//! start) or the invocation hit the hard stop, which is what `PollerErrorsAlarm` counts. A
//! runner that fails does so after the others have done their work: the error
//! ([`LambdaError::Runners`]) names each failed runner, and each runner's outcome is logged
//! (`runner finished`, with `tenancy` and `source`). With one runner its own error is
//! returned, as before. Compartments left pending (a deadline stop, the syslog destination
//! down) show in the freshness and gap alarms instead.

use std::collections::BTreeMap;
use std::time::Duration;

use auditfwd_oci::MinuteTimestamp;
use auditfwd_pipeline::{AuditSource as _, Discovery, RunContext, ShardItem};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dispatch::{self, Decision};
use crate::error::{LambdaError, RunnerFailure};
use crate::fanout::{self, Route};
use crate::freshness::{self, Fresh};
use crate::invocation::{Function, Invocation, Summary};
use crate::message::WorkMessage;
use crate::queue;
use crate::runners::RunnerId;
use crate::status::{self, Totals, Unfinished};
use crate::{Backend, BackendRunner, Deps, Handler, Live};

/// What started the poller: its payload, typed. An EventBridge event (the schedule), or
/// anything else (`{}` from `aws lambda invoke`), which is a manual run: the poller needs
/// nothing from its payload, so no payload is refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "TriggerPayload")]
pub struct Trigger {
    /// `aws.events` for the schedule; `manual` for anything that is not an EventBridge event.
    pub source: String,
    /// The EventBridge event id.
    pub id: Option<String>,
    /// The scheduled time.
    pub time: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TriggerPayload {
    Scheduled(Box<EventBridgeEvent>),
    Manual(serde::de::IgnoredAny),
}

impl From<TriggerPayload> for Trigger {
    fn from(p: TriggerPayload) -> Self {
        match p {
            TriggerPayload::Scheduled(e) => Trigger {
                source: e.source,
                id: e.id,
                time: e.time,
            },
            TriggerPayload::Manual(_) => Trigger::manual(),
        }
    }
}

impl Trigger {
    /// A run started by hand.
    pub fn manual() -> Self {
        Trigger {
            source: "manual".into(),
            id: None,
            time: None,
        }
    }
}

/// The poller as [`crate::serve`] runs it.
#[derive(Debug)]
pub enum Poller {}

impl Handler for Poller {
    const FUNCTION: Function = Function::Poller;
    const EXPECTED: &'static str = "EventBridge scheduled event";
    type Payload = Trigger;
    type Response = PollerResponse;

    async fn handle(
        deps: &Deps<Live>,
        trigger: Trigger,
        inv: &Invocation,
    ) -> Result<PollerResponse, LambdaError> {
        poll(deps, &trigger, inv).await
    }
}

/// The poller's answer (the invocation result; the schedule discards it, `aws lambda invoke`
/// shows it). The totals are over every runner; `runners` has each one's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollerResponse {
    /// Direct or fan-out: the route every runner took; `null` when they differ.
    pub route: Option<Route>,
    /// Why that route (each runner's reason, named by runner when there are several).
    pub why: String,
    /// (region, compartment) pairs selected.
    pub work_items: usize,
    /// Work messages sent (fan-out).
    pub messages_sent: usize,
    /// Direct: every compartment complete. Fan-out: every message sent.
    pub complete: bool,
    /// Direct: the run stopped starting windows for the deadline.
    pub stopped_for_deadline: bool,
    /// Direct: event and window totals.
    pub totals: Totals,
    /// Direct: the compartments that did not complete, and why.
    pub unfinished: Vec<Unfinished>,
    /// Each runner's part.
    pub runners: Vec<RunnerPoll>,
    /// The run's summary (as `auditfwd run --once` prints it), new and missing compartments
    /// and warnings included; one section per runner when there are several.
    pub summary: String,
}

/// One runner's part of a poller run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerPoll {
    /// The tenancy's configured name.
    pub tenancy: String,
    /// The runner's source.
    pub source: String,
    /// Direct or fan-out.
    pub route: Route,
    /// Why that route.
    pub why: String,
    /// (region, compartment) pairs selected.
    pub work_items: usize,
    /// Work messages sent (fan-out).
    pub messages_sent: usize,
    /// Direct: every compartment complete. Fan-out: every message sent.
    pub complete: bool,
    /// Direct: the run stopped starting windows for the deadline.
    pub stopped_for_deadline: bool,
    /// Direct: event and window totals.
    pub totals: Totals,
    /// The runner's summary.
    pub summary: String,
    /// Every compartment's freshness (recorded once, with every runner's).
    #[serde(skip)]
    fresh: Vec<Fresh>,
    /// Direct: compartments left with due work undone, per region.
    #[serde(skip)]
    unfinished_per_region: Option<BTreeMap<String, usize>>,
    #[serde(skip)]
    unfinished: Vec<Unfinished>,
}

impl Summary for PollerResponse {
    fn log_summary(&self, inv: &Invocation, elapsed: Duration) {
        tracing::info!(
            function = inv.function.as_str(),
            request_id = %inv.request_id,
            duration_ms = elapsed.as_millis() as u64,
            stop_after_ms = inv.stop_after_ms(),
            runners = self.runners.len(),
            route = ?self.route,
            work_items = self.work_items,
            messages_sent = self.messages_sent,
            complete = self.complete,
            stopped_for_deadline = self.stopped_for_deadline,
            windows_committed = self.totals.windows_committed,
            forwarded = self.totals.counts.forwarded,
            unfinished = self.unfinished.len(),
            "poller finished: {}",
            self.summary.lines().next().unwrap_or_default()
        );
    }
}

/// One poller invocation.
pub async fn poll<B: Backend>(
    deps: &Deps<B>,
    trigger: &Trigger,
    inv: &Invocation,
) -> Result<PollerResponse, LambdaError> {
    tracing::debug!(source = %trigger.source, id = ?trigger.id, time = ?trigger.time, "poller triggered");
    // Boxed: the pipeline's futures nest deep and large; callers get a small future.
    inv.frame(Box::pin(poll_inner(deps, inv))).await
}

/// Every runner, side by side (one that fails holds up no other), then the freshness of
/// all their compartments in one call, then one answer or the failed runners' error.
async fn poll_inner<B: Backend>(
    deps: &Deps<B>,
    inv: &Invocation,
) -> Result<PollerResponse, LambdaError> {
    let several = deps.runners.several_tenancies();
    let results = futures::future::join_all(deps.runners.entries().iter().map(|e| async move {
        let result = match e.get() {
            Ok(runner) => {
                let tenancy = several.then_some(e.id.tenancy.as_str());
                Box::pin(poll_runner(deps, &e.id, runner, tenancy, inv)).await
            }
            Err(error) => Err(LambdaError::Runner(error)),
        };
        (e.id.clone(), result)
    }))
    .await;

    let total = results.len();
    let mut polls = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in results {
        match result {
            Ok(p) => {
                tracing::info!(tenancy = %id.tenancy, source = %id.source, route = ?p.route, work_items = p.work_items,
                    messages_sent = p.messages_sent, complete = p.complete, forwarded = p.totals.counts.forwarded,
                    "runner finished: {}", p.summary.lines().next().unwrap_or_default());
                polls.push(p);
            }
            Err(error) => {
                tracing::error!(tenancy = %id.tenancy, source = %id.source, error_type = %error.error_type(),
                    retryable = error.is_retryable(), error = %error, "runner failed; the other runners ran");
                failed.push(RunnerFailure {
                    runner: id,
                    error: Box::new(error),
                });
            }
        }
    }

    // The gauges are set, not added: every runner's compartments in one call.
    let fresh: Vec<Fresh> = polls.iter().flat_map(|p| p.fresh.iter().cloned()).collect();
    if !polls.is_empty() {
        log_without_cursor(freshness::record(&fresh));
    }
    let mut per_region: BTreeMap<String, usize> = BTreeMap::new();
    let mut any_direct = false;
    for map in polls
        .iter()
        .filter_map(|p| p.unfinished_per_region.as_ref())
    {
        any_direct = true;
        for (region, n) in map {
            *per_region.entry(region.clone()).or_default() += n;
        }
    }
    if any_direct {
        auditfwd_telemetry::freshness::record_unfinished(
            per_region.iter().map(|(r, n)| (r.as_str(), *n)),
        );
    }

    if !failed.is_empty() {
        if total == 1
            && let Some(only) = failed.pop()
        {
            return Err(*only.error);
        }
        return Err(LambdaError::Runners { failed, total });
    }
    Ok(answer(polls))
}

/// The answer over every runner's part.
fn answer(polls: Vec<RunnerPoll>) -> PollerResponse {
    let first = polls.first().map(|p| p.route);
    let route = first.filter(|r| polls.iter().all(|p| p.route == *r));
    let named = polls.len() > 1;
    let mut totals = Totals::default();
    for p in &polls {
        totals += &p.totals;
    }
    let section = |p: &RunnerPoll, text: &str| {
        if named {
            format!("{}/{}: {text}", p.tenancy, p.source)
        } else {
            text.to_owned()
        }
    };
    let why = polls
        .iter()
        .map(|p| section(p, &p.why))
        .collect::<Vec<_>>()
        .join("; ");
    let summary = if named {
        let mut text = format!(
            "{} runners: {} (region, compartment) pairs, {} windows committed, {} events forwarded, {} work messages sent",
            polls.len(),
            polls.iter().map(|p| p.work_items).sum::<usize>(),
            totals.windows_committed,
            totals.counts.forwarded,
            polls.iter().map(|p| p.messages_sent).sum::<usize>()
        );
        for p in &polls {
            text.push_str(&format!(
                "\n== tenancy {} {}\n{}",
                p.tenancy, p.source, p.summary
            ));
        }
        text
    } else {
        polls.first().map(|p| p.summary.clone()).unwrap_or_default()
    };
    PollerResponse {
        route,
        why,
        work_items: polls.iter().map(|p| p.work_items).sum(),
        messages_sent: polls.iter().map(|p| p.messages_sent).sum(),
        complete: polls.iter().all(|p| p.complete),
        stopped_for_deadline: polls.iter().any(|p| p.stopped_for_deadline),
        totals,
        unfinished: polls.iter().flat_map(|p| p.unfinished.clone()).collect(),
        summary,
        runners: polls,
    }
}

/// One runner's part: its windows ([`poll_windows`]), then its sweep when its source has one
/// (Cloud Guard: the changes no window shows, sent by the poller itself).
async fn poll_runner<B: Backend>(
    deps: &Deps<B>,
    id: &RunnerId,
    runner: &BackendRunner<B>,
    tenancy_name: Option<&str>,
    inv: &Invocation,
) -> Result<RunnerPoll, LambdaError> {
    let mut poll = Box::pin(poll_windows(deps, id, runner, tenancy_name, inv)).await?;
    if let Some(sweep) = runner.sweep().await {
        poll.summary.push_str(&format!("\n{sweep}"));
        if let Some(e) = sweep.failed {
            return Err(LambdaError::Sweep(e));
        }
        poll.totals.counts.forwarded += sweep.forwarded;
    }
    Ok(poll)
}

/// One runner's windows: its tree, then its compartments worked directly or fanned out.
/// `tenancy` names it in freshness when several tenancies are configured.
async fn poll_windows<B: Backend>(
    deps: &Deps<B>,
    id: &RunnerId,
    runner: &BackendRunner<B>,
    tenancy_name: Option<&str>,
    inv: &Invocation,
) -> Result<RunnerPoll, LambdaError> {
    let ctx = RunContext::default().with_deadline(inv.budget.stop_at);
    let Discovery { report, items } = runner.discover().await;
    if let Some(e) = &report.tree_error {
        return Err(LambdaError::CompartmentTree(e.clone()));
    }
    let decision = fanout::decide(&deps.fan_out, items.len(), deps.queue.is_some())?;
    tracing::info!(tenancy = %id.tenancy, source = %id.source, route = ?decision.route, work_items = items.len(), "{}", decision.why);
    let work_items = items.len();
    let layout = runner
        .layout_for(&items)
        .await
        .map_err(LambdaError::Layout)?;
    let shards = auditfwd_pipeline::group(items, &layout);
    match (decision.route, &deps.queue) {
        (Route::FanOut, Some(queue)) => {
            let store = runner.store();
            let tenancy = runner.source().tenancy();
            let now = runner.clock().now();
            let states = freshness::read_shards(store, &shards).await;
            let mut record = dispatch::load(&**store, tenancy).await;
            let (mut leased, mut queued) = (0usize, 0usize);
            let mut to_send: Vec<&ShardItem> = Vec::new();
            for s in &shards {
                let sent = record.sent.get(&dispatch::shard_key(&s.shard)).copied();
                match dispatch::decide(sent, states.get(&s.shard), now) {
                    Decision::Send => to_send.push(s),
                    Decision::Leased(until) => {
                        leased += 1;
                        tracing::debug!(tenancy = %id.tenancy, shard = %s.shard, %until, "shard leased elsewhere: not sent");
                    }
                    Decision::Queued(at) => {
                        queued += 1;
                        tracing::debug!(tenancy = %id.tenancy, shard = %s.shard, sent_at = %at, "shard's last message not worked yet: not sent");
                    }
                }
            }
            let fresh_lag = chrono::Duration::from_std(runner.config().windows.fresh_lag)
                .unwrap_or_else(|_| chrono::Duration::minutes(1));
            let due_until = MinuteTimestamp::floor(now - fresh_lag);
            let sent_by = format!("poller {}", inv.request_id);
            let messages: Vec<WorkMessage> = to_send
                .iter()
                .map(|s| {
                    WorkMessage::live(
                        id,
                        tenancy,
                        &s.shard.region,
                        Some(format!("{:04}-of-{:04}", s.shard.index, s.shard.count)),
                        &s.compartments,
                        due_until,
                        now,
                        &sent_by,
                    )
                })
                .collect();
            let sent = queue::send_all(queue, &messages).await;
            for (i, s) in to_send.iter().enumerate() {
                if !sent.failed.iter().any(|(f, _)| *f == i) {
                    record.sent.insert(dispatch::shard_key(&s.shard), now);
                }
            }
            if let Err(e) = dispatch::save(&**store, tenancy, &record).await {
                tracing::warn!(tenancy = %id.tenancy, source = %id.source, error = %e, "cannot write the dispatch record: the next poll may send shards twice");
            }
            if let Some((_, reason)) = sent.failed.first() {
                for (i, why) in &sent.failed {
                    if let Some(s) = to_send.get(*i) {
                        tracing::error!(tenancy = %id.tenancy, source = %id.source, shard = %s.shard, compartments = s.compartments.len(), error = %why, "work message not sent; the next run sends it again");
                    }
                }
                return Err(LambdaError::Send {
                    failed: sent.failed.len(),
                    total: messages.len(),
                    reason: reason.clone(),
                    retryable: sent.retryable,
                });
            }
            let fresh = freshness::tree(&shards, &report, &states, now, tenancy_name);
            Ok(RunnerPoll {
                tenancy: id.tenancy.clone(),
                source: id.source.clone(),
                route: Route::FanOut,
                why: decision.why,
                work_items,
                messages_sent: sent.sent,
                complete: true,
                stopped_for_deadline: false,
                totals: Totals::default(),
                summary: format!(
                    "{work_items} (region, compartment) pairs in {} shards: {} sent to the work queue, {queued} still queued, {leased} being worked\n{}",
                    shards.len(),
                    sent.sent,
                    report_notes(&report.to_string())
                )
                .trim_end()
                .to_owned(),
                fresh,
                unfinished_per_region: None,
                unfinished: Vec::new(),
            })
        }
        _ => {
            let report = runner
                .process_shards(&ctx, report, shards.clone(), &layout)
                .await;
            let unfinished = status::unfinished(id, &report);
            // Compartments the run did not reach: their cursors from the shard states
            // (skipped when already past the stop point; the next run covers them).
            let states = if inv.budget.stopping() {
                BTreeMap::new()
            } else {
                freshness::read_shards(runner.store(), &shards).await
            };
            let fresh = freshness::tree(
                &shards,
                &report,
                &states,
                runner.clock().now(),
                tenancy_name,
            );
            for u in &unfinished {
                tracing::warn!(tenancy = %u.tenancy, source = %u.source, region = %u.region, compartment = %u.compartment, name = %u.name, state = ?u.state, reason = %u.reason, "compartment not complete");
            }
            Ok(RunnerPoll {
                tenancy: id.tenancy.clone(),
                source: id.source.clone(),
                route: Route::Direct,
                why: decision.why,
                work_items,
                messages_sent: 0,
                complete: report.is_complete(),
                stopped_for_deadline: status::stopped_for_deadline(&report),
                totals: Totals::of(&report),
                summary: report.to_string().trim_end().to_owned(),
                fresh,
                unfinished_per_region: Some(unfinished_per_region(&shards, &unfinished)),
                unfinished,
            })
        }
    }
}

fn log_without_cursor(without_cursor: usize) {
    if without_cursor > 0 {
        tracing::info!(
            without_cursor,
            "compartments without a delivered cursor yet (new, or never completed a window)"
        );
    }
}

/// How many compartments the poller, working them itself, left unfinished per region (every
/// region of `shards`, 0 included).
fn unfinished_per_region(
    shards: &[ShardItem],
    unfinished: &[Unfinished],
) -> BTreeMap<String, usize> {
    let mut per_region: BTreeMap<String, usize> =
        shards.iter().map(|s| (s.shard.region.clone(), 0)).collect();
    // Leased elsewhere is being worked by its holder: not this run's undone work.
    for u in unfinished
        .iter()
        .filter(|u| u.state != status::State::LeasedElsewhere)
    {
        *per_region.entry(u.region.clone()).or_default() += 1;
    }
    per_region
}

/// A run summary without its first line (the totals, meaningless when nothing was processed).
fn report_notes(summary: &str) -> String {
    summary.lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::STOP_MARGIN;
    use crate::runners::RunnerEntry;
    use crate::testing::{Fake, RecordingQueue, fake_runner};
    use crate::{Budget, Metrics};
    use auditfwd_config::{FanOut, FanOutMode};
    use std::sync::atomic::Ordering;

    /// globex's tree cannot be listed: acme's shards are still sent, each message naming
    /// acme's runner, and the error names globex alone.
    #[tokio::test]
    async fn a_runner_that_fails_holds_up_no_other_and_is_named() {
        let (acme, _, _) = fake_runner("ocid1.tenancy.oc1..aaaaaaaaacme");
        let (globex, globex_source, _) = fake_runner("ocid1.tenancy.oc1..aaaaaaaaglobex");
        globex_source.tree_refused.store(true, Ordering::SeqCst);
        let queue = RecordingQueue::default();
        let fan_out = FanOut {
            mode: FanOutMode::On,
            threshold: 50,
            queue_url: None,
        };
        let deps: Deps<Fake> = Deps::new(
            vec![
                RunnerEntry::ready(RunnerId::new("acme", "audit"), acme),
                RunnerEntry::ready(RunnerId::new("globex", "audit"), globex),
            ],
            fan_out.clone(),
            Some(queue.clone()),
            "memory://",
        );
        let inv = Invocation::new(
            Function::Poller,
            "p-1",
            Budget::from_remaining(Duration::from_secs(900), STOP_MARGIN),
            Metrics::disabled(),
        );
        let e = poll(&deps, &Trigger::manual(), &inv).await.unwrap_err();
        let LambdaError::Runners { failed, total } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*total, 2);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].runner, RunnerId::new("globex", "audit"));
        assert_eq!(failed[0].error.kind(), "CompartmentTree");
        assert!(e.to_string().contains("globex/audit"), "{e}");
        assert!(!e.to_string().contains("acme"), "{e}");
        let bodies = queue.bodies();
        assert!(!bodies.is_empty());
        for body in &bodies {
            let m = WorkMessage::parse(body).unwrap();
            assert_eq!(m.runner, Some(RunnerId::new("acme", "audit")), "{body}");
        }

        // One runner: its own error, as before runners were named.
        let (only, source, _) = fake_runner("ocid1.tenancy.oc1..aaaaaaaaacme");
        source.tree_refused.store(true, Ordering::SeqCst);
        let deps: Deps<Fake> = Deps::new(
            vec![RunnerEntry::ready(RunnerId::new("default", "audit"), only)],
            fan_out,
            Some(RecordingQueue::default()),
            "memory://",
        );
        let e = poll(&deps, &Trigger::manual(), &inv).await.unwrap_err();
        assert_eq!(e.error_type(), "auditfwd.Retryable.CompartmentTree");
    }

    #[test]
    fn a_scheduled_event_is_recognised_and_anything_else_is_manual() {
        let scheduled = serde_json::json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-22T14:05:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/auditfwd-schedule"],
            "detail": {}
        });
        let t: Trigger = serde_json::from_value(scheduled).unwrap();
        assert_eq!(t.source, "aws.events");
        assert_eq!(
            t.id.as_deref(),
            Some("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa")
        );
        assert!(t.time.is_some());
        for manual in [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!([1]),
        ] {
            let t: Trigger = serde_json::from_value(manual).unwrap();
            assert_eq!(t, Trigger::manual());
        }
    }
}
