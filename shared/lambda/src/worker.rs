//! The worker: consumes the work queue in batches and answers with the messages that failed
//! (`ReportBatchItemFailures`: `{"batchItemFailures": [{"itemIdentifier": "<messageId>"}]}`),
//! so only those return to the queue, after its visibility timeout; a message that fails five
//! times moves to the dead-letter queue.
//!
//! Each message names the runner it is for (tenancy and source, see [`crate::runners`]; a
//! message from before runners were named means the audit runner of its tenancy). Live
//! messages (one shard's compartments each) are worked together, each runner's side by side,
//! shard by shard under one lease each, then replay parts one by one, all under the
//! invocation's budget. What fails a message:
//!
//! | message | success | batch item failure |
//! |---|---|---|
//! | live | every compartment completed, or recorded an OCI failure (a failing window, gaps) in the shard state; **or another runner holds the shard's lease** (see below) | a compartment left pending for any other reason (deadline, syslog destination down, checkpoint write failed) |
//! | replay part | the range is done; or the rest was handed on as the next part (after progress, or at the deadline) | no progress and not the deadline (syslog destination down, OCI refusing): SQS retries it later |
//! | either | | a body that is not a work message; a runner this deployment does not have ([`RunnerError::Unknown`](crate::runners::RunnerError)), a tenancy OCID or region the runner does not collect, a runner whose tenancy could not start (poison: it reaches the dead-letter queue). Each is logged with its `error_type` and whether it is retryable; only the message in question fails |
//!
//! **A failing window or a gap does not fail the message.** Both are written to the shard
//! state, which the next scheduled poll reads: the poller sends the shard again and its gap
//! ledger is retried with backoff. Failing the message would only bring the same work back
//! sooner, and a gap OCI can never fill (events past retention, recorded as *lost*) would
//! push the message into the dead-letter queue every cycle, for ever.
//!
//! **Leased elsewhere counts as success.** The lease holder is a poller working directly or
//! another worker with a duplicate message; it delivers and commits. If it died instead, its
//! lease lapses after `AUDITFWD_LEASE_TTL` and the next scheduled poll sends the shard
//! again: the schedule is the retry. Failing the message would only bring it back 6 × the
//! worker timeout later, when the holder has long finished.
//!
//! Duplicate messages for one compartment in a batch are worked once and answered alike.

use std::collections::BTreeMap;
use std::time::Duration;

use auditfwd_checkpoint::Scope;
use auditfwd_pipeline::{Pending, RunContext, RunReport, WorkItem};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::Serialize;

use crate::error::LambdaError;
use crate::invocation::{Function, Invocation, Summary};
use crate::message::{ReplayPart, Work, WorkMessage};
use crate::replay::{self, PartOutcome};
use crate::status::{self, State, Totals};
use crate::{Backend, Deps, Handler, Live};

/// The worker as [`crate::serve`] runs it: an SQS batch in, the batch response out.
#[derive(Debug)]
pub enum Worker {}

impl Handler for Worker {
    const FUNCTION: Function = Function::Worker;
    const EXPECTED: &'static str = "SQS event";
    type Payload = SqsEvent;
    type Response = SqsBatchResponse;

    async fn handle(
        deps: &Deps<Live>,
        event: SqsEvent,
        inv: &Invocation,
    ) -> Result<SqsBatchResponse, LambdaError> {
        work(deps, event, inv).await.map(|r| r.batch)
    }
}

/// The worker's answer: the batch response Lambda reads, and what the summary line says.
#[derive(Debug, Clone)]
pub struct WorkerResponse {
    /// What Lambda reads.
    pub batch: SqsBatchResponse,
    /// Messages in the batch.
    pub messages: usize,
    /// Live compartments worked.
    pub live: usize,
    /// Replay parts worked.
    pub replay_parts: usize,
    /// Per failed message: why.
    pub failures: Vec<MessageFailure>,
    /// The live run stopped starting windows for the deadline.
    pub stopped_for_deadline: bool,
    /// Live event and window totals.
    pub totals: Totals,
}

