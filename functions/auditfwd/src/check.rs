//! `auditfwd check`: configuration, OCI access, the checkpoint store and the syslog
//! destination, each reported with pass or fail; exit 0 only when all pass.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use auditfwd_pipeline::SystemClock;

pub(crate) async fn check(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let config = match crate::load(file).await {
        Ok(c) => c,
        Err(code) => {
            writeln!(out, "FAIL  configuration: see the problems above")
                .context("cannot write the report")?;
            return Ok(code);
        }
    };
    let runner = match auditfwd_runtime::build(
        &config,
        Arc::new(SystemClock),
        auditfwd_runtime::BuildOptions {
            owner: Some(format!("auditfwd-check-{:08x}", fastrand::u32(..))),
            ..Default::default()
        },
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            writeln!(out, "FAIL  configuration: {e}").context("cannot write the report")?;
            return Ok(ExitCode::from(1));
        }
    };
    writeln!(
        out,
        "PASS  configuration: {} region(s), syslog {}, checkpoint {}",
        config.oci.regions.len(),
        config.syslog.url,
        config.checkpoint
    )
    .context("cannot write the report")?;
    let report = runner.check().await;
    write!(out, "{report}").context("cannot write the report")?;
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
