//! The auditfwd replay function, invoked by hand (`aws lambda invoke`) with
//! `{"from": ..., "to": ..., "compartments": [...], "regions": [...], "dryRun": false}`. Wiring
//! only; the handler and its rules are `auditfwd_lambda::replay`, the cold start and the
//! runtime `auditfwd_lambda::serve`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Boxed: the pipeline's futures are large; main keeps a pointer.
    Box::pin(auditfwd_lambda::serve::<auditfwd_lambda::replay::Replay>()).await
}
