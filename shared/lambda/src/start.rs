//! Cold start: the configuration (with its KMS secrets) read once, every runner (one per
//! configured tenancy and source) and the SQS client built once, for every invocation the
//! process will serve.

use std::sync::Arc;

use auditfwd_pipeline::SystemClock;
use auditfwd_runtime::BuildOptions;

use crate::budget::{Budget, STOP_MARGIN};
use crate::error::StartError;
use crate::invocation::{Function, Invocation};
use crate::metrics::Metrics;
use crate::queue::SqsQueue;
use crate::runners::RunnerEntry;
use crate::{Backend, Deps, Live};

/// What the deployed functions run on.
pub type LiveDeps = Deps<Live>;

/// Loads the configuration (fetching the secrets given as `_KMS`, `_SECRET_ARN` or
/// `_SSM_PARAMETER`), marks the checkpoint location initialised if the bucket exists and it is
/// not yet, builds every runner (`auditfwd_runtime::build_all`: one per configured tenancy and
/// source, over one checkpoint store, each named `<function>-<random>` in leases and
/// manifests) and, when `AUDITFWD_WORK_QUEUE_URL` is set, the SQS client.
///
/// A tenancy whose runner cannot be built (an unusable key, a bad region) is logged and kept
/// as a failed entry that every invocation reports; the others run. Only when no runner at
/// all can be built does the cold start fail (with the first one's error, which is the one
/// tenancy's when one is configured).
pub async fn cold_start(function: Function) -> Result<LiveDeps, StartError> {
    let config = auditfwd_runtime::load_config().await?;
    let owner = format!("{}-{:08x}", function.as_str(), fastrand::u32(..));
    // The SAM template makes the bucket with the functions: an empty location is a new stack.
    // A missing bucket is still an error (see auditfwd_checkpoint::store::location).
    auditfwd_runtime::init_state(&config, auditfwd_runtime::Init::Existing, function.as_str())
        .await?;
    let built = auditfwd_runtime::build_all(
        &config,
        Arc::new(SystemClock),
        BuildOptions {
            owner: Some(owner),
            ..BuildOptions::default()
        },
    )
    .await?;
    let runners = usable(function, built.into_iter().map(RunnerEntry::from).collect())?;
    let queue = match &config.fan_out.queue_url {
        Some(url) => {
            let sdk = aws_config::load_from_env().await;
            Some(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url.clone()))
        }
        None => None,
    };
    Ok(Deps::new(
        runners,
        config.fan_out.clone(),
        queue,
        config.checkpoint.to_string(),
    ))
}

/// The runners to serve with: every entry, the failed ones logged, unless none started (then
/// the first failure is the start error).
fn usable<B: Backend>(
    function: Function,
    entries: Vec<RunnerEntry<B>>,
) -> Result<Vec<RunnerEntry<B>>, StartError> {
    for e in &entries {
        if let Err(error) = &e.runner {
            tracing::error!(function = function.as_str(), tenancy = %e.id.tenancy, source = %e.id.source, error = %error,
                "runner cannot start; the other runners run, and every invocation reports this one");
        }
    }
    if entries.iter().any(|e| e.runner.is_ok()) {
        return Ok(entries);
    }
    // None started: every entry failed (or there is none, which build_all never returns).
    match entries.into_iter().find_map(|e| e.runner.err()) {
        Some(first) => Err(first.into()),
        None => Ok(Vec::new()),
    }
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
    use super::*;
    use crate::runners::RunnerId;
    use crate::testing::{Fake, fake_runner};

    #[test]
    fn a_tenancy_that_cannot_start_is_kept_unless_none_can() {
        let failed = |name: &str| {
            RunnerEntry::<Fake>::failed(
                RunnerId::new(name, "audit"),
                auditfwd_runtime::BuildError::NoRegion,
            )
        };
        let ok = RunnerEntry::ready(
            RunnerId::new("acme", "audit"),
            fake_runner("ocid1.tenancy.oc1..acme").0,
        );
        let kept = usable(Function::Poller, vec![ok, failed("globex")]).unwrap();
        assert_eq!(kept.len(), 2);
        assert!(kept[1].runner.is_err());
        let none = usable(Function::Poller, vec![failed("acme"), failed("globex")]);
        assert!(
            matches!(
                none,
                Err(StartError::Build(auditfwd_runtime::BuildError::NoRegion))
            ),
            "{none:?}"
        );
    }
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
