//! The per-listing path every pass shares (live listings, gap retries, replays): list one
//! range page by page (step 3), admit each event (step 4), and send each page's admitted events
//! as one batch (step 5). A listing confirms or fails as a whole: the caller commits (step 6)
//! only a [`Delivered`] listing.
//!
//! A *probe* lists a range that spans several aligned windows in the hope it fits in one page:
//! when the first page says more follow, nothing of it is admitted or sent, and the caller
//! walks the range in smaller units ([`super::walk`]).

use std::future::Future;
use std::sync::Arc;

use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::manifest::{Confirmation, Pass};
use auditfwd_checkpoint::shard_manifest::Tallies;
use auditfwd_checkpoint::{Counts, EventIdSet, IdDigest, ObjectStore, Scope};
use auditfwd_oci::Window;
use auditfwd_oci::audit::AuditEvent;
use auditfwd_telemetry::names;
use chrono::{DateTime, Utc};

use super::Runner;
use super::admit::{Admission, Decision, Remembered};
use super::failure::Pending;
use super::list::Listing;
use super::send::{Batch, send};
use crate::plan::aligned_window;
use crate::sink::{Outbound, Sink, SinkFailure};
use crate::source::{AuditSource, Page};

/// A sink shared by the listings of one task (a shard's compartments take turns per batch).
/// Once a batch fails, the sink is marked down: the listings waiting for their turn stop at
/// once (`Pending::SinkDown`) instead of each running the sender's whole reconnect series
/// against a receiver already known to be down.
pub(crate) struct SharedSink<'s, K> {
    slot: tokio::sync::Mutex<SinkSlot<'s, K>>,
}

struct SinkSlot<'s, K> {
    sink: &'s mut K,
    down: bool,
}

impl<'s, K> SharedSink<'s, K> {
    pub(crate) fn new(sink: &'s mut K) -> Self {
        SharedSink {
            slot: tokio::sync::Mutex::new(SinkSlot { sink, down: false }),
        }
    }
}

impl<K> std::fmt::Debug for SharedSink<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSink")
    }
}

/// Where a listing's admitted events go.
#[derive(Debug)]
pub(crate) enum Output<'a, 's, K> {
    /// To the sink, confirmed batch by batch.
    Sink(&'a SharedSink<'s, K>),
    /// Nowhere: counted only (`auditfwd replay --dry-run`).
    DryRun,
}

/// Keeps whatever guards the listing alive between its pages (a shard's lease).
pub(crate) trait KeepAlive: Sync {
    /// Called before each page; an error stops the listing.
    fn keep_alive(&self) -> impl Future<Output = Result<(), Pending>> + Send;
}

/// Nothing to keep alive (replays hold no lease).
#[derive(Debug)]
pub(crate) struct NoLease;

impl KeepAlive for NoLease {
    async fn keep_alive(&self) -> Result<(), Pending> {
        Ok(())
    }
}

/// One listing: a range, how it counts, and what it must not send again.
pub(crate) struct Unit<'a> {
    /// The range listed.
    pub(crate) window: Window,
    /// How events are labelled (metrics, the replay flag).
    pub(crate) pass: Pass,
    /// Ids listed before.
    pub(crate) remembered: Option<&'a dyn Remembered>,
    /// New ids older than this arrived late.
    pub(crate) late_before: Option<DateTime<Utc>>,
    /// Give up (return `None`) rather than page: the caller will list smaller units.
    pub(crate) probe: bool,
}

/// The result of one delivered listing.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    pub(crate) counts: Counts,
    /// Every id the listing returned (what later listings of these minutes must not send).
    pub(crate) listed_ids: EventIdSet,
    pub(crate) digest: IdDigest,
    pub(crate) confirmation: Option<Confirmation>,
    pub(crate) first: Option<DateTime<Utc>>,
    pub(crate) last: Option<DateTime<Utc>>,
    /// Pages fetched (more than one: the range was busy).
    pub(crate) pages: u32,
    /// Forwarded per aligned window of `eventTime`, for the manifest.
    pub(crate) tallies: Tallies,
    /// Replay and dry runs only: (event time, id) of every event forwarded, for
    /// reconciliation.
    pub(crate) forwarded: Vec<(DateTime<Utc>, IdHash)>,
}

/// Why one listing did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WindowError {
    /// OCI would not serve a page.
    #[error(transparent)]
    Source(auditfwd_oci::Error),
    /// The sink did not confirm a batch.
    #[error(transparent)]
    Sink(SinkFailure),
    /// An event could not be turned into its outgoing form (a typed event always can; if not,
    /// the listing fails loudly rather than dropping it).
    #[error("event {event_id} cannot be re-encoded: {source}")]
    Encode {
        event_id: String,
        #[source]
        source: serde_json::Error,
    },
    /// What keeps the listing alive failed (the lease was lost).
    #[error(transparent)]
    Stopped(Pending),
}

