//! The daemon's health model: what `/health` answers, computed from the cycles that finished
//! and the time now. Pure and deterministic: [`HealthTracker`] is fed each finished
//! [`RunReport`] and asked for the [`Health`] at a given instant, so every rule is tested with a
//! manual clock.
//!
//! The measure that matters is freshness: per (region, compartment), how far its cursor
//! (`delivered_until`) is behind now. The tracker keeps the last cursor it saw for each, across
//! cycles, so when a cycle learns nothing (the compartment tree cannot be listed, the
//! checkpoint cannot be read) the old cursors keep ageing with the clock: an outage of the OCI
//! API, of the receiver or of the daemon itself turns into growing lag, and lag turns into
//! `degraded` and then `unhealthy`.
//!
//! | status | when |
//! |---|---|
//! | `unhealthy` (HTTP 503) | the oldest undelivered minute (a cursor, or an open gap or failing window before it) is at least `unhealthy_lag` behind; or no cycle has finished for `unhealthy_lag` (since start, or since the last one) |
//! | `degraded` (HTTP 200) | the oldest cursor is at least `degraded_lag` behind; or gap-ledger entries are open; or a window is failing; or the last cycle was not complete (compartment tree error, syslog down, checkpoint errors, a compartment leased elsewhere); or the first cycle is still running |
//! | `healthy` (HTTP 200) | otherwise: a quiet tenancy with no events is healthy while its cursors are fresh |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use auditfwd_checkpoint::Scope;
use auditfwd_oci::{MinuteTimestamp, Window};
use auditfwd_pipeline::{Clock, Outcome, Pending, RunReport};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// At most this many reasons are listed in one answer (a tenancy has thousands of
/// compartments); the last one says how many more there were.
pub const MAX_REASONS: usize = 20;

/// The lag thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// `degraded` from this lag on (`AUDITFWD_HEALTH_DEGRADED_LAG`).
    pub degraded_lag: Duration,
    /// `unhealthy` from this lag on, and when no cycle has finished for this long
    /// (`AUDITFWD_HEALTH_UNHEALTHY_LAG`).
    pub unhealthy_lag: Duration,
}

impl From<&auditfwd_config::Daemon> for HealthPolicy {
    fn from(d: &auditfwd_config::Daemon) -> Self {
        HealthPolicy {
            degraded_lag: d.degraded_lag,
            unhealthy_lag: d.unhealthy_lag,
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every cursor is fresh and the last cycle delivered everything due.
    Healthy,
    /// Working, with something to look at (the reasons say what).
    Degraded,
    /// Too far behind: events are not reaching the SIEM in time.
    Unhealthy,
}

impl Status {
    /// `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// What one finished cycle did, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleSummary {
    /// When it started (the daemon's clock).
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Whether it delivered and committed everything due, with nothing open.
    pub complete: bool,
    /// Events the syslog receiver confirmed in it.
    pub forwarded: u64,
}

/// Health at one instant: the body of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The verdict.
    pub status: Status,
    /// Why it is not `healthy`, each naming the compartment, the region and the cause (empty
    /// when healthy; at most [`MAX_REASONS`]).
    pub reasons: Vec<String>,
    /// Now minus the oldest known cursor (`None` until a cursor is known).
    #[serde(rename = "oldest_lag_seconds", with = "opt_seconds")]
    pub oldest_lag: Option<Duration>,
    /// The instant this verdict is for.
    pub checked_at: DateTime<Utc>,
    /// When the daemon started.
    pub started_at: DateTime<Utc>,
    /// Cycles finished since start.
    pub cycles: u64,
    /// The last finished cycle.
    pub last_cycle: Option<CycleSummary>,
    /// When the cycle now running started (`None` between cycles).
    pub cycle_running_since: Option<DateTime<Utc>>,
    /// (region, compartment) pairs tracked.
    pub compartments: usize,
    /// Open gap-ledger entries over all compartments.
    pub open_gaps: usize,
    /// Windows at a cursor that are failing (retried every cycle).
    pub failing_windows: usize,
}

/// What is known of one (region, compartment).
#[derive(Debug, Clone)]
struct Known {
    name: String,
    delivered_until: Option<MinuteTimestamp>,
    gaps: Vec<(Window, String)>,
    failing: Option<(Window, u32, String)>,
}

impl Known {
    /// The oldest minute not delivered: the cursor, or an open gap or a failing window
    /// before it (the runner moves the cursor past a range that keeps failing, into the gap
    /// ledger; its minutes are still missing from the SIEM, so they still count as lag).
    fn undelivered_from(&self, cursor: MinuteTimestamp) -> MinuteTimestamp {
        self.gaps
            .iter()
            .map(|(w, _)| w.start())
            .chain(self.failing.as_ref().map(|(w, _, _)| w.start()))
            .fold(cursor, MinuteTimestamp::min)
    }

