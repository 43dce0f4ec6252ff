//! The one tally of what happened to listed events, shared by manifests, run reports, replay
//! and status: every event OCI returns ends up in exactly one of forwarded, deduplicated,
//! filtered or dropped.

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// Event counts over a pass, a window, a compartment or a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Events OCI returned.
    pub listed: u64,
    /// Events forwarded and confirmed by the sink.
    pub forwarded: u64,
    /// Events already delivered earlier (dedupe).
    pub deduplicated: u64,
    /// Events removed by filters.
    pub filtered: u64,
    /// Events dropped by a drop-policy rate cap (counted, never silent).
    pub dropped: u64,
    /// Events first seen on a settle pass although the window had been listed before.
    pub late_arrivals: u64,
}

impl AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, o: &Counts) {
        self.listed += o.listed;
        self.forwarded += o.forwarded;
        self.deduplicated += o.deduplicated;
        self.filtered += o.filtered;
        self.dropped += o.dropped;
        self.late_arrivals += o.late_arrivals;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_field_by_field() {
        let mut a = Counts {
            listed: 5,
            forwarded: 3,
            deduplicated: 1,
            filtered: 1,
            dropped: 0,
            late_arrivals: 2,
        };
        a += &Counts {
            listed: 1,
            forwarded: 0,
            deduplicated: 0,
            filtered: 0,
            dropped: 1,
            late_arrivals: 0,
        };
        assert_eq!(
            a,
            Counts {
                listed: 6,
                forwarded: 3,
                deduplicated: 1,
                filtered: 1,
                dropped: 1,
                late_arrivals: 2
            }
        );
    }
}
