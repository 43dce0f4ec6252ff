//! The per-listing path every pass shares (live listings, gap retries, replays): list one
//! range page by page (step 3), admit each event (step 4), and send each page's admitted events
//! as one batch (step 5). A listing confirms or fails as a whole: the caller commits (step 6)
//! only a [`Delivered`] listing. Sending a page and fetching the next overlap: while one batch
//! waits for its confirmation, the next page is on its way (at most two pages per listing).
//!
//! A *probe* lists a range that spans several aligned windows in the hope it fits in one page:
//! when the first page says more follow, nothing of it is admitted or sent, and the caller
//! walks the range in smaller units ([`super::walk`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::manifest::{Confirmation, Pass};
use auditfwd_checkpoint::shard_manifest::Tallies;
use auditfwd_checkpoint::{Counts, EventIdSet, IdDigest, ObjectStore, Scope};
use auditfwd_oci::Window;
use auditfwd_oci::memory::{Held, MemoryBudget};
use chrono::{DateTime, Utc};

use super::Runner;
use super::admit::{Admission, Decision, Remembered};
use super::failure::Pending;
use super::list::Listing;
use super::send::{Batch, send};
use crate::plan::aligned_window;
use crate::sink::{Outbound, Sink, SinkFailure};
use crate::source::{AuditSource, Page};

/// What a listing expects its first page to hold when nothing is known of its compartment.
const FIRST_PAGE_GUESS: usize = 64 << 10;

/// Compartments whose last page size is remembered (a wide tenancy's thousands fit; past this,
/// the sizes are forgotten and learned again).
const REMEMBERED_COMPARTMENTS: usize = 100_000;

/// The page budget: the bytes of event text in the pages being worked and reserved for pages
/// being fetched, across the process. A page is fetched only while less than the budget is
/// held, so at most the budget plus one page is held at once, however many tasks and listings
/// run: a listing that finds the budget spent waits before it fetches (holding nothing, so
/// listings never wait on each other in a circle), and fetches ahead only when there is room.
/// Each fetch reserves what its page is expected to hold (the listing's previous page, or the
/// compartment's largest page last time) and is counted at its true size once it arrives.
#[derive(Debug)]
pub(crate) struct PageMemory {
    budget: MemoryBudget,
    /// (region, compartment) → the largest page of its last listing.
    last_page: Mutex<HashMap<(String, String), usize>>,
}

impl PageMemory {
    /// A budget of `budget` bytes of event text.
    pub(crate) fn new(budget: usize) -> Self {
        PageMemory {
            budget: MemoryBudget::new(budget),
            last_page: Mutex::new(HashMap::new()),
        }
    }

    /// What the first page of a listing of `scope` is expected to hold.
    pub(crate) fn expected(&self, scope: &Scope) -> usize {
        let last = self
            .last_page
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A lookup by borrowed parts would need a custom key type; two short clones per listing
        // cost nothing next to its OCI call.
        last.get(&(scope.region.clone(), scope.compartment.as_str().to_owned()))
            .copied()
            .unwrap_or(FIRST_PAGE_GUESS)
    }

    /// Remembers the largest page of a listing of `scope`.
    pub(crate) fn learn(&self, scope: &Scope, largest: usize) {
        let mut last = self
            .last_page
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.len() >= REMEMBERED_COMPARTMENTS {
            last.clear();
        }
        last.insert(
            (scope.region.clone(), scope.compartment.as_str().to_owned()),
            largest,
        );
    }

    /// Reserves `bytes` for a page about to be fetched, waiting while the budget is spent.
    pub(crate) async fn reserve(&self, bytes: usize) -> Held<'_> {
        self.budget.reserve(bytes).await
    }

    /// Reserves `bytes` for a page fetched ahead, if the budget is not spent.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Option<Held<'_>> {
        self.budget.try_reserve(bytes)
    }
}

