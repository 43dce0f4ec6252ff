//! One invocation: which function, its request id, its time [`Budget`] and where its metrics
//! go; and the frame every handler runs in: the work under the hard stop, then exactly one
//! summary log line, then the metrics flush, whatever the outcome.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::budget::Budget;
use crate::error::LambdaError;
use crate::metrics::Metrics;

/// Which function is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// The scheduled poller.
    Poller,
    /// The SQS worker.
    Worker,
    /// The replay function.
    Replay,
}

impl Function {
    /// Its name (the binary's, and the `function` log field).
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Poller => "poller",
            Function::Worker => "worker",
            Function::Replay => "replay",
        }
    }
}

/// One invocation's context.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Which function.
    pub function: Function,
    /// Lambda's request id (names replay results and work messages).
    pub request_id: String,
    /// When to stop starting work, and when to abandon it.
    pub budget: Budget,
    /// Where the metrics go.
    pub metrics: Metrics,
    started: Instant,
}

/// What a handler's answer says in the invocation's summary line.
pub trait Summary {
    /// Logs the one summary line of a successful invocation (`elapsed` since it started).
    fn log_summary(&self, inv: &Invocation, elapsed: Duration);
}

impl Invocation {
    /// An invocation starting now.
    pub fn new(
        function: Function,
        request_id: impl Into<String>,
        budget: Budget,
        metrics: Metrics,
    ) -> Self {
        Invocation {
            function,
            request_id: request_id.into(),
            budget,
            metrics,
            started: Instant::now(),
        }
    }

    /// How long after its start the invocation stops starting windows (for the summary line).
    pub fn stop_after_ms(&self) -> u64 {
        self.budget
            .stop_at
            .saturating_duration_since(self.started)
            .as_millis() as u64
    }

    /// Runs `work` until it ends or the hard stop passes (the work is then dropped:
    /// nothing more is committed, and the compartment leases lapse after their TTL), logs one
    /// summary line, and flushes the metrics.
    pub async fn frame<T: Summary>(
        &self,
        work: impl Future<Output = Result<T, LambdaError>>,
    ) -> Result<T, LambdaError> {
        let result = match tokio::time::timeout_at(self.budget.hard_stop_at, work).await {
            Ok(r) => r,
            Err(_) => Err(LambdaError::HardStop {
                seconds: crate::budget::FLUSH_RESERVE.as_secs_f64(),
            }),
        };
        let elapsed = self.started.elapsed();
        match &result {
            Ok(answer) => answer.log_summary(self, elapsed),
            Err(e) => tracing::error!(
                function = self.function.as_str(),
                request_id = %self.request_id,
                duration_ms = elapsed.as_millis() as u64,
                stop_after_ms = self.stop_after_ms(),
                error_type = %e.error_type(),
                retryable = e.is_retryable(),
                error = %e,
                "invocation failed"
            ),
        }
        self.metrics.flush();
        result
    }
}
