//! auditfwd on AWS Lambda: the logic of the three functions in `functions/poller`,
//! `functions/worker` and `functions/replay`, whose `main` only names its [`Handler`] for
//! [`serve`]. Each handler is a plain async function over [`Deps`] (the runners built once at
//! cold start, one per configured tenancy and source, the fan-out settings, the work queue;
//! their types named by one [`Backend`]) and an [`Invocation`] (request id, time [`Budget`],
//! metrics output), so tests call it directly, without the runtime.
//!
//! - [`serve`]: the one `main` of the three functions: telemetry, the cold start, the Lambda
//!   runtime; typed payloads, and every error reported as `auditfwd.Retryable.*` or
//!   `auditfwd.Fatal.*`, a cold-start failure included.
//!
//! - [`runners`]: every runner the deployment has (tenancy and source), and which one a work
//!   message or a replay request is for.
//! - [`poller`]: the scheduled run: for each runner, side by side, the compartment tree, then
//!   the compartments worked directly or sent to the work queue ([`fanout`] decides).
//! - [`worker`]: a batch of work messages; answers with the failed ones
//!   (`ReportBatchItemFailures`), its rules in the module doc.
//! - [`replay`]: a replay by hand, continued through the work queue when one invocation is
//!   not enough; its result is kept under `replays/<id>/` in the state store.
//! - [`message`]: the work queue's message format; [`queue`]: SQS behind the narrow
//!   [`WorkQueue`] trait, batches of 10, retries.
//! - [`budget`]: when an invocation stops starting windows and when it gives up;
//!   [`invocation`]: the frame every handler runs in (hard stop, one summary line, metrics
//!   flushed before every return); [`metrics`]: where the EMF documents go; [`freshness`]:
//!   the lag of every collected compartment, read back after the poller's run.
//! - [`status`]: how compartments ended; [`start`]: cold start; [`error`]: what fails an invocation, retryable or not.

pub mod budget;
pub mod dispatch;
pub mod error;
pub mod fanout;
pub mod freshness;
pub mod invocation;
pub mod message;
pub mod metrics;
pub mod poller;
pub mod queue;
pub mod replay;
pub mod runners;
pub mod serve;
pub mod start;
pub mod status;
pub mod worker;

pub use budget::Budget;
pub use error::{LambdaError, StartError};
pub use invocation::{Function, Invocation};
pub use metrics::Metrics;
pub use queue::{SqsQueue, WorkQueue};
pub use runners::{RunnerEntry, RunnerError, RunnerId, Runners};
pub use serve::{Handler, serve};

use std::fmt;

use auditfwd_checkpoint::{AnyStore, ObjectStore};
use auditfwd_config::FanOut;
use auditfwd_pipeline::{AuditSource, LiveSource, Runner, Sink};
use auditfwd_syslog::SyslogSink;

/// The concrete types the handlers run on, named once, so a handler has one type parameter
/// instead of four. [`Live`] is the deployed set; tests may name others.
pub trait Backend: 'static {
    /// Where audit events come from.
    type Source: AuditSource + 'static;
    /// Where checkpoints, leases and replay results are kept.
    type Store: ObjectStore + 'static;
    /// Where events go.
    type Sink: Sink + 'static;
    /// The work queue (fan-out, replay continuations).
    type Queue: WorkQueue;
}

/// What the deployed functions run on: OCI, the checkpoint store the URL names, syslog, SQS.
#[derive(Debug)]
pub enum Live {}

impl Backend for Live {
    type Source = LiveSource;
    type Store = AnyStore;
    type Sink = SyslogSink;
    type Queue = SqsQueue;
}

/// The runner of a backend.
pub type BackendRunner<B> =
    Runner<<B as Backend>::Source, <B as Backend>::Store, <B as Backend>::Sink>;

/// What the handlers work with, built once per process.
pub struct Deps<B: Backend> {
    /// Every runner (one per configured tenancy and source), shared by every invocation (each
    /// brings its own deadline); a tenancy that could not start is kept as a failed entry.
    pub runners: Runners<B>,
    /// Fan-out settings (`AUDITFWD_FAN_OUT*`).
    pub fan_out: FanOut,
    /// The work queue, when `AUDITFWD_WORK_QUEUE_URL` is set.
    pub queue: Option<B::Queue>,
    /// `AUDITFWD_CHECKPOINT_URL`, to say where replay results are.
    pub state_url: String,
}

impl<B: Backend> fmt::Debug for Deps<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("runners", &self.runners)
            .field("fan_out", &self.fan_out)
            .field("queue", &self.queue.is_some())
            .field("state_url", &self.state_url)
            .finish()
    }
}

impl<B: Backend> Deps<B> {
    /// Dependencies around `runners`.
    pub fn new(
        runners: Vec<RunnerEntry<B>>,
        fan_out: FanOut,
        queue: Option<B::Queue>,
        state_url: impl Into<String>,
    ) -> Self {
        Deps {
            runners: Runners::new(runners),
            fan_out,
            queue,
            state_url: state_url.into(),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;
