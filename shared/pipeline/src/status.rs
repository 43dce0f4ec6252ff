//! `auditfwd status`: where every (region, compartment) stands, read from the checkpoint store
//! only: the compartment index (with the last compartment-tree error a run recorded), the
//! tenancy's shard layout and each shard's state (one read per shard, whatever the number of
//! compartments). It never calls OCI and never sends.
//!
//! [`StatusReport::needs_attention`] is the exit code's rule, the same as `run --once`'s: any
//! compartment-tree failure, failing range, gap not yet delivered (or lost and not
//! acknowledged), last error, or unreadable or missing state.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use auditfwd_checkpoint::layout;
use auditfwd_checkpoint::shard::{self, CompartmentCursor, ShardId};
use auditfwd_checkpoint::state::Gap;
use auditfwd_checkpoint::{ObjectStore, known};
use auditfwd_oci::{MinuteTimestamp, Ocid, Window};
use auditfwd_telemetry::printable;
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
    /// The last run could not list the compartment tree (since when, and why): no compartment
    /// is being worked, and cursors keep ageing.
    pub tree_error: Option<TreeErrorView>,
    /// Per (region, compartment), sorted by region then name.
    pub compartments: Vec<StatusRow>,
}

/// A compartment-tree failure recorded by a run.
#[derive(Debug, Clone, Serialize)]
pub struct TreeErrorView {
    /// First failure in a row.
    pub since: DateTime<Utc>,
    /// Latest failure.
    pub at: DateTime<Utc>,
    /// What OCI said.
    pub message: String,
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
    /// The cursor: every minute before it has been listed (`None`: nothing listed yet).
    pub delivered_until: Option<MinuteTimestamp>,
    /// Every minute before it has also had its settle pass.
    pub settled_until: Option<MinuteTimestamp>,
    /// How far the cursor is behind now, in seconds.
    pub lag_seconds: Option<i64>,
    /// Minutes listed once whose settle pass is still to come.
    pub awaiting_settle_minutes: i64,
    /// The gap ledger (delivered ranges waiting for their settle pass excluded).
    pub gaps: Vec<GapView>,
    /// The range at the cursor that keeps failing.
    pub failing: Option<GapView>,
    /// The most recent error.
    pub last_error: Option<String>,
    /// When the most recent error happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Events forwarded in the last 24 hours.
    pub forwarded_last_day: Option<u64>,
    /// The state could not be read, or is missing.
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
    /// It fell out of OCI's retention: it can never be delivered.
    pub lost: bool,
    /// Who accepted the loss, when, and why (`auditfwd gaps ack`).
    pub acknowledged: Option<String>,
    /// Delivered from the ledger; re-listed once more after this time (late events), and
    /// nothing to do until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settles_after: Option<DateTime<Utc>>,
}

impl GapView {
    /// Whether the gap is undelivered data needing attention at `now` (see
    /// [`Gap::needs_attention`]).
    pub fn needs_attention(&self, now: DateTime<Utc>) -> bool {
        self.acknowledged.is_none() && (self.lost || self.settles_after.is_none_or(|t| t <= now))
    }
}

impl From<&Gap> for GapView {
    fn from(g: &Gap) -> Self {
        GapView {
            window: g.window,
            reason: g.reason.clone(),
            attempts: g.attempts,
            first_failed_at: g.first_failed_at,
            last_failed_at: g.last_failed_at,
            lost: g.lost,
            acknowledged: g
                .acknowledged
                .as_ref()
                .map(|a| format!("by {} at {}: {}", a.by, a.at, a.note)),
            settles_after: g.not_before,
        }
    }
}

impl StatusRow {
    fn new(region: &str, id: &str, known: &known::KnownCompartment) -> Self {
        StatusRow {
            region: region.to_owned(),
            compartment: id.to_owned(),
            name: known.name.clone(),
            missing_since: known.missing_since,
            delivered_until: None,
            settled_until: None,
            lag_seconds: None,
            awaiting_settle_minutes: 0,
            gaps: Vec::new(),
            failing: None,
            last_error: None,
            last_error_at: None,
            forwarded_last_day: None,
            error: None,
        }
    }

    fn fill(&mut self, c: &CompartmentCursor, now: DateTime<Utc>) {
        self.delivered_until = Some(c.delivered_until);
        self.settled_until = Some(c.settled_until);
        self.lag_seconds = Some((now - c.delivered_until.as_datetime()).num_seconds());
        self.awaiting_settle_minutes =
            (c.delivered_until.as_datetime() - c.settled_until.as_datetime()).num_minutes();
        self.gaps = c
            .gaps
            .iter()
            .filter(|g| g.not_before.is_none_or(|t| t <= now))
            .map(GapView::from)
            .collect();
        self.failing = c.failing.as_ref().map(GapView::from);
        self.last_error_at = c.last_error.as_ref().map(|e| e.at);
        self.last_error = c.last_error.as_ref().map(|e| e.message.clone());
        self.forwarded_last_day = Some(c.forwarded.last_day(now));
    }

