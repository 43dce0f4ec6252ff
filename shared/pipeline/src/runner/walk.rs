//! Step 3's plan within a range: how a range is cut into listings so that an idle range costs
//! one call whatever its length, and a busy one is delivered (and committed) at most one
//! aligned window at a time.
//!
//! The first listing is the whole range, as a *probe*. When it fits in one page, the range is
//! done. When it pages, the range is walked from its start in spans aligned to
//! `AUDITFWD_MAX_WINDOW`: one window first (which is listed whole however many pages it
//! takes), and each span that comes back in one page doubles the next one, until a span pages
//! again. Every unit starts and ends on the aligned grid, or at the range's own ends.

use auditfwd_oci::{MinuteTimestamp, Window};

use crate::plan::next_boundary;

/// A walk through one range.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    range: Window,
    at: MinuteTimestamp,
    /// Aligned windows per unit; `None` while the whole rest is tried in one go.
    span: Option<u32>,
    step: u32,
}

impl Walk {
    /// A walk through `range` with aligned windows of `step` minutes.
    pub(crate) fn new(range: Window, step: u32) -> Self {
        Walk {
            range,
            at: range.start(),
            span: None,
            step: step.max(1),
        }
    }

    /// The next unit, and whether it is a probe (spans more than one aligned window, so it
    /// must fit in one page or be cut smaller); `None` when the range is done.
    pub(crate) fn next_unit(&self) -> Option<(Window, bool)> {
        if self.at >= self.range.end() {
            return None;
        }
        let one =
            next_boundary(self.at, self.step).map_or(self.range.end(), |b| b.min(self.range.end()));
        let end = match self.span {
            None => self.range.end(),
            Some(k) => {
                let minutes = i64::from(self.step) * i64::from(k.saturating_sub(1));
                one.plus_minutes(minutes)
                    .map_or(self.range.end(), |e| e.min(self.range.end()))
            }
        };
        let unit = Window::new(self.at, end).ok()?;
        Some((unit, end > one))
    }

    /// The unit ending at `end` was delivered; `paged` when it took more than one page.
    pub(crate) fn delivered(&mut self, end: MinuteTimestamp, paged: bool) {
        self.at = end;
        self.span = match (self.span, paged) {
            (_, true) => Some(1),
            (None, false) => None,
            (Some(k), false) => Some(k.saturating_mul(2).min(1 << 16)),
        };
    }

    /// The probe at the current position paged: list one aligned window next.
    pub(crate) fn busy(&mut self) {
        self.span = Some(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> MinuteTimestamp {
        MinuteTimestamp::parse(s).unwrap()
    }

    fn w(a: &str, b: &str) -> Window {
        Window::new(m(a), m(b)).unwrap()
    }

    #[test]
    fn an_idle_range_is_one_probe_whatever_its_length() {
        let mut walk = Walk::new(w("2026-11-21T10:01:00Z", "2026-11-22T10:01:00Z"), 10);
        let (unit, probe) = walk.next_unit().unwrap();
        assert_eq!(unit, w("2026-11-21T10:01:00Z", "2026-11-22T10:01:00Z"));
        assert!(probe);
        walk.delivered(unit.end(), false);
        assert!(walk.next_unit().is_none());
    }

    #[test]
    fn a_range_inside_one_window_is_listed_whole_without_probing() {
        let walk = Walk::new(w("2026-11-22T10:01:00Z", "2026-11-22T10:04:00Z"), 10);
        assert_eq!(
            walk.next_unit(),
            Some((w("2026-11-22T10:01:00Z", "2026-11-22T10:04:00Z"), false))
        );
    }

    #[test]
    fn a_busy_range_is_walked_in_aligned_spans_that_grow_while_quiet() {
        let mut walk = Walk::new(w("2026-11-22T10:03:00Z", "2026-11-22T11:35:00Z"), 10);
        walk.busy();
        let mut units = Vec::new();
        // The first window pages; the rest are quiet.
        let mut paged = true;
        while let Some((unit, probe)) = walk.next_unit() {
            units.push((unit, probe));
            walk.delivered(unit.end(), paged);
            paged = false;
        }
        let got: Vec<String> = units.iter().map(|(u, p)| format!("{u} {p}")).collect();
        assert_eq!(
            got,
            vec![
                "[2026-11-22T10:03:00Z, 2026-11-22T10:10:00Z) false",
                "[2026-11-22T10:10:00Z, 2026-11-22T10:20:00Z) false",
                "[2026-11-22T10:20:00Z, 2026-11-22T10:40:00Z) true",
                "[2026-11-22T10:40:00Z, 2026-11-22T11:20:00Z) true",
                "[2026-11-22T11:20:00Z, 2026-11-22T11:35:00Z) true",
            ]
        );
        // Contiguous, covering the range exactly.
        for pair in units.windows(2) {
            assert_eq!(pair[0].0.end(), pair[1].0.start());
        }
    }
}
