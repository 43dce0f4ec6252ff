//! The auditfwd worker, a Lambda function fed by the work queue (SQS, partial batch
//! responses). Wiring only; the handler and its rules are `auditfwd_lambda::worker`, the cold
//! start and the runtime `auditfwd_lambda::serve`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Boxed: the pipeline's futures are large; main keeps a pointer.
    Box::pin(auditfwd_lambda::serve::<auditfwd_lambda::worker::Worker>()).await
}