    /// Whether this compartment stops or has stopped delivery at `now`: failing, a gap not
    /// delivered (or lost and not acknowledged), or unreadable state. A gap delivered and only
    /// waiting for its settle re-listing does not count; neither does an error it recovered
    /// from (`last_error` is history).
    pub fn needs_attention(&self, now: DateTime<Utc>) -> bool {
        self.failing.is_some()
            || self.error.is_some()
            || self.gaps.iter().any(|g| g.needs_attention(now))
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
        tree_error: None,
        compartments: Vec::new(),
    };
    let index = match known::load(store, tenancy).await {
        Ok(i) => i,
        Err(e) => {
            report.error = Some(format!("cannot read the compartment index: {e}"));
            return report;
        }
    };
    report.tree_error = index.tree_error.as_ref().map(|e| TreeErrorView {
        since: e.since,
        at: e.at,
        message: e.message.clone(),
    });
    let layout = match layout::load(store, tenancy).await {
        Ok(l) => l,
        Err(e) => {
            report.error = Some(format!("cannot read the shard layout: {e}"));
            return report;
        }
    };
    let mut shards: BTreeMap<ShardId, Result<Option<shard::ShardState>, String>> = BTreeMap::new();
    for region in regions {
        for (id, known) in &index.compartments {
            let mut row = StatusRow::new(region, id, known);
            if let Some(layout) = &layout {
                let sid = layout.shard_of(tenancy, region, id);
                if !shards.contains_key(&sid) {
                    let loaded = shard::load(store, &sid)
                        .await
                        .map(|o| o.map(|(s, _)| s))
                        .map_err(|e| e.to_string());
                    shards.insert(sid.clone(), loaded);
                }
                match shards.get(&sid) {
                    Some(Ok(Some(state))) => {
                        if let Some(c) = state.compartments.get(id) {
                            row.fill(c, now);
                        }
                    }
                    Some(Ok(None)) if layout.has_created(&sid) => {
                        let key = sid.state_key().map(|k| k.to_string()).unwrap_or_default();
                        row.error = Some(format!(
                            "checkpoint object {key} is missing although the layout says it was written: restore it, or `auditfwd init --reset-shard`"
                        ));
                    }
                    Some(Err(e)) => row.error = Some(format!("cannot read the state: {e}")),
                    _ => {}
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

impl StatusReport {
    /// Whether anything stops delivery: the exit code of `auditfwd status` is non-zero then.
    pub fn needs_attention(&self) -> bool {
        self.error.is_some()
            || self.tree_error.is_some()
            || self
                .compartments
                .iter()
                .any(|c| c.needs_attention(self.generated_at))
    }
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
        if let Some(t) = &self.tree_error {
            let _ = writeln!(
                out,
                "FAILED: the last run could not list the compartment tree (since {}, last at {}): {}; no compartment is being worked and every cursor keeps ageing",
                t.since,
                t.at,
                printable(&t.message)
            );
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
                        format!("{} (missing)", printable(&r.name))
                    } else {
                        printable(&r.name).into_owned()
                    },
                    r.delivered_until
                        .map_or_else(|| "not started".into(), |t| t.to_string()),
                    r.lag_seconds.map_or_else(|| "-".into(), human_duration),
                    r.awaiting_settle_minutes.to_string(),
                    (r.gaps
                        .iter()
                        .filter(|g| g.needs_attention(self.generated_at))
                        .count()
                        + usize::from(r.failing.is_some()))
                    .to_string(),
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
            "SETTLE (MIN)",
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
            let at = format!("{} ({}) in {}", printable(&r.name), r.compartment, r.region);
            if let Some(f) = &r.failing {
                let _ = writeln!(
                    out,
                    "FAILING {at}: window {} failed {} time(s) since {}: {}",
                    f.window,
                    f.attempts,
                    f.first_failed_at,
                    printable(&f.reason)
                );
            }
            for g in &r.gaps {
                match (&g.acknowledged, g.lost) {
                    (Some(ack), _) => {
                        let _ = writeln!(
                            out,
                            "ACKNOWLEDGED GAP {at}: window {}: {} (accepted {ack})",
                            g.window,
                            printable(&g.reason)
                        );
                    }
                    (None, true) => {
                        let _ = writeln!(
                            out,
                            "LOST {at}: window {}: {} (accept with `auditfwd gaps ack`)",
                            g.window,
                            printable(&g.reason)
                        );
                    }
                    (None, false) if !g.needs_attention(self.generated_at) => {
                        let _ = writeln!(
                            out,
                            "SETTLING {at}: window {} delivered from the gap ledger; listed once more after {} for late events",
                            g.window,
                            g.settles_after.unwrap_or(self.generated_at)
                        );
                    }
                    (None, false) => {
                        let _ = writeln!(
                            out,
                            "GAP {at}: window {} undelivered after {} attempt(s): {} (replay with `auditfwd replay --gaps`)",
                            g.window,
                            g.attempts,
                            printable(&g.reason)
                        );
                    }
                }
            }
            if let (Some(e), Some(t)) = (&r.last_error, r.last_error_at) {
                let _ = writeln!(out, "LAST ERROR {at} at {t}: {}", printable(e));
            }
            if let Some(e) = &r.error {
                let _ = writeln!(out, "ERROR {at}: {}", printable(e));
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
