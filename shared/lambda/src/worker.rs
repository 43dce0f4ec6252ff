//! The worker: consumes the work queue in batches and answers with the messages that failed
//! (`ReportBatchItemFailures`: `{"batchItemFailures": [{"itemIdentifier": "<messageId>"}]}`),
//! so only those return to the queue, after its visibility timeout; a message that fails five
//! times moves to the dead-letter queue.
//!
//! Live messages (one shard's compartments each) are worked together, shard by shard under one
//! lease each, then replay parts one by one, all under the invocation's budget. What fails a
//! message:
//!
//! | message | success | batch item failure |
//! |---|---|---|
//! | live | every compartment completed, or recorded an OCI failure (a failing window, gaps) in the shard state; **or another runner holds the shard's lease** (see below) | a compartment left pending for any other reason (deadline, syslog destination down, checkpoint write failed) |
//! | replay part | the range is done; or the rest was handed on as the next part (after progress, or at the deadline) | no progress and not the deadline (syslog destination down, OCI refusing): SQS retries it later |
//! | either | | a body that is not a work message, another tenancy, a region not configured (poison: it reaches the dead-letter queue) |
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
use auditfwd_pipeline::{AuditSource as _, Pending, RunContext, RunReport, WorkItem};
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

async fn work_inner<B: Backend>(
    deps: &Deps<B>,
    event: SqsEvent,
    inv: &Invocation,
) -> Result<WorkerResponse, LambdaError> {
    let runner = &deps.runner;
    let ctx = RunContext::default().with_deadline(inv.budget.stop_at);
    let tenancy = runner.source().tenancy().clone();
    let regions = runner.source().regions();
    let mut failures: Vec<MessageFailure> = Vec::new();
    // Each compartment once, with the messages that asked for it.
    let mut live: BTreeMap<Scope, (WorkItem, Vec<String>)> = BTreeMap::new();
    let mut parts: Vec<(String, WorkMessage, ReplayPart)> = Vec::new();
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
        if message.tenancy != tenancy || !regions.contains(&message.region) {
            let reason = format!(
                "tenancy {} region {} is not what this function collects ({tenancy}, {})",
                message.tenancy,
                message.region,
                regions.join(",")
            );
            tracing::error!(message_id = %id, %reason, "work message for another tenancy or region");
            failures.push(MessageFailure {
                message_id: id,
                reason,
            });
            continue;
        }
        match message.work.clone() {
            Work::Live { .. } => {
                for item in message.items() {
                    live.entry(item.scope.clone())
                        .or_insert_with(|| (item, Vec::new()))
                        .1
                        .push(id.clone());
                }
            }
            Work::Replay(part) => parts.push((id, message, part)),
        }
    }

    let items: Vec<WorkItem> = live.values().map(|(item, _)| item.clone()).collect();
    let report = if items.is_empty() {
        RunReport::default()
    } else {
        runner.process(&ctx, RunReport::default(), items).await
    };
    let mut unfinished: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &report.compartments {
        let undone = matches!(
            status::state_of(c).0,
            State::Pending | State::Failing | State::OpenGaps
        );
        *unfinished.entry(c.scope.region.as_str()).or_default() += usize::from(undone);
    }
    auditfwd_telemetry::freshness::record_unfinished(unfinished);
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    for c in &report.compartments {
        let Some((_, ids)) = live.get(&c.scope) else {
            continue;
        };
        let (state, reason) = status::state_of(c);
        match state {
            State::Complete => {}
            State::LeasedElsewhere => {
                tracing::info!(scope = %c.scope, name = %c.name, %reason, "shard leased elsewhere: its holder delivers it (message done)");
            }
            // OCI would not serve a window: recorded as failing (or a gap) in the shard state.
            State::Pending if c.pending().and_then(Pending::failed_window).is_some() => {
                tracing::warn!(scope = %c.scope, name = %c.name, %reason, "OCI failure recorded in the shard state; the next poll sends the shard again (message done)");
            }
            State::Failing | State::OpenGaps => {
                tracing::warn!(scope = %c.scope, name = %c.name, state = ?state, %reason, "recorded in the shard state; the next poll sends the shard again (message done)");
            }
            State::Pending => {
                tracing::warn!(scope = %c.scope, name = %c.name, %reason, "compartment pending: its message returns to the queue");
                for id in ids {
                    failed
                        .entry(id.clone())
                        .or_insert_with(|| format!("{}: {reason}", c.name));
                }
            }
        }
    }
    // A compartment the runner did not report on (it always does) must not pass silently.
    for (scope, (item, ids)) in &live {
        if !report.compartments.iter().any(|c| &c.scope == scope) {
            for id in ids {
                failed
                    .entry(id.clone())
                    .or_insert_with(|| format!("{}: not processed", item.name));
            }
        }
    }
    failures.extend(
        failed
            .into_iter()
            .map(|(message_id, reason)| MessageFailure { message_id, reason }),
    );

    let replay_parts = parts.len();
    for (id, message, part) in parts {
        let outcome = replay::continue_part(
            runner,
            &ctx,
            deps,
            &message,
            &part,
            &inv.budget,
            &format!("worker {}", inv.request_id),
        )
        .await;
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
        live: live.len(),
        replay_parts,
        stopped_for_deadline: status::stopped_for_deadline(&report),
        totals: Totals::of(&report),
        failures,
    })
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
