//! Why an invocation failed as a whole, and what the Lambda runtime is told.
//!
//! A per-compartment problem is not an error here: the poller reports it in its response and
//! the worker as a batch item failure. These errors are the ones that make the invocation
//! fail, so Lambda counts them (the `*ErrorsAlarm` alarms) and, for the worker, returns the
//! whole batch to the queue.

use auditfwd_checkpoint::StoreError;
use lambda_runtime::Diagnostic;

use crate::runners::{RunnerError, RunnerId};

/// Why an invocation failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The invocation's payload is not what this function takes.
    #[error("the event is not a valid {expected}: {reason}")]
    BadEvent {
        /// What the function takes.
        expected: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// The compartment tree could not be listed, so nothing was done.
    #[error("cannot list the compartment tree: {0}")]
    CompartmentTree(#[source] std::sync::Arc<auditfwd_oci::Error>),
    /// The tenancy's shard layout could not be read or created, so nothing was sent.
    #[error("cannot read the shard layout: {0}")]
    Layout(#[source] auditfwd_pipeline::Pending),
    /// Fan-out is on but `AUDITFWD_WORK_QUEUE_URL` is not set.
    #[error("{what} needs the work queue, but AUDITFWD_WORK_QUEUE_URL is not set")]
    NoQueue {
        /// What needed it.
        what: &'static str,
    },
    /// Work messages could not be sent (after retries); the next run re-plans them.
    #[error("{failed} of {total} work messages could not be sent: {reason}")]
    Send {
        /// Messages that were not sent.
        failed: usize,
        /// Messages in all.
        total: usize,
        /// The first failure, in words.
        reason: String,
        /// Whether trying again can help.
        retryable: bool,
    },
    /// The replay request is invalid (range, rules).
    #[error("invalid replay request: {0}")]
    BadReplay(String),
    /// No runner can take the request (a replay's tenancy missing or unknown, or its
    /// tenancy could not start).
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// Some of several runners failed as a whole (each after the others had run: one bad
    /// tenancy blocks no other). With one runner, its own error is returned instead.
    #[error("{} of {total} runners failed: {}", failed.len(), describe(failed))]
    Runners {
        /// The runners that failed, each with its error.
        failed: Vec<RunnerFailure>,
        /// Runners in all.
        total: usize,
    },
    /// The sweep after the windows (a Cloud Guard runner) did not finish: its changes are
    /// found again by the next poll.
    #[error("sweep: {0}")]
    Sweep(#[source] auditfwd_pipeline::SweepError),
    /// A replay result could not be written to the state store.
    #[error("cannot write the replay result {key}: {source}")]
    ReplayResult {
        /// The object key.
        key: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// Work went on past the hard stop (the deadline minus the time to flush): it was
    /// abandoned uncommitted, so that metrics could still be flushed before Lambda's timeout.
    #[error(
        "abandoned {seconds:.1} s before the invocation deadline: work did not stop in time after the stop margin"
    )]
    HardStop {
        /// How long before the deadline.
        seconds: f64,
    },
}

/// One runner that failed as a whole, in [`LambdaError::Runners`].
#[derive(Debug)]
pub struct RunnerFailure {
    /// The runner.
    pub runner: RunnerId,
    /// Why.
    pub error: Box<LambdaError>,
}

fn describe(failed: &[RunnerFailure]) -> String {
    failed
        .iter()
        .map(|f| format!("{} ({}): {}", f.runner, f.error.error_type(), f.error))
        .collect::<Vec<_>>()
        .join("; ")
}

impl LambdaError {
    /// Whether invoking again can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            LambdaError::BadEvent { .. }
            | LambdaError::NoQueue { .. }
            | LambdaError::BadReplay(_) => false,
            LambdaError::Runner(e) => e.is_retryable(),
            // Another invocation can help the runners that failed on something passing.
            LambdaError::Runners { failed, .. } => failed.iter().any(|f| f.error.is_retryable()),
            LambdaError::Send { retryable, .. } => *retryable,
            LambdaError::ReplayResult { source, .. } => source.is_retryable(),
            LambdaError::Sweep(e) => e.is_retryable(),
            LambdaError::CompartmentTree(_)
            | LambdaError::Layout(_)
            | LambdaError::HardStop { .. } => true,
        }
    }

    /// A short, stable name of the case.
    pub fn kind(&self) -> &'static str {
        match self {
            LambdaError::BadEvent { .. } => "BadEvent",
            LambdaError::CompartmentTree(_) => "CompartmentTree",
            LambdaError::Layout(_) => "Layout",
            LambdaError::NoQueue { .. } => "NoQueue",
            LambdaError::Send { .. } => "Send",
            LambdaError::BadReplay(_) => "BadReplay",
            LambdaError::Runner(e) => e.kind(),
            LambdaError::Runners { .. } => "Runners",
            LambdaError::ReplayResult { .. } => "ReplayResult",
            LambdaError::Sweep(_) => "Sweep",
            LambdaError::HardStop { .. } => "HardStop",
        }
    }

    /// The `errorType` the Lambda runtime reports: `auditfwd.Retryable.<kind>` or
    /// `auditfwd.Fatal.<kind>`, so an operator (and a retry policy) can tell them apart.
    pub fn error_type(&self) -> String {
        error_type(self.is_retryable(), self.kind())
    }
}

