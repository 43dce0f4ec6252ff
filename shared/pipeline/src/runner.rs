//! One forwarding cycle: the compartment tree, then per (region, compartment), under a lease:
//! load the state, plan the due windows, list them page by page, dedupe, filter, scrub,
//! rate-limit, send, and commit each window (manifest, then state) only after the sink
//! confirmed every event of it.
//!
//! Order inside a compartment: gap-ledger entries first (oldest undelivered data), then
//! settle passes, then fresh windows from the cursor, oldest first. What happens on failure:
//!
//! | failure | cursor | where it shows |
//! |---|---|---|
//! | sink (syslog down) | stays | `last_error`; the run is pending |
//! | OCI, may pass (429/5xx/timeouts after the client's retries, bad pages) | stays at the window | `failing`; after [`RunnerConfig::gap_after`] failed cycles the window goes to the gap ledger and the cursor moves on |
//! | OCI, will not pass (404 inaccessible, 401, 400) | moves past the due range | the gap ledger at once |
//! | checkpoint write | stays | `last_error`; delivered events are re-sent next cycle (duplicates bounded by one window) |
//!
//! Gap-ledger entries are retried every cycle (and by `auditfwd replay --gaps`) until
//! delivered. A run is complete when every selected compartment committed all its due windows
//! and no compartment has open gaps or a failing window.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::manifest::{self, Confirmation, DeliveryManifest, Pass};
use auditfwd_checkpoint::state::{self, AwaitingSettle, CompartmentState, Gap, LastError};
use auditfwd_checkpoint::{
    Etag, EventIdSet, IdDigest, Lease, LeaseError, ObjectStore, Scope, StoreError, known, lease,
};
use auditfwd_oci::{MinuteTimestamp, Ocid, Window};
use auditfwd_syslog::SyslogRecord;
use auditfwd_telemetry::names;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::compartments::{CompartmentRule, select};
use crate::dedupe::RecentIds;
use crate::filter::EventFilter;
use crate::limits::{CapDecision, Throttle, TypeCaps};
use crate::plan::{WindowPolicy, plan};
use crate::scrub::ScrubPolicy;
use crate::sink::{Sink, confirmation, weakest};
use crate::source::AuditSource;

/// How the runner behaves (everything but the I/O edges).
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// When windows are listed.
    pub windows: WindowPolicy,
    /// Compartments to collect (empty: all).
    pub include: Vec<CompartmentRule>,
    /// Compartments never collected.
    pub exclude: Vec<CompartmentRule>,
    /// Event filters.
    pub filter: EventFilter,
    /// Credential-header scrubbing.
    pub scrub: ScrubPolicy,
    /// Compartments processed at once (each task holds one page at a time).
    pub concurrency: usize,
    /// Who this runner is, in leases, state and manifests.
    pub owner: String,
    /// How long a compartment lease lasts (renewed between windows).
    pub lease_ttl: Duration,
    /// Attempts per page, on top of the OCI client's own retries (a page that arrives
    /// damaged is fetched again).
    pub page_attempts: u32,
    /// Pause before fetching a failed page again (doubles each attempt).
    pub page_retry_delay: Duration,
    /// Cycles a window at the cursor may fail with passing errors before it goes to the
    /// gap ledger and the cursor moves on.
    pub gap_after: u32,
    /// Ids remembered in the process (the checkpoint covers restarts).
    pub recent_ids_capacity: u64,
}

impl RunnerConfig {
    /// Defaults for everything but the window policy and the owner.
    pub fn new(windows: WindowPolicy, owner: impl Into<String>) -> Self {
        RunnerConfig {
            windows,
            include: Vec::new(),
            exclude: Vec::new(),
            filter: EventFilter::default(),
            scrub: ScrubPolicy::default(),
            concurrency: 4,
            owner: owner.into(),
            lease_ttl: Duration::from_secs(5 * 60),
            page_attempts: 3,
            page_retry_delay: Duration::from_secs(1),
            gap_after: 3,
            // About 340 bytes an entry in moka: 5.5 MB. Windows never overlap, so the cache
            // only catches ids OCI repeats across pages or windows; settle passes and restarts
            // are covered by the persisted sets, which cost 16 bytes an id.
            recent_ids_capacity: 16_384,
        }
    }
}

/// The rate limits, shared by every task of a runner (and across runners, by cloning).
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// Events per second to the sink (waits).
    pub events: Option<Throttle>,
    /// OCI requests per second (waits).
    pub oci_requests: Option<Throttle>,
    /// Per-event-type caps (wait or drop-and-count).
    pub type_caps: TypeCaps,
}

/// What ended a compartment's work in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every due window committed.
    Complete,
    /// Another runner holds the compartment's lease (it is working on it, or it died and the
    /// lease has not expired yet): this run delivered nothing there.
    LeasedElsewhere {
        /// The holder.
        owner: String,
        /// When its lease lapses unless renewed.
        until: DateTime<Utc>,
    },
    /// Work remains; the reason says why it stopped.
    Pending {
        /// In words.
        reason: String,
    },
}

/// One (region, compartment) in a run.
#[derive(Debug, Clone)]
pub struct CompartmentReport {
    /// Which.
    pub scope: Scope,
    /// Its name (path in the tree).
    pub name: String,
    /// How its work ended.
    pub outcome: Outcome,
    /// Windows committed (all passes).
    pub windows_committed: u32,
    /// Event counts over the run.
    pub counts: Counts,
    /// Cursor after the run (`None` when the state could not be read).
    pub delivered_until: Option<MinuteTimestamp>,
    /// Gap-ledger entries open after the run.
    pub open_gaps: Vec<Gap>,
    /// The window at the cursor that is failing, if any.
    pub failing: Option<Gap>,
}

