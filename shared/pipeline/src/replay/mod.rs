//! Replay: list and forward every event OCI holds for a time range again, marked as replay in
//! the syslog structured data, **without touching the live cursor, the settle queue, the gap
//! ledger or the dedupe state**. It honours the same filters, scrubbing, caps and rate limits
//! as the live run, and ends with a reconciliation against the delivery manifests the live run
//! wrote for the same windows.
//!
//! Reconciliation: each shard manifest carries, per aligned window (`AUDITFWD_MAX_WINDOW`, by
//! `eventTime`), the count and an order-independent digest of the ids a live listing forwarded;
//! every id is forwarded live once, so the tallies of one window add up across manifests. The
//! replay puts every event it forwarded into the aligned window that holds its `eventTime` and
//! compares count and digest per window: a window that matches was delivered by the live run
//! with exactly the ids OCI returns now. Differences are listed
//! (events OCI made visible after both passes, or a changed filter); minutes of the range with
//! no manifest (before deployment, gaps) are counted.
//!
//! The gap ledger is replayed differently (`auditfwd replay --gaps`): those windows were never
//! delivered, so they go through the live path ([`crate::Mode::GapsOnly`]), which records
//! manifests and closes the ledger entries it completes.

use std::fmt;
use std::sync::Arc;

use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::manifest::Pass;
use auditfwd_checkpoint::{Counts, ObjectStore};
use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};
use serde::Serialize;

mod reconcile;

use crate::compartments::CompartmentRule;
use crate::runner::pool::{self, Job};
use crate::runner::window::{NoLease, Output, SharedSink, Unit};
use crate::runner::{Pending, RunContext, Runner, WorkItem};
use crate::sink::Sink;
use crate::source::AuditSource;

/// What to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// First minute replayed.
    pub from: MinuteTimestamp,
    /// End of the range (exclusive).
    pub to: MinuteTimestamp,
    /// Compartments (OCIDs, names or paths, each with its subtree, as in
    /// `AUDITFWD_COMPARTMENTS_INCLUDE`); empty: every compartment the live run collects.
    /// `AUDITFWD_COMPARTMENTS_EXCLUDE` still applies.
    pub compartments: Vec<CompartmentRule>,
    /// Regions (ids); empty: every configured region.
    pub regions: Vec<String>,
    /// List and count only; send nothing.
    pub dry_run: bool,
}

/// A request that cannot be served as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// `from` is not before `to`.
    #[error("the replay range is empty: --from {from} is not before --to {to}")]
    EmptyRange {
        /// Start.
        from: MinuteTimestamp,
        /// End.
        to: MinuteTimestamp,
    },
    /// The range reaches into minutes that have not ended yet.
    #[error("--to {to} is in the future: the last minute that has ended is {now}")]
    Future {
        /// End asked for.
        to: MinuteTimestamp,
        /// The current minute.
        now: MinuteTimestamp,
    },
    /// A region that is not configured.
    #[error("region {0} is not configured (AUDITFWD_OCI_REGIONS)")]
    UnknownRegion(String),
}

impl ReplayError {
    /// Whether trying again can help: never, the request must change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl ReplayRequest {
    /// Checks the request against the configured regions and the clock.
    pub fn validate(&self, regions: &[String], now: DateTime<Utc>) -> Result<(), ReplayError> {
        if self.from >= self.to {
            return Err(ReplayError::EmptyRange {
                from: self.from,
                to: self.to,
            });
        }
        let current = MinuteTimestamp::floor(now);
        if self.to > current {
            return Err(ReplayError::Future {
                to: self.to,
                now: current,
            });
        }
        for r in &self.regions {
            if !regions.iter().any(|c| c == r) {
                return Err(ReplayError::UnknownRegion(r.clone()));
            }
        }
        Ok(())
    }
}

/// Progress callbacks (a progress bar on a terminal, log lines otherwise).
pub trait ReplayProgress: Send + Sync {
    /// Called once, with the number of windows the replay will list.
    fn start(&self, windows: u64);
    /// Called after each window.
    fn window_done(&self, item: &WorkItem, window: Window, listed: u64, forwarded: u64);
}

/// Progress that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ReplayProgress for NoProgress {
    fn start(&self, _windows: u64) {}
    fn window_done(&self, _item: &WorkItem, _window: Window, _listed: u64, _forwarded: u64) {}
}

/// What a replay did.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Start of the range.
    pub from: MinuteTimestamp,
    /// End of the range (exclusive).
    pub to: MinuteTimestamp,
    /// Nothing was sent.
    pub dry_run: bool,
    /// The compartment tree could not be listed: nothing was replayed.
    #[serde(serialize_with = "crate::runner::display_opt")]
    pub tree_error: Option<Arc<auditfwd_oci::Error>>,
    /// `--compartment` values that matched no collected compartment.
    pub unmatched_rules: Vec<String>,
    /// Per (region, compartment), sorted.
    pub compartments: Vec<CompartmentReplay>,
}