    /// Whether the runner's pending `reason` is about a window this compartment already
    /// reports as failing or as a gap.
    fn repeats(&self, reason: &Pending) -> bool {
        let Some(failed) = reason.failed_window() else {
            return false;
        };
        self.failing.as_ref().is_some_and(|(w, _, _)| *w == failed)
            || self.gaps.iter().any(|(w, _)| *w == failed)
    }
}

#[derive(Debug, Clone)]
struct LastCycle {
    summary: CycleSummary,
    /// Why it was not complete (beyond what the compartments' state says).
    problems: Vec<String>,
}

/// Follows the daemon's cycles and answers [`Health`] at any instant.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    policy: HealthPolicy,
    started_at: DateTime<Utc>,
    cycles: u64,
    running_since: Option<DateTime<Utc>>,
    last: Option<LastCycle>,
    compartments: BTreeMap<Scope, Known>,
}

impl HealthTracker {
    /// A tracker for a daemon that started at `started_at`.
    pub fn new(policy: HealthPolicy, started_at: DateTime<Utc>) -> Self {
        HealthTracker {
            policy,
            started_at,
            cycles: 0,
            running_since: None,
            last: None,
            compartments: BTreeMap::new(),
        }
    }

    /// The thresholds.
    pub fn policy(&self) -> HealthPolicy {
        self.policy
    }

    /// A cycle started at `at`.
    pub fn cycle_started(&mut self, at: DateTime<Utc>) {
        self.running_since = Some(at);
    }

    /// A cycle finished at `finished_at` with `report`.
    ///
    /// Cursors, gaps and failing windows are taken from each compartment whose state the cycle
    /// read; a compartment the cycle could not read keeps what an earlier cycle said. When the
    /// tree was listed, compartments no longer in it (deselected, deleted) are forgotten; when
    /// it was not, every known compartment is kept and keeps ageing.
    pub fn record(&mut self, report: &RunReport, finished_at: DateTime<Utc>) {
        let started_at = report
            .started_at
            .or(self.running_since)
            .unwrap_or(finished_at);
        self.running_since = None;
        self.cycles += 1;

        let mut problems = Vec::new();
        if let Some(e) = &report.tree_error {
            problems.push(format!(
                "cannot list the compartment tree: {e} (no compartment was worked; cursors keep ageing)"
            ));
        } else {
            self.compartments
                .retain(|scope, _| report.compartments.iter().any(|c| c.scope == *scope));
        }
        for c in &report.compartments {
            let known = self
                .compartments
                .entry(c.scope.clone())
                .or_insert_with(|| Known {
                    name: c.name.clone(),
                    delivered_until: None,
                    gaps: Vec::new(),
                    failing: None,
                });
            known.name.clone_from(&c.name);
            if c.delivered_until.is_some() {
                // The cycle read this compartment's state: what it says is current.
                known.delivered_until = c.delivered_until;
                known.gaps = c
                    .open_gaps
                    .iter()
                    .map(|g| (g.window, g.reason.clone()))
                    .collect();
                known.failing = c
                    .failing
                    .as_ref()
                    .map(|g| (g.window, g.attempts, g.reason.clone()));
            }
            let at = describe(&c.scope, &c.name);
            match &c.outcome {
                Outcome::Complete => {}
                // A window that failed is already a reason of its own (failing, or in the
                // gap ledger): the runner's "window W failed: ..." would say it twice.
                Outcome::Pending(reason) if !known.repeats(reason) => {
                    problems.push(format!("{at}: not everything due was delivered: {reason}"));
                }
                Outcome::Pending(_) => {}
                Outcome::LeasedElsewhere { owner, until } => problems.push(format!(
                    "{at}: another runner ({owner}) holds its lease until {until}"
                )),
            }
        }
        self.last = Some(LastCycle {
            summary: CycleSummary {
                started_at,
                finished_at,
                complete: report.is_complete(),
                forwarded: report.totals().forwarded,
            },
            problems,
        });
    }

