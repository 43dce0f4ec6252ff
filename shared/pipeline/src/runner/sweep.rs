//! After the windows, the sweep: changes to records that no window listing can see, for a
//! source whose records change in place without moving the time they are listed by.
//!
//! A Cloud Guard problem resolved or dismissed keeps its `timeLastDetected`, so once its
//! window has had its settle pass, no listing by time shows the new state. The source
//! ([`AuditSource::sweep`]) compares what is open now with what was open at the last sweep
//! ([`SweepState`], one document per tenancy under `sweeps/` in the runner's store) and
//! returns the changes as records. The runner filters them, sends them, and only after the sink
//! confirmed them writes the new state, conditionally on the version it read (two runners
//! sweeping at once: one write fails and the other's state stands; the worst case is a
//! change forwarded twice, with the same id). The document is written only when the set of
//! open records changes (or once a day, so the detection times it keeps stay near the truth),
//! so a quiet tenancy costs no write.
//!
//! Sources without records that change in place (Audit, Logging search) do not sweep
//! ([`AuditSource::sweeps`]): no read, no call.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use auditfwd_checkpoint::store::{ObjectKey, WriteCondition};
use auditfwd_checkpoint::{ObjectStore, StoreError};
use auditfwd_oci::audit::RawEvent;
use auditfwd_oci::{MinuteTimestamp, Window};
use auditfwd_syslog::JsonText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Runner;
use crate::sink::{Outbound, Sink, SinkFailure};
use crate::source::AuditSource;
use auditfwd_checkpoint::ids::IdHash;

/// What was open at the last sweep: each open record's id and the time it is listed by (a
/// problem's `timeLastDetected`), as written after the sweep's records were delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepState {
    /// Open records: id → listed-by time.
    pub open: BTreeMap<String, DateTime<Utc>>,
    /// When this document was written.
    pub written_at: Option<DateTime<Utc>>,
}

/// What a source's sweep found.
#[derive(Debug, Default)]
pub struct Swept {
    /// The changes to forward, as records (each a new version, with its own id).
    pub events: Vec<RawEvent>,
    /// What is open now.
    pub open: BTreeMap<String, DateTime<Utc>>,
    /// Records no longer open whose change the settle pass will still list (not forwarded
    /// here, so not twice).
    pub left_to_settle: usize,
    /// Records no longer open and not found closed either (deleted, or moved out of reach):
    /// nothing to forward; their ids, for the report.
    pub vanished: Vec<String>,
}

/// How the sweep of one run went.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// Records open now.
    pub open: usize,
    /// Changes forwarded (confirmed by the sink).
    pub forwarded: u64,
    /// Changes left to the settle pass.
    pub left_to_settle: usize,
    /// Records gone without a change to forward.
    pub vanished: Vec<String>,
    /// Whether the state document was written.
    pub written: bool,
    /// Why the sweep did not finish (its changes are found again by the next one).
    pub failed: Option<SweepError>,
}

/// Why a sweep did not finish. Nothing is lost: the state is written only after delivery, so
/// the next sweep compares against the same last state and finds the same changes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SweepError {
    /// The source could not list what is open.
    #[error("cannot list open records: {0}")]
    Source(Arc<auditfwd_oci::Error>),
    /// The sweep state could not be read or written.
    #[error("sweep state: {0}")]
    Store(Arc<StoreError>),
    /// The sink did not confirm the changes.
    #[error("the changes were not confirmed: {0}")]
    Sink(Arc<SinkFailure>),
}

impl SweepError {
    /// Whether the next run may succeed where this one failed (a passing outage), as opposed
    /// to a failure that needs someone to act.
    pub fn is_retryable(&self) -> bool {
        match self {
            SweepError::Source(e) => e.is_retryable(),
            SweepError::Store(e) => e.is_retryable(),
            SweepError::Sink(e) => e.is_retryable(),
        }
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sweep: {} open, {} changes forwarded, {} left to the settle pass, {} gone",
            self.open,
            self.forwarded,
            self.left_to_settle,
            self.vanished.len()
        )?;
        if let Some(e) = &self.failed {
            write!(f, "; FAILED: {e}")?;
        }
        Ok(())
    }
}

