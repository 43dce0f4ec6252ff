//! The replay function, and how a replay continues through the work queue.
//!
//! Invoked by hand with
//! `{"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T12:00:00Z", "tenancy": "acme", "source": "audit", "compartments": [...], "regions": [...], "dryRun": false}`
//! (`tenancy`, `source`, `compartments`, `regions` and `dryRun` optional; times on whole
//! minutes), it has the semantics of `auditfwd replay --tenancy --source`
//! (`auditfwd_pipeline::replay`): the live
//! cursor, the settle queue, the gap ledger and the dedupe state are never touched, events
//! carry the replay flag, and the answer is the reconciliation report.
//!
//! **Which tenancy.** `tenancy` is a name of `AUDITFWD_TENANCIES`; it may be left out when one
//! tenancy is configured and is required when several are (`auditfwd.Fatal.TenancyRequired`
//! otherwise; a name not configured is `auditfwd.Fatal.UnknownTenancy`). The replay runs on
//! that tenancy's Audit runner, or on the runner of `source` (`log-search`, `cloud-guard`:
//! compartments `log-search/<name>`, `cloud-guard/active`...) when given
//! (`auditfwd.Fatal.UnknownRunner` when the tenancy does not collect it); its continuation messages
//! name that runner.
//!
//! **Continuation.** Every compartment the invocation did not finish (the deadline came, or
//! it failed) is handed to the work queue as a replay part from where it stopped
//! ([`crate::message::ReplayPart`]); the worker replays the part and, if it cannot finish
//! either, hands on the rest as the next part (after progress, or at its deadline) or lets SQS
//! retry the message (no progress: the syslog destination is down, OCI refuses), which ends in
//! the dead-letter queue after five receives. Parts of one compartment run one after another,
//! never twice at once, so a replayed event is sent once (SQS may deliver a message twice; then
//! that part's range is sent twice, each event with its id and the replay flag).
//!
//! **Where the result is.** The answer names the replay id (the invocation's request id) and
//! the place in the state store (`AUDITFWD_CHECKPOINT_URL`) where the result grows:
//!
//! ```text
//! replays/<id>/replay.json                              the request, this invocation's report,
//!                                                       the compartments that continue
//! replays/<id>/compartments/<region>/<compartment>.json one per continued compartment: status
//!                                                       (continuing, complete, retrying),
//!                                                       replayedUntil, and every part's counts
//!                                                       and reconciliation
//! ```
//!
//! The replay is finished when every compartment listed as continuing in `replay.json` has a
//! document with `"status": "complete"`.

use std::time::Duration;

use auditfwd_checkpoint::{ObjectKey, ObjectStore, StoreError, WriteCondition, doc};
use auditfwd_oci::MinuteTimestamp;
use auditfwd_pipeline::compartments::CompartmentRule;
use auditfwd_pipeline::replay::{CompartmentReplay, NoProgress, ReplayReport, ReplayRequest};
use auditfwd_pipeline::{AuditSource as _, Pending, RunContext};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::error::LambdaError;
use crate::invocation::{Function, Invocation, Summary};
use crate::message::{ReplayPart, Work, WorkMessage};
use crate::queue;
use crate::runners::RunnerId;
use crate::{Backend, BackendRunner, Deps, Handler, Live};

/// The replay function's payload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayPayload {
    /// First minute replayed (RFC 3339, whole minute).
    pub from: MinuteTimestamp,
    /// End of the range, exclusive (RFC 3339, whole minute, not in the future).
    pub to: MinuteTimestamp,
    /// The tenancy (a name of `AUDITFWD_TENANCIES`); required when several are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<String>,
    /// The source replayed: `audit` (the default), `log-search` or `cloud-guard`, when the
    /// tenancy collects it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Compartments (OCIDs, names or paths, each with its subtree); empty: all collected.
    #[serde(default)]
    pub compartments: Vec<String>,
    /// Region ids; empty: every configured region.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Count only; send nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl ReplayPayload {
    /// The pipeline's request.
    pub fn request(&self) -> ReplayRequest {
        ReplayRequest {
            from: self.from,
            to: self.to,
            compartments: self
                .compartments
                .iter()
                .map(|c| CompartmentRule::new(c.as_str()))
                .collect(),
            regions: self.regions.clone(),
            dry_run: self.dry_run,
        }
    }
}