    /// The health at `now`.
    pub fn health(&self, now: DateTime<Utc>) -> Health {
        let unhealthy_lag = self.policy.unhealthy_lag;
        let degraded_lag = self.policy.degraded_lag;
        let mut status = Status::Healthy;
        let mut reasons = Vec::new();
        let mut raise = |s: Status, reason: String, reasons: &mut Vec<String>| {
            status = status.max(s);
            reasons.push(reason);
        };

        // Freshness: every known cursor, oldest first.
        let mut lags: Vec<(Duration, &Scope, &Known, MinuteTimestamp)> = self
            .compartments
            .iter()
            .filter_map(|(scope, k)| {
                k.delivered_until.map(|c| {
                    (
                        elapsed(k.undelivered_from(c).as_datetime(), now),
                        scope,
                        k,
                        c,
                    )
                })
            })
            .collect();
        lags.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let oldest_lag = lags.first().map(|l| l.0);

        match &self.last {
            None => {
                let waited = elapsed(self.started_at, now);
                if waited >= unhealthy_lag {
                    raise(
                        Status::Unhealthy,
                        format!(
                            "no cycle has finished in the {} since start (the first is still running)",
                            human(waited)
                        ),
                        &mut reasons,
                    );
                } else {
                    raise(
                        Status::Degraded,
                        "first cycle in progress".to_owned(),
                        &mut reasons,
                    );
                }
            }
            Some(last) => {
                let since = elapsed(last.summary.finished_at, now);
                if since >= unhealthy_lag {
                    let running = self
                        .running_since
                        .map(|t| format!(" (one has been running since {t})"))
                        .unwrap_or_default();
                    raise(
                        Status::Unhealthy,
                        format!("no cycle has finished for {}{running}", human(since)),
                        &mut reasons,
                    );
                }
                if oldest_lag.is_none() {
                    let waited = elapsed(self.started_at, now);
                    let s = if waited >= unhealthy_lag {
                        Status::Unhealthy
                    } else {
                        Status::Degraded
                    };
                    raise(
                        s,
                        format!(
                            "no compartment's progress is known yet ({} since start)",
                            human(waited)
                        ),
                        &mut reasons,
                    );
                }
            }
        }

        for (lag, scope, known, cursor) in &lags {
            let verdict = if *lag >= unhealthy_lag {
                Status::Unhealthy
            } else if *lag >= degraded_lag {
                Status::Degraded
            } else {
                continue;
            };
            raise(
                verdict,
                format!(
                    "{}: {} behind (delivered until {cursor}; {} from {})",
                    describe(scope, &known.name),
                    human(*lag),
                    verdict.as_str(),
                    human(if verdict == Status::Unhealthy {
                        unhealthy_lag
                    } else {
                        degraded_lag
                    })
                ),
                &mut reasons,
            );
        }

        let (mut open_gaps, mut failing_windows) = (0, 0);
        for (scope, known) in &self.compartments {
            let at = describe(scope, &known.name);
            if let Some((window, attempts, reason)) = &known.failing {
                failing_windows += 1;
                raise(
                    Status::Degraded,
                    format!("{at}: window {window} is failing ({attempts} attempt(s)): {reason}"),
                    &mut reasons,
                );
            }
            open_gaps += known.gaps.len();
            if let Some((window, reason)) = known.gaps.first() {
                let more = match known.gaps.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                };
                raise(
                    Status::Degraded,
                    format!("{at}: gap-ledger entry {window}{more} not delivered yet: {reason}"),
                    &mut reasons,
                );
            }
        }
        if let Some(last) = &self.last {
            for p in &last.problems {
                raise(Status::Degraded, p.clone(), &mut reasons);
            }
            if !last.summary.complete
                && last.problems.is_empty()
                && failing_windows + open_gaps == 0
            {
                raise(
                    Status::Degraded,
                    "the last cycle was not complete".to_owned(),
                    &mut reasons,
                );
            }
        }

