//! [`TelemetryError`]: what can go wrong while installing exporters and logging, or flushing
//! metrics.
//!
//! None of it is retryable: each is a start-up mistake (a second recorder, a bad namespace) or a
//! broken standard stream, and trying again changes neither.

use tracing_subscriber::util::TryInitError;

/// Installing or flushing telemetry failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The process already has a global `metrics` recorder (only one can be installed).
    #[error("a metrics recorder is already installed in this process")]
    RecorderAlreadyInstalled,
    /// The process already has a global `tracing` subscriber.
    #[error("a tracing subscriber is already installed in this process")]
    LoggingAlreadyInstalled(#[source] TryInitError),
    /// The CloudWatch namespace breaks CloudWatch's rules.
    #[error("invalid CloudWatch namespace {namespace:?}: {reason}")]
    InvalidNamespace {
        /// The namespace given.
        namespace: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A CloudWatch dimension name breaks CloudWatch's rules, or there are too many.
    #[error("invalid CloudWatch dimension {name:?}: {reason}")]
    InvalidDimension {
        /// The dimension name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The Prometheus exporter refused its configuration (histogram buckets).
    #[error("configuring the Prometheus exporter")]
    Prometheus(#[from] metrics_exporter_prometheus::BuildError),
    /// Writing EMF documents failed (stdout closed, for instance); the flushed values are lost.
    #[error("writing CloudWatch EMF documents")]
    Write(#[source] std::io::Error),
}

impl TelemetryError {
    /// Whether trying the same thing again could succeed. Never, for these errors.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
