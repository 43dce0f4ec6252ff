//! Replay: list and forward every event OCI holds for a time range again, marked as replay in
//! the syslog structured data, **without touching the live cursor, the settle queue, the gap
//! ledger or the dedupe state**. It honours the same filters, scrubbing, caps and rate limits
//! as the live run, and ends with a reconciliation against the delivery manifests the live run
//! wrote for the same windows.
//!
//! Reconciliation: the live run's windows never overlap, and each manifest carries an
//! order-independent digest of the ids it forwarded (fresh and settle passes are disjoint, so
//! their digests add up). The replay puts every event it forwarded into the live window that
//! holds its `eventTime` and compares count and digest per window: a window that matches was
//! delivered by the live run with exactly the ids OCI returns now. Differences are listed
//! (events OCI made visible after both passes, or a changed filter); minutes of the range with
//! no manifest (before deployment, gaps) are counted.
//!
//! The gap ledger is replayed differently (`auditfwd replay --gaps`): those windows were never
//! delivered, so they go through the live path ([`crate::Mode::GapsOnly`]), which records
//! manifests and closes the ledger entries it completes.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use auditfwd_checkpoint::manifest::{self, Pass};
use auditfwd_checkpoint::{IdDigest, ObjectStore};
use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::compartments::CompartmentRule;
use crate::runner::{Runner, WindowError, WorkItem};
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
    pub tree_error: Option<String>,
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
    /// Events OCI returned.
    pub listed: u64,
    /// Events forwarded (in a dry run: that would have been forwarded).
    pub forwarded: u64,
    /// Removed by filters.
    pub filtered: u64,
    /// Dropped by drop-policy caps.
    pub dropped: u64,
    /// Ids OCI returned twice in one window (sent once).
    pub repeated: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
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

    /// Totals: (listed, forwarded, filtered, dropped).
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        self.compartments.iter().fold((0, 0, 0, 0), |t, c| {
            (
                t.0 + c.listed,
                t.1 + c.forwarded,
                t.2 + c.filtered,
                t.3 + c.dropped,
            )
        })
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (listed, forwarded, filtered, dropped) = self.totals();
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
                c.name, c.compartment, c.region, c.listed, c.forwarded, c.filtered, c.dropped
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