impl CompartmentReport {
    fn new(scope: Scope, name: String) -> Self {
        CompartmentReport {
            scope,
            name,
            outcome: Outcome::Pending {
                reason: "not processed".into(),
            },
            windows_committed: 0,
            counts: Counts::default(),
            delivered_until: None,
            open_gaps: Vec::new(),
            failing: None,
        }
    }

    /// Whether this run delivered and committed everything due for this compartment, with
    /// nothing open. A compartment another runner holds is not complete for this run: the
    /// holder may have died (its lease then lapses after the TTL), and exit 0 must mean
    /// "delivered", never "someone else may have".
    pub fn is_complete(&self) -> bool {
        match self.outcome {
            Outcome::Complete => self.open_gaps.is_empty() && self.failing.is_none(),
            Outcome::LeasedElsewhere { .. } | Outcome::Pending { .. } => false,
        }
    }
}

/// Event counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Returned by OCI.
    pub listed: u64,
    /// Confirmed by the sink.
    pub forwarded: u64,
    /// Delivered before.
    pub deduplicated: u64,
    /// Removed by filters.
    pub filtered: u64,
    /// Dropped by a drop-policy cap.
    pub dropped: u64,
    /// First seen on a settle pass.
    pub late_arrivals: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.listed += o.listed;
        self.forwarded += o.forwarded;
        self.deduplicated += o.deduplicated;
        self.filtered += o.filtered;
        self.dropped += o.dropped;
        self.late_arrivals += o.late_arrivals;
    }
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// When the run started.
    pub started_at: Option<DateTime<Utc>>,
    /// The compartment tree could not be listed: nothing was processed.
    pub tree_error: Option<String>,
    /// Include/exclude rules that matched no compartment.
    pub unmatched_rules: Vec<String>,
    /// Compartments seen for the first time (OCID, name).
    pub new_compartments: Vec<(String, String)>,
    /// Compartments known before and missing from the tree now (OCID, name, last seen).
    pub missing_compartments: Vec<(String, String, DateTime<Utc>)>,
    /// Problems that did not stop the run (e.g. the compartment index could not be written).
    pub warnings: Vec<String>,
    /// Per (region, compartment), sorted.
    pub compartments: Vec<CompartmentReport>,
}

impl RunReport {
    /// Whether every due window was delivered and committed, with no open gaps.
    pub fn is_complete(&self) -> bool {
        self.tree_error.is_none() && self.compartments.iter().all(CompartmentReport::is_complete)
    }

    /// Totals over all compartments.
    pub fn totals(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.compartments {
            c.add(&r.counts);
        }
        c
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.totals();
        let committed: u32 = self.compartments.iter().map(|c| c.windows_committed).sum();
        writeln!(
            f,
            "{} (region, compartment) pairs, {committed} windows committed: {} events listed, {} forwarded, {} deduplicated, {} filtered, {} dropped by caps, {} late arrivals",
            self.compartments.len(),
            t.listed,
            t.forwarded,
            t.deduplicated,
            t.filtered,
            t.dropped,
            t.late_arrivals
        )?;
        if let Some(e) = &self.tree_error {
            writeln!(f, "FAILED: cannot list the compartment tree: {e}")?;
        }
        for r in &self.unmatched_rules {
            writeln!(f, "warning: compartment rule {r:?} matches no compartment")?;
        }
        for (id, name) in &self.new_compartments {
            writeln!(
                f,
                "new compartment {name} ({id}): starting at the initial look-back"
            )?;
        }
        for (id, name, seen) in &self.missing_compartments {
            writeln!(
                f,
                "warning: compartment {name} ({id}) is no longer in the tree (last seen {seen}); its events are no longer collected"
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for c in &self.compartments {
            let at = c.scope.region.as_str();
            match &c.outcome {
                Outcome::Pending { reason } => {
                    writeln!(
                        f,
                        "PENDING {} ({}) in {at}: {reason}",
                        c.name, c.scope.compartment
                    )?;
                }
                Outcome::LeasedElsewhere { owner, until } => writeln!(
                    f,
                    "PENDING {} ({}) in {at}: runner {owner} holds its lease until {until} (if that runner died, the next run after then takes over)",
                    c.name, c.scope.compartment
                )?,
                Outcome::Complete => {}
            }
            if let Some(g) = &c.failing {
                writeln!(
                    f,
                    "FAILING {} ({}) in {at}: window {} failed {} time(s): {}",
                    c.name, c.scope.compartment, g.window, g.attempts, g.reason
                )?;
            }
            for g in &c.open_gaps {
                writeln!(
                    f,
                    "GAP {} ({}) in {at}: window {} undelivered after {} attempt(s): {}",
                    c.name, c.scope.compartment, g.window, g.attempts, g.reason
                )?;
            }
        }
        Ok(())
    }
}

/// Why one pass over a window did not complete.
#[derive(Debug)]
pub(crate) enum WindowError {
    /// OCI would not serve a page.
    Source(auditfwd_oci::Error),
    /// The sink did not confirm a batch.
    Sink(auditfwd_syslog::SinkError),
}

/// The result of one delivered pass.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    pub(crate) counts: Counts,
    listed_ids: EventIdSet,
    pub(crate) digest: IdDigest,
    confirmation: Option<Confirmation>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    /// Replay only: (event time, id) of every event forwarded, for reconciliation.
    pub(crate) forwarded: Vec<(DateTime<Utc>, IdHash)>,
}

/// One unit of work: a (region, compartment) of the tenancy, with its name for reports.
/// [`Runner::discover`] returns them; [`Runner::process`] works them (the Lambda poller sends
/// them over SQS and the worker processes them where they land).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    /// Which (tenancy, region, compartment).
    pub scope: Scope,
    /// The compartment's path in the tree (`root/prod/app`).
    pub name: String,
}

