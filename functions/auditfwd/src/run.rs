//! `auditfwd run`: one cycle (`--once`) or the daemon.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use auditfwd_runtime::{Daemon, DaemonSettings, HttpServer};
use tokio_util::sync::CancellationToken;

/// How long `/health` and `/metrics` requests in progress may take once the daemon stopped.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// `auditfwd run`: the daemon, or with `--once` one cycle.
pub(crate) async fn run(file: Option<&Path>, once: bool) -> anyhow::Result<ExitCode> {
    let config = match crate::load(file).await {
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
    let runner = auditfwd_runtime::build(
        &config,
        Arc::new(auditfwd_pipeline::SystemClock),
        auditfwd_runtime::BuildOptions::default(),
    )
    .await
    .context("cannot build the pipeline")?;
    let daemon = Daemon::for_runner(runner, DaemonSettings::from(&config.daemon), stop);
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
    let runner = auditfwd_runtime::build(
        &config,
        Arc::new(auditfwd_pipeline::SystemClock),
        auditfwd_runtime::BuildOptions::default(),
    )
    .await
    .context("cannot build the pipeline")?;
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    let report = runner
        .run_once(&auditfwd_pipeline::RunContext::live(stop))
        .await;
    let mut out = std::io::stdout().lock();
    write!(out, "{report}").context("cannot write the summary")?;
    if report.is_complete() {
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

/// SIGTERM, SIGINT or SIGHUP: start no new window; the one in flight finishes or is left
/// uncommitted.
pub(crate) async fn stop_on_signal(stop: CancellationToken) {
    auditfwd_runtime::daemon::stop_on_signal(stop).await;
}
