//! `auditfwd run` as a daemon: a cycle now, then one every `AUDITFWD_INTERVAL` (start to start;
//! a cycle that overruns is followed at once by the next), each finished cycle fed to the
//! [`HealthTracker`](crate::health::HealthTracker) behind `/health`, until the stop token
//! (SIGTERM, SIGINT or SIGHUP: [`stop_on_signal`]) is cancelled.
//!
//! SIGHUP conventionally asks a daemon to reload its configuration. auditfwd reads its
//! configuration once, so there is nothing to reload, and SIGHUP's default action (end the
//! process at once) would leave the compartment leases held until they expire. It is therefore
//! a graceful stop like SIGTERM: restart the service to apply a new configuration.
//!
//! Shutdown: between cycles the daemon stops at once. During a cycle the runner, which shares
//! the stop token, starts no new window; the window in flight gets `AUDITFWD_SHUTDOWN_TIMEOUT`
//! to be delivered and committed, and is abandoned after that. Abandoning means dropping the
//! cycle's future: whatever that window sent is left uncommitted, and the next run lists and
//! sends it again (dedupe and the event id in the structured data cover the duplicates).
//! Nothing is ever committed past delivery, so stopping at any point loses nothing.
//!
//! The schedule reads tokio's clock (tests run it on paused time); health and the runner read
//! the injected [`Clock`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use auditfwd_checkpoint::ObjectStore;
use auditfwd_pipeline::{AuditSource, Clock, RunContext, RunReport, Runner, Sink};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::health::{HealthHandle, HealthPolicy};

/// One forwarding cycle, as the daemon runs it. [`LiveCycles`] (a [`Runner`] and the run
/// context sharing the daemon's stop token) is the real one; it must start no new window once
/// the daemon's stop token is cancelled ([`Daemon::for_runner`] arranges it).
pub trait Cycle: Send + Sync {
    /// Runs one full cycle over every selected compartment and region.
    fn run_cycle(&self) -> impl Future<Output = RunReport> + Send;

    /// Called after a cycle's future was dropped at the shutdown timeout: release what it
    /// still holds (compartment leases), so a restart need not wait for them to expire.
    fn abandoned(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Live cycles of a runner, each with the daemon's stop token.
#[derive(Debug)]
pub struct LiveCycles<A, S, K> {
    runner: Runner<A, S, K>,
    ctx: RunContext,
}

impl<A, S, K> Cycle for LiveCycles<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    async fn abandoned(&self) {
        let n = self.runner.release_held_leases().await;
        tracing::info!(released = n, "released the leases of the abandoned cycle");
    }

    fn run_cycle(&self) -> impl Future<Output = RunReport> + Send {
        self.runner.run_once(&self.ctx)
    }
}

/// Live cycles of several tenancies' runners (`AUDITFWD_TENANCIES`), run side by side so a
/// tenancy that fails or is slow holds up no other; the cycle's report is all of theirs.
#[derive(Debug)]
pub struct TenancyCycles<A, S, K> {
    tenancies: Vec<LiveCycles<A, S, K>>,
}

impl<A, S, K> Cycle for TenancyCycles<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    async fn abandoned(&self) {
        futures::future::join_all(self.tenancies.iter().map(Cycle::abandoned)).await;
    }

    async fn run_cycle(&self) -> RunReport {
        let reports = futures::future::join_all(self.tenancies.iter().map(Cycle::run_cycle)).await;
        let mut all = RunReport::default();
        for r in reports {
            all.absorb(r);
        }
        if self.tenancies.len() > 1 {
            // The runners left the freshness gauges to this, the whole picture.
            all.record_gauges();
        }
        all
    }
}

/// The daemon's schedule and thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonSettings {
    /// From one cycle's start to the next (`AUDITFWD_INTERVAL`).
    pub interval: Duration,
    /// After a stop request, how long the window in flight may take (`AUDITFWD_SHUTDOWN_TIMEOUT`).
    pub shutdown_timeout: Duration,
    /// When `/health` says degraded and unhealthy.
    pub health: HealthPolicy,
}

impl From<&auditfwd_config::Daemon> for DaemonSettings {
    fn from(d: &auditfwd_config::Daemon) -> Self {
        DaemonSettings {
            interval: d.interval,
            shutdown_timeout: d.shutdown_timeout,
            health: HealthPolicy::from(d),
        }
    }
}

/// How the daemon ended (it only ends when asked to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonExit {
    /// Stopped between cycles, or after the cycle in flight finished within the shutdown
    /// timeout.
    Stopped,
    /// The cycle in flight did not finish within the shutdown timeout and was abandoned: its
    /// window is uncommitted and the next run sends it again. Nothing is lost.
    Abandoned,
}

