//! The auditfwd worker, a Lambda function fed by the work queue (SQS, partial batch responses).
//! Wiring only: logging and the CloudWatch EMF recorder, the configuration and pipeline built
//! once at cold start (`auditfwd_lambda::start`), then each batch handed to
//! `auditfwd_lambda::worker::work` with its deadline; the answer is the
//! `{"batchItemFailures": [...]}` Lambda reads. The logic and its rules are in `shared/lambda`.

use auditfwd_lambda::start::{self, LiveDeps};
use auditfwd_lambda::worker;
use auditfwd_lambda::{Function, LambdaError, Metrics};
use aws_lambda_events::sqs::SqsBatchResponse;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let metrics = start::init_telemetry(|name| std::env::var(name).ok())?;
    let deps = match start::cold_start(Function::Worker).await {
        Ok(deps) => deps,
        Err(e) => {
            tracing::error!(function = "worker", retryable = e.is_retryable(), error = %e, "cannot start");
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
) -> Result<SqsBatchResponse, Diagnostic> {
    let (payload, context) = event.into_parts();
    let inv = start::invocation(
        Function::Worker,
        &context.request_id,
        context.deadline,
        metrics,
    );
    worker::work(deps, payload, &inv)
        .await
        .map(|r| r.batch)
        .map_err(diagnostic)
}

fn diagnostic(e: LambdaError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type(),
        error_message: e.to_string(),
    }
}
