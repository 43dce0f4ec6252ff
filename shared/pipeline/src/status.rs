//! `auditfwd status`: where every (region, compartment) stands, read from the checkpoint store
//! only (the compartment index, each state document and the last day's delivery manifests).
//! It never calls OCI and never sends.

use std::fmt::Write as _;

use auditfwd_checkpoint::manifest::Pass;
use auditfwd_checkpoint::state::{self, Gap};
use auditfwd_checkpoint::{ObjectStore, Scope, known};
use auditfwd_oci::{MinuteTimestamp, Ocid, Window};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Every known (region, compartment).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// The tenancy.
    pub tenancy: String,
    /// The compartment index could not be read (nothing else could be either).
    pub error: Option<String>,
    /// Per (region, compartment), sorted by region then name.
    pub compartments: Vec<StatusRow>,
}

/// One (region, compartment).
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    /// Region id.
    pub region: String,
    /// Compartment OCID.
    pub compartment: String,
    /// Its path in the tree when last seen.
    pub name: String,
    /// Since when it has been missing from the tree (its events are no longer collected).
    pub missing_since: Option<DateTime<Utc>>,
    /// The cursor (`None`: no window delivered yet).
    pub delivered_until: Option<MinuteTimestamp>,
    /// How far the cursor is behind now, in seconds.
    pub lag_seconds: Option<i64>,
    /// Windows listed once, awaiting their settle pass.
    pub awaiting_settle: usize,
    /// The gap ledger.
    pub gaps: Vec<GapView>,
    /// The window at the cursor that keeps failing.
    pub failing: Option<GapView>,
    /// The most recent error.
    pub last_error: Option<String>,
    /// When the most recent error happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Events forwarded in the last 24 hours (fresh and settle passes, from manifests).
    pub forwarded_last_day: Option<u64>,
    /// Late arrivals in the last 24 hours.
    pub late_arrivals_last_day: Option<u64>,
    /// The state or the manifests could not be read.
    pub error: Option<String>,
}

/// A gap-ledger entry, without its id set.
#[derive(Debug, Clone, Serialize)]
pub struct GapView {
    /// The window.
    pub window: Window,
    /// Why it was not delivered.
    pub reason: String,
    /// Attempts so far.
    pub attempts: u32,
    /// First failure.
    pub first_failed_at: DateTime<Utc>,
    /// Latest failure.
    pub last_failed_at: DateTime<Utc>,
}

impl From<&Gap> for GapView {
    fn from(g: &Gap) -> Self {
        GapView {
            window: g.window,
            reason: g.reason.clone(),
            attempts: g.attempts,
            first_failed_at: g.first_failed_at,
            last_failed_at: g.last_failed_at,
        }
    }
}

/// Reads the status of every compartment in the index, in every region given.
pub async fn status<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    regions: &[String],
    now: DateTime<Utc>,
) -> StatusReport {
    let mut report = StatusReport {
        generated_at: now,
        tenancy: tenancy.to_string(),
        error: None,
        compartments: Vec::new(),
    };
    let index = match known::load(store, tenancy).await {
        Ok(i) => i,
        Err(e) => {
            report.error = Some(format!("cannot read the compartment index: {e}"));
            return report;
        }
    };
    let day_ago = MinuteTimestamp::floor(now - chrono::Duration::days(1));
    let until = MinuteTimestamp::floor(now);
    for region in regions {
        for (id, known) in &index.compartments {
            let mut row = StatusRow {
                region: region.clone(),
                compartment: id.clone(),
                name: known.name.clone(),
                missing_since: known.missing_since,
                delivered_until: None,
                lag_seconds: None,
                awaiting_settle: 0,
                gaps: Vec::new(),
                failing: None,
                last_error: None,
                last_error_at: None,
                forwarded_last_day: None,
                late_arrivals_last_day: None,
                error: None,
            };
            let Ok(compartment) = Ocid::parse(id) else {
                row.error = Some("not an OCID".into());
                report.compartments.push(row);
                continue;
            };
            let scope = Scope::new(tenancy.clone(), region.clone(), compartment);
            match state::load(store, &scope).await {
                Ok(Some((s, _))) => {
                    row.delivered_until = Some(s.delivered_until);
                    row.lag_seconds = Some((now - s.delivered_until.as_datetime()).num_seconds());
                    row.awaiting_settle = s.awaiting_settle.len();
                    row.gaps = s.gaps.iter().map(GapView::from).collect();
                    row.failing = s.failing.as_ref().map(GapView::from);
                    row.last_error_at = s.last_error.as_ref().map(|e| e.at);
                    row.last_error = s.last_error.map(|e| e.message);
                }
                Ok(None) => {}
                Err(e) => row.error = Some(format!("cannot read the state: {e}")),
            }
            if day_ago < until {
                match auditfwd_checkpoint::manifest::list(store, &scope, day_ago, until).await {
                    Ok(ms) => {
                        let live = ms
                            .iter()
                            .filter(|m| m.pass != Pass::Replay && m.window.start() >= day_ago);
                        let (mut fwd, mut late) = (0, 0);
                        for m in live {
                            fwd += m.counts.forwarded;
                            late += m.counts.late_arrivals;
                        }
                        row.forwarded_last_day = Some(fwd);
                        row.late_arrivals_last_day = Some(late);
                    }
                    Err(e) => {
                        row.error
                            .get_or_insert_with(|| format!("cannot list the manifests: {e}"));
                    }
                }
            }
            report.compartments.push(row);
        }
    }
    report
        .compartments
        .sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    report
}