impl DaemonExit {
    /// The process exit code: 0 either way. An orderly stop that abandoned an uncommitted
    /// window lost nothing, and a supervisor (systemd, Kubernetes) should not count it as a
    /// failure; the log says which it was.
    pub fn code(self) -> u8 {
        match self {
            DaemonExit::Stopped | DaemonExit::Abandoned => 0,
        }
    }
}

/// Runs cycles on a schedule and keeps the health up to date.
#[derive(Debug)]
pub struct Daemon<C> {
    cycle: C,
    settings: DaemonSettings,
    stop: CancellationToken,
    health: HealthHandle,
}

impl<A, S, K> Daemon<LiveCycles<A, S, K>>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// The daemon over `runner`, reading the runner's clock; `runner` is given `stop`, so once
    /// it is cancelled no new window starts.
    pub fn for_runner(
        runner: Runner<A, S, K>,
        settings: DaemonSettings,
        stop: CancellationToken,
    ) -> Self {
        let clock = runner.clock().clone();
        let ctx = RunContext::live(stop.clone());
        Daemon::new(LiveCycles { runner, ctx }, clock, settings, stop)
    }
}

impl<A, S, K> Daemon<TenancyCycles<A, S, K>>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// The daemon over several tenancies' runners (at least one; health reads the clock of
    /// the first), each given `stop`.
    pub fn for_runners(
        runners: Vec<Runner<A, S, K>>,
        settings: DaemonSettings,
        stop: CancellationToken,
    ) -> Self {
        let clock = runners.first().map_or_else(
            || Arc::new(auditfwd_pipeline::SystemClock) as Arc<dyn Clock>,
            |r| r.clock().clone(),
        );
        let tenancies = runners
            .into_iter()
            .map(|runner| LiveCycles {
                runner,
                ctx: RunContext::live(stop.clone()),
            })
            .collect();
        Daemon::new(TenancyCycles { tenancies }, clock, settings, stop)
    }
}

impl<C: Cycle> Daemon<C> {
    /// The daemon over `cycle` (which must start no new window once `stop` is cancelled),
    /// with health read on `clock`.
    pub fn new(
        cycle: C,
        clock: Arc<dyn Clock>,
        settings: DaemonSettings,
        stop: CancellationToken,
    ) -> Self {
        Daemon {
            cycle,
            settings,
            stop,
            health: HealthHandle::new(settings.health, clock),
        }
    }

    /// The health, for `/health`.
    pub fn health(&self) -> HealthHandle {
        self.health.clone()
    }

    /// The settings.
    pub fn settings(&self) -> &DaemonSettings {
        &self.settings
    }

    /// The stop token.
    pub fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }

    /// Runs one cycle now: marks it running, runs it, records its report for `/health` and
    /// logs its summary. [`Daemon::run`] calls it on schedule; tests that must place each
    /// cycle at an exact (manual) time call it themselves.
    pub async fn cycle(&self) -> RunReport {
        let started_at = self.health.cycle_started();
        let took = Instant::now();
        tracing::debug!(%started_at, "cycle starting");
        let report = self.cycle.run_cycle().await;
        self.health.record(&report);
        log_cycle(&report, took.elapsed());
        report
    }

    /// Runs a cycle now and then one every interval until the stop token is cancelled.
    pub async fn run(&self) -> DaemonExit {
        let interval = self.settings.interval;
        tracing::info!(
            interval = ?interval,
            shutdown_timeout = ?self.settings.shutdown_timeout,
            "daemon started"
        );
        let mut next = Instant::now();
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => {
                    tracing::info!("stop requested between cycles: stopping");
                    return DaemonExit::Stopped;
                }
                () = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            next = started + interval;
            let cycle = self.cycle();
            tokio::pin!(cycle);
            tokio::select! {
                biased;
                _ = &mut cycle => {}
                () = self.stop.cancelled() => return self.finish_in_flight(cycle).await,
            }
            let took = started.elapsed();
            if took >= interval {
                tracing::warn!(
                    took = ?took,
                    interval = ?interval,
                    "the cycle took longer than AUDITFWD_INTERVAL: the next one starts now"
                );
            }
        }
    }

    /// Stop requested mid-cycle: the runner starts no new window; the one in flight gets the
    /// shutdown timeout.
    async fn finish_in_flight(&self, cycle: impl Future<Output = RunReport>) -> DaemonExit {
        let timeout = self.settings.shutdown_timeout;
        tracing::warn!(
            timeout = ?timeout,
            "stop requested during a cycle: starting no new window, waiting for the one in flight"
        );
        match tokio::time::timeout(timeout, cycle).await {
            Ok(_) => {
                tracing::info!("the cycle in flight finished: stopping");
                DaemonExit::Stopped
            }
            Err(_) => {
                // Dropping the future abandons the window: nothing of it was committed, so the
                // next run sends it again.
                tracing::warn!(
                    timeout = ?timeout,
                    "the window in flight did not finish within AUDITFWD_SHUTDOWN_TIMEOUT: abandoned uncommitted (the next run sends it again; nothing is lost)"
                );
                let _ = tokio::time::timeout(Duration::from_secs(5), self.cycle.abandoned()).await;
                DaemonExit::Abandoned
            }
        }
    }
}

