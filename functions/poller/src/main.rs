//! The auditfwd poller, a Lambda function on an EventBridge schedule. Wiring only: logging and
//! the CloudWatch EMF recorder, the configuration and pipeline built once at cold start
//! (`auditfwd_lambda::start`), then each invocation handed to `auditfwd_lambda::poller::poll`
//! with its deadline. The logic and its rules are in `shared/lambda`.

use auditfwd_lambda::poller::{self, PollerResponse, Trigger};
use auditfwd_lambda::start::{self, LiveDeps};
use auditfwd_lambda::{Function, LambdaError, Metrics};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let metrics = start::init_telemetry(|name| std::env::var(name).ok())?;
    let deps = match start::cold_start(Function::Poller).await {
        Ok(deps) => deps,
        Err(e) => {
            tracing::error!(function = "poller", retryable = e.is_retryable(), error = %e, "cannot start");
            metrics.flush();
            return Err(e.into());
        }
    };
    let (deps, metrics) = (&deps, &metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        handle(deps, metrics, event)
    }))
    .await
    .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))
}

async fn handle(
    deps: &LiveDeps,
    metrics: &Metrics,
    event: LambdaEvent<serde_json::Value>,
) -> Result<PollerResponse, Diagnostic> {
    let (payload, context) = event.into_parts();
    let inv = start::invocation(
        Function::Poller,
        &context.request_id,
        context.deadline,
        metrics,
    );
    poller::poll(deps, &Trigger::from_payload(&payload), &inv)
        .await
        .map_err(diagnostic)
}

fn diagnostic(e: LambdaError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type(),
        error_message: e.to_string(),
    }
}
