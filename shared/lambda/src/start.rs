//! Cold start: the configuration (with its KMS secrets) read once, the pipeline and the SQS
//! client built once, for every invocation the process will serve.

use std::sync::Arc;

use auditfwd_pipeline::SystemClock;
use auditfwd_runtime::BuildOptions;

use crate::budget::{Budget, STOP_MARGIN};
use crate::error::StartError;
use crate::invocation::{Function, Invocation};
use crate::metrics::Metrics;
use crate::queue::SqsQueue;
use crate::{Deps, Live};

/// What the deployed functions run on.
pub type LiveDeps = Deps<Live>;

/// Loads the configuration (fetching the secrets given as `_KMS`, `_SECRET_ARN` or
/// `_SSM_PARAMETER`), marks the checkpoint location initialised if the bucket exists and it is
/// not yet, builds the runner (named `<function>-<random>` in leases and manifests) and, when `AUDITFWD_WORK_QUEUE_URL` is set,
/// the SQS client.
pub async fn cold_start(function: Function) -> Result<LiveDeps, StartError> {
    let config = auditfwd_runtime::load_config().await?;
    // Not silently ignored: these functions run the Audit pipeline only.
    if config.tenancies.iter().any(|t| !t.log_searches.is_empty()) {
        return Err(auditfwd_runtime::BuildError::LogSearchesUnsupported.into());
    }
    let owner = format!("{}-{:08x}", function.as_str(), fastrand::u32(..));
    // The SAM template makes the bucket with the functions: an empty location is a new stack.
    // A missing bucket is still an error (see auditfwd_checkpoint::store::location).
    auditfwd_runtime::init_state(&config, auditfwd_runtime::Init::Existing, function.as_str())
        .await?;
    let runner = auditfwd_runtime::build(
        &config,
        Arc::new(SystemClock),
        BuildOptions {
            owner: Some(owner),
            ..BuildOptions::default()
        },
    )
    .await?;
    let queue = match &config.fan_out.queue_url {
        Some(url) => {
            let sdk = aws_config::load_from_env().await;
            Some(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url.clone()))
        }
        None => None,
    };
    Ok(Deps::new(
        runner,
        config.fan_out.clone(),
        queue,
        config.checkpoint.to_string(),
    ))
}

/// Sets up logging for Lambda (stdout; `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`, read
/// through `env`) and installs the CloudWatch EMF recorder (namespace `auditfwd`); returns
/// where each invocation's metrics are flushed.
pub fn init_telemetry(env: impl Fn(&str) -> Option<String>) -> Result<Metrics, StartError> {
    auditfwd_telemetry::init_logging(auditfwd_telemetry::LogTarget::Lambda, env)?;
    let handle = auditfwd_telemetry::install_emf(auditfwd_telemetry::emf::DEFAULT_NAMESPACE)?;
    Ok(Metrics::stdout(handle))
}

/// The invocation a Lambda request starts: `deadline_ms` is the context's `deadline`
/// ([`Budget::from_deadline_ms`]); the budget keeps [`STOP_MARGIN`] (at most a quarter of the
/// time left) for the window in flight.
pub fn invocation(
    function: Function,
    request_id: &str,
    deadline_ms: u64,
    metrics: &Metrics,
) -> Invocation {
    Invocation::new(
        function,
        request_id,
        Budget::from_deadline_ms(deadline_ms, STOP_MARGIN),
        metrics.clone(),
    )
}

#[cfg(test)]
mod tests {
    /// `sam build` reads each function's `.cargo/config.toml` (the size profile); they must not
    /// drift apart.
    #[test]
    fn the_three_functions_share_one_build_profile() {
        let read = |f: &str| {
            let path = format!(
                "{}/../../functions/{f}/.cargo/config.toml",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let poller = read("poller");
        assert!(poller.contains("opt-level = \"s\""));
        assert_eq!(
            read("worker"),
            poller,
            "functions/worker/.cargo/config.toml"
        );
        assert_eq!(
            read("replay"),
            poller,
            "functions/replay/.cargo/config.toml"
        );
    }
}
