//! Why work stopped, as values: every reason a compartment's work ends before everything due
//! was committed is a [`Pending`] variant, carried unchanged to the edges (the run report,
//! `/health`, `status`, the Lambda handlers, exit codes), which decide on the variant. Text
//! appears only where something is printed (`Display`).

use std::fmt;
use std::sync::Arc;

use auditfwd_checkpoint::manifest::Pass;
use auditfwd_checkpoint::{LeaseError, StoreError};
use auditfwd_oci::Window;

use crate::sink::SinkFailure;

/// Why the runner stops starting work: asked to stop, or out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM/SIGINT (or the caller's stop token).
    Shutdown,
    /// The invocation's deadline is near (Lambda).
    Deadline,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Shutdown => "stopping: shutdown requested",
            StopReason::Deadline => "stopping: invocation deadline near",
        })
    }
}

/// Why a compartment's work is not complete in this run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Pending {
    /// The run ended before the compartment was reached (internal; never in a finished report).
    #[error("not processed")]
    NotProcessed,
    /// Not started: an earlier compartment found the syslog destination down.
    #[error("not started: the syslog destination is not accepting events")]
    SinkDown,
    /// Not started: the run was stopping.
    #[error("not started: {0}")]
    NotStarted(StopReason),
    /// Stopped between windows.
    #[error("{0}")]
    Stopped(StopReason),
    /// The syslog destination did not confirm a batch; the cursor stays.
    #[error("syslog delivery failed: {0}")]
    Sink(Arc<SinkFailure>),
    /// OCI would not serve a window (it is now `failing`, or in the gap ledger).
    #[error("{}", source_text(*.pass, .window, .error))]
    Source {
        /// The window.
        window: Window,
        /// Which pass of it.
        pass: Pass,
        /// OCI's answer.
        error: Arc<auditfwd_oci::Error>,
    },
    /// The compartment's lease could not be taken (the store failed).
    #[error("cannot take the compartment lease: {0}")]
    Lease(Arc<LeaseError>),
    /// The lease could not be renewed between windows (lost, or the store failed).
    #[error("lease: {0}")]
    LeaseRenewal(Arc<LeaseError>),
    /// The shard's state is missing although the layout says it was written: never a fresh
    /// start, which would re-send or skip hours of events.
    #[error(
        "checkpoint object {key} is missing although this tenancy's layout says it was written (deleted, or the checkpoint location changed?); nothing was sent for its compartments. Restore the object (the state bucket keeps versions), or run `auditfwd init --reset-shard REGION/NNNN-of-NNNN` (the key's last two parts) to start its compartments again at the initial look-back"
    )]
    ShardStateMissing {
        /// The object key.
        key: String,
    },
    /// The state could not be read.
    #[error("cannot read the checkpoint: {0}")]
    CheckpointRead(Arc<StoreError>),
    /// The state could not be written.
    #[error("cannot write the checkpoint: {0}")]
    CheckpointWrite(Arc<StoreError>),
    /// The state changed under this runner: another runner took over.
    #[error(
        "the checkpoint was changed by another runner (lease lost?); stopped without committing"
    )]
    CheckpointConflict,
    /// A delivered window's manifest could not be written: it is delivered again next time.
    #[error(
        "window {window} delivered but its manifest could not be written ({error}); it will be delivered again"
    )]
    Manifest {
        /// The window.
        window: Window,
        /// The store's answer.
        error: Arc<StoreError>,
    },
}

fn source_text(pass: Pass, window: &Window, error: &auditfwd_oci::Error) -> String {
    match pass {
        Pass::Settle => format!("settle pass of {window} failed: {error}"),
        Pass::Fresh | Pass::Replay => format!("window {window} failed: {error}"),
    }
}

impl Pending {
    /// Whether the run stopped (or never started the compartment) for the invocation deadline:
    /// the work continues in the next invocation.
    pub fn is_deadline(&self) -> bool {
        matches!(
            self,
            Pending::Stopped(StopReason::Deadline) | Pending::NotStarted(StopReason::Deadline)
        )
    }

    /// Whether the syslog destination is the reason (it failed here, or was already down).
    pub fn is_sink(&self) -> bool {
        matches!(self, Pending::Sink(_) | Pending::SinkDown)
    }

    /// The window OCI would not serve, when that is the reason.
    pub fn failed_window(&self) -> Option<Window> {
        match self {
            Pending::Source { window, .. } => Some(*window),
            _ => None,
        }
    }
}

/// A problem that did not stop the run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Warning {
    /// The compartment index could not be written (new and missing compartments are reported
    /// again next cycle).
    #[error("cannot update the compartment index: {0}")]
    Index(Arc<StoreError>),
    /// The tree held an id that is not an OCID.
    #[error("compartment id {0:?} is not an OCID; skipped")]
    NotAnOcid(String),
}

/// Serializes an optional failure as its text (reports written as JSON).
pub(crate) fn display_opt<T: fmt::Display, S: serde::Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}
