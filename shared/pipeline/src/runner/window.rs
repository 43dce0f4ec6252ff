//! The per-window path every pass shares (live fresh and settle passes, gap retries,
//! replays): list the window page by page (step 3), admit each event (step 4), and send each
//! page's admitted events as one batch (step 5). A pass confirms or fails as a whole: the
//! caller commits (step 6) only a [`Delivered`] pass.

use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::manifest::{Confirmation, Pass};
use auditfwd_checkpoint::{Counts, EventIdSet, IdDigest, ObjectStore, Scope};
use auditfwd_oci::Window;
use auditfwd_oci::audit::AuditEvent;
use auditfwd_telemetry::names;
use chrono::{DateTime, Utc};

use std::sync::Arc;

use super::Runner;
use super::admit::{Admission, Decision};
use super::failure::Pending;
use super::list::Listing;
use super::send::{Batch, send};
use crate::sink::{Outbound, Sink, SinkFailure};
use crate::source::{AuditSource, Page};

/// Where a pass's admitted events go.
#[derive(Debug)]
pub(crate) enum Output<'a, K> {
    /// To the sink, confirmed batch by batch.
    Sink(&'a mut K),
    /// Nowhere: counted only (`auditfwd replay --dry-run`).
    DryRun,
}

/// The result of one delivered pass.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    pub(crate) counts: Counts,
    /// Every id the listing returned (what a settle pass will not send again).
    pub(crate) listed_ids: EventIdSet,
    pub(crate) digest: IdDigest,
    pub(crate) confirmation: Option<Confirmation>,
    pub(crate) first: Option<DateTime<Utc>>,
    pub(crate) last: Option<DateTime<Utc>>,
    /// Replay and dry runs only: (event time, id) of every event forwarded, for
    /// reconciliation.
    pub(crate) forwarded: Vec<(DateTime<Utc>, IdHash)>,
}

/// Why one pass over a window did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WindowError {
    /// OCI would not serve a page.
    #[error(transparent)]
    Source(auditfwd_oci::Error),
    /// The sink did not confirm a batch.
    #[error(transparent)]
    Sink(SinkFailure),
    /// An event could not be turned into its outgoing form (a typed event always can; if not,
    /// the window fails loudly rather than dropping it).
    #[error("event {event_id} cannot be re-encoded: {source}")]
    Encode {
        event_id: String,
        #[source]
        source: serde_json::Error,
    },
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
        }
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Lists `window` and sends every event due. `persisted` holds the ids an earlier pass
    /// delivered (settle passes, and gaps a failed settle pass left).
    pub(crate) async fn deliver(
        &self,
        scope: &Scope,
        window: Window,
        pass: Pass,
        persisted: Option<&EventIdSet>,
        mut out: Output<'_, K>,
    ) -> Result<Delivered, WindowError> {
        let admission = Admission {
            filter: &self.config.filter,
            caps: &self.limits.type_caps,
            scrub: &self.config.scrub,
            recent: (pass != Pass::Replay).then_some(&self.recent),
            persisted,
        };
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
        while let Some(page) = listing.next().await.map_err(WindowError::Source)? {
            let batch = self
                .admit_page(&admission, page, window, pass, &mut d)
                .await?;
            if batch.is_empty() {
                continue;
            }
            match &mut out {
                Output::Sink(sink) => {
                    let how = send(&mut **sink, batch.events, self.limits.events.as_ref())
                        .await
                        .map_err(WindowError::Sink)?;
                    d.confirmed(&batch.keys, how, pass, &self.recent);
                }
                Output::DryRun => d.counted(&batch.keys),
            }
        }
        if matches!(out, Output::Sink(_)) {
            count_pass(&scope.region, pass, &d.counts);
        }
        Ok(d)
    }

    /// Admits every event of `page`; the ones to send, in order.
    async fn admit_page(
        &self,
        admission: &Admission<'_>,
        page: Page,
        window: Window,
        pass: Pass,
        d: &mut Delivered,
    ) -> Result<Batch, WindowError> {
        let mut batch = Batch::default();
        for event in page.events {
            d.counts.listed += 1;
            let admitted = admission.admit(event, &mut d.listed_ids).await;
            if admitted.late {
                d.counts.late_arrivals += 1;
            }
            match admitted.decision {
                Decision::Forward { hash, event } => {
                    batch.push(hash, outbound(*event, window, pass)?);
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