/// One compartment handed on to the work queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continued {
    /// The region.
    pub region: String,
    /// The compartment OCID.
    pub compartment: String,
    /// Its path.
    pub name: String,
    /// Where the next part starts.
    pub from: MinuteTimestamp,
    /// Why this invocation stopped there.
    pub reason: String,
}

/// The replay function's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayResponse {
    /// The replay's id (this invocation's request id).
    pub replay_id: String,
    /// The tenancy replayed (its configured name).
    pub tenancy: String,
    /// Everything was replayed in this invocation.
    pub complete: bool,
    /// Compartments that continue through the work queue (empty when complete).
    pub continuing: Vec<Continued>,
    /// Compartments that could not be handed on (no work queue, or sending failed): replay
    /// them again from `from`.
    pub not_continued: Vec<Continued>,
    /// Where the result is kept and grows while parts run.
    pub results: String,
    /// Problems that did not stop the replay (the result could not be written).
    pub warnings: Vec<String>,
    /// This invocation's reconciliation report.
    pub report: ReplayReport,
    /// The report as text.
    pub summary: String,
}

impl Summary for ReplayResponse {
    fn log_summary(&self, inv: &Invocation, elapsed: Duration) {
        let auditfwd_pipeline::Counts {
            listed, forwarded, ..
        } = self.report.totals();
        tracing::info!(
            function = inv.function.as_str(),
            request_id = %inv.request_id,
            duration_ms = elapsed.as_millis() as u64,
            stop_after_ms = inv.stop_after_ms(),
            replay_id = %self.replay_id,
            tenancy = %self.tenancy,
            complete = self.complete,
            continuing = self.continuing.len(),
            not_continued = self.not_continued.len(),
            compartments = self.report.compartments.len(),
            listed,
            forwarded,
            dry_run = self.report.dry_run,
            results = %self.results,
            "replay finished: {}",
            self.summary.lines().next().unwrap_or_default()
        );
    }
}

/// The document `replays/<id>/replay.json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplayRecord<'a> {
    version: u32,
    replay_id: &'a str,
    request: &'a ReplayPayload,
    started_at: DateTime<Utc>,
    complete: bool,
    continuing: &'a [Continued],
    not_continued: &'a [Continued],
    report: &'a ReplayReport,
}

/// The status of a continued compartment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PartStatus {
    /// The next part is queued.
    Continuing,
    /// The whole range is replayed.
    Complete,
    /// The last part failed without progress; SQS delivers it again later.
    Retrying,
}

/// One part's result inside a compartment document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartRecord {
    /// The part number.
    pub part: u32,
    /// Where it started.
    pub from: MinuteTimestamp,
    /// The pipeline's record of the part.
    pub result: serde_json::Value,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Which invocation ran it.
    pub by: String,
}

/// The document `replays/<id>/compartments/<region>/<compartment>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompartmentRecord {
    /// Format version (1).
    pub version: u32,
    /// The replay.
    pub replay_id: String,
    /// The region.
    pub region: String,
    /// The compartment OCID.
    pub compartment: String,
    /// Its path.
    pub name: String,
    /// End of the replay.
    pub to: MinuteTimestamp,
    /// Count only.
    pub dry_run: bool,
    /// Where it stands.
    pub status: PartStatus,
    /// How far the replay got.
    pub replayed_until: MinuteTimestamp,
    /// Every part so far (a part delivered twice by SQS replaces its earlier record).
    pub parts: Vec<PartRecord>,
}

/// The key of a replay's main document.
pub fn record_key(replay_id: &str) -> Result<ObjectKey, StoreError> {
    ObjectKey::new(format!("replays/{replay_id}/replay.json"))
}

/// The key of a continued compartment's document.
pub fn compartment_key(
    replay_id: &str,
    region: &str,
    compartment: &str,
) -> Result<ObjectKey, StoreError> {
    ObjectKey::new(format!(
        "replays/{replay_id}/compartments/{region}/{compartment}.json"
    ))
}

/// The replay function as [`crate::serve`] runs it.
#[derive(Debug)]
pub enum Replay {}

impl Handler for Replay {
    const FUNCTION: Function = Function::Replay;
    const EXPECTED: &'static str = "replay request ({\"from\": ..., \"to\": ..., \"tenancy\": ..., \"source\": ..., \"compartments\": [...], \"regions\": [...], \"dryRun\": false})";
    type Payload = ReplayPayload;
    type Response = ReplayResponse;

