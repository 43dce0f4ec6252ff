//! Step 7, report: what one run did, per (region, compartment) and in total, as values the
//! edges decide on ([`RunReport::is_complete`], [`Outcome`], [`Pending`]), printed only by
//! `Display`; and the gauges the run leaves behind (cursor lag, open gaps, unfinished work).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use auditfwd_checkpoint::state::Gap;
use auditfwd_checkpoint::{Counts, Scope};
use auditfwd_oci::MinuteTimestamp;
use auditfwd_telemetry::freshness::{self, CompartmentFreshness};
use chrono::{DateTime, Utc};

use super::failure::{Pending, Warning};

/// What ended a compartment's work in this run.
#[derive(Debug, Clone)]
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
    /// Work remains.
    Pending(Pending),
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
    /// Gap-ledger entries still to deliver after the run (retried every cycle).
    pub open_gaps: Vec<Gap>,
    /// Ranges lost to OCI's retention and not acknowledged yet (`auditfwd gaps ack`): never
    /// retried, but not complete until someone accepts them.
    pub lost_gaps: Vec<Gap>,
    /// The window at the cursor that is failing, if any.
    pub failing: Option<Gap>,
}

impl CompartmentReport {
    /// A compartment not worked yet.
    pub fn new(scope: Scope, name: String) -> Self {
        CompartmentReport {
            scope,
            name,
            outcome: Outcome::Pending(Pending::NotProcessed),
            windows_committed: 0,
            counts: Counts::default(),
            delivered_until: None,
            open_gaps: Vec::new(),
            lost_gaps: Vec::new(),
            failing: None,
        }
    }

    /// Whether this run delivered and committed everything due for this compartment, with
    /// nothing open. A compartment another runner holds is not complete for this run: the
    /// holder may have died (its lease then lapses after the TTL), and exit 0 must mean
    /// "delivered", never "someone else may have".
    pub fn is_complete(&self) -> bool {
        match self.outcome {
            Outcome::Complete => {
                self.open_gaps.is_empty() && self.lost_gaps.is_empty() && self.failing.is_none()
            }
            Outcome::LeasedElsewhere { .. } | Outcome::Pending(_) => false,
        }
    }

