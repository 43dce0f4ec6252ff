//! The auditfwd poller, a Lambda function on an EventBridge schedule: lists the compartment
//! tree, forwards the due windows itself or sends them to the work queue. Wiring only; the
//! handler and its rules are `auditfwd_lambda::poller`, the cold start and the runtime
//! `auditfwd_lambda::serve`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Boxed: the pipeline's futures are large; main keeps a pointer.
    Box::pin(auditfwd_lambda::serve::<auditfwd_lambda::poller::Poller>()).await
}