/// The bytes of event text in `page`.
fn page_bytes(page: &Page) -> usize {
    page.events.iter().map(|e| e.text().len()).sum()
}

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
        keep.keep_alive().await.map_err(WindowError::Stopped)?;
        // Room in the page budget first, then a permit for the fetch (the semaphore is never
        // closed: a permit is always granted). Both are waited for holding nothing else.
        let mut room = self
            .page_memory
            .reserve(self.page_memory.expected(scope))
            .await;
        let mut permit = self.pages.acquire().await.ok();
        let mut next = listing.next().await.map_err(WindowError::Source)?;
        let mut largest = 0;
        while let Some(page) = next.take() {
            d.pages += 1;
            // The fetched page now counts at its true size.
            room.resize(page_bytes(&page));
            largest = largest.max(room.bytes());
            if unit.probe && d.pages == 1 && page.next.is_some() {
                // The listings that walk the range next expect pages like this one.
                self.page_memory.learn(scope, largest);
                return Ok(None);
            }
            let more = page.next.is_some();
            // While this page is admitted, sent and confirmed, the next page is fetched, when
            // the budget has room for one as large as this one and a permit to fetch is free
            // (neither is waited for while holding this page: that could deadlock the tasks
            // against each other). Polling the fetch once starts it; the OCI client carries on
            // with it in a task of its own.
            let ahead = if more {
                self.page_memory
                    .try_reserve(room.bytes())
                    .and_then(|room| Some((self.pages.try_acquire().ok()?, room)))
            } else {
                None
            };
            let (sent, fetched) = {
                let fetch = async {
                    let Some(ahead) = ahead else {
                        return Ok(None);
                    };
                    keep.keep_alive().await.map_err(WindowError::Stopped)?;
                    let page = listing.next().await.map_err(WindowError::Source)?;
                    Ok(Some((ahead, page)))
                };
                let mut fetch = std::pin::pin!(fetch);
                let started = futures::poll!(fetch.as_mut());
                let batch = self.admit_page(&admission, page, unit, &mut d).await?;
                let fetch = async {
                    match started {
                        std::task::Poll::Ready(fetched) => fetched,
                        std::task::Poll::Pending => fetch.await,
                    }
                };
                tokio::join!(self.send_batch(batch, out, unit.pass, &mut d), fetch)
            };
            sent?;
            match fetched? {
                Some(((ahead, ahead_room), page)) => {
                    permit = Some(ahead);
                    room = ahead_room;
                    next = page;
                }
                None if more => {
                    // This page is confirmed: give back its room and permit before waiting
                    // for the next one's.
                    let expected = room.bytes();
                    drop((permit, room));
                    keep.keep_alive().await.map_err(WindowError::Stopped)?;
                    room = self.page_memory.reserve(expected).await;
                    permit = self.pages.acquire().await.ok();
                    next = listing.next().await.map_err(WindowError::Source)?;
                }
                None => {}
            }
        }
        drop((permit, room));
        self.page_memory.learn(scope, largest);
        if matches!(out, Output::Sink(_)) {
            self.count_pass(&scope.region, unit.pass, &d.counts);
        }
        Ok(Some(d))
    }

    /// Sends one page's batch (step 5) and records it in `d` once confirmed.
    async fn send_batch(
        &self,
        batch: Batch,
        out: &Output<'_, '_, K>,
        pass: Pass,
        d: &mut Delivered,
    ) -> Result<(), WindowError> {
        if batch.is_empty() {
            return Ok(());
        }
        match out {
            Output::Sink(shared) => {
                let mut slot = shared.slot.lock().await;
                if slot.down {
                    return Err(WindowError::Stopped(Pending::SinkDown));
                }
                match send(&mut *slot.sink, batch.events, self.limits.events.as_ref()).await {
                    Ok(how) => d.confirmed(&batch.keys, how, pass, &self.recent),
                    Err(e) => {
                        slot.down = true;
                        return Err(WindowError::Sink(e));
                    }
                }
            }
            Output::DryRun => d.counted(&batch.keys),
        }
        Ok(())
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
                Decision::Forward { hash, head, text } => {
                    if unit.pass != Pass::Replay
                        && let Some(w) = aligned_window(head.event_time, step)
                    {
                        d.tallies.add(w, &hash);
                    }
                    let replay = unit.pass == Pass::Replay;
                    batch.push(hash, Outbound::new(head, text, unit.window, replay));
                }
                Decision::Duplicate => d.counts.deduplicated += 1,
                Decision::Filtered => d.counts.filtered += 1,
                Decision::Dropped => d.counts.dropped += 1,
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: usize = 8 << 20;

    fn event(id: &str, padding: usize) -> auditfwd_oci::audit::RawEvent {
        let text = serde_json::to_vec(&serde_json::json!({
            "eventType": "com.oraclecloud.ComputeApi.GetInstance",
            "eventId": id,
            "eventTime": "2026-11-22T10:00:00Z",
            "data": {"message": "x".repeat(padding)}
        }))
        .expect("json");
        auditfwd_oci::audit::RawEvent::parse(text.into()).expect("event")
    }

    #[test]
    fn a_page_counts_at_its_true_size_and_the_next_listing_expects_the_largest() {
        let memory = PageMemory::new(BUDGET);
        let scope = Scope {
            tenancy: "ocid1.tenancy.oc1..t".parse().expect("ocid"),
            region: "us-ashburn-1".into(),
            compartment: "ocid1.compartment.oc1..c".parse().expect("ocid"),
        };
        assert_eq!(memory.expected(&scope), FIRST_PAGE_GUESS);
        let mut held = memory.try_reserve(FIRST_PAGE_GUESS).expect("room");
        let page = Page {
            events: vec![event("a", 3000), event("b", 2000)],
            next: None,
        };
        held.resize(page_bytes(&page));
        assert_eq!(held.bytes(), page_bytes(&page));
        assert_eq!(memory.budget.held(), page_bytes(&page));
        memory.learn(&scope, held.bytes());
        drop(held);
        assert_eq!(memory.budget.held(), 0);
        assert_eq!(memory.expected(&scope), page_bytes(&page));
    }
}
