//! `auditfwd status`: each compartment's cursor, lag, settle queue, gaps and errors, read from
//! the checkpoint store only. Exit code 1 when anything needs attention.

use std::process::ExitCode;

use anyhow::Context as _;
use auditfwd_pipeline::AuditSource as _;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print JSON (for machines).
    #[arg(long)]
    json: bool,
}

pub(crate) async fn status(g: crate::Global<'_>, args: Args) -> anyhow::Result<ExitCode> {
    let config = match crate::load(g).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    // The runners are built for their store and tenancy; status sends nothing and calls no
    // OCI API.
    let built = auditfwd_runtime::build_all(
        &config,
        std::sync::Arc::new(auditfwd_pipeline::SystemClock),
        auditfwd_runtime::BuildOptions::default(),
    )
    .await
    .context("cannot build the pipeline")?;
    let now = chrono::Utc::now();
    let mut tenancies = Vec::new();
    let mut attention = false;
    for t in built {
        let (tenancy, status) = match &t.runner {
            Ok(runner) => {
                let report = auditfwd_pipeline::status::status(
                    &**runner.store(),
                    runner.source().tenancy(),
                    &runner.source().regions(),
                    now,
                )
                .await;
                // Anything that stops delivery: unreadable state, a failing compartment tree
                // (wrong or revoked key, clock skew, OCI unreachable), failing windows, gaps
                // not accepted.
                attention |= report.needs_attention();
                (Some(runner.source().tenancy().to_string()), Ok(report))
            }
            Err(e) => {
                attention = true;
                (None, Err(e.to_string()))
            }
        };
        tenancies.push(TenancyStatus {
            label: t.label(),
            name: t.name,
            source: t.source,
            tenancy,
            status,
        });
    }
    let mut out = std::io::stdout().lock();
    write_status(&mut out, &tenancies, args.json).context("cannot write the status")?;
    Ok(if attention {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One tenancy's status, or why it could not be read.
#[derive(Debug, serde::Serialize)]
struct TenancyStatus {
    #[serde(skip)]
    label: String,
    name: String,
    source: &'static str,
    tenancy: Option<String>,
    #[serde(flatten, serialize_with = "status_or_error")]
    status: Result<auditfwd_pipeline::status::StatusReport, String>,
}

fn status_or_error<S: serde::Serializer>(
    status: &Result<auditfwd_pipeline::status::StatusReport, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut m = s.serialize_map(Some(1))?;
    match status {
        Ok(report) => m.serialize_entry("status", report)?,
        Err(e) => m.serialize_entry("error", e)?,
    }
    m.end()
}

/// One tenancy: its report as before (a table, or the report's JSON). Several: each under its
/// name (JSON: `{"tenancies": [{"name", "tenancy", "status" | "error"}]}`).
fn write_status(
    out: &mut impl std::io::Write,
    tenancies: &[TenancyStatus],
    json: bool,
) -> std::io::Result<()> {
    if let [one] = tenancies
        && let Ok(report) = &one.status
    {
        if json {
            serde_json::to_writer_pretty(&mut *out, report)?;
            return writeln!(out);
        }
        return write!(out, "{}", report.table());
    }
    if json {
        serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "tenancies": tenancies }))?;
        return writeln!(out);
    }
    for t in tenancies {
        let id = t
            .tenancy
            .as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        writeln!(out, "== tenancy {}{id}", t.label)?;
        match &t.status {
            Ok(report) => write!(out, "{}", report.table())?,
            Err(e) => writeln!(out, "FAILED: cannot read this tenancy: {e}")?,
        }
    }
    Ok(())
}