/// What a runner does inside each compartment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Gap ledger, settle passes, fresh windows: the live cycle.
    #[default]
    Live,
    /// Only the gap ledger (`auditfwd replay --gaps`): no settle pass, no fresh window; the
    /// cursor moves only where a ledger entry is closed.
    GapsOnly,
}

/// The compartments a cycle will work, and the report it starts from.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Tree errors, new and missing compartments, unmatched rules, warnings.
    pub report: RunReport,
    /// Every selected (region, compartment), regions outermost.
    pub items: Vec<WorkItem>,
}

/// Runs forwarding cycles over an audit source, a sink per task, a checkpoint store and a
/// clock.
pub struct Runner<A, S, K> {
    source: Arc<A>,
    store: Arc<S>,
    sinks: Arc<dyn Fn() -> K + Send + Sync>,
    clock: Arc<dyn Clock>,
    config: RunnerConfig,
    limits: RateLimits,
    recent: RecentIds,
    stop: CancellationToken,
    deadline: Option<tokio::time::Instant>,
    mode: Mode,
    /// Leases held right now, so a cycle abandoned mid-window (its future dropped at a
    /// shutdown timeout) can still release them: see [`Runner::release_held_leases`].
    held: Arc<std::sync::Mutex<BTreeMap<Scope, Lease>>>,
}

