//! The poller: invoked by the EventBridge schedule (or by hand), it lists the compartment tree,
//! groups it into shards, then works every shard itself or sends each to the work queue
//! ([`crate::fanout`]): one message per shard of about 128 compartments, and only when the
//! shard's last message has been worked ([`crate::dispatch`]), so the queue never holds more
//! than one message per shard however far the workers fall behind.
//!
//! Working directly, it starts no window after the budget's stop point, commits what was
//! delivered and leaves the rest to the next run. Its answer ([`PollerResponse`]) lists the
//! compartments that did not complete and why; it returns an error only when the invocation as
//! a whole failed (the tree could not be listed, work messages could not be sent, the hard
//! stop), which is what `PollerErrorsAlarm` counts. Compartments left pending (a deadline stop,
//! the syslog destination down) show in the freshness and gap alarms instead.

use std::time::Duration;

use std::collections::BTreeMap;

use auditfwd_oci::MinuteTimestamp;
use auditfwd_pipeline::{AuditSource as _, Discovery, RunContext, ShardItem};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dispatch::{self, Decision};
use crate::error::LambdaError;
use crate::fanout::{self, Route};
use crate::freshness;
use crate::invocation::{Function, Invocation, Summary};
use crate::message::WorkMessage;
use crate::queue;
use crate::status::{self, Totals, Unfinished};
use crate::{Backend, Deps, Handler, Live};

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
/// shows it).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollerResponse {
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
    /// Direct: the compartments that did not complete, and why.
    pub unfinished: Vec<Unfinished>,
    /// The run's summary (as `auditfwd run --once` prints it), new and missing compartments
    /// and warnings included.
    pub summary: String,
}

impl Summary for PollerResponse {
    fn log_summary(&self, inv: &Invocation, elapsed: Duration) {
        tracing::info!(
            function = inv.function.as_str(),
            request_id = %inv.request_id,
            duration_ms = elapsed.as_millis() as u64,
            stop_after_ms = inv.stop_after_ms(),
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

async fn poll_inner<B: Backend>(
    deps: &Deps<B>,
    inv: &Invocation,
) -> Result<PollerResponse, LambdaError> {
    let runner = &deps.runner;
    let ctx = RunContext::default().with_deadline(inv.budget.stop_at);
    let Discovery { report, items } = runner.discover().await;
    if let Some(e) = &report.tree_error {
        return Err(LambdaError::CompartmentTree(e.clone()));
    }
    let decision = fanout::decide(&deps.fan_out, items.len(), deps.queue.is_some())?;
    tracing::info!(route = ?decision.route, work_items = items.len(), "{}", decision.why);
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
                        tracing::debug!(shard = %s.shard, %until, "shard leased elsewhere: not sent");
                    }
                    Decision::Queued(at) => {
                        queued += 1;
                        tracing::debug!(shard = %s.shard, sent_at = %at, "shard's last message not worked yet: not sent");
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
                tracing::warn!(error = %e, "cannot write the dispatch record: the next poll may send shards twice");
            }
            if let Some((_, reason)) = sent.failed.first() {
                for (i, why) in &sent.failed {
                    if let Some(s) = to_send.get(*i) {
                        tracing::error!(shard = %s.shard, compartments = s.compartments.len(), error = %why, "work message not sent; the next run sends it again");
                    }
                }
                return Err(LambdaError::Send {
                    failed: sent.failed.len(),
                    total: messages.len(),
                    reason: reason.clone(),
                    retryable: sent.retryable,
                });
            }
            let without_cursor = freshness::record_tree(&shards, &report, &states, now);
            log_without_cursor(without_cursor);
            Ok(PollerResponse {
                route: Route::FanOut,
                why: decision.why,
                work_items,
                messages_sent: sent.sent,
                complete: true,
                stopped_for_deadline: false,
                totals: Totals::default(),
                unfinished: Vec::new(),
                summary: format!(
                    "{work_items} (region, compartment) pairs in {} shards: {} sent to the work queue, {queued} still queued, {leased} being worked\n{}",
                    shards.len(),
                    sent.sent,
                    report_notes(&report.to_string())
                )
                .trim_end()
                .to_owned(),
            })
        }
        _ => {
            let report = runner
                .process_shards(&ctx, report, shards.clone(), &layout)
                .await;
            let unfinished = status::unfinished(&report);
            // Compartments the run did not reach: their cursors from the shard states
            // (skipped when already past the stop point; the next run covers them).
            let states = if inv.budget.stopping() {
                BTreeMap::new()
            } else {
                freshness::read_shards(runner.store(), &shards).await
            };
            let without_cursor =
                freshness::record_tree(&shards, &report, &states, runner.clock().now());
            log_without_cursor(without_cursor);
            record_unfinished(&shards, &unfinished);
            for u in &unfinished {
                tracing::warn!(region = %u.region, compartment = %u.compartment, name = %u.name, state = ?u.state, reason = %u.reason, "compartment not complete");
            }
            Ok(PollerResponse {
                route: Route::Direct,
                why: decision.why,
                work_items,
                messages_sent: 0,
                complete: report.is_complete(),
                stopped_for_deadline: status::stopped_for_deadline(&report),
                totals: Totals::of(&report),
                unfinished,
                summary: report.to_string().trim_end().to_owned(),
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

/// How many compartments the poller, working them itself, left unfinished per region.
fn record_unfinished(shards: &[ShardItem], unfinished: &[Unfinished]) {
    let mut per_region: BTreeMap<&str, usize> = shards
        .iter()
        .map(|s| (s.shard.region.as_str(), 0))
        .collect();
    // Leased elsewhere is being worked by its holder: not this run's undone work.
    for u in unfinished
        .iter()
        .filter(|u| u.state != status::State::LeasedElsewhere)
    {
        *per_region.entry(u.region.as_str()).or_default() += 1;
    }
    auditfwd_telemetry::freshness::record_unfinished(per_region);
}

/// A run summary without its first line (the totals, meaningless when nothing was processed).
fn report_notes(summary: &str) -> String {
    summary.lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