/// One failed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageFailure {
    /// SQS message id.
    pub message_id: String,
    /// Why, in words.
    pub reason: String,
}

impl WorkerResponse {
    /// The message ids reported as failed.
    pub fn failed_ids(&self) -> Vec<&str> {
        self.batch
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }
}

impl Summary for WorkerResponse {
    fn log_summary(&self, inv: &Invocation, elapsed: Duration) {
        tracing::info!(
            function = inv.function.as_str(),
            request_id = %inv.request_id,
            duration_ms = elapsed.as_millis() as u64,
            stop_after_ms = inv.stop_after_ms(),
            messages = self.messages,
            live = self.live,
            replay_parts = self.replay_parts,
            failed = self.failures.len(),
            stopped_for_deadline = self.stopped_for_deadline,
            windows_committed = self.totals.windows_committed,
            forwarded = self.totals.counts.forwarded,
            "worker finished: {} of {} messages failed",
            self.failures.len(),
            self.messages
        );
    }
}

/// One worker invocation over an SQS event.
pub async fn work<B: Backend>(
    deps: &Deps<B>,
    event: SqsEvent,
    inv: &Invocation,
) -> Result<WorkerResponse, LambdaError> {
    // Boxed: the pipeline's futures nest deep and large; callers get a small future.
    inv.frame(Box::pin(work_inner(deps, event, inv))).await
}

/// A batch's live work for one runner: each compartment once, with the messages that asked
/// for it.
type LiveWork = BTreeMap<Scope, (WorkItem, Vec<String>)>;

