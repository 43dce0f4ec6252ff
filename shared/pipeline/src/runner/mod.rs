//! The runner: one forwarding cycle over every selected (region, compartment), worked shard by
//! shard. The data path, one file per step, in order:
//!
//! 1. [`discover`]: the compartment tree, the include/exclude rules, the compartment index;
//! 2. [`plan`]: what each compartment has due, from its cursors in its [`shard`]'s state (the
//!    shard is read and leased once for all its compartments; [`compartment`] works each one);
//! 3. [`list`]: each range's pages through the source's paginator, cut by [`walk`] so an idle
//!    range is one call and a busy one is delivered a window at a time;
//! 4. [`admit`]: per event, dedupe → filter → cap → scrub, one typed decision;
//! 5. [`send`]: each page's admitted events as one batch to the sink;
//! 6. [`commit`]: cursors moved and manifest records made, written by the shard after the sink
//!    confirmed every batch;
//! 7. [`report`]: what the run did, and the gauges it leaves;
//! 8. [`sweep`]: for a source whose records change in place (Cloud Guard problems), the
//!    changes no window listing can see, delivered and then remembered.
//!
//! Steps 3–5 are the per-listing path ([`window`]) that live listings, gap retries and replays
//! share; the [`pool`] works shards (or, for replays, compartments) `concurrency` at a time.
//! Each run takes its own [`RunContext`] (mode, stop token, deadline); the runner itself holds
//! only what lives across runs (clients, settings, the in-process dedupe cache, the page
//! budget, the shards it holds). The failure rules are in [`compartment`]. A run is complete
//! when every selected compartment listed everything due and has no open gap or failing range.
//! The cost model behind this shape is docs/design/scale.md.

mod admit;
mod commit;
mod compartment;
mod context;
mod discover;
mod failure;
mod held;
mod list;
pub(crate) mod plan;
pub(crate) mod pool;
mod report;
mod send;
mod shard;
mod sweep;
mod walk;
pub(crate) mod window;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use auditfwd_checkpoint::ObjectStore;
use auditfwd_telemetry::names;

pub use context::{Mode, RunContext};
pub use discover::{Discovery, WorkItem};
pub(crate) use failure::display_opt;
pub use failure::{Pending, StopReason, Warning};
pub use report::{CompartmentReport, Outcome, RunReport};
pub use shard::{ShardItem, group};
pub use sweep::{SweepError, SweepReport, SweepState, Swept};

use crate::clock::Clock;
use crate::compartments::CompartmentRule;
use crate::dedupe::RecentIds;
use crate::filter::EventFilter;
use crate::limits::{Throttle, TypeCaps};
use crate::plan::WindowPolicy;
use crate::scrub::ScrubPolicy;
use crate::sink::Sink;
use crate::source::AuditSource;
use held::HeldShards;
use pool::Job;

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
    /// Shards processed at once.
    pub concurrency: usize,
    /// Compartments of one shard listed at once (latency-bound listings overlap).
    pub compartments_at_once: usize,
    /// Pages fetched or held at once across the process (each listing holds one at a time, two
    /// while it fetches ahead): what bounds the OCI calls under way.
    pub pages_in_flight: usize,
    /// The page budget: a page is fetched only while the pages being worked and fetched hold
    /// less event text than this across the process. What bounds memory: at most this plus
    /// one page is held, however many tasks run.
    pub page_memory: usize,
    /// Who this runner is, in leases, state and manifests.
    pub owner: String,
    /// How long a shard lease lasts (renewed with progress once half is gone).
    pub lease_ttl: Duration,
    /// Attempts per page, on top of the OCI client's own retries (a page that arrives
    /// damaged is fetched again).
    pub page_attempts: u32,
    /// First pause before fetching a failed page again (growing, jittered).
    pub page_retry_delay: Duration,
    /// Cycles a window at the cursor may fail with passing errors before it goes to the
    /// gap ledger and the cursor moves on.
    pub gap_after: u32,
    /// Ids remembered in the process (the checkpoint covers restarts).
    pub recent_ids_capacity: u64,
    /// Whether a run sets the freshness gauges (lag, open gaps, compartments per region) from
    /// its report. A process running one runner per tenancy turns this off and sets them from
    /// all the tenancies' reports at once ([`RunReport::absorb`]): each runner setting its own
    /// would overwrite the others' in shared regions, hiding a lagging tenancy.
    pub record_gauges: bool,
    /// The tenancy and source the per-window metrics name (a process may run a runner per
    /// tenancy and source).
    pub labels: MetricLabels,
}

/// What the per-window metrics say besides the region: which tenancy (its name in
/// `AUDITFWD_TENANCIES`, `default` without it) and which source (`audit`, `log-search`,
/// `cloud-guard`). Both are few, so Prometheus keeps them as labels; CloudWatch drops them
/// (they are not in its dimension allow-list) and adds the series up per region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricLabels {
    /// The tenancy's name.
    pub tenancy: String,
    /// The source.
    pub source: &'static str,
}