/// `3d 4h`, `12m 5s`: a lag for people.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

impl StatusReport {
    /// A table for people, then the details (gaps, failing windows, errors).
    pub fn table(&self) -> String {
        let mut out = String::new();
        if let Some(e) = &self.error {
            let _ = writeln!(out, "ERROR: {e}");
        }
        if self.compartments.is_empty() && self.error.is_none() {
            let _ = writeln!(
                out,
                "No compartment recorded yet: run `auditfwd run --once` first (status reads the checkpoint store only)."
            );
            return out;
        }
        let rows: Vec<[String; 7]> = self
            .compartments
            .iter()
            .map(|r| {
                [
                    r.region.clone(),
                    if r.missing_since.is_some() {
                        format!("{} (missing)", r.name)
                    } else {
                        r.name.clone()
                    },
                    r.delivered_until
                        .map_or_else(|| "not started".into(), |t| t.to_string()),
                    r.lag_seconds.map_or_else(|| "-".into(), human_duration),
                    r.awaiting_settle.to_string(),
                    (r.gaps.len() + usize::from(r.failing.is_some())).to_string(),
                    r.forwarded_last_day
                        .map_or_else(|| "?".into(), |n| n.to_string()),
                ]
            })
            .collect();
        let header = [
            "REGION",
            "COMPARTMENT",
            "DELIVERED UNTIL",
            "LAG",
            "SETTLE",
            "GAPS",
            "FORWARDED 24H",
        ];
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    l.push_str("  ");
                }
                let _ = write!(l, "{c:<w$}");
            }
            l.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(header.to_vec()));
        for row in &rows {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
        for r in &self.compartments {
            let at = format!("{} ({}) in {}", r.name, r.compartment, r.region);
            if let Some(f) = &r.failing {
                let _ = writeln!(
                    out,
                    "FAILING {at}: window {} failed {} time(s) since {}: {}",
                    f.window, f.attempts, f.first_failed_at, f.reason
                );
            }
            for g in &r.gaps {
                let _ = writeln!(
                    out,
                    "GAP {at}: window {} undelivered after {} attempt(s): {} (replay with `auditfwd replay --gaps`)",
                    g.window, g.attempts, g.reason
                );
            }
            if let (Some(e), Some(t)) = (&r.last_error, r.last_error_at) {
                let _ = writeln!(out, "LAST ERROR {at} at {t}: {e}");
            }
            if let Some(e) = &r.error {
                let _ = writeln!(out, "ERROR {at}: {e}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_read_naturally() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(125), "2m 5s");
        assert_eq!(human_duration(3 * 3600 + 60), "3h 1m");
        assert_eq!(human_duration(2 * 86_400 + 7200), "2d 2h");
        assert_eq!(human_duration(-5), "0s");
    }
}
