//! `auditfwd run`: one cycle (`--once`) or the daemon.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use auditfwd_pipeline::AuditSource as _;
use auditfwd_runtime::{Daemon, DaemonSettings, HttpServer};
use tokio_util::sync::CancellationToken;

/// How long `/health` and `/metrics` requests in progress may take once the daemon stopped.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// `auditfwd run`: the daemon, or with `--once` one cycle.
pub(crate) async fn run(g: crate::Global<'_>, once: bool) -> anyhow::Result<ExitCode> {
    let config = match crate::load(g).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if once {
        run_once(config).await
    } else {
        Box::pin(run_daemon(config)).await
    }
}

/// A cycle now and every `AUDITFWD_INTERVAL`, `/health` and `/metrics` on `AUDITFWD_LISTEN`,
/// until SIGTERM, SIGINT or SIGHUP.
async fn run_daemon(config: auditfwd_config::Config) -> anyhow::Result<ExitCode> {
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    // The recorder goes first, so the first cycle is counted.
    let metrics = match config.daemon.listen {
        Some(_) => Some(
            auditfwd_telemetry::install_prometheus()
                .context("cannot install the Prometheus recorder")?,
        ),
        None => None,
    };
    let runners = runners(&config).await?;
    let daemon = Daemon::for_runners(runners, DaemonSettings::from(&config.daemon), stop);
    let server = match config.daemon.listen {
        Some(addr) => Some(HttpServer::bind(addr, daemon.health(), metrics).await?),
        None => {
            tracing::info!("AUDITFWD_LISTEN=off: no /health or /metrics listener");
            None
        }
    };
    let exit = Box::pin(daemon.run()).await;
    if let Some(server) = server
        && let Err(e) = server.shutdown(HTTP_GRACE).await
    {
        tracing::warn!(error = %e, "the /health and /metrics listener did not stop cleanly");
    }
    tracing::info!(?exit, "auditfwd stopped");
    Ok(ExitCode::from(exit.code()))
}

async fn run_once(config: auditfwd_config::Config) -> anyhow::Result<ExitCode> {
    let built = auditfwd_runtime::build_all(
        &config,
        Arc::new(auditfwd_pipeline::SystemClock),
        auditfwd_runtime::BuildOptions::default(),
    )
    .await
    .context("cannot build the pipeline")?;
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    let ctx = auditfwd_pipeline::RunContext::live(stop);
    let several = built.len() > 1;
    // Tenancies run side by side: one that fails (a revoked key, OCI unreachable) delays or
    // blocks no other.
    let reports = futures::future::join_all(built.into_iter().map(|t| {
        let ctx = &ctx;
        async move {
            let report = match &t.runner {
                Ok(runner) => Ok(runner.run_once(ctx).await),
                Err(e) => Err(e.to_string()),
            };
            (t, report)
        }
    }))
    .await;
    let mut out = std::io::stdout().lock();
    let mut complete = true;
    for (t, report) in &reports {
        if several {
            let id = t
                .runner
                .as_ref()
                .map(|r| format!(" ({})", r.source().tenancy()))
                .unwrap_or_default();
            writeln!(out, "== tenancy {}{id}", t.label()).context("cannot write the summary")?;
        }
        match report {
            Ok(report) => {
                write!(out, "{report}").context("cannot write the summary")?;
                complete &= report.is_complete();
            }
            Err(e) => {
                writeln!(out, "FAILED: cannot start tenancy {}: {e}", t.label())
                    .context("cannot write the summary")?;
                complete = false;
            }
        }
    }
    if complete {
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(
            out,
            "auditfwd: not everything due was delivered; the next run retries (see above)"
        )
        .context("cannot write the summary")?;
        Ok(ExitCode::from(1))
    }
}

/// A runner per tenancy; a tenancy that cannot start is logged and left out (the others run),
/// and none starting at all is an error.
async fn runners(
    config: &auditfwd_config::Config,
) -> anyhow::Result<Vec<auditfwd_runtime::LiveRunner>> {
    let built = auditfwd_runtime::build_all(
        config,
        Arc::new(auditfwd_pipeline::SystemClock),
        auditfwd_runtime::BuildOptions::default(),
    )
    .await
    .context("cannot build the pipeline")?;
    let mut runners = Vec::new();
    let mut failed = Vec::new();
    for t in built {
        let label = t.label();
        match t.runner {
            Ok(r) => runners.push(r),
            Err(e) => {
                tracing::error!(tenancy = %label, error = %e, "cannot start this tenancy; the others run");
                failed.push(format!("{label}: {e}"));
            }
        }
    }
    if runners.is_empty() {
        anyhow::bail!("no tenancy can start: {}", failed.join("; "));
    }
    Ok(runners)
}

/// SIGTERM, SIGINT or SIGHUP: start no new window; the one in flight finishes or is left
/// uncommitted.
pub(crate) async fn stop_on_signal(stop: CancellationToken) {
    auditfwd_runtime::daemon::stop_on_signal(stop).await;
}