        if reasons.len() > MAX_REASONS {
            let more = reasons.len() - (MAX_REASONS - 1);
            reasons.truncate(MAX_REASONS - 1);
            reasons.push(format!("... and {more} more"));
        }
        Health {
            status,
            reasons,
            oldest_lag,
            checked_at: now,
            started_at: self.started_at,
            cycles: self.cycles,
            last_cycle: self.last.as_ref().map(|l| l.summary.clone()),
            cycle_running_since: self.running_since,
            compartments: self.compartments.len(),
            open_gaps,
            failing_windows,
        }
    }
}

/// A [`HealthTracker`] shared between the daemon (which feeds it) and the HTTP server (which
/// asks it), with the clock both read. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    tracker: Arc<Mutex<HealthTracker>>,
    clock: Arc<dyn Clock>,
}

impl HealthHandle {
    /// A handle over a new tracker that starts now.
    pub fn new(policy: HealthPolicy, clock: Arc<dyn Clock>) -> Self {
        let tracker = HealthTracker::new(policy, clock.now());
        HealthHandle {
            tracker: Arc::new(Mutex::new(tracker)),
            clock,
        }
    }

    /// The health now.
    pub fn current(&self) -> Health {
        let now = self.clock.now();
        self.lock().health(now)
    }

    /// A cycle starts now; returns the instant.
    pub fn cycle_started(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        self.lock().cycle_started(now);
        now
    }