/// The signals that stop auditfwd gracefully, installed: from then on none of them ends the
/// process by its default action.
#[derive(Debug)]
pub struct StopSignals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Installs the handlers for SIGTERM, SIGINT and SIGHUP.
    pub fn install() -> std::io::Result<Self> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next of them; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
            _ = self.hup.recv() => "SIGHUP",
        }
    }

    /// Waits for the next of them, then cancels `stop`.
    pub async fn cancel_on_next(mut self, stop: CancellationToken) {
        let name = self.recv().await;
        tracing::warn!(
            signal = name,
            "stop requested: finishing the window in flight, starting no new one"
        );
        stop.cancel();
    }
}

/// Cancels `stop` at SIGTERM, SIGINT or SIGHUP: the runner starts no new window, and the one in
/// flight finishes or is left uncommitted. Without the handlers (they could not be installed)
/// the signals keep their default action, which loses nothing either: nothing is committed
/// past delivery, and the leases expire.
pub async fn stop_on_signal(stop: CancellationToken) {
    match StopSignals::install() {
        Ok(signals) => signals.cancel_on_next(stop).await,
        Err(e) => {
            tracing::warn!(error = %e, "cannot handle SIGTERM, SIGINT and SIGHUP: they stop the process at once");
        }
    }
}

/// One log line per cycle: counts as fields; when incomplete, the summary with each reason.
fn log_cycle(report: &RunReport, took: Duration) {
    let t = report.totals();
    let committed: u32 = report
        .compartments
        .iter()
        .map(|c| c.windows_committed)
        .sum();
    if report.is_complete() {
        tracing::info!(
            compartments = report.compartments.len(),
            windows_committed = committed,
            listed = t.listed,
            forwarded = t.forwarded,
            deduplicated = t.deduplicated,
            filtered = t.filtered,
            dropped = t.dropped,
            late_arrivals = t.late_arrivals,
            took_ms = took.as_millis() as u64,
            "cycle complete"
        );
    } else {
        tracing::warn!(
            compartments = report.compartments.len(),
            windows_committed = committed,
            listed = t.listed,
            forwarded = t.forwarded,
            took_ms = took.as_millis() as u64,
            summary = %report,
            "cycle incomplete: the next cycle retries"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use super::*;
    use crate::health::Status;
    use auditfwd_pipeline::ManualClock;
    use chrono::{TimeZone, Utc};

    /// A cycle that takes `durations[n]` (tokio time) on its n-th run, records when each run
    /// started and whether it finished, and watches the stop token like the runner does.
    #[derive(Debug)]
    struct FakeCycle {
        durations: Vec<Duration>,
        runs: Mutex<Vec<(Instant, bool)>>,
    }

    impl FakeCycle {
        fn new(durations: Vec<Duration>) -> Self {
            FakeCycle {
                durations,
                runs: Mutex::new(Vec::new()),
            }
        }

        fn starts(&self, origin: Instant) -> Vec<Duration> {
            self.runs
                .lock()
                .unwrap()
                .iter()
                .map(|(t, _)| *t - origin)
                .collect()
        }

        fn finished(&self) -> Vec<bool> {
            self.runs.lock().unwrap().iter().map(|(_, f)| *f).collect()
        }
    }

    impl Cycle for FakeCycle {
        async fn run_cycle(&self) -> RunReport {
            let n = {
                let mut runs = self.runs.lock().unwrap();
                runs.push((Instant::now(), false));
                runs.len() - 1
            };
            let d = self
                .durations
                .get(n)
                .or(self.durations.last())
                .copied()
                .unwrap_or_default();
            tokio::time::sleep(d).await;
            self.runs.lock().unwrap()[n].1 = true;
            RunReport {
                started_at: Some(Utc::now()),
                ..RunReport::default()
            }
        }
    }

    fn settings(interval_s: u64, shutdown_s: u64) -> DaemonSettings {
        DaemonSettings {
            interval: Duration::from_secs(interval_s),
            shutdown_timeout: Duration::from_secs(shutdown_s),
            health: HealthPolicy {
                degraded_lag: Duration::from_secs(1800),
                unhealthy_lag: Duration::from_secs(7200),
            },
        }
    }

    fn daemon(cycle: FakeCycle, s: DaemonSettings) -> Arc<Daemon<FakeCycle>> {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
        Arc::new(Daemon::new(
            cycle,
            Arc::new(clock),
            s,
            CancellationToken::new(),
        ))
    }

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn runs_a_cycle_at_once_then_every_interval_start_to_start() {
        let origin = Instant::now();
        let d = daemon(FakeCycle::new(secs(&[10])), settings(60, 30));
        let run = tokio::spawn({
            let d = d.clone();
            async move { d.run().await }
        });
        tokio::time::sleep(Duration::from_secs(200)).await;
        assert_eq!(d.cycle.starts(origin), secs(&[0, 60, 120, 180]));
        assert_eq!(d.health().current().cycles, 4);
        d.stop.cancel();
        assert_eq!(run.await.unwrap(), DaemonExit::Stopped);
        assert_eq!(Instant::now() - origin, Duration::from_secs(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cycle_that_overruns_is_followed_at_once() {
        let origin = Instant::now();
        let d = daemon(FakeCycle::new(secs(&[90, 10])), settings(60, 30));
        let run = tokio::spawn({
            let d = d.clone();
            async move { d.run().await }
        });
        tokio::time::sleep(Duration::from_secs(170)).await;
        assert_eq!(d.cycle.starts(origin), secs(&[0, 90, 150]));
        d.stop.cancel();
        assert_eq!(run.await.unwrap(), DaemonExit::Stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_between_cycles_returns_at_once() {
        let origin = Instant::now();
        let d = daemon(FakeCycle::new(secs(&[5])), settings(300, 30));
        let run = tokio::spawn({
            let d = d.clone();
            async move { d.run().await }
        });
        tokio::time::sleep(Duration::from_secs(100)).await;
        d.stop.cancel();
        assert_eq!(run.await.unwrap(), DaemonExit::Stopped);
        assert_eq!(Instant::now() - origin, Duration::from_secs(100));
        assert_eq!(d.cycle.finished(), vec![true]);
        assert_eq!(d.health().current().cycles, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_mid_cycle_lets_the_window_in_flight_finish_within_the_timeout() {
        let origin = Instant::now();
        let d = daemon(FakeCycle::new(secs(&[40])), settings(300, 30));
        let run = tokio::spawn({
            let d = d.clone();
            async move { d.run().await }
        });
        tokio::time::sleep(Duration::from_secs(20)).await;
        d.stop.cancel();
        assert_eq!(run.await.unwrap(), DaemonExit::Stopped);
        assert_eq!(
            Instant::now() - origin,
            Duration::from_secs(40),
            "stopped when the cycle finished"
        );
        assert_eq!(d.cycle.finished(), vec![true]);
        let health = d.health().current();
        assert_eq!(health.cycles, 1, "the finished cycle was recorded");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_mid_cycle_abandons_the_window_after_the_timeout() {
        let origin = Instant::now();
        let d = daemon(FakeCycle::new(secs(&[600])), settings(300, 30));
        let run = tokio::spawn({
            let d = d.clone();
            async move { d.run().await }
        });
        tokio::time::sleep(Duration::from_secs(20)).await;
        d.stop.cancel();
        let exit = run.await.unwrap();
        assert_eq!(exit, DaemonExit::Abandoned);
        assert_eq!(exit.code(), 0);
        assert_eq!(
            Instant::now() - origin,
            Duration::from_secs(50),
            "stop at 20s + 30s timeout"
        );
        assert_eq!(d.cycle.finished(), vec![false], "the cycle was dropped");
        let health = d.health().current();
        assert_eq!(health.cycles, 0);
        assert_eq!(health.status, Status::Degraded, "first cycle in progress");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_before_the_first_cycle_runs_none() {
        let d = daemon(FakeCycle::new(secs(&[5])), settings(60, 30));
        d.stop.cancel();
        assert_eq!(d.run().await, DaemonExit::Stopped);
        assert!(d.cycle.finished().is_empty());
    }

    /// SIGHUP (here sent to this very test process) is a graceful stop, as SIGTERM is: it
    /// cancels the stop token instead of ending the process.
    #[tokio::test]
    async fn sighup_cancels_the_stop_token() {
        let stop = CancellationToken::new();
        let signals = StopSignals::install().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(
            Duration::from_secs(30),
            signals.cancel_on_next(stop.clone()),
        )
        .await
        .unwrap();
        assert!(stop.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn each_cycle_feeds_the_health() {
        let d = daemon(FakeCycle::new(secs(&[1])), settings(60, 30));
        assert_eq!(d.health().current().status, Status::Degraded);
        let report = d.cycle().await;
        assert!(report.is_complete());
        let health = d.health().current();
        assert_eq!(health.cycles, 1);
        assert_eq!(health.cycle_running_since, None);
        assert!(health.last_cycle.unwrap().complete);
    }
}
