//! `oci-emulator`: runs the emulator on loopback until interrupted. Wiring only; everything
//! else is in the library.
#![allow(clippy::print_stdout)] // printing how to connect is this binary's job

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use oci_emulator::{
    DelayDistribution, Emulator, EmulatorConfig, EventSpec, Latency, TenancySpec, TestKey,
    TimeSelection,
};

/// A local OCI tenancy (Audit, Identity, Object Storage, Cloud Guard, Logging Search) for tests
/// and demos.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Loopback port to listen on (0 picks a free one).
    #[arg(long, env = "OCI_EMULATOR_PORT", default_value_t = 0)]
    port: u16,
    /// Seed for the tenancy, events and faults.
    #[arg(long, env = "OCI_EMULATOR_SEED", default_value_t = 1)]
    seed: u64,
    /// Compartments below the root.
    #[arg(long, default_value_t = 12)]
    compartments: usize,
    /// Maximum depth of the compartment tree.
    #[arg(long, default_value_t = 3)]
    depth: usize,
    /// Mean events per compartment per minute.
    #[arg(long, default_value_t = 2.0)]
    events_per_minute: f64,
    /// A thin stream instead: N events per minute across the whole tenancy (`N` or `N/min`),
    /// each in a random compartment, for the backlog's minutes as for live ones; replaces
    /// --events-per-minute.
    #[arg(long, value_parser = rate_per_minute)]
    live_rate: Option<f64>,
    /// Minutes of history to generate at start-up.
    #[arg(long, default_value_t = 120)]
    backlog_minutes: i64,
    /// Exactly N events per compartment at random times over the backlog, instead of the
    /// per-minute rate.
    #[arg(long)]
    backlog_events_per_compartment: Option<usize>,
    /// Leave the newest N minutes of the backlog without events.
    #[arg(long, default_value_t = 0)]
    backlog_end_minutes_ago: i64,
    /// Do not generate new events as time passes (backlog only).
    #[arg(long)]
    no_live: bool,
    /// Events per ListEvents page.
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// What ListEvents' startTime/endTime select: `event` (eventTime) or `processed` (when OCI
    /// ingested the event, as Oracle's API reference describes).
    #[arg(long, default_value = "event")]
    time_selection: TimeSelection,
    /// Milliseconds added to every Audit, Identity and Object Storage request before it is
    /// answered (a realistic round trip is about 30).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How many requests the request log (GET /_emulator/requests) keeps; the counters
    /// (GET /_emulator/stats) count every request whatever this is.
    #[arg(long, default_value_t = 100_000)]
    request_log_capacity: usize,
    /// Cloud Guard problems to generate at start-up (ListProblems).
    #[arg(long, default_value_t = 6)]
    problems: usize,
    /// VCN flow log records to generate at start-up in one log (Logging Search `SearchLogs`).
    #[arg(long, default_value_t = 40)]
    log_records: usize,
    /// Ingestion delay: `oci` (default, most within a minute, tail to 20 min), `none`, or a
    /// fixed number of milliseconds.
    #[arg(long, default_value = "oci")]
    delay: String,
    /// Probability of a very large payload per event.
    #[arg(long, default_value_t = 0.001)]
    large_payload_probability: f64,
    /// Register this key (public or private PEM; repeatable).
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    /// Passphrase for encrypted PKCS#8 keys given with --key.
    #[arg(long, env = "OCI_EMULATOR_KEY_PASSPHRASE")]
    passphrase: Option<String>,
    /// Generate a key, register it, and write an OCI CLI config + key file into this directory.
    #[arg(long)]
    write_cli_config: Option<PathBuf>,
}

/// `N` or `N/min`.
fn rate_per_minute(s: &str) -> Result<f64, String> {
    let n = s.strip_suffix("/min").unwrap_or(s);
    match n.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "expected events per minute (N or N/min), got '{s}'"
        )),
    }
}

fn delay(spec: &str) -> anyhow::Result<DelayDistribution> {
    Ok(match spec {
        "oci" => DelayDistribution::oci_like(),
        "none" => DelayDistribution::None,
        ms => DelayDistribution::Fixed {
            ms: ms
                .parse()
                .with_context(|| format!("--delay {ms}: expected oci, none or milliseconds"))?,
        },
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = EmulatorConfig {
        seed: args.seed,
        tenancy: TenancySpec {
            compartments: args.compartments,
            max_depth: args.depth,
            ..TenancySpec::default()
        },
        events: EventSpec {
            events_per_minute: args.events_per_minute,
            tenancy_events_per_minute: args.live_rate,
            delay: delay(&args.delay)?,
            large_payload_probability: args.large_payload_probability,
            ..EventSpec::default()
        },
        backlog: chrono::Duration::minutes(args.backlog_minutes),
        backlog_end_ago: chrono::Duration::minutes(args.backlog_end_minutes_ago),
        backlog_events_per_compartment: args.backlog_events_per_compartment,
        live: !args.no_live,
        page_size: args.page_size,
        time_selection: args.time_selection,
        latency: Latency::uniform(args.latency_ms),
        request_log_capacity: args.request_log_capacity,
        problems: args.problems,
        log_records: args.log_records,
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        ..EmulatorConfig::default()
    };
    let mut builder = Emulator::builder().config(config);
    for path in &args.keys {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading key {}", path.display()))?;
        builder = builder
            .key_pem(&pem, args.passphrase.as_deref())
            .with_context(|| format!("key {}", path.display()))?;
    }
    let emu = builder.start().await.context("starting the emulator")?;
    let url = emu.base_url();
    let info = emu.tenancy();
    println!("OCI emulator listening on {url}");
    println!("  tenancy:   {}", info.tenancy_id);
    println!("  namespace: {}", info.namespace);
    println!(
        "  compartments: {} (plus the root); events stored: {}",
        info.compartments.len() - 1,
        emu.event_count()
    );
    println!(
        "  control API: {url}/_emulator/tenancy  (also /events, /stats, /settings, /faults, /requests, /keys, /clock)"
    );
    println!(
        "  time selection: {}; latency: {} ms per OCI request; live: {}",
        emu.time_selection().name(),
        args.latency_ms,
        emu.is_live()
    );
    if let Some(dir) = &args.write_cli_config {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = TestKey::generate().context("generating an API key")?;
        emu.register_key(key.public_key())?;
        let config = emu
            .write_cli_config(dir, &key)
            .context("writing the OCI CLI config")?;
        let end = chrono::Utc::now() - chrono::Duration::minutes(30);
        let end = end - chrono::Duration::seconds(end.timestamp() % 60);
        let start = end - chrono::Duration::minutes(30);
        let fmt =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        println!(
            "  OCI CLI config: {} (key fingerprint {})",
            config.display(),
            key.fingerprint()
        );
        println!();
        println!("Try the official OCI CLI (scripts/setup-dev installs it in .venv):");
        println!(
            "  OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING=True SUPPRESS_LABEL_WARNING=True .venv/bin/oci --config-file {} --endpoint {url} \\\n    audit event list --compartment-id {} --start-time {} --end-time {} --all",
            config.display(),
            info.tenancy_id,
            fmt(start),
            fmt(end)
        );
        println!(
            "  OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING=True SUPPRESS_LABEL_WARNING=True .venv/bin/oci --config-file {} --endpoint {url} \\\n    iam compartment list --compartment-id {} --compartment-id-in-subtree true --access-level ANY --all",
            config.display(),
            info.tenancy_id
        );
    }
    println!("Press Ctrl-C to stop.");
    wait_for_signal().await;
    emu.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
