//! `auditfwd check`: configuration, OCI access, the checkpoint store and the syslog
//! destination, each reported with pass or fail; exit 0 only when all pass.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use auditfwd_pipeline::{AuditSource as _, SystemClock};

pub(crate) async fn check(g: crate::Global<'_>) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let config = match crate::load(g).await {
        Ok(c) => c,
        Err(code) => {
            writeln!(out, "FAIL  configuration: see the problems above")
                .context("cannot write the report")?;
            return Ok(code);
        }
    };
    let built = match auditfwd_runtime::build_all(
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
        "PASS  configuration: {} tenancy(ies), syslog {}, checkpoint {}",
        config.tenancies.len(),
        config.syslog.url,
        config.checkpoint
    )
    .context("cannot write the report")?;
    let several = built.len() > 1;
    let mut passed = true;
    // Each tenancy is checked whatever another's result: a revoked key is named, not hidden
    // behind the first failure.
    for t in &built {
        let label = t.label();
        if several {
            writeln!(out, "== tenancy {label}").context("cannot write the report")?;
        }
        let runner = match &t.runner {
            Ok(r) => r,
            Err(e) => {
                writeln!(out, "FAIL  tenancy {label}: {e}").context("cannot write the report")?;
                passed = false;
                continue;
            }
        };
        writeln!(
            out,
            "PASS  tenancy {label}: {} region(s)",
            runner.source().regions().len()
        )
        .context("cannot write the report")?;
        let report = runner.check().await;
        write!(out, "{report}").context("cannot write the report")?;
        passed &= report.passed();
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
