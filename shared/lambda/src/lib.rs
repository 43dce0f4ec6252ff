//! auditfwd on AWS Lambda: the logic of the three functions in `functions/poller`,
//! `functions/worker` and `functions/replay`, which only wire it to `lambda_runtime`. Each
//! handler is a plain async function over [`Deps`] (the runner built once at cold start, the
//! fan-out settings, the work queue) and an [`Invocation`] (request id, time [`Budget`],
//! metrics output), so tests call it directly, without the runtime.
//!
//! - [`poller`]: the scheduled run: the compartment tree, then the compartments worked
//!   directly or sent to the work queue ([`fanout`] decides).
//! - [`worker`]: a batch of work messages; answers with the failed ones
//!   (`ReportBatchItemFailures`), its rules in the module doc.
//! - [`replay`]: a replay by hand, continued through the work queue when one invocation is
//!   not enough; its result is kept under `replays/<id>/` in the state store.
//! - [`message`]: the work queue's message format; [`queue`]: SQS behind the narrow
//!   [`WorkQueue`] trait, batches of 10, retries.
//! - [`budget`]: when an invocation stops starting windows and when it gives up;
//!   [`invocation`]: the frame every handler runs in (hard stop, one summary line, metrics
//!   flushed before every return); [`metrics`]: where the EMF documents go.
//! - [`status`]: how compartments ended; [`start`]: cold start; [`error`]: what fails an invocation, retryable or not.

pub mod budget;
pub mod error;
pub mod fanout;
pub mod invocation;
pub mod message;
pub mod metrics;
pub mod poller;
pub mod queue;
pub mod replay;
pub mod start;
pub mod status;
pub mod worker;

pub use budget::Budget;
pub use error::{LambdaError, StartError};
pub use invocation::{Function, Invocation};
pub use metrics::Metrics;
pub use queue::{SqsQueue, WorkQueue};

use auditfwd_checkpoint::ObjectStore;
use auditfwd_config::FanOut;
use auditfwd_pipeline::{AuditSource, Runner, Sink};

/// What the handlers work with, built once per process.
#[derive(Debug)]
pub struct Deps<A, S, K, Q> {
    /// The runner, shared by every invocation (each brings its own deadline).
    pub runner: Runner<A, S, K>,
    /// Fan-out settings (`AUDITFWD_FAN_OUT*`).
    pub fan_out: FanOut,
    /// The work queue, when `AUDITFWD_WORK_QUEUE_URL` is set.
    pub queue: Option<Q>,
    /// `AUDITFWD_CHECKPOINT_URL`, to say where replay results are.
    pub state_url: String,
}

impl<A, S, K, Q> Deps<A, S, K, Q>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Dependencies around `runner`.
    pub fn new(
        runner: Runner<A, S, K>,
        fan_out: FanOut,
        queue: Option<Q>,
        state_url: impl Into<String>,
    ) -> Self {
        Deps {
            runner,
            fan_out,
            queue,
            state_url: state_url.into(),
        }
    }
}
