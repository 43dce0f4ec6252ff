//! `auditfwd init`: makes the checkpoint location ready. A `file://` directory is created if
//! missing; a bucket (`s3://`, `oci://`) must exist already (auditfwd never creates buckets).
//! Then the `auditfwd.json` marker is written unless one is there. Every other command refuses
//! a location without it, so a mistyped URL or an unmounted volume can never look like a fresh
//! start (see docs/checkpoint.md). Running it again changes nothing.
//!
//! `--reset-shard REGION/NNNN-of-NNNN` starts one shard again whose state object was lost
//! (the runner refuses to guess: see `auditfwd_pipeline::gaps::reset_shard`).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use auditfwd_runtime::Init;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Start this shard again at the initial look-back, when its state object is missing
    /// (as `status` and the run's error name it: `<region>/NNNN-of-NNNN`). Its compartments
    /// then re-send or skip what the lost object recorded: restore the object from the
    /// bucket's versions instead when you can.
    #[arg(long, value_name = "REGION/SHARD")]
    reset_shard: Option<String>,
}

pub(crate) async fn init(g: crate::Global<'_>, args: Args) -> anyhow::Result<ExitCode> {
    let config = match crate::load(g).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Some(shard) = args.reset_shard {
        return reset_shard(&config, &shard).await;
    }
    let done = match auditfwd_runtime::init_state(&config, Init::Create, "auditfwd init").await {
        Ok(done) => done,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out = std::io::stdout().lock();
    if done.created_location {
        writeln!(out, "created the directory {}", done.location).context("cannot write")?;
    }
    if done.wrote_marker {
        writeln!(
            out,
            "initialised {}: wrote auditfwd.json; `auditfwd run` may use it now",
            done.location
        )
    } else {
        writeln!(
            out,
            "{} was already initialised on {} by {}; nothing changed",
            done.location, done.marker.created_at, done.marker.created_by
        )
    }
    .context("cannot write")?;
    Ok(ExitCode::SUCCESS)
}

async fn reset_shard(config: &auditfwd_config::Config, shard: &str) -> anyhow::Result<ExitCode> {
    let Some((region, name)) = shard.rsplit_once('/') else {
        let _ = writeln!(
            std::io::stderr(),
            "auditfwd: --reset-shard takes REGION/NNNN-of-NNNN (e.g. eu-frankfurt-1/0003-of-0016), not {shard:?}"
        );
        return Ok(ExitCode::from(2));
    };
    if let Err(code) = crate::one_tenancy(config) {
        return Ok(code);
    }
    let runner = crate::checkpoint_runner(config).await?;
    let reset = auditfwd_pipeline::gaps::reset_shard(
        &**runner.store(),
        auditfwd_pipeline::AuditSource::tenancy(&**runner.source()),
        region,
        name,
        "auditfwd init",
        chrono::Utc::now(),
    )
    .await;
    match reset {
        Ok(id) => {
            writeln!(
                std::io::stdout(),
                "shard {id} starts again at the initial look-back on the next run"
            )
            .context("cannot write")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "auditfwd: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