async fn work_inner<B: Backend>(
    deps: &Deps<B>,
    event: SqsEvent,
    inv: &Invocation,
) -> Result<WorkerResponse, LambdaError> {
    let ctx = RunContext::default().with_deadline(inv.budget.stop_at);
    let mut failures: Vec<MessageFailure> = Vec::new();
    // Per runner (its index in `deps.runners`).
    let mut live: BTreeMap<usize, LiveWork> = BTreeMap::new();
    let mut parts: Vec<(String, usize, WorkMessage, ReplayPart)> = Vec::new();
    let messages = event.records.len();

    for record in event.records {
        let Some(id) = record.message_id else {
            // Lambda always sets it; without one the message cannot be reported either way.
            tracing::error!("an SQS record without a messageId: skipped");
            continue;
        };
        let body = record.body.unwrap_or_default();
        let message = match WorkMessage::parse(&body) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, body = %truncate(&body, 200), "not a work message");
                failures.push(MessageFailure {
                    message_id: id,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let index = match deps.runners.for_message(&message) {
            Ok(index) => index,
            Err(e) => {
                let runner = message.runner.as_ref().map_or_else(
                    || "(none: an older message)".to_owned(),
                    ToString::to_string,
                );
                tracing::error!(message_id = %id, %runner, error_type = e.kind(), retryable = e.is_retryable(), error = %e,
                    "no runner of this deployment takes the work message");
                failures.push(MessageFailure {
                    message_id: id,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        match message.work.clone() {
            Work::Live { .. } => {
                let work = live.entry(index).or_default();
                for item in message.items() {
                    work.entry(item.scope.clone())
                        .or_insert_with(|| (item, Vec::new()))
                        .1
                        .push(id.clone());
                }
            }
            Work::Replay(part) => parts.push((id, index, message, part)),
        }
    }

    // Each runner's live work, side by side.
    let reports = futures::future::join_all(live.iter().map(|(index, work)| {
        let ctx = &ctx;
        async move {
            let items: Vec<WorkItem> = work.values().map(|(item, _)| item.clone()).collect();
            let report = match deps.runners.entry(*index).map(|e| e.get()) {
                Some(Ok(runner)) if !items.is_empty() => {
                    Box::pin(runner.process(ctx, RunReport::default(), items)).await
                }
                _ => RunReport::default(),
            };
            (*index, report)
        }
    }))
    .await;

    let mut unfinished: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, report) in &reports {
        for c in &report.compartments {
            let undone = matches!(
                status::state_of(c).0,
                State::Pending | State::Failing | State::OpenGaps
            );
            *unfinished.entry(c.scope.region.as_str()).or_default() += usize::from(undone);
        }
    }
    auditfwd_telemetry::freshness::record_unfinished(unfinished);
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut totals = Totals::default();
    let mut stopped_for_deadline = false;
    for (index, report) in &reports {
        let Some(work) = live.get(index) else {
            continue;
        };
        let runner = deps
            .runners
            .entry(*index)
            .map(|e| e.id.clone())
            .unwrap_or_else(|| crate::runners::RunnerId::new("?", "?"));
        totals += &Totals::of(report);
        stopped_for_deadline |= status::stopped_for_deadline(report);
        for c in &report.compartments {
            let Some((_, ids)) = work.get(&c.scope) else {
                continue;
            };
            let (state, reason) = status::state_of(c);
            match state {
                State::Complete => {}
                State::LeasedElsewhere => {
                    tracing::info!(tenancy = %runner.tenancy, source = %runner.source, scope = %c.scope, name = %c.name, %reason, "shard leased elsewhere: its holder delivers it (message done)");
                }
                // OCI would not serve a window: recorded as failing (or a gap) in the shard state.
                State::Pending if c.pending().and_then(Pending::failed_window).is_some() => {
                    tracing::warn!(tenancy = %runner.tenancy, source = %runner.source, scope = %c.scope, name = %c.name, %reason, "OCI failure recorded in the shard state; the next poll sends the shard again (message done)");
                }
                State::Failing | State::OpenGaps => {
                    tracing::warn!(tenancy = %runner.tenancy, source = %runner.source, scope = %c.scope, name = %c.name, state = ?state, %reason, "recorded in the shard state; the next poll sends the shard again (message done)");
                }
                State::Pending => {
                    tracing::warn!(tenancy = %runner.tenancy, source = %runner.source, scope = %c.scope, name = %c.name, %reason, "compartment pending: its message returns to the queue");
                    for id in ids {
                        failed
                            .entry(id.clone())
                            .or_insert_with(|| format!("{runner} {}: {reason}", c.name));
                    }
                }
            }
        }
        // A compartment the runner did not report on (it always does) must not pass silently.
        for (scope, (item, ids)) in work {
            if !report.compartments.iter().any(|c| &c.scope == scope) {
                for id in ids {
                    failed
                        .entry(id.clone())
                        .or_insert_with(|| format!("{runner} {}: not processed", item.name));
                }
            }
        }
    }
    failures.extend(
        failed
            .into_iter()
            .map(|(message_id, reason)| MessageFailure { message_id, reason }),
    );

    let replay_parts = parts.len();
    for (id, index, message, part) in parts {
        let Some(entry) = deps.runners.entry(index) else {
            continue;
        };
        let outcome = match entry.get() {
            Ok(runner) => {
                replay::continue_part(
                    runner,
                    &entry.id,
                    &ctx,
                    deps,
                    &message,
                    &part,
                    &inv.budget,
                    &format!("worker {}", inv.request_id),
                )
                .await
            }
            Err(e) => PartOutcome::Retry(e.to_string()),
        };
        if let PartOutcome::Retry(reason) = outcome {
            failures.push(MessageFailure {
                message_id: id,
                reason,
            });
        }
    }

    let mut batch = SqsBatchResponse::default();
    for f in &failures {
        let mut item = BatchItemFailure::default();
        item.item_identifier = f.message_id.clone();
        batch.batch_item_failures.push(item);
    }
    Ok(WorkerResponse {
        batch,
        messages,
        live: live.values().map(BTreeMap::len).sum(),
        replay_parts,
        stopped_for_deadline,
        totals,
        failures,
    })
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::STOP_MARGIN;
    use crate::message::Member;
    use crate::runners::{RunnerEntry, RunnerId};
    use crate::testing::{CHILD, Fake, RecordingQueue, fake_runner, start};
    use crate::{Budget, Metrics};
    use auditfwd_config::{FanOut, FanOutMode};
    use auditfwd_oci::{MinuteTimestamp, Ocid};
    use auditfwd_pipeline::testing::REGION;
    use aws_lambda_events::sqs::SqsMessage;

    const ACME: &str = "ocid1.tenancy.oc1..aaaaaaaaacme";
    const GLOBEX: &str = "ocid1.tenancy.oc1..aaaaaaaaglobex";

    fn record(id: &str, body: String) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body);
        m
    }

    fn live(runner: Option<(&str, &str)>, tenancy: &str) -> String {
        let mut m = WorkMessage {
            version: crate::message::MESSAGE_VERSION,
            runner: runner.map(|(t, s)| RunnerId::new(t, s)),
            tenancy: Ocid::parse(tenancy).unwrap(),
            region: REGION.into(),
            work: Work::Live {
                shard: None,
                compartments: vec![Member {
                    id: Ocid::parse(CHILD).unwrap(),
                    name: "root/child".into(),
                }],
                due_until: MinuteTimestamp::floor(start()),
            },
            sent_at: start(),
            sent_by: "poller test".into(),
        };
        if runner.is_none() {
            // What the previous version wrote: version 2, no runner.
            m.version = 2;
        }
        serde_json::to_string(&m).unwrap()
    }

    /// Each message is worked by the runner it names; one naming a runner this deployment
    /// does not have fails alone, and so does one whose tenancy could not start.
    #[tokio::test]
    async fn each_message_is_worked_by_its_runner_and_an_unknown_runner_fails_that_message_only() {
        let (acme, acme_source, acme_sink) = fake_runner(ACME);
        let (globex, globex_source, globex_sink) = fake_runner(GLOBEX);
        let at = start() - chrono::Duration::minutes(10);
        acme_source.add(CHILD, "acme-1", at, chrono::Duration::zero());
        globex_source.add(CHILD, "globex-1", at, chrono::Duration::zero());
        let deps: Deps<Fake> = Deps::new(
            vec![
                RunnerEntry::ready(RunnerId::new("acme", "audit"), acme),
                RunnerEntry::ready(RunnerId::new("globex", "audit"), globex),
                RunnerEntry::failed(
                    RunnerId::new("initech", "audit"),
                    auditfwd_runtime::BuildError::NoRegion,
                ),
            ],
            FanOut {
                mode: FanOutMode::On,
                threshold: 50,
                queue_url: None,
            },
            Some(RecordingQueue::default()),
            "memory://",
        );
        let mut event = SqsEvent::default();
        event.records = vec![
            record("m-hooli", live(Some(("hooli", "audit")), ACME)),
            record("m-globex", live(Some(("globex", "audit")), GLOBEX)),
            record("m-initech", live(Some(("initech", "audit")), ACME)),
            // From the previous version: acme's audit runner (its tenancy OCID).
            record("m-old", live(None, ACME)),
        ];
        let inv = Invocation::new(
            Function::Worker,
            "w-1",
            Budget::from_remaining(Duration::from_secs(900), STOP_MARGIN),
            Metrics::disabled(),
        );
        let r = work(&deps, event, &inv).await.unwrap();
        let mut failed = r.failed_ids();
        failed.sort_unstable();
        assert_eq!(failed, ["m-hooli", "m-initech"], "{:?}", r.failures);
        let hooli = r
            .failures
            .iter()
            .find(|f| f.message_id == "m-hooli")
            .unwrap();
        assert!(
            hooli.reason.contains("hooli/audit") && hooli.reason.contains("not configured"),
            "{}",
            hooli.reason
        );
        assert_eq!(acme_sink.ids(), ["acme-1"]);
        assert_eq!(globex_sink.ids(), ["globex-1"]);
        assert_eq!(r.live, 2, "one compartment in each of two runners");
        assert_eq!(r.totals.counts.forwarded, 2);
    }
}
