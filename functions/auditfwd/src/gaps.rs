//! `auditfwd gaps ack`: accepts gaps OCI can no longer serve as lost, recording who and why
//! (see `auditfwd_pipeline::gaps`).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use auditfwd_pipeline::AuditSource as _;
use auditfwd_pipeline::gaps::{self, AckRequest};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Accepts lost gaps (events OCI no longer holds) so that `status` stops flagging them;
    /// the gap stays in the ledger with who accepted it, when and why.
    Ack(AckArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct AckArgs {
    /// Only this compartment (OCID; repeatable). Default: every compartment.
    #[arg(long = "compartment", value_name = "OCID")]
    compartments: Vec<String>,
    /// Only this region (repeatable). Default: every configured region.
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
    /// Also give up on gaps that are not lost yet (OCI may still serve them; they are then
    /// never delivered).
    #[arg(long)]
    include_open: bool,
    /// Who accepts the loss (recorded in the gap).
    #[arg(long, value_name = "NAME")]
    by: String,
    /// Why (recorded in the gap), e.g. an incident number.
    #[arg(long, value_name = "TEXT")]
    note: String,
}

pub(crate) async fn gaps(g: crate::Global<'_>, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Ack(args) = command;
    let config = match crate::load(g).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Err(code) = crate::one_tenancy(&config) {
        return Ok(code);
    }
    let runner = crate::checkpoint_runner(&config).await?;
    let request = AckRequest {
        regions: args.regions,
        compartments: args.compartments,
        include_open: args.include_open,
        by: args.by,
        note: args.note,
    };
    let report = match gaps::acknowledge(
        &**runner.store(),
        runner.source().tenancy(),
        &runner.source().regions(),
        &request,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out = std::io::stdout().lock();
    for a in &report.accepted {
        writeln!(
            out,
            "accepted {} gap {} of {} in {}: {}",
            if a.lost { "lost" } else { "open" },
            a.window,
            a.compartment,
            a.region,
            auditfwd_telemetry::printable(&a.reason)
        )
        .context("cannot write")?;
    }
    writeln!(out, "{} gap(s) accepted", report.accepted.len()).context("cannot write")?;
    for b in &report.busy {
        writeln!(
            out,
            "shard {b} is being worked by a runner: run again later"
        )
        .context("cannot write")?;
    }
    Ok(if report.busy.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
