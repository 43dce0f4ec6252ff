//! `auditfwd replay`: forward a time range again (marked as replay, the live cursor and dedupe
//! state untouched), or deliver the gap ledger with `--gaps`, of one source (`--source`: Audit
//! by default, a log search or Cloud Guard).

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use auditfwd_oci::{MinuteTimestamp, Window};
use auditfwd_pipeline::AuditSource as _;
use auditfwd_pipeline::compartments::CompartmentRule;
use auditfwd_pipeline::replay::{ReplayProgress, ReplayRequest};
use auditfwd_pipeline::{Mode, SystemClock, WorkItem};
use chrono::{DateTime, Utc};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// First minute to replay: RFC 3339 (2026-11-22T10:00:00Z, 2026-11-22T10:00Z) or a time
    /// ago (90m, 2h, 3d); rounded down to the minute.
    #[arg(long, required_unless_present = "gaps", value_parser = parse_time)]
    from: Option<DateTime<Utc>>,
    /// End of the range (exclusive), same forms; rounded up to the minute. Default: the last
    /// minute that has ended.
    #[arg(long, value_parser = parse_time)]
    to: Option<DateTime<Utc>>,
    /// Compartment OCID, name or path (with its subtree); repeatable. Default: every
    /// compartment the live run collects.
    #[arg(long = "compartment", value_name = "ID|NAME")]
    compartments: Vec<String>,
    /// Region id; repeatable. Default: every configured region.
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
    /// The source to replay: audit, log-search (its compartments are `log-search/<name>`) or
    /// cloud-guard (`cloud-guard/active`, `cloud-guard/inactive`: problems as they are now).
    #[arg(long, default_value = "audit", value_parser = ["audit", "log-search", "cloud-guard"])]
    source: String,
    /// List and count only; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Send to this syslog URL instead of AUDITFWD_SYSLOG_URL (same forms).
    #[arg(long, value_name = "URL")]
    destination: Option<String>,
    /// Deliver every window in the gap ledger (through the live path: manifests are written
    /// and completed entries are closed).
    #[arg(long, conflicts_with_all = ["from", "to", "compartments", "regions", "dry_run"])]
    gaps: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = DateTime::parse_from_str(t, fmt) {
            return Ok(d.with_timezone(&Utc));
        }
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(n.and_utc());
        }
    }
    let ago = |n: &str, unit: i64| -> Option<DateTime<Utc>> {
        let n: i64 = n.parse().ok()?;
        Some(Utc::now() - chrono::Duration::seconds(n.checked_mul(unit)?))
    };
    let found = match t.char_indices().last() {
        Some((i, 'm')) => ago(&t[..i], 60),
        Some((i, 'h')) => ago(&t[..i], 3600),
        Some((i, 'd')) => ago(&t[..i], 86_400),
        _ => None,
    };
    found.ok_or_else(|| {
        format!("{text:?}: expected RFC 3339 (2026-11-22T10:00:00Z) or a time ago (90m, 2h, 3d)")
    })
}

pub(crate) async fn replay(g: crate::Global<'_>, args: Args) -> anyhow::Result<ExitCode> {
    let mut sources = match crate::sources(g.file) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if let Some(url) = &args.destination {
        sources.set("AUDITFWD_SYSLOG_URL", url.clone());
    }
    let config = match auditfwd_runtime::load_config_from(sources).await {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let config = match crate::select_tenancy(config, g.tenancy) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Err(code) = crate::one_tenancy(&config) {
        return Ok(code);
    }
    let owner = format!("auditfwd-replay-{:08x}", fastrand::u32(..));
    let built = auditfwd_runtime::build_all(
        &config,
        Arc::new(SystemClock),
        auditfwd_runtime::BuildOptions {
            owner: Some(owner),
            ..Default::default()
        },
    )
    .await
    .context("cannot build the pipeline")?;
    // One tenancy here (checked above): its runner for the source asked for.
    let Some(chosen) = built.into_iter().find(|t| t.source == args.source) else {
        let _ = writeln!(
            std::io::stderr(),
            "auditfwd replay: --source {}: not collected for this tenancy (see docs/sources.md for the variable that turns it on)",
            args.source
        );
        return Ok(ExitCode::from(2));
    };
    let label = chosen.label();
    let runner = chosen
        .runner
        .with_context(|| format!("cannot build {label}"))?;
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(crate::run::stop_on_signal(stop.clone()));
    let ctx = auditfwd_pipeline::RunContext::live(stop);
    let mut out = std::io::stdout().lock();

    if args.gaps {
        let report = runner
            .run_once(&ctx.clone().with_mode(Mode::GapsOnly))
            .await;
        let open: usize = report.compartments.iter().map(|c| c.open_gaps.len()).sum();
        let committed: u32 = report
            .compartments
            .iter()
            .map(|c| c.windows_committed)
            .sum();
        write!(out, "{report}").context("cannot write the report")?;
        writeln!(
            out,
            "replay --gaps: {committed} gap windows delivered; {open} ledger entries still open"
        )
        .context("cannot write the report")?;
        let done = report.tree_error.is_none()
            && open == 0
            && report
                .compartments
                .iter()
                .all(|c| matches!(c.outcome, auditfwd_pipeline::Outcome::Complete));
        return Ok(if done {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }

    let now = Utc::now();
    let from = MinuteTimestamp::floor(args.from.unwrap_or(now));
    let to = match args.to {
        Some(t) => {
            let floor = MinuteTimestamp::floor(t);
            if floor.as_datetime() == t {
                floor
            } else {
                floor.plus_minutes(1).unwrap_or(floor)
            }
        }
        None => MinuteTimestamp::floor(now),
    };
    let request = ReplayRequest {
        from,
        to,
        compartments: args
            .compartments
            .iter()
            .map(|c| CompartmentRule::new(c.as_str()))
            .collect(),
        regions: args.regions.clone(),
        dry_run: args.dry_run,
    };
    // One tenancy here (checked above).
    let regions: Vec<String> = runner.source().regions();
    if let Err(e) = request.validate(&regions, now) {
        let _ = writeln!(std::io::stderr(), "auditfwd replay: {e}");
        return Ok(ExitCode::from(2));
    }
    let progress: Box<dyn ReplayProgress> = if std::io::stderr().is_terminal() && !args.json {
        Box::new(Bar::new())
    } else {
        Box::new(Lines)
    };
    let report = runner.replay(&ctx, &request, progress.as_ref()).await;
    drop(progress);
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("cannot write the report")?;
        writeln!(out).context("cannot write the report")?;
    } else {
        write!(out, "{report}").context("cannot write the report")?;
    }
    Ok(if report.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A progress bar on a terminal.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} windows, {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar(bar)
    }
}

impl ReplayProgress for Bar {
    fn start(&self, windows: u64) {
        self.0.set_length(windows);
    }

    fn window_done(&self, item: &WorkItem, _window: Window, _listed: u64, _forwarded: u64) {
        self.0.set_message(item.name.clone());
        self.0.inc(1);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Plain lines when stderr is not a terminal (logs, CI).
struct Lines;

impl ReplayProgress for Lines {
    fn start(&self, windows: u64) {
        tracing::info!(windows, "replay starting");
    }

    fn window_done(&self, item: &WorkItem, window: Window, listed: u64, forwarded: u64) {
        tracing::info!(scope = %item.scope, name = %item.name, %window, listed, forwarded, "window replayed");
    }
}