    /// Why work remains, when it does.
    pub fn pending(&self) -> Option<&Pending> {
        match &self.outcome {
            Outcome::Pending(p) => Some(p),
            _ => None,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// When the run started.
    pub started_at: Option<DateTime<Utc>>,
    /// The compartment tree could not be listed: nothing was processed.
    pub tree_error: Option<Arc<auditfwd_oci::Error>>,
    /// Include/exclude rules that matched no compartment.
    pub unmatched_rules: Vec<String>,
    /// Compartments seen for the first time (OCID, name).
    pub new_compartments: Vec<(String, String)>,
    /// Compartments known before and missing from the tree now (OCID, name, last seen).
    pub missing_compartments: Vec<(String, String, DateTime<Utc>)>,
    /// Problems that did not stop the run.
    pub warnings: Vec<Warning>,
    /// Per (region, compartment), sorted.
    pub compartments: Vec<CompartmentReport>,
    /// The source's sweep, when it has one (Cloud Guard).
    pub sweep: Option<super::SweepReport>,
}

impl RunReport {
    /// Whether every due window was delivered and committed, with no open gaps.
    pub fn is_complete(&self) -> bool {
        self.tree_error.is_none()
            && self.compartments.iter().all(CompartmentReport::is_complete)
            && self.sweep.as_ref().is_none_or(|s| s.failed.is_none())
    }

    /// Adds another runner's report of the same cycle (another tenancy's), for a process that
    /// collects several: one report to judge health by. It starts at the earlier start; a
    /// second tree error is not kept (each is logged with its tenancy when it happens, and
    /// `auditfwd status` shows each tenancy's), but either makes the report incomplete.
    pub fn absorb(&mut self, other: RunReport) {
        self.started_at = match (self.started_at, other.started_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.tree_error.is_none() {
            self.tree_error = other.tree_error;
        }
        self.unmatched_rules.extend(other.unmatched_rules);
        self.new_compartments.extend(other.new_compartments);
        self.missing_compartments.extend(other.missing_compartments);
        self.warnings.extend(other.warnings);
        self.compartments.extend(other.compartments);
        // A process with one swept source per tenancy: the first failure stands (each is
        // logged when it happens), the counts add up.
        self.sweep = match (self.sweep.take(), other.sweep) {
            (Some(mut a), Some(b)) => {
                a.open += b.open;
                a.forwarded += b.forwarded;
                a.left_to_settle += b.left_to_settle;
                a.vanished.extend(b.vanished);
                a.written |= b.written;
                a.failed = a.failed.or(b.failed);
                Some(a)
            }
            (a, b) => a.or(b),
        };
    }

    /// Totals over all compartments.
    pub fn totals(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.compartments {
            c += &r.counts;
        }
        c
    }

    /// Whether some compartment stopped, or was never started, because the deadline came.
    pub fn stopped_for_deadline(&self) -> bool {
        self.compartments
            .iter()
            .any(|c| c.pending().is_some_and(Pending::is_deadline))
    }

    /// Records freshness over the compartments of this report (cursor lag and open gaps per
    /// region, per compartment while few, the ones furthest behind as log lines) and the
    /// compartments left unfinished per region.
    pub fn record_gauges(&self) {
        let Some(now) = self.started_at else { return };
        let ids: Vec<String> = self
            .compartments
            .iter()
            .map(|c| c.scope.compartment.to_string())
            .collect();
        let fresh: Vec<CompartmentFreshness<'_>> = self
            .compartments
            .iter()
            .zip(&ids)
            .map(|(c, id)| CompartmentFreshness {
                region: c.scope.region.as_str(),
                compartment: id,
                name: &c.name,
                lag_seconds: c
                    .delivered_until
                    .map(|cursor| (now - cursor.as_datetime()).num_seconds().max(0) as f64),
                open_gaps: c.open_gaps.len(),
            })
            .collect();
        freshness::record(&fresh);
        let mut unfinished: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &self.compartments {
            *unfinished.entry(c.scope.region.as_str()).or_default() +=
                usize::from(!c.is_complete());
        }
        freshness::record_unfinished(unfinished);
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
        if let Some(s) = &self.sweep {
            writeln!(f, "{s}")?;
        }
        for c in &self.compartments {
            write_compartment(f, c)?;
        }
        Ok(())
    }
}

fn write_compartment(f: &mut fmt::Formatter<'_>, c: &CompartmentReport) -> fmt::Result {
    let (name, id, at) = (&c.name, &c.scope.compartment, c.scope.region.as_str());
    match &c.outcome {
        Outcome::Pending(reason) => writeln!(f, "PENDING {name} ({id}) in {at}: {reason}")?,
        Outcome::LeasedElsewhere { owner, until } => writeln!(
            f,
            "PENDING {name} ({id}) in {at}: runner {owner} holds its lease until {until} (if that runner died, the next run after then takes over)"
        )?,
        Outcome::Complete => {}
    }
    if let Some(g) = &c.failing {
        writeln!(
            f,
            "FAILING {name} ({id}) in {at}: window {} failed {} time(s): {}",
            g.window, g.attempts, g.reason
        )?;
    }
    for g in &c.open_gaps {
        writeln!(
            f,
            "GAP {name} ({id}) in {at}: window {} undelivered after {} attempt(s): {}",
            g.window, g.attempts, g.reason
        )?;
    }
    for g in &c.lost_gaps {
        writeln!(
            f,
            "LOST {name} ({id}) in {at}: window {}: {} (accept with `auditfwd gaps ack`)",
            g.window, g.reason
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compartment(tenancy: &str, compartment: &str, outcome: Outcome) -> CompartmentReport {
        let scope = Scope::new(
            tenancy.parse().expect("ocid"),
            "us-ashburn-1".to_owned(),
            compartment.parse().expect("ocid"),
        );
        let mut c = CompartmentReport::new(scope, compartment.to_owned());
        c.outcome = outcome;
        c.counts.forwarded = 3;
        c
    }

    #[test]
    fn absorbing_another_tenancys_report_keeps_its_compartments_and_its_failure() {
        let t = |s: &str| s.parse::<chrono::DateTime<Utc>>().expect("time");
        let mut acme = RunReport {
            started_at: Some(t("2026-12-06T10:01:00Z")),
            compartments: vec![compartment(
                "ocid1.tenancy.oc1..acme",
                "ocid1.compartment.oc1..a",
                Outcome::Complete,
            )],
            ..RunReport::default()
        };
        assert!(acme.is_complete());
        let globex = RunReport {
            started_at: Some(t("2026-12-06T10:00:00Z")),
            tree_error: Some(Arc::new(auditfwd_oci::Error::Construction {
                operation: "GetCompartment",
                reason: "revoked".into(),
            })),
            unmatched_rules: vec!["prod".into()],
            ..RunReport::default()
        };
        let other_acme = RunReport {
            compartments: vec![compartment(
                "ocid1.tenancy.oc1..initech",
                "ocid1.compartment.oc1..b",
                Outcome::Complete,
            )],
            ..RunReport::default()
        };
        acme.absorb(globex);
        acme.absorb(other_acme);
        assert!(!acme.is_complete(), "a tenancy that failed fails the whole");
        assert!(acme.tree_error.is_some());
        assert_eq!(acme.started_at, Some(t("2026-12-06T10:00:00Z")));
        assert_eq!(acme.compartments.len(), 2);
        assert_eq!(acme.totals().forwarded, 6);
        assert_eq!(acme.unmatched_rules, ["prod"]);
    }
}
