//! What one run is asked to do and when it must stop: an argument to every run, never state
//! on the long-lived [`crate::Runner`], so one runner serves any number of runs (a daemon's
//! cycles, concurrent Lambda invocations) without being rebuilt or lent out.

use tokio_util::sync::CancellationToken;

use super::failure::StopReason;

/// What a runner does inside each compartment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Gap ledger, settle passes, fresh windows: the live cycle.
    #[default]
    Live,
    /// Only the gap ledger (`auditfwd replay --gaps`): no settle pass, no fresh window; the
    /// cursor moves only where a ledger entry is closed.
    GapsOnly,
}

/// One run's mode, stop token and deadline.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// What to work.
    pub mode: Mode,
    /// Cancelled on SIGTERM: no new window starts; the window in flight finishes or is
    /// abandoned uncommitted.
    pub stop: CancellationToken,
    /// No new window starts after this instant (a Lambda invocation's end minus a margin).
    pub deadline: Option<tokio::time::Instant>,
}

impl RunContext {
    /// A live run that stops only when `stop` is cancelled.
    pub fn live(stop: CancellationToken) -> Self {
        RunContext {
            stop,
            ..RunContext::default()
        }
    }

    /// The same run with `mode`.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The same run with a deadline.
    pub fn with_deadline(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Why no new window may start now, if one may not.
    pub fn should_stop(&self) -> Option<StopReason> {
        if self.stop.is_cancelled() {
            Some(StopReason::Shutdown)
        } else if self
            .deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
        {
            Some(StopReason::Deadline)
        } else {
            None
        }
    }
}