/// One live window's record, and what the replay put in it.
#[derive(Debug, Default)]
struct LiveWindow {
    live_forwarded: u64,
    live_digest: IdDigest,
    replay_forwarded: u64,
    replay_digest: IdDigest,
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
        report.compartments = self.replay_items(request, items, progress).await;
        report
    }

    /// Replays `request`'s range over exactly `items` (no tree listing; the Lambda worker
    /// continues a replay for one compartment this way).
    pub async fn replay_items(
        &self,
        request: &ReplayRequest,
        items: Vec<WorkItem>,
        progress: &dyn ReplayProgress,
    ) -> Vec<CompartmentReplay> {
        let windows = match Window::new(request.from, request.to) {
            Ok(w) => w.split(self.config().windows.max_window_minutes),
            Err(_) => Vec::new(),
        };
        progress.start(windows.len() as u64 * items.len() as u64);
        let queue = std::sync::Mutex::new(VecDeque::from(items));
        let sink_down = AtomicBool::new(false);
        let workers = self.config().concurrency.max(1);
        let tasks = (0..workers)
            .map(|_| self.replay_worker(request, &windows, &queue, &sink_down, progress));
        let mut out: Vec<CompartmentReplay> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .flatten()
            .collect();
        out.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
        out
    }

    async fn replay_worker(
        &self,
        request: &ReplayRequest,
        windows: &[Window],
        queue: &std::sync::Mutex<VecDeque<WorkItem>>,
        sink_down: &AtomicBool,
        progress: &dyn ReplayProgress,
    ) -> Vec<CompartmentReplay> {
        let mut out = Vec::new();
        let mut sink: Option<K> = None;
        loop {
            let item = queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop_front();
            let Some(item) = item else { break };
            let mut rep = CompartmentReplay {
                region: item.scope.region.clone(),
                compartment: item.scope.compartment.to_string(),
                name: item.name.clone(),
                replayed_until: request.from,
                listed: 0,
                forwarded: 0,
                filtered: 0,
                dropped: 0,
                repeated: 0,
                error: None,
                reconciliation: Reconciliation::default(),
            };
            let mut replayed: Vec<(DateTime<Utc>, auditfwd_checkpoint::ids::IdHash)> = Vec::new();
            for window in windows {
                if sink_down.load(Ordering::Relaxed) {
                    rep.error =
                        Some("not replayed: the syslog destination is not accepting events".into());
                    break;
                }
                if let Some(why) = self.should_stop() {
                    rep.error = Some(why.to_owned());
                    break;
                }
                let sink = sink.get_or_insert_with(|| self.new_sink());
                match self
                    .deliver(
                        &item.scope,
                        *window,
                        Pass::Replay,
                        None,
                        sink,
                        !request.dry_run,
                    )
                    .await
                {
                    Ok(d) => {
                        rep.listed += d.counts.listed;
                        rep.forwarded += d.counts.forwarded;
                        rep.filtered += d.counts.filtered;
                        rep.dropped += d.counts.dropped;
                        rep.repeated += d.counts.deduplicated;
                        rep.replayed_until = window.end();
                        replayed.extend(d.forwarded);
                        progress.window_done(&item, *window, d.counts.listed, d.counts.forwarded);
                    }
                    Err(WindowError::Sink(e)) => {
                        sink_down.store(true, Ordering::Relaxed);
                        rep.error = Some(format!("syslog delivery failed: {e}"));
                        break;
                    }
                    Err(WindowError::Source(e)) => {
                        rep.error = Some(format!("window {window} could not be listed: {e}"));
                        break;
                    }
                }
            }
            tracing::info!(scope = %item.scope, listed = rep.listed, forwarded = rep.forwarded,
                filtered = rep.filtered, until = %rep.replayed_until, dry_run = request.dry_run, "compartment replayed");
            rep.reconciliation = self
                .reconcile(&item, request.from, rep.replayed_until, &replayed)
                .await;
            out.push(rep);
        }
        if let Some(mut s) = sink {
            s.close().await;
        }
        out
    }

    /// Compares what the replay forwarded over `[from, until)` with the live manifests.
    async fn reconcile(
        &self,
        item: &WorkItem,
        from: MinuteTimestamp,
        until: MinuteTimestamp,
        replayed: &[(DateTime<Utc>, auditfwd_checkpoint::ids::IdHash)],
    ) -> Reconciliation {
        let mut r = Reconciliation::default();
        if until <= from {
            return r;
        }
        let manifests = match manifest::list(&**self.store(), &item.scope, from, until).await {
            Ok(m) => m,
            Err(e) => {
                r.error = Some(format!("cannot read the delivery manifests: {e}"));
                return r;
            }
        };
        let mut live: BTreeMap<Window, LiveWindow> = BTreeMap::new();
        let mut covered = 0i64;
        for m in manifests.iter().filter(|m| m.pass != Pass::Replay) {
            if m.window.start() < from || m.window.end() > until {
                continue;
            }
            let entry = live.entry(m.window).or_default();
            entry.live_forwarded += m.forwarded;
            match IdDigest::from_hex(&m.forwarded_ids_digest) {
                Some(d) => entry.live_digest.merge(&d),
                None => {
                    r.error = Some(format!(
                        "manifest of {} ({}) has an unreadable digest",
                        m.window,
                        m.pass.as_str()
                    ));
                    return r;
                }
            }
        }
        let mut partial = std::collections::BTreeSet::new();
        for m in &manifests {
            if m.pass != Pass::Replay && (m.window.start() < from || m.window.end() > until) {
                partial.insert(m.window);
            }
        }
        for w in live.keys() {
            covered += w.minutes();
        }
        for w in &partial {
            // The part of a window crossing an edge that lies inside the range.
            if let Ok(inside) = Window::new(w.start().max(from), w.end().min(until)) {
                covered += inside.minutes();
            }
        }
        let windows: Vec<Window> = live.keys().copied().collect();
        for (time, hash) in replayed {
            let at = MinuteTimestamp::floor(*time);
            // The live window whose [start, end) holds the event's minute.
            let idx = windows.partition_point(|w| w.start() <= at);
            if idx == 0 {
                continue;
            }
            let w = windows[idx - 1];
            if at < w.end()
                && let Some(entry) = live.get_mut(&w)
            {
                entry.replay_forwarded += 1;
                entry.replay_digest.add_hash(hash);
            }
        }
        let total = Window::new(from, until).map_or(0, |w| w.minutes());
        r.minutes_without_record = u64::try_from((total - covered).max(0)).unwrap_or(0);
        r.partial_windows = partial.len() as u64;
        for (window, lw) in live {
            r.live_windows += 1;
            r.live_forwarded += lw.live_forwarded;
            r.replay_forwarded += lw.replay_forwarded;
            if lw.live_forwarded == lw.replay_forwarded && lw.live_digest == lw.replay_digest {
                r.matching_windows += 1;
            } else {
                r.differing.push(WindowDifference {
                    window,
                    live_forwarded: lw.live_forwarded,
                    replay_forwarded: lw.replay_forwarded,
                });
            }
        }
        r
    }
}
