//! How each compartment of a run ended, in the terms the functions answer with, and the
//! event totals of a run.

use auditfwd_pipeline::{CompartmentReport, Counts, Outcome, RunReport};
use serde::Serialize;

use crate::runners::RunnerId;

/// How a compartment's work ended in one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    /// Every due window delivered and committed, nothing open.
    Complete,
    /// Another runner holds the compartment's lease; this invocation delivered nothing there.
    LeasedElsewhere,
    /// Work remains (deadline, syslog destination down, checkpoint write failed, ...).
    Pending,
    /// The window at the cursor keeps failing.
    Failing,
    /// Windows sit in the gap ledger.
    OpenGaps,
}

/// One compartment that did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unfinished {
    /// The tenancy's configured name.
    pub tenancy: String,
    /// The runner's source (`audit`, `log-search`, ...).
    pub source: String,
    /// The region.
    pub region: String,
    /// The compartment OCID.
    pub compartment: String,
    /// Its path in the tree.
    pub name: String,
    /// How it ended.
    pub state: State,
    /// Why, in words.
    pub reason: String,
}

/// The state of one compartment report. Gaps and a failing window count even when the run
/// otherwise completed: they are undelivered data.
pub fn state_of(c: &CompartmentReport) -> (State, String) {
    match &c.outcome {
        Outcome::LeasedElsewhere { owner, until } => (
            State::LeasedElsewhere,
            format!("runner {owner} holds its lease until {until}"),
        ),
        Outcome::Pending(p) => (State::Pending, p.to_string()),
        Outcome::Complete => {
            if let Some(g) = &c.failing {
                (
                    State::Failing,
                    format!(
                        "window {} failed {} time(s): {}",
                        g.window, g.attempts, g.reason
                    ),
                )
            } else if let Some(g) = c.open_gaps.first() {
                (
                    State::OpenGaps,
                    format!(
                        "{} gap(s), the first window {}: {}",
                        c.open_gaps.len(),
                        g.window,
                        g.reason
                    ),
                )
            } else {
                (State::Complete, String::new())
            }
        }
    }
}

/// The compartments of `runner`'s `report` that did not complete.
pub fn unfinished(runner: &RunnerId, report: &RunReport) -> Vec<Unfinished> {
    report
        .compartments
        .iter()
        .filter_map(|c| {
            let (state, reason) = state_of(c);
            (state != State::Complete).then(|| Unfinished {
                tenancy: runner.tenancy.clone(),
                source: runner.source.clone(),
                region: c.scope.region.clone(),
                compartment: c.scope.compartment.to_string(),
                name: c.name.clone(),
                state,
                reason,
            })
        })
        .collect()
}

/// Whether some compartment stopped (or never started) because the invocation's deadline
/// was near.
pub fn stopped_for_deadline(report: &RunReport) -> bool {
    report.stopped_for_deadline()
}

/// Event totals, as the functions report them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Windows committed.
    pub windows_committed: u64,
    /// What happened to the events listed.
    #[serde(flatten)]
    pub counts: Counts,
}

impl std::ops::AddAssign<&Totals> for Totals {
    fn add_assign(&mut self, other: &Totals) {
        self.windows_committed += other.windows_committed;
        self.counts += &other.counts;
    }
}

impl Totals {
    /// The totals of `report`.
    pub fn of(report: &RunReport) -> Self {
        Totals {
            windows_committed: report
                .compartments
                .iter()
                .map(|c| u64::from(c.windows_committed))
                .sum(),
            counts: report.totals(),
        }
    }
}