    async fn handle(
        deps: &Deps<Live>,
        payload: ReplayPayload,
        inv: &Invocation,
    ) -> Result<ReplayResponse, LambdaError> {
        replay(deps, &payload, inv).await
    }
}

/// One replay invocation (the request as given to `aws lambda invoke`).
pub async fn replay<B: Backend>(
    deps: &Deps<B>,
    payload: &ReplayPayload,
    inv: &Invocation,
) -> Result<ReplayResponse, LambdaError> {
    // Boxed: the pipeline's futures nest deep and large; callers get a small future.
    inv.frame(Box::pin(replay_inner(deps, payload, inv))).await
}

async fn replay_inner<B: Backend>(
    deps: &Deps<B>,
    payload: &ReplayPayload,
    inv: &Invocation,
) -> Result<ReplayResponse, LambdaError> {
    let index = deps
        .runners
        .for_replay(payload.tenancy.as_deref(), payload.source.as_deref())?;
    let Some(entry) = deps.runners.entry(index) else {
        return Err(LambdaError::BadReplay("no runner".into()));
    };
    let (id, runner) = (&entry.id, entry.get()?);
    let ctx = RunContext::default().with_deadline(inv.budget.stop_at);
    let started_at = runner.clock().now();
    let request = payload.request();
    request
        .validate(&runner.source().regions(), started_at)
        .map_err(|e| LambdaError::BadReplay(e.to_string()))?;
    let replay_id = inv.request_id.clone();
    tracing::info!(%replay_id, tenancy = %id.tenancy, from = %request.from, to = %request.to, dry_run = request.dry_run, "replay starting");
    let report = runner.replay(&ctx, &request, &NoProgress).await;
    if let Some(e) = &report.tree_error {
        return Err(LambdaError::CompartmentTree(e.clone()));
    }

    let unfinished: Vec<Continued> = report
        .compartments
        .iter()
        .filter(|c| c.replayed_until < report.to)
        .map(|c| Continued {
            region: c.region.clone(),
            compartment: c.compartment.clone(),
            name: c.name.clone(),
            from: c.replayed_until,
            reason: c
                .error
                .as_ref()
                .map_or_else(|| "stopped".into(), ToString::to_string),
        })
        .collect();
    let mut warnings = Vec::new();
    let (mut continuing, mut not_continued) = (Vec::new(), Vec::new());
    if !unfinished.is_empty() {
        match &deps.queue {
            None => {
                warnings.push("AUDITFWD_WORK_QUEUE_URL is not set: the rest of the replay cannot continue through the work queue; replay the compartments below again from their `from`".to_owned());
                not_continued = unfinished;
            }
            Some(queue) => {
                let sent_by = format!("replay {}", inv.request_id);
                let messages: Vec<WorkMessage> = unfinished
                    .iter()
                    .filter_map(|u| {
                        continuation::<B>(
                            runner,
                            id,
                            &u.region,
                            &u.compartment,
                            &u.name,
                            |compartment, name| ReplayPart {
                                compartment,
                                name,
                                replay_id: replay_id.clone(),
                                from: u.from,
                                to: report.to,
                                dry_run: report.dry_run,
                                part: 1,
                            },
                            &sent_by,
                        )
                    })
                    .collect();
                let sent = queue::send_all(queue, &messages).await;
                for (i, u) in unfinished.into_iter().enumerate() {
                    if sent.failed.iter().any(|(f, _)| *f == i) {
                        not_continued.push(u);
                    } else {
                        continuing.push(u);
                    }
                }
                if let Some((_, why)) = sent.failed.first() {
                    warnings.push(format!(
                        "{} compartment(s) could not be handed to the work queue ({why}): replay them again from their `from`",
                        sent.failed.len()
                    ));
                }
            }
        }
    }
    for c in &continuing {
        tracing::info!(tenancy = %id.tenancy, region = %c.region, compartment = %c.compartment, name = %c.name, from = %c.from, reason = %c.reason, "replay continues through the work queue");
    }
    for c in &not_continued {
        tracing::warn!(tenancy = %id.tenancy, region = %c.region, compartment = %c.compartment, name = %c.name, from = %c.from, reason = %c.reason, "replay incomplete and not continued");
    }

    let complete = report.is_complete();
    let record = ReplayRecord {
        version: 1,
        replay_id: &replay_id,
        request: payload,
        started_at,
        complete,
        continuing: &continuing,
        not_continued: &not_continued,
        report: &report,
    };
    if let Err(e) = write_json(&**runner.store(), record_key(&replay_id), &record).await {
        warnings.push(e.to_string());
    }
    // Each continued compartment gets its document now, so `status` can be read at once.
    for c in &continuing {
        let doc = CompartmentRecord {
            version: 1,
            replay_id: replay_id.clone(),
            region: c.region.clone(),
            compartment: c.compartment.clone(),
            name: c.name.clone(),
            to: report.to,
            dry_run: report.dry_run,
            status: PartStatus::Continuing,
            replayed_until: c.from,
            parts: Vec::new(),
        };
        let key = compartment_key(&replay_id, &c.region, &c.compartment);
        if let Err(e) = write_json(&**runner.store(), key, &doc).await {
            warnings.push(e.to_string());
        }
    }
    for w in &warnings {
        tracing::warn!(%replay_id, warning = %w, "replay");
    }
    Ok(ReplayResponse {
        results: format!(
            "{}/replays/{replay_id}/",
            deps.state_url.trim_end_matches('/')
        ),
        replay_id,
        tenancy: id.tenancy.clone(),
        complete,
        continuing,
        not_continued,
        warnings,
        summary: report.to_string().trim_end().to_owned(),
        report,
    })
}

