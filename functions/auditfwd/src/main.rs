//! The `auditfwd` command: the forwarding pipeline outside Lambda (a VM, a container, a
//! laptop). Thin: it parses the command line and the configuration (`shared/config`), builds
//! the pipeline (`shared/runtime`) and runs it (`shared/pipeline`).
//!
//! - `init`: make the checkpoint location ready (create a `file://` directory, check a bucket,
//!   write the `auditfwd.json` marker every other command requires);
//! - `run [--once]`: the daemon (a cycle every `AUDITFWD_INTERVAL`, `/health`, `/metrics`),
//!   or one cycle;
//! - `replay`: forward a time range again (or the gap ledger, `--gaps`);
//! - `status`: where every compartment stands, from the checkpoint store;
//! - `check`: prove OCI, the checkpoint store and the syslog destination work;
//! - `config`: the effective configuration, secrets redacted, with each value's source;
//! - `demo`: everything end to end on this machine, no cloud account.
//!
//! Exit codes: 0 done, 1 something is pending or failed (the output says what), 2 the
//! configuration or the command line is unusable.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod config_cmd;
mod demo;
mod gaps;
mod init;
mod replay;
mod run;
mod status;

#[derive(Debug, Parser)]
#[command(
    name = "auditfwd",
    version,
    about = "Forwards every OCI audit event to syslog"
)]
struct Cli {
    /// A file of NAME=value lines (as in .env.example) for variables the environment does
    /// not set.
    #[arg(long, global = true, value_name = "FILE", env = "AUDITFWD_CONFIG_FILE")]
    config: Option<PathBuf>,
    /// With AUDITFWD_TENANCIES: work on this tenancy only (replay, gaps and init
    /// --reset-shard need one when several are configured).
    #[arg(long, global = true, value_name = "NAME")]
    tenancy: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Initialises the checkpoint location: creates a file:// directory, or checks that the
    /// bucket exists, then writes the auditfwd.json marker (safe to run again).
    Init(init::Args),
    /// Runs the pipeline as a daemon (a cycle every AUDITFWD_INTERVAL, /health and /metrics
    /// on AUDITFWD_LISTEN), or one cycle with --once.
    Run {
        /// Run one cycle and exit (exit code 0 only when everything due was delivered).
        #[arg(long)]
        once: bool,
    },
    /// Forwards every event OCI holds for a time range again, marked as replay, without
    /// touching the live cursor; or, with --gaps, delivers the gap ledger.
    Replay(replay::Args),
    /// Shows each compartment's cursor, lag, settle queue, gaps and errors (reads the
    /// checkpoint store only).
    Status(status::Args),
    /// Works on the gap ledger: `gaps ack` accepts gaps OCI can no longer serve as lost.
    #[command(subcommand)]
    Gaps(gaps::Command),
    /// Checks the configuration, OCI access, the checkpoint store and the syslog destination.
    Check,
    /// Prints the effective configuration (secrets redacted) and where each value came from.
    Config,
    /// Runs auditfwd end to end on this machine: an emulated OCI tenancy, a local syslog
    /// receiver and a local checkpoint.
    Demo(demo::Args),
}

/// Threads of the async runtime besides the main one. The pipeline (admission, encoding,
/// sending) runs on the main thread, in `block_on`; one worker carries the network I/O (OCI
/// requests and their bodies, the sinks, the stores) and one blocking thread reads large pages
/// and does the file store's I/O. That keeps two cores busy on a 1,000-event page stream, and
/// every further thread would get its own malloc arena, which keeps what it freed: with a
/// worker per core and an unbounded blocking pool, the 1M-event backlog peaked 8 to 10 MB
/// higher at no gain in throughput (docs/benchmarks.md, sixth round of issue 14).
const IO_THREADS: usize = 1;
/// See [`IO_THREADS`].
const BLOCKING_THREADS: usize = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command, cli.config.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(IO_THREADS)
        .max_blocking_threads(BLOCKING_THREADS)
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
    let g = Global {
        file: cli.config.as_deref(),
        tenancy: cli.tenancy.as_deref(),
    };
    match cli.command {
        Command::Init(args) => init::init(g, args).await,
        Command::Gaps(command) => gaps::gaps(g, command).await,
        Command::Run { once } => Box::pin(run::run(g, once)).await,
        Command::Replay(args) => replay::replay(g, args).await,
        Command::Status(args) => status::status(g, args).await,
        Command::Check => check::check(g).await,
        Command::Config => config_cmd::config(g.file),
        Command::Demo(args) => demo::demo(args).await,
    }
}