/// `auditfwd.Retryable.<kind>` or `auditfwd.Fatal.<kind>`.
fn error_type(retryable: bool, kind: &str) -> String {
    let class = if retryable { "Retryable" } else { "Fatal" };
    format!("auditfwd.{class}.{kind}")
}

/// The message with its causes (`a: b: c`), for the runtime's `errorMessage`, where no log
/// reader follows the source chain.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

impl From<LambdaError> for Diagnostic {
    fn from(e: LambdaError) -> Self {
        Diagnostic {
            error_type: e.error_type(),
            error_message: with_causes(&e),
        }
    }
}

impl From<&StartError> for Diagnostic {
    fn from(e: &StartError) -> Self {
        Diagnostic {
            error_type: e.error_type(),
            error_message: format!("auditfwd could not start: {}", with_causes(e)),
        }
    }
}

/// Why a function could not start (cold start): configuration, secrets, clients.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration could not be loaded (a bad variable, a secret KMS would not decrypt).
    #[error(transparent)]
    Config(#[from] auditfwd_runtime::LoadError),
    /// The pipeline could not be built.
    #[error(transparent)]
    Build(#[from] auditfwd_runtime::BuildError),
    /// The metrics recorder or logging could not be installed.
    #[error(transparent)]
    Telemetry(#[from] auditfwd_telemetry::TelemetryError),
}

impl StartError {
    /// Whether starting again can help (KMS throttling or an outage; never a bad variable).
    pub fn is_retryable(&self) -> bool {
        match self {
            StartError::Config(e) => e.is_retryable(),
            StartError::Build(e) => e.is_retryable(),
            StartError::Telemetry(_) => false,
        }
    }

    /// A short, stable name of the case: `Config` (a variable), `Secrets` (a secret could not
    /// be fetched or decrypted), `Build` (clients, credentials, TLS material), `Telemetry`.
    pub fn kind(&self) -> &'static str {
        match self {
            StartError::Config(auditfwd_runtime::LoadError::Config(_)) => "Config",
            StartError::Config(auditfwd_runtime::LoadError::Secrets(_)) => "Secrets",
            StartError::Build(_) => "Build",
            StartError::Telemetry(_) => "Telemetry",
        }
    }

    /// The `errorType` every invocation of a function that could not start answers with:
    /// `auditfwd.Fatal.<kind>` (or `auditfwd.Retryable.<kind>` when starting again may work).
    pub fn error_type(&self) -> String {
        error_type(self.is_retryable(), self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_say_whether_to_retry() {
        let bad = LambdaError::BadEvent {
            expected: "SQS event",
            reason: "missing field `Records`".into(),
        };
        assert_eq!(bad.error_type(), "auditfwd.Fatal.BadEvent");
        assert_eq!(
            LambdaError::CompartmentTree(std::sync::Arc::new(auditfwd_oci::Error::Service {
                operation: "ListCompartments",
                error: auditfwd_oci::ServiceError {
                    status: 503,
                    code: "ServiceUnavailable".into(),
                    message: "try later".into(),
                    request_id: None,
                    retry_after: None,
                },
            }))
            .error_type(),
            "auditfwd.Retryable.CompartmentTree"
        );
        let send = |retryable| LambdaError::Send {
            failed: 1,
            total: 3,
            reason: "throttled".into(),
            retryable,
        };
        assert!(send(true).is_retryable());
        assert!(!send(false).is_retryable());
    }

    #[test]
    fn several_failed_runners_are_named_and_retryable_when_one_of_them_is() {
        let required = LambdaError::from(RunnerError::TenancyRequired {
            configured: vec!["acme".into(), "globex".into()],
        });
        assert_eq!(required.error_type(), "auditfwd.Fatal.TenancyRequired");
        let failed = |retryable| LambdaError::Runners {
            failed: vec![
                RunnerFailure {
                    runner: RunnerId::new("globex", "audit"),
                    error: Box::new(LambdaError::NoQueue { what: "fan-out" }),
                },
                RunnerFailure {
                    runner: RunnerId::new("initech", "log-search"),
                    error: Box::new(LambdaError::Send {
                        failed: 1,
                        total: 1,
                        reason: "throttled".into(),
                        retryable,
                    }),
                },
            ],
            total: 3,
        };
        let e = failed(true);
        assert_eq!(e.error_type(), "auditfwd.Retryable.Runners");
        let text = e.to_string();
        assert!(text.starts_with("2 of 3 runners failed: "), "{text}");
        assert!(
            text.contains("globex/audit (auditfwd.Fatal.NoQueue)")
                && text.contains("initech/log-search (auditfwd.Retryable.Send)"),
            "{text}"
        );
        assert_eq!(failed(false).error_type(), "auditfwd.Fatal.Runners");
    }
}