/// One (region, compartment) in a replay.
#[derive(Debug, Clone, Serialize)]
pub struct CompartmentReplay {
    /// Region id.
    pub region: String,
    /// Compartment OCID.
    pub compartment: String,
    /// Its path in the tree.
    pub name: String,
    /// How far the replay got: `to` when the whole range was replayed; earlier when it
    /// stopped (deadline, shutdown, an error), so the rest can be replayed from here.
    pub replayed_until: MinuteTimestamp,
    /// What happened to the events OCI returned (forwarded: in a dry run, that would have been
    /// forwarded; deduplicated: ids OCI returned twice in one window, sent once).
    #[serde(flatten)]
    pub counts: Counts,
    /// Why it stopped early, if it did.
    #[serde(serialize_with = "crate::runner::display_opt")]
    pub error: Option<Pending>,
    /// Comparison with what the live run delivered.
    pub reconciliation: Reconciliation,
}

/// The replay compared with the live run's delivery manifests for the same range.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reconciliation {
    /// Live windows wholly inside the replayed part of the range.
    pub live_windows: u64,
    /// Of those, windows where the replay forwarded exactly the ids the live run did.
    pub matching_windows: u64,
    /// Events the live run forwarded in those windows (fresh and settle passes).
    pub live_forwarded: u64,
    /// Events the replay forwarded in those windows.
    pub replay_forwarded: u64,
    /// Windows where they differ.
    pub differing: Vec<WindowDifference>,
    /// Live windows that cross an edge of the range (not compared).
    pub partial_windows: u64,
    /// Minutes of the replayed range no live manifest covers (before deployment, gaps,
    /// not yet listed).
    pub minutes_without_record: u64,
    /// The manifests could not be read.
    pub error: Option<String>,
}

/// One live window the replay does not agree with.
#[derive(Debug, Clone, Serialize)]
pub struct WindowDifference {
    /// The live window.
    pub window: Window,
    /// Events the live run forwarded.
    pub live_forwarded: u64,
    /// Events the replay forwarded.
    pub replay_forwarded: u64,
}

impl ReplayReport {
    /// Whether every selected compartment was replayed over the whole range.
    pub fn is_complete(&self) -> bool {
        self.tree_error.is_none()
            && self
                .compartments
                .iter()
                .all(|c| c.error.is_none() && c.replayed_until >= self.to)
    }

    /// Totals over every compartment.
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for c in &self.compartments {
            t += &c.counts;
        }
        t
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Counts {
            listed,
            forwarded,
            filtered,
            dropped,
            ..
        } = self.totals();
        let verb = if self.dry_run {
            "would be forwarded (dry run: nothing sent)"
        } else {
            "forwarded as replay"
        };
        writeln!(
            f,
            "replay {} .. {}: {} (region, compartment) pairs; OCI returned {listed} events, {forwarded} {verb}, {filtered} filtered, {dropped} dropped by caps",
            self.from,
            self.to,
            self.compartments.len()
        )?;
        if let Some(e) = &self.tree_error {
            writeln!(f, "FAILED: cannot list the compartment tree: {e}")?;
        }
        for r in &self.unmatched_rules {
            writeln!(
                f,
                "warning: --compartment {r:?} matches no collected compartment"
            )?;
        }
        for c in &self.compartments {
            let r = &c.reconciliation;
            writeln!(
                f,
                "  {} ({}) in {}: listed {}, forwarded {}, filtered {}, dropped {}",
                c.name,
                c.compartment,
                c.region,
                c.counts.listed,
                c.counts.forwarded,
                c.counts.filtered,
                c.counts.dropped
            )?;
            if let Some(e) = &r.error {
                writeln!(f, "    live comparison unavailable: {e}")?;
            } else {
                writeln!(
                    f,
                    "    live run: {} windows inside the range, {} delivered the same ids ({} events live, {} replayed); {} windows cross the edges; {} minutes without a live record",
                    r.live_windows,
                    r.matching_windows,
                    r.live_forwarded,
                    r.replay_forwarded,
                    r.partial_windows,
                    r.minutes_without_record
                )?;
                for d in &r.differing {
                    writeln!(
                        f,
                        "    DIFFERS {}: live forwarded {}, replay {}",
                        d.window, d.live_forwarded, d.replay_forwarded
                    )?;
                }
            }
            if let Some(e) = &c.error {
                writeln!(
                    f,
                    "  INCOMPLETE {} ({}) in {}: replayed up to {}: {e}",
                    c.name, c.compartment, c.region, c.replayed_until
                )?;
            }
        }
        Ok(())
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Replays `request` over the compartments it selects (see [`ReplayRequest`]). The caller
    /// validates the request first ([`ReplayRequest::validate`]).
    pub async fn replay(
        &self,
        ctx: &RunContext,
        request: &ReplayRequest,
        progress: &dyn ReplayProgress,
    ) -> ReplayReport {
        let include = if request.compartments.is_empty() {
            self.config().include.clone()
        } else {
            request.compartments.clone()
        };
        let discovery = self.discover_selected(&include, false).await;
        let mut report = ReplayReport {
            from: request.from,
            to: request.to,
            dry_run: request.dry_run,
            tree_error: discovery.report.tree_error,
            unmatched_rules: if request.compartments.is_empty() {
                Vec::new()
            } else {
                discovery.report.unmatched_rules
            },
            compartments: Vec::new(),
        };
        if report.tree_error.is_some() {
            return report;
        }
        let items = discovery
            .items
            .into_iter()
            .filter(|i| request.regions.is_empty() || request.regions.contains(&i.scope.region))
            .collect();
        report.compartments = self.replay_items(ctx, request, items, progress).await;
        report
    }