/// What became of a replay part in the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// The range is done.
    Complete,
    /// The rest was handed on as the next part.
    Continued,
    /// No progress: the message should return to the queue (the reason says why).
    Retry(String),
}

/// Replays one part in the worker on `runner` (named `id`), records it, and hands on the rest
/// when there is one.
#[allow(clippy::too_many_arguments)]
pub async fn continue_part<B: Backend>(
    runner: &BackendRunner<B>,
    id: &RunnerId,
    ctx: &RunContext,
    deps: &Deps<B>,
    message: &WorkMessage,
    part: &ReplayPart,
    budget: &Budget,
    by: &str,
) -> PartOutcome {
    let request = ReplayRequest {
        from: part.from,
        to: part.to,
        compartments: Vec::new(),
        regions: Vec::new(),
        dry_run: part.dry_run,
    };
    let result: Option<CompartmentReplay> = if part.from < part.to {
        runner
            .replay_items(ctx, &request, message.items(), &NoProgress)
            .await
            .into_iter()
            .next()
    } else {
        None
    };
    let replayed_until = result.as_ref().map_or(part.to, |r| r.replayed_until);
    let stopped = result.as_ref().and_then(|r| r.error.as_ref());
    let reason = stopped.map(ToString::to_string).unwrap_or_default();
    let progressed = replayed_until > part.from;
    // Stopped for the deadline, or the budget is spent anyway.
    let deadline = stopped.is_some_and(Pending::is_deadline) || budget.stopping();

    let outcome = if replayed_until >= part.to {
        PartOutcome::Complete
    } else if progressed || deadline {
        let next = ReplayPart {
            from: replayed_until,
            part: part.part + 1,
            ..part.clone()
        };
        let handed_on = match &deps.queue {
            None => Err("AUDITFWD_WORK_QUEUE_URL is not set".to_owned()),
            Some(queue) => {
                // Named even when the part came in a message from before runners were named.
                let m = WorkMessage {
                    runner: Some(id.clone()),
                    work: Work::Replay(next),
                    sent_at: runner.clock().now(),
                    sent_by: by.to_owned(),
                    ..message.clone()
                };
                let sent = queue::send_all(queue, std::slice::from_ref(&m)).await;
                match sent.failed.first() {
                    None => Ok(()),
                    Some((_, why)) => Err(why.clone()),
                }
            }
        };
        match handed_on {
            Ok(()) => PartOutcome::Continued,
            Err(why) => PartOutcome::Retry(format!(
                "replay part {} stopped at {replayed_until} ({reason}) and the rest could not be queued: {why}",
                part.part
            )),
        }
    } else {
        PartOutcome::Retry(format!(
            "replay part {} made no progress from {}: {reason}",
            part.part, part.from
        ))
    };
    tracing::info!(replay_id = %part.replay_id, tenancy = %id.tenancy, region = %message.region, compartment = %part.compartment, part = part.part,
        from = %part.from, until = %replayed_until, outcome = ?outcome, "replay part");

    let status = match &outcome {
        PartOutcome::Complete => PartStatus::Complete,
        PartOutcome::Continued => PartStatus::Continuing,
        PartOutcome::Retry(_) => PartStatus::Retrying,
    };
    let key = compartment_key(&part.replay_id, &message.region, part.compartment.as_str());
    let store = &**runner.store();
    let earlier = match &key {
        Ok(k) => doc::read::<CompartmentRecord, _>(store, k).await,
        Err(_) => Ok(None),
    };
    let mut record = match earlier {
        Ok(Some((d, _))) => d,
        Ok(None) | Err(_) => CompartmentRecord {
            version: 1,
            replay_id: part.replay_id.clone(),
            region: message.region.clone(),
            compartment: part.compartment.to_string(),
            name: part.name.clone(),
            to: part.to,
            dry_run: part.dry_run,
            status,
            replayed_until: part.from,
            parts: Vec::new(),
        },
    };
    record.status = status;
    record.replayed_until = record.replayed_until.max(replayed_until);
    record.parts.retain(|p| p.part != part.part);
    if let Some(r) = &result {
        record.parts.push(PartRecord {
            part: part.part,
            from: part.from,
            result: serde_json::to_value(r).unwrap_or_default(),
            at: runner.clock().now(),
            by: by.to_owned(),
        });
        record.parts.sort_by_key(|p| p.part);
    }
    if let Err(e) = write_json(store, key, &record).await {
        tracing::error!(replay_id = %part.replay_id, error = %e, "cannot record the replay part");
    }
    outcome
}