impl Default for MetricLabels {
    fn default() -> Self {
        MetricLabels {
            tenancy: "default".to_owned(),
            source: "audit",
        }
    }
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
            compartments_at_once: 16,
            pages_in_flight: 16,
            // Two pages of 1,000 events of 4 KB: one compartment fetches ahead while it sends,
            // and a 1M-event backlog at four tasks stays within 64 MB (docs/benchmarks.md).
            page_memory: 8 << 20,
            owner: owner.into(),
            lease_ttl: Duration::from_secs(5 * 60),
            page_attempts: 3,
            page_retry_delay: Duration::from_secs(1),
            gap_after: 3,
            // About 80 bytes an entry: 1.3 MB. Windows never overlap, so the cache
            // only catches ids OCI repeats across pages or windows; settle passes and restarts
            // are covered by the persisted sets, which cost 16 bytes an id.
            recent_ids_capacity: 16_384,
            record_gauges: true,
            labels: MetricLabels::default(),
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
    pages: tokio::sync::Semaphore,
    /// The page budget (bytes of event text in the pages being worked and fetched).
    page_memory: window::PageMemory,
    held: HeldShards,
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
        let recent = RecentIds::new(config.recent_ids_capacity, ttl, Arc::clone(&clock));
        let pages = tokio::sync::Semaphore::new(config.pages_in_flight.max(1));
        let page_memory = window::PageMemory::new(config.page_memory);
        Runner {
            source,
            store,
            sinks: Arc::new(sinks),
            clock,
            config,
            limits,
            recent,
            pages,
            page_memory,
            held: HeldShards::default(),
        }
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

    /// The labels of a per-window metric in `region`: the region, this runner's tenancy and
    /// source, and `extra`.
    pub(crate) fn labels(
        &self,
        region: &str,
        extra: Option<(&'static str, &'static str)>,
    ) -> Vec<metrics::Label> {
        let mut v = vec![
            metrics::Label::new("region", region.to_owned()),
            metrics::Label::new("tenancy", self.config.labels.tenancy.clone()),
            metrics::Label::new("source", self.config.labels.source),
        ];
        if let Some((k, val)) = extra {
            v.push(metrics::Label::new(k, val));
        }
        v
    }

    /// Counts what one pass over a window listed, forwarded and deduplicated.
    pub(crate) fn count_pass(
        &self,
        region: &str,
        pass: auditfwd_checkpoint::manifest::Pass,
        c: &crate::Counts,
    ) {
        let pass = Some(("pass", pass.as_str()));
        metrics::counter!(names::EVENTS_LISTED, self.labels(region, pass)).increment(c.listed);
        metrics::counter!(names::EVENTS_FORWARDED, self.labels(region, pass))
            .increment(c.forwarded);
        metrics::counter!(names::EVENTS_DEDUPLICATED, self.labels(region, pass))
            .increment(c.deduplicated);
        if c.late_arrivals > 0 {
            metrics::counter!(names::LATE_ARRIVALS, self.labels(region, None))
                .increment(c.late_arrivals);
        }
    }

    /// Counts a committed window.
    pub(crate) fn count_commit(&self, region: &str, pass: auditfwd_checkpoint::manifest::Pass) {
        metrics::counter!(
            names::WINDOWS_COMMITTED,
            self.labels(region, Some(("pass", pass.as_str())))
        )
        .increment(1);
    }

    /// Runs one full cycle over every selected compartment in every region, then the source's
    /// sweep (a source whose records change in place).
    pub async fn run_once(&self, ctx: &RunContext) -> RunReport {
        let Discovery { report, items } = self.discover().await;
        let mut report = self.process(ctx, report, items).await;
        report.sweep = self.sweep().await;
        report
    }

    /// Works `items` (from [`Runner::discover`], or received from a poller) shard by shard,
    /// `concurrency` shards at a time, and adds a [`CompartmentReport`] for each to `report`.
    /// Once the sink fails, no further shard is started.
    pub async fn process(
        &self,
        ctx: &RunContext,
        mut report: RunReport,
        items: Vec<WorkItem>,
    ) -> RunReport {
        if report.started_at.is_none() {
            report.started_at = Some(self.clock.now());
        }
        let layout = match self.layout_for(&items).await {
            Ok(l) => l,
            Err(p) => {
                report.compartments.extend(items.into_iter().map(|i| {
                    let mut r = CompartmentReport::new(i.scope, i.name);
                    r.outcome = Outcome::Pending(p.clone());
                    r
                }));
                return report;
            }
        };
        let shards = group(items, &layout);
        self.process_shards(ctx, report, shards, &layout).await
    }

    /// Works `shards` (grouped under `layout`): what [`Runner::process`] does once grouped, and
    /// what the Lambda worker calls with the shards it received.
    pub async fn process_shards(
        &self,
        ctx: &RunContext,
        mut report: RunReport,
        shards: Vec<ShardItem>,
        layout: &auditfwd_checkpoint::layout::Layout,
    ) -> RunReport {
        if report.started_at.is_none() {
            report.started_at = Some(self.clock.now());
        }
        let job = Live {
            runner: self,
            ctx,
            layout,
        };
        let done = pool::run(shards, self.config.concurrency, &*self.sinks, ctx, &job).await;
        report.compartments.extend(done.into_iter().flatten());
        report.compartments.sort_by(|a, b| a.scope.cmp(&b.scope));
        if self.config.record_gauges {
            report.record_gauges();
        }
        report
    }
}

/// The live cycle (and `replay --gaps`) as a pool job over shards.
struct Live<'r, A, S, K> {
    runner: &'r Runner<A, S, K>,
    ctx: &'r RunContext,
    layout: &'r auditfwd_checkpoint::layout::Layout,
}

impl<A, S, K> Job<ShardItem, K> for Live<'_, A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    type Output = Vec<CompartmentReport>;

    fn not_started(&self, item: &ShardItem, why: Pending) -> Vec<CompartmentReport> {
        item.compartments
            .iter()
            .map(|c| {
                let mut rep = CompartmentReport::new(c.scope.clone(), c.name.clone());
                rep.outcome = Outcome::Pending(why.clone());
                rep
            })
            .collect()
    }

    async fn work(&self, item: &ShardItem, sink: &mut K) -> (Vec<CompartmentReport>, bool) {
        self.runner.held.hold(&item.shard);
        let done = self.runner.shard(self.ctx, item, self.layout, sink).await;
        self.runner.held.unhold(&item.shard);
        done
    }
}