impl WindowError {
    /// Why work stops, for a failure of `pass` over `window`.
    pub(crate) fn into_pending(self, window: Window, pass: Pass) -> Pending {
        match self {
            WindowError::Source(e) => Pending::Source {
                window,
                pass,
                error: Arc::new(e),
            },
            WindowError::Sink(e) => Pending::Sink(Arc::new(e)),
            WindowError::Encode { event_id, source } => Pending::Encode {
                window,
                event_id,
                error: Arc::new(source),
            },
            WindowError::Stopped(p) => p,
        }
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Lists `unit` and sends every event due. `Ok(None)`: a probe found the range busy and
    /// sent nothing.
    pub(crate) async fn deliver(
        &self,
        scope: &Scope,
        unit: &Unit<'_>,
        out: &Output<'_, '_, K>,
        keep: &impl KeepAlive,
    ) -> Result<Option<Delivered>, WindowError> {
        let admission = Admission {
            filter: &self.config.filter,
            caps: &self.limits.type_caps,
            scrub: &self.config.scrub,
            recent: (unit.pass != Pass::Replay).then_some(&self.recent),
            remembered: unit.remembered,
            late_before: unit.late_before,
        };
        let window = unit.window;
        let mut listing = Listing::new(
            self.source
                .list_events(&scope.region, &scope.compartment, window),
            self.limits.oci_requests.as_ref(),
            self.config.page_attempts,
            self.config.page_retry_delay,
            scope,
            window,
        );
        let mut d = Delivered::default();
        loop {
            keep.keep_alive().await.map_err(WindowError::Stopped)?;
            let permit = self.pages.acquire().await;
            let Some(page) = listing.next().await.map_err(WindowError::Source)? else {
                break;
            };
            d.pages += 1;
            if unit.probe && d.pages == 1 && page.next.is_some() {
                return Ok(None);
            }
            let batch = self.admit_page(&admission, page, unit, &mut d).await?;
            if !batch.is_empty() {
                match out {
                    Output::Sink(shared) => {
                        let mut slot = shared.slot.lock().await;
                        if slot.down {
                            return Err(WindowError::Stopped(Pending::SinkDown));
                        }
                        match send(&mut *slot.sink, batch.events, self.limits.events.as_ref()).await
                        {
                            Ok(how) => d.confirmed(&batch.keys, how, unit.pass, &self.recent),
                            Err(e) => {
                                slot.down = true;
                                return Err(WindowError::Sink(e));
                            }
                        }
                    }
                    Output::DryRun => d.counted(&batch.keys),
                }
            }
            drop(permit);
        }
        if matches!(out, Output::Sink(_)) {
            count_pass(&scope.region, unit.pass, &d.counts);
        }
        Ok(Some(d))
    }

    /// Admits every event of `page`; the ones to send, in order.
    async fn admit_page(
        &self,
        admission: &Admission<'_>,
        page: Page,
        unit: &Unit<'_>,
        d: &mut Delivered,
    ) -> Result<Batch, WindowError> {
        let step = self.config.windows.max_window_minutes;
        let mut batch = Batch::default();
        for event in page.events {
            d.counts.listed += 1;
            let admitted = admission.admit(event, &mut d.listed_ids).await;
            if admitted.late {
                d.counts.late_arrivals += 1;
            }
            match admitted.decision {
                Decision::Forward { hash, event } => {
                    if unit.pass != Pass::Replay
                        && let Some(w) = aligned_window(event.event_time, step)
                    {
                        d.tallies.add(w, &hash);
                    }
                    batch.push(hash, outbound(*event, unit.window, unit.pass)?);
                }
                Decision::Duplicate => d.counts.deduplicated += 1,
                Decision::Filtered => d.counts.filtered += 1,
                Decision::Dropped => d.counts.dropped += 1,
            }
        }
        Ok(batch)
    }
}

fn outbound(event: AuditEvent, window: Window, pass: Pass) -> Result<Outbound, WindowError> {
    let body = serde_json::to_value(&event).map_err(|source| WindowError::Encode {
        event_id: event.event_id.clone(),
        source,
    })?;
    Ok(Outbound {
        event_id: event.event_id,
        event_type: event.event_type,
        event_time: event.event_time,
        compartment_id: event.data.compartment_id.unwrap_or_default(),
        window,
        replay: pass == Pass::Replay,
        body,
    })
}

fn count_pass(region: &str, pass: Pass, c: &Counts) {
    let pass = pass.as_str();
    metrics::counter!(names::EVENTS_LISTED, "region" => region.to_owned(), "pass" => pass)
        .increment(c.listed);
    metrics::counter!(names::EVENTS_FORWARDED, "region" => region.to_owned(), "pass" => pass)
        .increment(c.forwarded);
    metrics::counter!(names::EVENTS_DEDUPLICATED, "region" => region.to_owned(), "pass" => pass)
        .increment(c.deduplicated);
    if c.late_arrivals > 0 {
        metrics::counter!(names::LATE_ARRIVALS, "region" => region.to_owned())
            .increment(c.late_arrivals);
    }
}