/// How long the detection times kept in the state may go unrefreshed.
const REFRESH: chrono::Duration = chrono::Duration::hours(24);

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// The sweep of this run, when the source has one ([`AuditSource::sweeps`]).
    pub async fn sweep(&self) -> Option<SweepReport> {
        if !self.source.sweeps() {
            return None;
        }
        let mut report = SweepReport::default();
        if let Err(e) = self.try_sweep(&mut report).await {
            tracing::warn!(error = %e, "sweep did not finish; the next run repeats it");
            report.failed = Some(e);
        }
        Some(report)
    }

    async fn try_sweep(&self, report: &mut SweepReport) -> Result<(), SweepError> {
        let store = |e: StoreError| SweepError::Store(Arc::new(e));
        let key =
            ObjectKey::new(format!("sweeps/{}.json", self.source.tenancy())).map_err(store)?;
        let stored = self.store.get(&key).await.map_err(store)?;
        let etag = stored.as_ref().map(|o| o.etag.clone());
        // A damaged document stops the sweep (and says which object): read as "nothing was
        // open", it would lose every change since the last good sweep. Deleting it starts
        // again from what is open now (docs/sources.md).
        let known: Option<SweepState> = match &stored {
            None => None,
            Some(o) => Some(serde_json::from_slice(&o.body).map_err(|e| {
                store(StoreError::Corrupt {
                    key: key.to_string(),
                    reason: e.to_string(),
                })
            })?),
        };
        let now = self.clock.now();
        let settle = chrono::Duration::from_std(self.config.windows.settle_lag)
            .unwrap_or(chrono::Duration::zero());
        let swept = self
            .source
            .sweep(known.as_ref(), now, settle)
            .await
            .map_err(|e| SweepError::Source(Arc::new(e)))?;
        report.open = swept.open.len();
        report.left_to_settle = swept.left_to_settle;
        report.vanished.clone_from(&swept.vanished);
        for id in &swept.vanished {
            tracing::warn!(
                id,
                "no longer open and not found closed (deleted, or out of reach): no change to forward"
            );
        }
        self.deliver_swept(swept.events, now, report).await?;
        let changed = match &known {
            None => true,
            Some(k) => {
                !k.open.keys().eq(swept.open.keys())
                    || (k.open != swept.open && k.written_at.is_none_or(|t| now - t >= REFRESH))
            }
        };
        if changed {
            let state = SweepState {
                open: swept.open,
                written_at: Some(now),
            };
            let body = serde_json::to_vec(&state).map_err(|e| {
                store(StoreError::Corrupt {
                    key: key.to_string(),
                    reason: e.to_string(),
                })
            })?;
            self.store
                .put(&key, body.into(), WriteCondition::over(etag.as_ref()))
                .await
                .map_err(store)?;
            report.written = true;
        }
        Ok(())
    }

    /// Sends the sweep's changes (filtered like any record) and waits for the sink's
    /// confirmation.
    async fn deliver_swept(
        &self,
        events: Vec<RawEvent>,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let minute = MinuteTimestamp::floor(now);
        // The minute the sweep ran in: what a SIEM sees as the record's window.
        let Some(window) = minute
            .plus_minutes(1)
            .ok()
            .and_then(|end| Window::new(minute, end).ok())
        else {
            return Ok(());
        };
        // A change this process sent already (the settle pass listed it first) is not sent
        // again; one sent here is remembered, so a settle pass that lists it later skips it.
        let (hashes, batch): (Vec<IdHash>, Vec<Outbound>) = events
            .into_iter()
            .filter(|e| self.config.filter.check(e.head()).is_ok())
            .map(|e| (IdHash::of(&e.head().event_id), e))
            .filter(|(hash, _)| !self.recent.contains(hash))
            .map(|(hash, e)| {
                let (text, head) = e.into_parts();
                let out = Outbound::new(head, JsonText::already_validated(text), window, false);
                (hash, out)
            })
            .unzip();
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        let mut sink = self.new_sink();
        let sent = sink.send(batch).await;
        sink.close().await;
        sent.map_err(|e| SweepError::Sink(Arc::new(e)))?;
        self.recent.confirmed(&hashes);
        report.forwarded = n;
        Ok(())
    }
}