    /// Replays `request`'s range over exactly `items` (no tree listing; the Lambda worker
    /// continues a replay for one compartment this way).
    pub async fn replay_items(
        &self,
        ctx: &RunContext,
        request: &ReplayRequest,
        items: Vec<WorkItem>,
        progress: &dyn ReplayProgress,
    ) -> Vec<CompartmentReplay> {
        let windows = match Window::new(request.from, request.to) {
            Ok(w) => w.split(self.config().windows.max_window_minutes),
            Err(_) => Vec::new(),
        };
        progress.start(windows.len() as u64 * items.len() as u64);
        let job = Replay {
            runner: self,
            ctx,
            request,
            windows: &windows,
            progress,
        };
        let sinks = || self.new_sink();
        let mut out = pool::run(items, self.config().concurrency, &sinks, ctx, &job).await;
        out.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
        out
    }
}

/// A replay as a pool job: every window of the range through the per-window path, flagged as
/// replay, then reconciled with the live manifests.
struct Replay<'r, A, S, K> {
    runner: &'r Runner<A, S, K>,
    ctx: &'r RunContext,
    request: &'r ReplayRequest,
    windows: &'r [Window],
    progress: &'r dyn ReplayProgress,
}

impl CompartmentReplay {
    fn new(item: &WorkItem, from: MinuteTimestamp) -> Self {
        CompartmentReplay {
            region: item.scope.region.clone(),
            compartment: item.scope.compartment.to_string(),
            name: item.name.clone(),
            replayed_until: from,
            counts: Counts::default(),
            error: None,
            reconciliation: Reconciliation::default(),
        }
    }
}

impl<A, S, K> Job<WorkItem, K> for Replay<'_, A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    type Output = CompartmentReplay;

    fn not_started(&self, item: &WorkItem, why: Pending) -> CompartmentReplay {
        let mut rep = CompartmentReplay::new(item, self.request.from);
        rep.error = Some(why);
        rep
    }

    async fn work(&self, item: &WorkItem, sink: &mut K) -> (CompartmentReplay, bool) {
        let mut rep = CompartmentReplay::new(item, self.request.from);
        let mut replayed: Vec<(DateTime<Utc>, IdHash)> = Vec::new();
        let sink: SharedSink<'_, K> = SharedSink::new(sink);
        let out = if self.request.dry_run {
            Output::DryRun
        } else {
            Output::Sink(&sink)
        };
        for window in self.windows {
            if let Some(why) = self.ctx.should_stop() {
                rep.error = Some(Pending::Stopped(why));
                break;
            }
            let unit = Unit {
                window: *window,
                pass: Pass::Replay,
                remembered: None,
                late_before: None,
                probe: false,
            };
            match self
                .runner
                .deliver(&item.scope, &unit, &out, &NoLease)
                .await
            {
                Ok(d) => {
                    let d = d.unwrap_or_default();
                    rep.counts += &d.counts;
                    rep.replayed_until = window.end();
                    replayed.extend(d.forwarded);
                    self.progress
                        .window_done(item, *window, d.counts.listed, d.counts.forwarded);
                }
                Err(e) => {
                    rep.error = Some(e.into_pending(*window, Pass::Replay));
                    break;
                }
            }
        }
        let c = &rep.counts;
        tracing::info!(scope = %item.scope, listed = c.listed, forwarded = c.forwarded,
            filtered = c.filtered, until = %rep.replayed_until, dry_run = self.request.dry_run, "compartment replayed");
        rep.reconciliation = self
            .runner
            .reconcile(item, self.request.from, rep.replayed_until, &replayed)
            .await;
        let sink_failed = rep.error.as_ref().is_some_and(Pending::is_sink);
        (rep, sink_failed)
    }
}
