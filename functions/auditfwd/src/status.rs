//! `auditfwd status`: each compartment's cursor, lag, settle queue, gaps and errors, read from
//! the checkpoint store only. Exit code 1 when anything needs attention.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use auditfwd_pipeline::AuditSource as _;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print JSON (for machines).
    #[arg(long)]
    json: bool,
}

pub(crate) async fn status(file: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let config = match crate::load(file).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    // The runner is built for its store and tenancy; status sends nothing and calls no OCI API.
    let runner = crate::checkpoint_runner(&config).await?;
    let report = auditfwd_pipeline::status::status(
        &**runner.store(),
        runner.source().tenancy(),
        &runner.source().regions(),
        chrono::Utc::now(),
    )
    .await;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("cannot write the status")?;
        writeln!(out).context("cannot write the status")?;
    } else {
        write!(out, "{}", report.table()).context("cannot write the status")?;
    }
    // Non-zero when anything stops delivery: unreadable state, a failing compartment tree
    // (wrong key, clock skew, OCI unreachable), failing windows, gaps not accepted.
    Ok(if report.needs_attention() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