impl<A, S, K> fmt::Debug for Runner<A, S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// A runner; `sinks` opens one sink per concurrent task.
    pub fn new(
        source: Arc<A>,
        store: Arc<S>,
        sinks: impl Fn() -> K + Send + Sync + 'static,
        clock: Arc<dyn Clock>,
        config: RunnerConfig,
        limits: RateLimits,
    ) -> Self {
        let ttl = config.windows.settle_lag + Duration::from_secs(3600);
        let recent = RecentIds::new(config.recent_ids_capacity, ttl);
        Runner {
            source,
            store,
            sinks: Arc::new(sinks),
            clock,
            config,
            limits,
            recent,
            stop: CancellationToken::new(),
            deadline: None,
            mode: Mode::Live,
            held: Arc::default(),
        }
    }

    /// Stops starting new windows once `token` is cancelled (SIGTERM); the window in flight
    /// finishes or is abandoned uncommitted.
    pub fn with_stop(mut self, token: CancellationToken) -> Self {
        self.stop = token;
        self
    }

    /// Starts no new window after `deadline` (a Lambda invocation's end minus a margin).
    pub fn with_deadline(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Works only the gap ledger (see [`Mode::GapsOnly`]).
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The runner's settings.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// The audit source.
    pub fn source(&self) -> &Arc<A> {
        &self.source
    }

    /// The checkpoint store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// A new sink, as each concurrent task opens one.
    pub fn new_sink(&self) -> K {
        (self.sinks)()
    }

    /// The clock every decision reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The shared rate limits.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    pub(crate) fn should_stop(&self) -> Option<&'static str> {
        if self.stop.is_cancelled() {
            Some("stopping: shutdown requested")
        } else if self
            .deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
        {
            Some("stopping: invocation deadline near")
        } else {
            None
        }
    }

    /// Runs one full cycle over every selected compartment in every region.
    pub async fn run_once(&self) -> RunReport {
        let Discovery { report, items } = self.discover().await;
        self.process(report, items).await
    }

    /// Lists the compartment tree, applies the include/exclude rules, updates the compartment
    /// index (new and missing compartments), and returns every selected (region, compartment).
    /// When the tree cannot be listed, `report.tree_error` says why and there are no items.
    pub async fn discover(&self) -> Discovery {
        self.discover_selected(&self.config.include, true).await
    }

    /// [`Runner::discover`] with other include rules, optionally without recording the
    /// compartments in the index (a replay reads; it does not change what the live run knows).
    pub(crate) async fn discover_selected(
        &self,
        include: &[CompartmentRule],
        update_index: bool,
    ) -> Discovery {
        let now = self.clock.now();
        let mut report = RunReport {
            started_at: Some(now),
            ..RunReport::default()
        };
        let tree = match self.source.compartment_tree().await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the compartment tree");
                report.tree_error = Some(e.to_string());
                return Discovery {
                    report,
                    items: Vec::new(),
                };
            }
        };
        let selection = select(&tree, include, &self.config.exclude);
        report.unmatched_rules = selection
            .unmatched
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        let present: Vec<(String, String)> = selection
            .selected
            .iter()
            .map(|c| {
                let name = tree
                    .path(&c.id)
                    .map_or_else(|| c.name.clone(), |p| p.join("/"));
                (c.id.clone(), name)
            })
            .collect();
        let changes = if update_index {
            Some(known::update(&*self.store, self.source.tenancy(), &present, now).await)
        } else {
            None
        };
        match changes {
            None => {}
            Some(Ok(changes)) => {
                for (id, name) in &changes.new {
                    tracing::info!(compartment = %id, %name, "new compartment: starting at the initial look-back");
                }
                for (id, name, seen) in &changes.missing {
                    tracing::warn!(compartment = %id, %name, last_seen = %seen, "compartment no longer in the tree");
                }
                report.new_compartments = changes.new;
                report.missing_compartments = changes.missing;
            }
            Some(Err(e)) => report
                .warnings
                .push(format!("cannot update the compartment index: {e}")),
        }

        let mut items = Vec::new();
        for region in self.source.regions() {
            for (id, name) in &present {
                let Ok(compartment) = Ocid::parse(id) else {
                    report
                        .warnings
                        .push(format!("compartment id {id:?} is not an OCID; skipped"));
                    continue;
                };
                items.push(WorkItem {
                    scope: Scope::new(self.source.tenancy().clone(), region.clone(), compartment),
                    name: name.clone(),
                });
            }
        }
        Discovery { report, items }
    }

    /// Works `items` (from [`Runner::discover`], or received from a poller) with bounded
    /// concurrency and adds a [`CompartmentReport`] for each to `report`. Once the sink fails,
    /// no further compartment is started.
    pub async fn process(&self, mut report: RunReport, items: Vec<WorkItem>) -> RunReport {
        if report.started_at.is_none() {
            report.started_at = Some(self.clock.now());
        }
        let queue = std::sync::Mutex::new(VecDeque::from(items));
        let sink_down = AtomicBool::new(false);
        let workers = self.config.concurrency.max(1);
        let tasks = (0..workers).map(|_| self.worker(&queue, &sink_down));
        let mut done: Vec<CompartmentReport> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .flatten()
            .collect();
        report.compartments.append(&mut done);
        report.compartments.sort_by(|a, b| a.scope.cmp(&b.scope));
        self.record_gauges(&report);
        report
    }

    async fn worker(
        &self,
        queue: &std::sync::Mutex<VecDeque<WorkItem>>,
        sink_down: &AtomicBool,
    ) -> Vec<CompartmentReport> {
        let mut out = Vec::new();
        let mut sink: Option<K> = None;
        loop {
            let job = queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop_front();
            let Some(job) = job else { break };
            let mut rep = CompartmentReport::new(job.scope.clone(), job.name.clone());
            if sink_down.load(Ordering::Relaxed) {
                rep.outcome = Outcome::Pending {
                    reason: "not started: the syslog destination is not accepting events".into(),
                };
                out.push(rep);
                continue;
            }
            if let Some(why) = self.should_stop() {
                rep.outcome = Outcome::Pending {
                    reason: format!("not started: {why}"),
                };
                out.push(rep);
                continue;
            }
            let sink = sink.get_or_insert_with(|| (self.sinks)());
            let sink_failed = self.compartment(&job, sink, &mut rep).await;
            if sink_failed {
                sink_down.store(true, Ordering::Relaxed);
            }
            out.push(rep);
        }
        if let Some(mut s) = sink {
            s.close().await;
        }
        out
    }

    /// Works one compartment under its lease. Returns true when the sink failed.
    async fn compartment(&self, job: &WorkItem, sink: &mut K, rep: &mut CompartmentReport) -> bool {
        let scope = &job.scope;
        let lease = match lease::acquire(
            &*self.store,
            scope,
            &self.config.owner,
            self.config.lease_ttl,
            self.clock.now(),
        )
        .await
        {
            Ok(l) => {
                self.hold(&l);
                l
            }
            Err(LeaseError::Held {
                owner, expires_at, ..
            }) => {
                metrics::counter!(names::COMPARTMENTS_LEASED_ELSEWHERE).increment(1);
                tracing::info!(%scope, %owner, until = %expires_at, "another runner holds the lease; skipping");
                rep.outcome = Outcome::LeasedElsewhere {
                    owner,
                    until: expires_at,
                };
                return false;
            }
            Err(e) => {
                rep.outcome = Outcome::Pending {
                    reason: format!("cannot take the compartment lease: {e}"),
                };
                return false;
            }
        };
        let mut w = Work {
            lease,
            state: None,
            etag: None,
        };
        let sink_failed = match self.work(scope, sink, rep, &mut w).await {
            Ok(()) => {
                rep.outcome = Outcome::Complete;
                false
            }
            Err(Stop::Sink(reason)) => {
                rep.outcome = Outcome::Pending { reason };
                true
            }
            Err(Stop::Other(reason)) => {
                rep.outcome = Outcome::Pending { reason };
                false
            }
        };
        if let Some(s) = &w.state {
            rep.delivered_until = Some(s.delivered_until);
            rep.open_gaps = s.gaps.clone();
            rep.failing = s.failing.clone();
        }
        self.unhold(scope);
        if let Err(e) = lease::release(&*self.store, w.lease).await {
            tracing::warn!(%scope, error = %e, "could not release the lease (it will expire)");
        }
        sink_failed
    }

    async fn work(
        &self,
        scope: &Scope,
        sink: &mut K,
        rep: &mut CompartmentReport,
        w: &mut Work,
    ) -> Result<(), Stop> {
        let now = self.clock.now();
        let policy = &self.config.windows;
        match state::load(&*self.store, scope).await {
            Ok(Some((s, e))) => {
                w.state = Some(s);
                w.etag = Some(e);
            }
            Ok(None) => {
                let start = plan(None, &[], now, policy)
                    .fresh
                    .first()
                    .map_or_else(|| MinuteTimestamp::floor(now), |f| f.window.start());
                w.state = Some(CompartmentState::starting_at(
                    start,
                    now,
                    self.config.owner.clone(),
                ));
            }
            Err(e) => return Err(Stop::Other(format!("cannot read the checkpoint: {e}"))),
        }
        if self.mode == Mode::GapsOnly {
            return self.retry_gaps(scope, sink, rep, w).await;
        }
        let st = w.state_mut()?;
        let p = plan(
            Some(st.delivered_until),
            st.awaiting_settle.iter().map(|a| &a.window),
            now,
            policy,
        );
        if let Some(expired) = p.expired {
            tracing::error!(%scope, window = %expired, "undelivered minutes fell out of OCI's audit retention");
            st.add_gap(
                expired,
                "fell out of OCI's audit retention before it was delivered (cannot be listed any more)",
                now,
                None,
            );
            st.delivered_until = expired.end();
            self.save(scope, w).await?;
        }

        // 1. The gap ledger, oldest first.
        self.retry_gaps(scope, sink, rep, w).await?;

        // 2. Settle passes.
        for window in p.settle {
            self.check_continue(w).await?;
            let st = w.state_mut()?;
            let Some(idx) = st.awaiting_settle.iter().position(|a| a.window == window) else {
                continue;
            };
            let persisted = st.awaiting_settle[idx].delivered.clone();
            match self
                .deliver(scope, window, Pass::Settle, Some(&persisted), sink, true)
                .await
            {
                Ok(d) => {
                    let st = w.state_mut()?;
                    st.awaiting_settle.retain(|a| a.window != window);
                    self.commit(scope, w, window, Pass::Settle, &d, rep).await?;
                }
                Err(WindowError::Sink(e)) => return Err(self.sink_failed(scope, w, e).await),
                Err(WindowError::Source(e)) => {
                    let now = self.clock.now();
                    let gap_after = self.config.gap_after;
                    let st = w.state_mut()?;
                    let permanent = !passes(&e);
                    let mut to_ledger = None;
                    if let Some(a) = st.awaiting_settle.iter_mut().find(|a| a.window == window) {
                        a.failed_attempts += 1;
                        if permanent || a.failed_attempts >= gap_after {
                            to_ledger = Some(a.delivered.clone());
                        }
                    }
                    if let Some(delivered) = to_ledger {
                        st.awaiting_settle.retain(|a| a.window != window);
                        st.add_gap(
                            window,
                            format!("settle pass failed: {e}"),
                            now,
                            Some(delivered),
                        );
                    }
                    self.window_failed(scope, w, window, &e).await?;
                    return Err(Stop::Other(format!("settle pass of {window} failed: {e}")));
                }
            }
        }

        // 3. Fresh windows from the cursor.
        let fresh_end = p.fresh.last().map(|f| f.window.end());
        for fw in p.fresh {
            self.check_continue(w).await?;
            match self
                .deliver(scope, fw.window, Pass::Fresh, None, sink, true)
                .await
            {
                Ok(d) => {
                    let st = w.state_mut()?;
                    st.delivered_until = fw.window.end();
                    if st.failing.as_ref().is_some_and(|g| g.window == fw.window) {
                        st.failing = None;
                    }
                    if fw.needs_settle {
                        st.awaiting_settle.push(AwaitingSettle {
                            window: fw.window,
                            delivered: d.listed_ids.clone(),
                            failed_attempts: 0,
                        });
                    }
                    self.commit(scope, w, fw.window, Pass::Fresh, &d, rep)
                        .await?;
                }
                Err(WindowError::Sink(e)) => return Err(self.sink_failed(scope, w, e).await),
                Err(WindowError::Source(e)) => {
                    let now = self.clock.now();
                    let reason = e.to_string();
                    let gap_after = self.config.gap_after;
                    let st = w.state_mut()?;
                    if passes(&e) {
                        let attempts = match st.failing.take() {
                            Some(g) if g.window == fw.window => {
                                st.failing = Some(Gap {
                                    attempts: g.attempts + 1,
                                    last_failed_at: now,
                                    reason: reason.clone(),
                                    ..g
                                });
                                g.attempts + 1
                            }
                            _ => {
                                st.failing = Some(Gap {
                                    window: fw.window,
                                    reason: reason.clone(),
                                    first_failed_at: now,
                                    last_failed_at: now,
                                    attempts: 1,
                                    delivered: None,
                                });
                                1
                            }
                        };
                        if attempts >= gap_after {
                            tracing::error!(%scope, window = %fw.window, attempts, "window keeps failing: moved to the gap ledger");
                            st.failing = None;
                            st.add_gap(fw.window, reason.clone(), now, None);
                            st.delivered_until = fw.window.end();
                        }
                    } else {
                        // OCI refuses the compartment outright (inaccessible, not found,
                        // not authorised): nothing due can be listed now.
                        let end = fresh_end.unwrap_or(fw.window.end());
                        let range = Window::new(fw.window.start(), end).unwrap_or(fw.window);
                        tracing::error!(%scope, window = %range, error = %e, "compartment refused: window range moved to the gap ledger");
                        st.failing = None;
                        st.add_gap(range, reason.clone(), now, None);
                        st.delivered_until = end;
                    }
                    self.window_failed(scope, w, fw.window, &e).await?;
                    return Err(Stop::Other(format!(
                        "window {} failed: {reason}",
                        fw.window
                    )));
                }
            }
        }
        Ok(())
    }

    /// Delivers what it can of the gap ledger. A gap that still fails stays (attempts
    /// counted) and stops gap work for this compartment; fresh windows still run.
    async fn retry_gaps(
        &self,
        scope: &Scope,
        sink: &mut K,
        rep: &mut CompartmentReport,
        w: &mut Work,
    ) -> Result<(), Stop> {
        let now = self.clock.now();
        let retention_floor = MinuteTimestamp::floor(
            now - chrono::Duration::from_std(self.config.windows.retention)
                .unwrap_or(chrono::Duration::MAX),
        );
        let gaps: Vec<Gap> = w.state_mut()?.gaps.clone();
        for gap in gaps {
            if gap.window.end() <= retention_floor {
                continue;
            }
            for window in gap.window.split(self.config.windows.max_window_minutes) {
                if window.start() < retention_floor {
                    continue;
                }
                self.check_continue(w).await?;
                // A gap left by a failed settle pass is that pass, late; any other gap is the
                // window's first delivery.
                let pass = if gap.delivered.is_some() {
                    Pass::Settle
                } else {
                    Pass::Fresh
                };
                match self
                    .deliver(scope, window, pass, gap.delivered.as_ref(), sink, true)
                    .await
                {
                    Ok(d) => {
                        let settle_by = self.clock.now()
                            - chrono::Duration::from_std(self.config.windows.settle_lag)
                                .unwrap_or(chrono::Duration::zero());
                        let settle_enabled = !self.config.windows.settle_lag.is_zero();
                        let st = w.state_mut()?;
                        close_gap_window(st, &gap, window);
                        if pass == Pass::Fresh
                            && settle_enabled
                            && window.end().as_datetime() > settle_by
                        {
                            st.awaiting_settle.push(AwaitingSettle {
                                window,
                                delivered: d.listed_ids.clone(),
                                failed_attempts: 0,
                            });
                        }
                        tracing::info!(%scope, %window, "gap delivered");
                        self.commit(scope, w, window, pass, &d, rep).await?;
                    }
                    Err(WindowError::Sink(e)) => return Err(self.sink_failed(scope, w, e).await),
                    Err(WindowError::Source(e)) => {
                        let now = self.clock.now();
                        let st = w.state_mut()?;
                        if let Some(g) = st
                            .gaps
                            .iter_mut()
                            .find(|g| g.window.contains_window(&window))
                        {
                            g.attempts += 1;
                            g.last_failed_at = now;
                            g.reason = e.to_string();
                        }
                        self.window_failed(scope, w, window, &e).await?;
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Lists one window page by page and sends every event due; confirms or fails as a whole.
    /// A replay pass skips the dedupe layers (it resends on purpose) and records what it
    /// forwarded for reconciliation; `send: false` (a dry run) counts without sending.
    pub(crate) async fn deliver(
        &self,
        scope: &Scope,
        window: Window,
        pass: Pass,
        persisted: Option<&EventIdSet>,
        sink: &mut K,
        send: bool,
    ) -> Result<Delivered, WindowError> {
        let region = scope.region.as_str();
        let pass_label = pass.as_str();
        let sw = auditfwd_syslog::Window {
            start: window.start().as_datetime(),
            end: window.end().as_datetime(),
        };
        let mut d = Delivered::default();
        let mut token: Option<String> = None;
        loop {
            let page = self.page(scope, window, token.as_deref()).await?;
            let mut records = Vec::with_capacity(page.events.len());
            let mut hashes = Vec::with_capacity(page.events.len());
            for mut event in page.events {
                d.counts.listed += 1;
                // Hashed once; the window's set, both dedupe layers and the digest share it.
                let hash = IdHash::of(&event.event_id);
                let first_in_window = d.listed_ids.insert_hash(&hash);
                let known_before = persisted.is_some_and(|p| p.contains_hash(&hash));
                if persisted.is_some() && !known_before && first_in_window {
                    d.counts.late_arrivals += 1;
                }
                let replay = pass == Pass::Replay;
                if !first_in_window || known_before || (!replay && self.recent.contains(&hash)) {
                    d.counts.deduplicated += 1;
                    continue;
                }
                if let Err(reason) = self.config.filter.check(&event) {
                    d.counts.filtered += 1;
                    metrics::counter!(names::EVENTS_FILTERED, "reason" => reason.as_str())
                        .increment(1);
                    continue;
                }
                if !self.limits.type_caps.is_empty()
                    && self.limits.type_caps.admit(&event.event_type).await == CapDecision::Dropped
                {
                    d.counts.dropped += 1;
                    metrics::counter!(names::EVENTS_DROPPED, "reason" => "event_type_cap")
                        .increment(1);
                    continue;
                }
                let redacted = self.config.scrub.scrub(&mut event);
                if redacted > 0 {
                    metrics::counter!(names::HEADERS_REDACTED).increment(redacted as u64);
                }
                let body = match serde_json::to_value(&event) {
                    Ok(b) => b,
                    Err(e) => {
                        // A typed event always serialises; if not, fail loudly, never drop.
                        return Err(WindowError::Source(auditfwd_oci::Error::Construction {
                            operation: "ListEvents",
                            reason: format!("event {} cannot be re-encoded: {e}", event.event_id),
                        }));
                    }
                };
                hashes.push(hash);
                records.push(SyslogRecord {
                    event_id: event.event_id,
                    event_type: event.event_type,
                    event_time: event.event_time,
                    compartment_id: event.data.compartment_id.unwrap_or_default(),
                    window: sw,
                    replay: pass == Pass::Replay,
                    body,
                });
            }
            if !send {
                d.counts.forwarded += records.len() as u64;
                for (r, h) in records.iter().zip(&hashes) {
                    d.digest.add_hash(h);
                    d.forwarded.push((r.event_time, *h));
                }
                records.clear();
            }
            if !records.is_empty() {
                if let Some(t) = &self.limits.events {
                    t.acquire(records.len()).await;
                }
                let started = tokio::time::Instant::now();
                let sent = sink.send(&records).await;
                metrics::histogram!(names::SINK_SEND_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                match sent {
                    Ok(delivery) => {
                        if delivery.retries > 0 {
                            metrics::counter!(names::SINK_RECONNECTS)
                                .increment(u64::from(delivery.retries));
                        }
                        let c = confirmation(&delivery);
                        d.confirmation = Some(d.confirmation.map_or(c, |prev| weakest(prev, c)));
                        if pass == Pass::Replay {
                            d.forwarded.extend(
                                records.iter().zip(&hashes).map(|(r, h)| (r.event_time, *h)),
                            );
                        } else {
                            self.recent.confirmed(&hashes);
                        }
                        for (r, h) in records.iter().zip(&hashes) {
                            d.digest.add_hash(h);
                            d.first = Some(d.first.map_or(r.event_time, |f| f.min(r.event_time)));
                            d.last = Some(d.last.map_or(r.event_time, |l| l.max(r.event_time)));
                        }
                        d.counts.forwarded += records.len() as u64;
                    }
                    Err(e) => return Err(WindowError::Sink(e)),
                }
            }
            token = page.next;
            if token.is_none() {
                break;
            }
        }
        if !send {
            return Ok(d);
        }
        metrics::counter!(names::EVENTS_LISTED, "region" => region.to_owned(), "pass" => pass_label)
            .increment(d.counts.listed);
        metrics::counter!(names::EVENTS_FORWARDED, "region" => region.to_owned(), "pass" => pass_label)
            .increment(d.counts.forwarded);
        metrics::counter!(names::EVENTS_DEDUPLICATED, "region" => region.to_owned(), "pass" => pass_label)
            .increment(d.counts.deduplicated);
        if d.counts.late_arrivals > 0 {
            metrics::counter!(names::LATE_ARRIVALS, "region" => region.to_owned())
                .increment(d.counts.late_arrivals);
        }
        Ok(d)
    }

    /// One page, fetched again (up to `page_attempts`) when it failed in a way that may pass.
    async fn page(
        &self,
        scope: &Scope,
        window: Window,
        token: Option<&str>,
    ) -> Result<crate::source::Page, WindowError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(t) = &self.limits.oci_requests {
                t.acquire(1).await;
            }
            match self
                .source
                .list_events(&scope.region, &scope.compartment, window, token)
                .await
            {
                Ok(p) => return Ok(p),
                Err(e) if passes(&e) && attempt < self.config.page_attempts => {
                    tracing::warn!(%scope, %window, attempt, error = %e, "page failed; fetching it again");
                    let factor = 1u32 << (attempt - 1).min(6);
                    tokio::time::sleep(self.config.page_retry_delay * factor).await;
                }
                Err(e) => return Err(WindowError::Source(e)),
            }
        }
    }

    /// Writes the window's manifest, then the state (only over the version this runner read
    /// or wrote). The cursor has been moved in `w.state` by the caller.
    async fn commit(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        pass: Pass,
        d: &Delivered,
        rep: &mut CompartmentReport,
    ) -> Result<(), Stop> {
        let now = self.clock.now();
        let m = DeliveryManifest {
            window,
            pass,
            listed: d.counts.listed,
            forwarded: d.counts.forwarded,
            deduplicated: d.counts.deduplicated,
            filtered: d.counts.filtered,
            dropped: d.counts.dropped,
            late_arrivals: d.counts.late_arrivals,
            first_event_time: d.first,
            last_event_time: d.last,
            forwarded_ids_digest: d.digest.to_hex(),
            confirmation: d.confirmation.unwrap_or(Confirmation::NothingToSend),
            committed_at: now,
            committed_by: self.config.owner.clone(),
        };
        if let Err(e) = manifest::write(&*self.store, scope, &m).await {
            return Err(Stop::Other(format!(
                "window {window} delivered but its manifest could not be written ({e}); it will be delivered again"
            )));
        }
        let st = w.state_mut()?;
        st.last_error = None;
        self.save(scope, w).await?;
        rep.windows_committed += 1;
        rep.counts.add(&d.counts);
        metrics::counter!(names::WINDOWS_COMMITTED, "region" => scope.region.clone(), "pass" => pass.as_str())
            .increment(1);
        if d.counts.dropped > 0 {
            tracing::warn!(%scope, %window, dropped = d.counts.dropped, "events dropped by per-event-type caps");
        }
        tracing::info!(%scope, %window, pass = pass.as_str(), listed = d.counts.listed, forwarded = d.counts.forwarded,
            deduplicated = d.counts.deduplicated, filtered = d.counts.filtered, late = d.counts.late_arrivals, "window committed");
        Ok(())
    }

    async fn save(&self, scope: &Scope, w: &mut Work) -> Result<(), Stop> {
        let now = self.clock.now();
        let owner = self.config.owner.clone();
        let st = w.state_mut()?;
        st.updated_at = now;
        st.updated_by = owner;
        let st = st.clone();
        match state::save(&*self.store, scope, &st, w.etag.as_ref()).await {
            Ok(etag) => {
                w.etag = Some(etag);
                Ok(())
            }
            Err(StoreError::PreconditionFailed { .. }) => Err(Stop::Other(
                "the checkpoint was changed by another runner (lease lost?); stopped without committing".into(),
            )),
            Err(e) => Err(Stop::Other(format!("cannot write the checkpoint: {e}"))),
        }
    }

    /// Records a failed window (already placed in `failing` or the ledger by the caller).
    async fn window_failed(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        e: &auditfwd_oci::Error,
    ) -> Result<(), Stop> {
        let reason = if passes(e) { "transient" } else { "refused" };
        metrics::counter!(names::WINDOWS_FAILED, "region" => scope.region.clone(), "reason" => reason)
            .increment(1);
        tracing::error!(%scope, %window, error = %e, "window not delivered");
        let now = self.clock.now();
        w.state_mut()?.last_error = Some(LastError {
            at: now,
            message: format!("window {window}: {e}"),
        });
        self.save(scope, w).await
    }

    async fn sink_failed(
        &self,
        scope: &Scope,
        w: &mut Work,
        e: auditfwd_syslog::SinkError,
    ) -> Stop {
        tracing::error!(%scope, error = %e, "syslog delivery failed; cursor unchanged");
        let now = self.clock.now();
        let message = format!("syslog delivery failed: {e}");
        if let Ok(st) = w.state_mut() {
            st.last_error = Some(LastError {
                at: now,
                message: message.clone(),
            });
        }
        // Only an existing state is updated; a new compartment's first state waits for a
        // delivered window.
        if w.etag.is_some()
            && let Err(Stop::Other(e) | Stop::Sink(e)) = self.save(scope, w).await
        {
            tracing::warn!(%scope, error = %e, "could not record the error in the checkpoint");
        }
        Stop::Sink(message)
    }

    /// Before each window: stop when asked, and keep the lease fresh.
    async fn check_continue(&self, w: &mut Work) -> Result<(), Stop> {
        if let Some(why) = self.should_stop() {
            return Err(Stop::Other(why.to_owned()));
        }
        let now = self.clock.now();
        let ttl = self.config.lease_ttl;
        let half = chrono::Duration::from_std(ttl / 2).unwrap_or(chrono::Duration::zero());
        if w.lease.expires_at() - now < half {
            match lease::renew(&*self.store, &w.lease, ttl, now).await {
                Ok(l) => {
                    self.hold(&l);
                    w.lease = l;
                }
                Err(e) => return Err(Stop::Other(format!("lease: {e}"))),
            }
        }
        Ok(())
    }

    fn hold(&self, lease: &Lease) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(lease.scope().clone(), lease.clone());
    }

    fn unhold(&self, scope: &Scope) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(scope);
    }

    /// Releases every lease a dropped (abandoned) cycle still holds, so a restart does not
    /// wait out `lease_ttl` for those compartments. Nothing of an abandoned window was
    /// committed; releasing only lets the next runner start at once. Returns how many were
    /// released.
    pub async fn release_held_leases(&self) -> usize {
        let held: Vec<Lease> = std::mem::take(
            &mut *self
                .held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_values()
        .collect();
        let mut released = 0;
        for l in held {
            let scope = l.scope().clone();
            match lease::release(&*self.store, l).await {
                Ok(()) => released += 1,
                Err(e) => {
                    tracing::warn!(%scope, error = %e, "could not release the lease (it will expire)")
                }
            }
        }
        released
    }

    fn record_gauges(&self, report: &RunReport) {
        let Some(now) = report.started_at else { return };
        let mut by_region: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for c in &report.compartments {
            let entry = by_region.entry(c.scope.region.as_str()).or_default();
            entry.1 += c.open_gaps.len();
            if let Some(cursor) = c.delivered_until {
                let lag = (now - cursor.as_datetime()).num_seconds().max(0) as f64;
                entry.0 = entry.0.max(lag);
            }
        }
        if report.compartments.len() <= names::COMPARTMENT_LAG_LIMIT {
            for c in &report.compartments {
                if let Some(cursor) = c.delivered_until {
                    let lag = (now - cursor.as_datetime()).num_seconds().max(0) as f64;
                    metrics::gauge!(names::COMPARTMENT_LAG, "region" => c.scope.region.clone(), "compartment" => c.name.clone())
                        .set(lag);
                }
            }
        }
        for (region, (lag, gaps)) in by_region {
            metrics::gauge!(names::CHECKPOINT_LAG, "region" => region.to_owned()).set(lag);
            metrics::gauge!(names::OPEN_GAPS, "region" => region.to_owned()).set(gaps as f64);
        }
    }
}

/// A compartment's lease and state while it is worked on.
#[derive(Debug)]
struct Work {
    lease: Lease,
    state: Option<CompartmentState>,
    etag: Option<Etag>,
}

impl Work {
    fn state_mut(&mut self) -> Result<&mut CompartmentState, Stop> {
        self.state
            .as_mut()
            .ok_or_else(|| Stop::Other("internal: state not loaded".into()))
    }
}

/// Why work on a compartment stopped early.
#[derive(Debug)]
enum Stop {
    Sink(String),
    Other(String),
}

/// Whether an OCI failure may pass on a later attempt: throttling, 5xx, timeouts, resets,
/// and damaged pages (a decode error on a 200 is most often a cut-off body).
fn passes(e: &auditfwd_oci::Error) -> bool {
    e.is_retryable() || matches!(e, auditfwd_oci::Error::Decode { .. })
}

/// Removes `done` (a sub-window of `gap`) from the ledger entry that holds it.
fn close_gap_window(st: &mut CompartmentState, gap: &Gap, done: Window) {
    let Some(idx) = st
        .gaps
        .iter()
        .position(|g| g.window.contains_window(&done) && g.delivered == gap.delivered)
    else {
        return;
    };
    let g = st.gaps.remove(idx);
    for (start, end) in [
        (g.window.start(), done.start()),
        (done.end(), g.window.end()),
    ] {
        if let Ok(rest) = Window::new(start, end) {
            st.gaps.push(Gap {
                window: rest,
                ..g.clone()
            });
        }
    }
    st.gaps.sort_by_key(|g| g.window);
}