    /// A cycle finished now with `report`.
    pub fn record(&self, report: &RunReport) {
        let now = self.clock.now();
        self.lock().record(report, now);
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthTracker> {
        // The tracker is only ever replaced whole; a panic elsewhere cannot leave it torn.
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `root/prod/app (ocid1.compartment...) in eu-frankfurt-1`.
fn describe(scope: &Scope, name: &str) -> String {
    format!("{name} ({}) in {}", scope.compartment, scope.region)
}

/// `now - then`, zero when `then` is in the future.
fn elapsed(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

/// `2h 5m`, `45m 10s`, `30s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(days, "d"), (h, "h"), (m, "m"), (sec, "s")] {
        if n > 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{n}{unit}");
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// `Option<Duration>` as whole seconds (JSON `null` when unknown).
mod opt_seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use auditfwd_checkpoint::StoreError;
    use auditfwd_checkpoint::manifest::Pass;
    use auditfwd_checkpoint::state::Gap;
    use auditfwd_oci::Ocid;
    use auditfwd_pipeline::testing::service_error;
    use auditfwd_pipeline::{CompartmentReport, Counts, ManualClock, SinkFailure};
    use chrono::TimeZone;

    const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaatenancy";
    const APP: &str = "ocid1.compartment.oc1..aaaaaaaaapp";
    const DB: &str = "ocid1.compartment.oc1..aaaaaaaadb";
    const REGION: &str = "eu-frankfurt-1";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    fn minutes(n: i64) -> chrono::Duration {
        chrono::Duration::minutes(n)
    }

    fn policy() -> HealthPolicy {
        HealthPolicy {
            degraded_lag: Duration::from_secs(30 * 60),
            unhealthy_lag: Duration::from_secs(2 * 3600),
        }
    }

    fn scope(compartment: &str) -> Scope {
        Scope::new(
            Ocid::parse(TENANCY).unwrap(),
            REGION,
            Ocid::parse(compartment).unwrap(),
        )
    }

    /// A compartment that committed everything due up to `cursor`.
    fn done(compartment: &str, name: &str, cursor: DateTime<Utc>) -> CompartmentReport {
        CompartmentReport {
            scope: scope(compartment),
            name: name.to_owned(),
            outcome: Outcome::Complete,
            windows_committed: 1,
            counts: Counts::default(),
            delivered_until: Some(MinuteTimestamp::floor(cursor)),
            open_gaps: Vec::new(),
            lost_gaps: Vec::new(),
            failing: None,
        }
    }

    /// A compartment whose window at `cursor` failed `attempts` times (OCI answered 503).
    fn failing(
        compartment: &str,
        name: &str,
        cursor: DateTime<Utc>,
        attempts: u32,
    ) -> CompartmentReport {
        let start = MinuteTimestamp::floor(cursor);
        let window = Window::new(start, start.plus_minutes(10).unwrap()).unwrap();
        // What the runner reports for a window at the cursor OCI answered 503 for (the
        // pipeline's runner tests check it reports exactly this shape).
        let error = service_error("ListEvents", 503, "ServiceUnavailable");
        let reason = error.to_string();
        CompartmentReport {
            outcome: Outcome::Pending(Pending::Source {
                window,
                pass: Pass::Fresh,
                error: Arc::new(error),
            }),
            windows_committed: 0,
            failing: Some(Gap {
                first_failed_at: cursor,
                last_failed_at: cursor,
                attempts,
                ..Gap::new(window, reason, cursor)
            }),
            ..done(compartment, name, cursor)
        }
    }

    fn report(at: DateTime<Utc>, compartments: Vec<CompartmentReport>) -> RunReport {
        RunReport {
            started_at: Some(at),
            compartments,
            ..RunReport::default()
        }
    }

    /// A tracker behind a handle on a manual clock started at `t0`.
    fn handle() -> (HealthHandle, ManualClock) {
        let clock = ManualClock::new(t0());
        (HealthHandle::new(policy(), Arc::new(clock.clone())), clock)
    }

    /// Runs one cycle "now" on the handle's clock.
    fn cycle(h: &HealthHandle, r: RunReport) {
        h.cycle_started();
        h.record(&r);
    }

    fn assert_reason(h: &Health, needle: &str) {
        assert!(
            h.reasons.iter().any(|r| r.contains(needle)),
            "no reason mentions {needle:?}: {:#?}",
            h.reasons
        );
    }

    #[test]
    fn before_the_first_cycle_finishes_it_is_degraded_then_unhealthy_if_none_ever_does() {
        let (h, clock) = handle();
        let health = h.current();
        assert_eq!(health.status, Status::Degraded);
        assert_eq!(health.reasons, vec!["first cycle in progress".to_owned()]);
        assert_eq!(health.cycles, 0);
        assert_eq!(health.oldest_lag, None);

        h.cycle_started();
        clock.advance(minutes(119));
        assert_eq!(h.current().status, Status::Degraded);
        assert_eq!(h.current().cycle_running_since, Some(t0()));
        clock.advance(minutes(1));
        let health = h.current();
        assert_eq!(health.status, Status::Unhealthy);
        assert_reason(&health, "no cycle has finished in the 2h since start");
    }

    #[test]
    fn a_quiet_tenancy_with_fresh_cursors_is_healthy() {
        let (h, clock) = handle();
        // No events at all: the windows were empty, the cursors still moved.
        cycle(
            &h,
            report(
                t0(),
                vec![
                    done(APP, "root/app", t0() - minutes(1)),
                    done(DB, "root/db", t0() - minutes(1)),
                ],
            ),
        );
        clock.advance(chrono::Duration::seconds(5));
        let health = h.current();
        assert_eq!(health.status, Status::Healthy, "{health:#?}");
        assert!(health.reasons.is_empty());
        assert_eq!(health.oldest_lag, Some(Duration::from_secs(65)));
        assert_eq!(health.cycles, 1);
        assert_eq!(health.compartments, 2);
        assert_eq!(health.cycle_running_since, None);
        let last = health.last_cycle.unwrap();
        assert!(last.complete);
        assert_eq!((last.started_at, last.finished_at), (t0(), t0()));
    }

    #[test]
    fn lag_grows_while_cycles_fail_healthy_degraded_unhealthy_then_healthy_again() {
        let (h, clock) = handle();
        let cursor = t0() - minutes(1);
        cycle(
            &h,
            report(
                t0(),
                vec![done(APP, "root/app", cursor), done(DB, "root/db", cursor)],
            ),
        );
        assert_eq!(h.current().status, Status::Healthy);

        // OCI starts failing for root/app: its cursor stays, the clock moves on.
        clock.advance(minutes(5));
        let now = t0() + minutes(5);
        cycle(
            &h,
            report(
                now,
                vec![
                    failing(APP, "root/app", cursor, 1),
                    done(DB, "root/db", now - minutes(1)),
                ],
            ),
        );
        let health = h.current();
        assert_eq!(health.status, Status::Degraded, "{health:#?}");
        assert_eq!(health.failing_windows, 1);
        assert_reason(
            &health,
            "root/app (ocid1.compartment.oc1..aaaaaaaaapp) in eu-frankfurt-1: window",
        );
        assert_reason(&health, "is failing (1 attempt(s)): ListEvents: HTTP 503");
        assert_eq!(health.oldest_lag, Some(Duration::from_secs(6 * 60)));
        assert!(
            !health.reasons.iter().any(|r| r.contains("root/db")),
            "root/db is fine: {:#?}",
            health.reasons
        );
        assert_eq!(
            health.reasons.len(),
            1,
            "the runner's pending reason for the failed window is not repeated: {:#?}",
            health.reasons
        );

        // 30 minutes behind: degraded for the lag too.
        clock.advance(minutes(25));
        let now = t0() + minutes(30);
        cycle(
            &h,
            report(
                now,
                vec![
                    failing(APP, "root/app", cursor, 2),
                    done(DB, "root/db", now - minutes(1)),
                ],
            ),
        );
        let health = h.current();
        assert_eq!(health.status, Status::Degraded);
        assert_reason(
            &health,
            "root/app (ocid1.compartment.oc1..aaaaaaaaapp) in eu-frankfurt-1: 31m behind",
        );
        assert_reason(&health, "degraded from 30m");

        // Between cycles the cursor keeps ageing: unhealthy without a new report.
        clock.advance(minutes(88));
        assert_eq!(h.current().status, Status::Degraded);
        clock.advance(minutes(1));
        let health = h.current();
        assert_eq!(health.status, Status::Unhealthy, "{health:#?}");
        assert_reason(
            &health,
            "root/app (ocid1.compartment.oc1..aaaaaaaaapp) in eu-frankfurt-1: 2h behind",
        );
        assert_reason(&health, "unhealthy from 2h");
        assert_eq!(health.oldest_lag, Some(Duration::from_secs(120 * 60)));

        // And a failing cycle keeps it there.
        let now = t0() + minutes(119);
        cycle(
            &h,
            report(
                now,
                vec![
                    failing(APP, "root/app", cursor, 3),
                    done(DB, "root/db", now - minutes(1)),
                ],
            ),
        );
        assert_eq!(h.current().status, Status::Unhealthy);

        // OCI is back: one cycle catches up.
        clock.advance(minutes(1));
        let now = t0() + minutes(120);
        cycle(
            &h,
            report(
                now,
                vec![
                    done(APP, "root/app", now - minutes(1)),
                    done(DB, "root/db", now - minutes(1)),
                ],
            ),
        );
        let health = h.current();
        assert_eq!(health.status, Status::Healthy, "{health:#?}");
        assert!(health.reasons.is_empty());
        assert_eq!(health.oldest_lag, Some(Duration::from_secs(60)));
        assert_eq!(health.failing_windows, 0);
        assert_eq!(health.cycles, 5);
    }

    #[test]
    fn when_the_tree_cannot_be_listed_the_last_cursors_keep_ageing() {
        let (h, clock) = handle();
        let cursor = t0() - minutes(1);
        cycle(&h, report(t0(), vec![done(APP, "root/app", cursor)]));

        clock.advance(minutes(10));
        let outage = RunReport {
            started_at: Some(t0() + minutes(10)),
            tree_error: Some(Arc::new(service_error(
                "ListCompartments",
                503,
                "ServiceUnavailable",
            ))),
            ..RunReport::default()
        };
        cycle(&h, outage.clone());
        let health = h.current();
        assert_eq!(health.status, Status::Degraded, "{health:#?}");
        assert_reason(
            &health,
            "cannot list the compartment tree: ListCompartments: HTTP 503",
        );
        assert_eq!(health.compartments, 1, "the compartment is still tracked");
        assert_eq!(health.oldest_lag, Some(Duration::from_secs(11 * 60)));
        assert!(!health.last_cycle.unwrap().complete);

        clock.advance(minutes(20));
        cycle(&h, outage.clone());
        let health = h.current();
        assert_eq!(health.status, Status::Degraded);
        assert_reason(
            &health,
            "root/app (ocid1.compartment.oc1..aaaaaaaaapp) in eu-frankfurt-1: 31m behind",
        );

        clock.advance(minutes(90));
        cycle(&h, outage);
        let health = h.current();
        assert_eq!(health.status, Status::Unhealthy, "{health:#?}");
        assert_reason(&health, "2h 1m behind");

        let now = t0() + minutes(120);
        cycle(
            &h,
            report(now, vec![done(APP, "root/app", now - minutes(1))]),
        );
        assert_eq!(h.current().status, Status::Healthy);
    }

    #[test]
    fn an_outage_from_the_start_becomes_unhealthy_even_without_any_cursor() {
        let (h, clock) = handle();
        let outage = RunReport {
            started_at: Some(t0()),
            tree_error: Some(Arc::new(service_error(
                "ListCompartments",
                401,
                "NotAuthenticated",
            ))),
            ..RunReport::default()
        };
        cycle(&h, outage.clone());
        let health = h.current();
        assert_eq!(health.status, Status::Degraded);
        assert_eq!(health.oldest_lag, None);
        assert_reason(&health, "no compartment's progress is known yet");
        assert_reason(&health, "401 NotAuthenticated");
        clock.advance(minutes(120));
        cycle(&h, outage);
        assert_eq!(h.current().status, Status::Unhealthy);
    }

    #[test]
    fn a_hung_cycle_turns_unhealthy_once_no_cycle_finished_for_the_unhealthy_lag() {
        let (h, clock) = handle();
        cycle(
            &h,
            report(t0(), vec![done(APP, "root/app", t0() - minutes(1))]),
        );
        clock.advance(minutes(1));
        h.cycle_started();
        clock.advance(minutes(119));
        let health = h.current();
        assert_eq!(health.status, Status::Unhealthy, "{health:#?}");
        assert_reason(
            &health,
            "no cycle has finished for 2h (one has been running since",
        );
        assert_eq!(health.cycle_running_since, Some(t0() + minutes(1)));
    }

    /// A range that kept failing went to the gap ledger and the cursor moved on: its minutes
    /// are still missing from the SIEM, so the lag counts from the gap, not from the cursor.
    #[test]
    fn an_open_gap_behind_the_cursor_counts_as_lag() {
        let (h, _clock) = handle();
        let cursor = t0() - minutes(1);
        let start = MinuteTimestamp::floor(t0() - minutes(130));
        let gap = Window::new(start, start.plus_minutes(120).unwrap()).unwrap();
        let with_gap = CompartmentReport {
            open_gaps: vec![Gap::new(gap, "ServiceUnavailable", t0())],
            ..done(APP, "root/app", cursor)
        };
        cycle(&h, report(t0(), vec![with_gap]));
        let health = h.current();
        assert_eq!(health.status, Status::Unhealthy, "{health:#?}");
        assert_eq!(
            health.oldest_lag,
            Some(Duration::from_secs(130 * 60)),
            "{health:#?}"
        );
    }

    #[test]
    fn gaps_pending_and_leases_elsewhere_are_degraded_and_name_the_compartment() {
        let (h, _clock) = handle();
        let cursor = t0() - minutes(1);
        let start = MinuteTimestamp::floor(t0() - minutes(50));
        let gap_window = Window::new(start, start.plus_minutes(10).unwrap()).unwrap();
        let with_gap = CompartmentReport {
            open_gaps: vec![Gap::new(gap_window, "NotAuthorizedOrNotFound", t0())],
            ..done(APP, "root/app", cursor)
        };
        let leased = CompartmentReport {
            outcome: Outcome::LeasedElsewhere {
                owner: "auditfwd-1234".into(),
                until: t0() + minutes(5),
            },
            delivered_until: None,
            ..done(DB, "root/db", cursor)
        };
        cycle(&h, report(t0(), vec![with_gap, leased]));
        let health = h.current();
        assert_eq!(health.status, Status::Degraded, "{health:#?}");
        assert_eq!(health.open_gaps, 1);
        assert_reason(
            &health,
            &format!(
                "root/app (ocid1.compartment.oc1..aaaaaaaaapp) in eu-frankfurt-1: gap-ledger entry {gap_window} not delivered yet: NotAuthorizedOrNotFound"
            ),
        );
        assert_reason(
            &health,
            "root/db (ocid1.compartment.oc1..aaaaaaaadb) in eu-frankfurt-1: another runner (auditfwd-1234) holds its lease",
        );

        // The syslog receiver is down: pending, with the runner's reason.
        let sink_down = CompartmentReport {
            outcome: Outcome::Pending(Pending::Sink(Arc::new(SinkFailure::new(
                1,
                true,
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
            )))),
            ..done(APP, "root/app", cursor)
        };
        cycle(
            &h,
            report(t0(), vec![sink_down, done(DB, "root/db", cursor)]),
        );
        let health = h.current();
        assert_eq!(health.status, Status::Degraded);
        assert_eq!(health.open_gaps, 0, "the gap was closed");
        assert_reason(
            &health,
            "root/app (ocid1.compartment.oc1..aaaaaaaaapp) in eu-frankfurt-1: not everything due was delivered: syslog delivery failed: connection refused",
        );
    }

    #[test]
    fn a_compartment_not_read_this_cycle_keeps_its_cursor_and_one_gone_from_the_tree_is_forgotten()
    {
        let (h, clock) = handle();
        let cursor = t0() - minutes(1);
        cycle(
            &h,
            report(
                t0(),
                vec![done(APP, "root/app", cursor), done(DB, "root/db", cursor)],
            ),
        );
        clock.advance(minutes(40));
        let now = t0() + minutes(40);
        let unread = CompartmentReport {
            outcome: Outcome::Pending(Pending::CheckpointRead(Arc::new(StoreError::Backend {
                key: "state/db.json".into(),
                op: "get",
                message: "timed out".into(),
                retryable: true,
            }))),
            delivered_until: None,
            ..done(DB, "root/db", cursor)
        };
        cycle(
            &h,
            report(now, vec![done(APP, "root/app", now - minutes(1)), unread]),
        );
        let health = h.current();
        assert_eq!(health.oldest_lag, Some(Duration::from_secs(41 * 60)));
        assert_reason(
            &health,
            "root/db (ocid1.compartment.oc1..aaaaaaaadb) in eu-frankfurt-1: 41m behind",
        );

        // root/db was deleted (or excluded): the tree no longer has it.
        cycle(
            &h,
            report(now, vec![done(APP, "root/app", now - minutes(1))]),
        );
        let health = h.current();
        assert_eq!(health.status, Status::Healthy, "{health:#?}");
        assert_eq!(health.compartments, 1);
    }

    #[test]
    fn reasons_are_capped() {
        let (h, _clock) = handle();
        let many: Vec<CompartmentReport> = (0..30)
            .map(|i| {
                let id = format!("ocid1.compartment.oc1..aaaaaaaac{i:02}");
                failing(&id, &format!("root/c{i:02}"), t0() - minutes(1), 1)
            })
            .collect();
        cycle(&h, report(t0(), many));
        let health = h.current();
        assert_eq!(health.reasons.len(), MAX_REASONS);
        assert_eq!(health.failing_windows, 30);
        assert_eq!(
            health.reasons.last().map(String::as_str),
            Some("... and 11 more")
        );
    }

    #[test]
    fn the_body_is_json_with_a_lowercase_status_and_the_lag_in_seconds() {
        let (h, clock) = handle();
        cycle(
            &h,
            report(t0(), vec![done(APP, "root/app", t0() - minutes(1))]),
        );
        clock.advance(chrono::Duration::seconds(30));
        let json = serde_json::to_value(h.current()).unwrap();
        assert_eq!(json["status"], "healthy");
        assert_eq!(json["reasons"], serde_json::json!([]));
        assert_eq!(json["oldest_lag_seconds"], 90);
        assert_eq!(json["cycles"], 1);
        assert_eq!(json["last_cycle"]["complete"], true);
        assert_eq!(json["cycle_running_since"], serde_json::Value::Null);
        let back: Health = serde_json::from_value(json).unwrap();
        assert_eq!(back, h.current());
    }

    #[test]
    fn durations_read_like_an_operator_writes_them() {
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_secs(31 * 60)), "31m");
        assert_eq!(human(Duration::from_secs(2 * 3600 + 65)), "2h 1m 5s");
        assert_eq!(human(Duration::from_secs(90_000)), "1d 1h");
    }
}