fn continuation<B: Backend>(
    runner: &BackendRunner<B>,
    id: &RunnerId,
    region: &str,
    compartment: &str,
    name: &str,
    part: impl FnOnce(auditfwd_oci::Ocid, String) -> ReplayPart,
    sent_by: &str,
) -> Option<WorkMessage> {
    let compartment = auditfwd_oci::Ocid::parse(compartment).ok()?;
    Some(WorkMessage::replay(
        id,
        runner.source().tenancy(),
        region,
        part(compartment, name.to_owned()),
        runner.clock().now(),
        sent_by,
    ))
}

async fn write_json<T: Serialize, S: ObjectStore>(
    store: &S,
    key: Result<ObjectKey, StoreError>,
    doc: &T,
) -> Result<(), LambdaError> {
    let key = key.map_err(|source| LambdaError::ReplayResult {
        key: "replays/".into(),
        source,
    })?;
    doc::write(store, &key, doc, WriteCondition::Unconditional)
        .await
        .map(|_| ())
        .map_err(|source| LambdaError::ReplayResult {
            key: key.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::STOP_MARGIN;
    use crate::runners::{RunnerEntry, RunnerError};
    use crate::testing::{CHILD, Fake, RecordingQueue, fake_runner, start};
    use crate::{Function, Metrics};
    use auditfwd_config::{FanOut, FanOutMode};

    fn deps(tenancies: &[(&str, &str)]) -> (Deps<Fake>, Vec<auditfwd_pipeline::testing::FakeSink>) {
        let mut entries = Vec::new();
        let mut sinks = Vec::new();
        for (name, ocid) in tenancies {
            let (runner, source, sink) = fake_runner(ocid);
            source.add(
                CHILD,
                &format!("{name}-1"),
                start() - chrono::Duration::minutes(20),
                chrono::Duration::zero(),
            );
            entries.push(RunnerEntry::ready(RunnerId::new(*name, "audit"), runner));
            sinks.push(sink);
        }
        let deps = Deps::new(
            entries,
            FanOut {
                mode: FanOutMode::Off,
                threshold: 50,
                queue_url: None,
            },
            Some(RecordingQueue::default()),
            "memory://state",
        );
        (deps, sinks)
    }

    fn payload(tenancy: Option<&str>) -> ReplayPayload {
        ReplayPayload {
            from: MinuteTimestamp::floor(start() - chrono::Duration::minutes(30)),
            to: MinuteTimestamp::floor(start() - chrono::Duration::minutes(5)),
            tenancy: tenancy.map(str::to_owned),
            source: None,
            compartments: Vec::new(),
            regions: Vec::new(),
            dry_run: false,
        }
    }

    fn inv() -> Invocation {
        Invocation::new(
            Function::Replay,
            "r-1",
            Budget::from_remaining(Duration::from_secs(900), STOP_MARGIN),
            Metrics::disabled(),
        )
    }

    #[tokio::test]
    async fn with_several_tenancies_a_replay_must_name_one_and_runs_on_it_alone() {
        let (deps, sinks) = deps(&[
            ("acme", "ocid1.tenancy.oc1..aaaaaaaaacme"),
            ("globex", "ocid1.tenancy.oc1..aaaaaaaaglobex"),
        ]);
        let e = replay(&deps, &payload(None), &inv()).await.unwrap_err();
        assert!(
            matches!(e, LambdaError::Runner(RunnerError::TenancyRequired { .. })),
            "{e:?}"
        );
        assert_eq!(e.error_type(), "auditfwd.Fatal.TenancyRequired");
        assert!(e.to_string().contains("acme, globex"), "{e}");
        let e = replay(&deps, &payload(Some("hooli")), &inv())
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "auditfwd.Fatal.UnknownTenancy");
        assert!(sinks.iter().all(|s| s.ids().is_empty()), "nothing replayed");

        let r = replay(&deps, &payload(Some("globex")), &inv())
            .await
            .unwrap();
        assert!(r.complete, "{}", r.summary);
        assert_eq!(r.tenancy, "globex");
        assert!(sinks[0].ids().is_empty(), "acme untouched");
        assert_eq!(sinks[1].ids(), ["globex-1"]);
    }

    #[tokio::test]
    async fn with_one_tenancy_the_replay_needs_no_name() {
        let (deps, sinks) = deps(&[("default", "ocid1.tenancy.oc1..aaaaaaaaacme")]);
        let r = replay(&deps, &payload(None), &inv()).await.unwrap();
        assert_eq!(r.tenancy, "default");
        assert_eq!(sinks[0].ids(), ["default-1"]);
        // The request's optional field: absent from the JSON of a request without it.
        let json = serde_json::to_value(payload(None)).unwrap();
        assert!(json.get("tenancy").is_none(), "{json}");
        let parsed: ReplayPayload = serde_json::from_value(serde_json::json!({
            "from": "2026-11-22T10:00:00Z", "to": "2026-11-22T11:00:00Z", "tenancy": "acme"
        }))
        .unwrap();
        assert_eq!(parsed.tenancy.as_deref(), Some("acme"));
        assert_eq!(parsed.source, None);
    }

    #[tokio::test]
    async fn a_replay_of_another_source_runs_on_that_runner_or_names_what_is_collected() {
        // The tenancy's Audit runner and its Cloud Guard runner (fake sources under those names).
        let acme = "ocid1.tenancy.oc1..aaaaaaaaacme";
        let (audit, _, audit_sink) = fake_runner(acme);
        let (runner, source, sink) = fake_runner(acme);
        source.add(
            CHILD,
            "problem-1",
            start() - chrono::Duration::minutes(20),
            chrono::Duration::zero(),
        );
        let deps: Deps<Fake> = Deps::new(
            vec![
                RunnerEntry::ready(RunnerId::new("default", "audit"), audit),
                RunnerEntry::ready(RunnerId::new("default", "cloud-guard"), runner),
            ],
            FanOut {
                mode: FanOutMode::Off,
                threshold: 50,
                queue_url: None,
            },
            Some(RecordingQueue::default()),
            "memory://state",
        );
        let parsed: ReplayPayload = serde_json::from_value(serde_json::json!({
            "from": payload(None).from, "to": payload(None).to, "source": "cloud-guard"
        }))
        .unwrap();
        let r = replay(&deps, &parsed, &inv()).await.unwrap();
        assert!(r.complete, "{}", r.summary);
        assert_eq!(sink.ids(), ["problem-1"]);
        assert!(audit_sink.ids().is_empty(), "the audit runner untouched");
        let mut none = parsed;
        none.source = Some("log-search".into());
        let e = replay(&deps, &none, &inv()).await.unwrap_err();
        assert_eq!(e.error_type(), "auditfwd.Fatal.UnknownRunner");
        assert!(e.to_string().contains("default/cloud-guard"), "{e}");
    }
}