/// The options every command takes: the config file, and the tenancy chosen with `--tenancy`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Global<'a> {
    pub(crate) file: Option<&'a std::path::Path>,
    pub(crate) tenancy: Option<&'a str>,
}

/// Keeps only the tenancy `--tenancy` names (all when it is not given). An unknown name is a
/// usage error (exit 2).
fn select_tenancy(
    mut config: auditfwd_config::Config,
    tenancy: Option<&str>,
) -> Result<auditfwd_config::Config, ExitCode> {
    let Some(name) = tenancy else {
        return Ok(config);
    };
    let names: Vec<&str> = config.tenancies.iter().map(|t| t.name.as_str()).collect();
    if !names.contains(&name) {
        let _ = writeln!(
            std::io::stderr(),
            "auditfwd: --tenancy {name}: the configured tenancies are {} (AUDITFWD_TENANCIES)",
            names.join(", ")
        );
        return Err(ExitCode::from(2));
    }
    config.tenancies.retain(|t| t.name == name);
    Ok(config)
}

/// For the commands that work on one tenancy: a usage error (exit 2) when several are
/// configured and `--tenancy` chose none.
fn one_tenancy(config: &auditfwd_config::Config) -> Result<(), ExitCode> {
    if config.tenancies.len() > 1 {
        let names: Vec<&str> = config.tenancies.iter().map(|t| t.name.as_str()).collect();
        let _ = writeln!(
            std::io::stderr(),
            "auditfwd: AUDITFWD_TENANCIES names several tenancies ({}): choose one with --tenancy NAME",
            names.join(", ")
        );
        return Err(ExitCode::from(2));
    }
    Ok(())
}

/// The variables auditfwd reads: the environment, then `--config FILE` for what it leaves
/// unset. A bad file is a usage error (exit 2).
fn sources(file: Option<&std::path::Path>) -> Result<auditfwd_config::Sources, ExitCode> {
    let env = auditfwd_config::Sources::from_env(auditfwd_config::env_vars());
    match file {
        None => Ok(env),
        Some(f) => env.with_file(f).map_err(|e| {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e}");
            ExitCode::from(2)
        }),
    }
}

/// The parsed configuration (KMS secrets decrypted), narrowed to `--tenancy`; problems are
/// printed and give exit 2.
async fn load(g: Global<'_>) -> Result<auditfwd_config::Config, ExitCode> {
    let sources = sources(g.file)?;
    let config = auditfwd_runtime::load_config_from(sources)
        .await
        .map_err(|e| {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e}");
            ExitCode::from(2)
        })?;
    select_tenancy(config, g.tenancy)
}

/// The runner of the commands that only read or edit the checkpoint (`status`, `gaps`,
/// `init --reset-shard`): built for its store and tenancy; they send nothing.
async fn checkpoint_runner(
    config: &auditfwd_config::Config,
) -> anyhow::Result<auditfwd_runtime::LiveRunner> {
    use anyhow::Context as _;
    auditfwd_runtime::build(
        config,
        std::sync::Arc::new(auditfwd_pipeline::SystemClock),
        auditfwd_runtime::BuildOptions::default(),
    )
    .await
    .context("cannot build the pipeline")
}

/// Logging from `AUDITFWD_LOG` and `AUDITFWD_LOG_FORMAT`, in the environment or the config
/// file (a file that cannot be read leaves the environment; its error comes with the command).
fn init_logging(command: &Command, file: Option<&std::path::Path>) {
    // Logs go to stderr (stdout carries reports); colour only on a terminal. The demo is for
    // people: only warnings unless AUDITFWD_LOG says otherwise.
    let demo = matches!(command, Command::Demo(_));
    let env = auditfwd_config::Sources::from_env(auditfwd_config::env_vars());
    let sources = match file {
        Some(f) => env.clone().with_file(f).unwrap_or(env),
        None => env,
    };
    if let Err(e) = auditfwd_telemetry::logging::init_logging(
        auditfwd_telemetry::logging::LogTarget::Cli,
        |name| match sources.get(name) {
            Some(v) => Some(v),
            None if demo && name == "AUDITFWD_LOG" => Some("warn".to_owned()),
            None => None,
        },
    ) {
        let _ = writeln!(std::io::stderr(), "auditfwd: cannot set up logging: {e}");
    }
}
