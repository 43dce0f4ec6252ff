//! The `auditfwd` command: the forwarding pipeline outside Lambda (a VM, a container, a
//! laptop). Thin: it parses the command line and the environment (`shared/config`), builds the
//! pipeline (`shared/runtime`) and runs it (`shared/pipeline`).
//!
//! `auditfwd run --once` runs one full cycle and exits 0 when every due window was delivered
//! and committed, 1 when something is pending (the summary says what and why), 2 when the
//! configuration is unusable.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "auditfwd",
    version,
    about = "Forwards every OCI audit event to syslog"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the pipeline: with --once, one full cycle over every compartment and region.
    Run {
        /// Run one cycle and exit (exit code 0 only when everything due was delivered).
        #[arg(long)]
        once: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { once } => {
            if !once {
                anyhow::bail!(
                    "`auditfwd run` needs --once for now: the scheduled daemon (AUDITFWD_INTERVAL, /health, /metrics) is not built yet; schedule `auditfwd run --once` with cron or a systemd timer meanwhile"
                );
            }
            run_once().await
        }
    }
}

async fn run_once() -> anyhow::Result<ExitCode> {
    let config = match auditfwd_runtime::load_config().await {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let runner = auditfwd_runtime::build(
        &config,
        Arc::new(auditfwd_pipeline::SystemClock),
        auditfwd_runtime::BuildOptions::default(),
    )
    .await
    .context("cannot build the pipeline")?;
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    let report = runner.with_stop(stop).run_once().await;
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

/// SIGTERM or SIGINT: start no new window; the one in flight finishes or is left uncommitted.
async fn stop_on_signal(stop: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::warn!("stop requested: finishing the window in flight, starting no new one");
    stop.cancel();
}

fn init_logging() {
    // Logs go to stderr (stdout carries the summary); colour only on a terminal.
    if let Err(e) = auditfwd_telemetry::logging::init_logging(
        auditfwd_telemetry::logging::LogTarget::Cli,
        |name| std::env::var(name).ok(),
    ) {
        let _ = writeln!(std::io::stderr(), "auditfwd: cannot set up logging: {e}");
    }
}
