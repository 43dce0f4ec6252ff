//! `auditfwd init`: makes the checkpoint location ready. A `file://` directory is created if
//! missing; a bucket (`s3://`, `oci://`) must exist already (auditfwd never creates buckets).
//! Then the `auditfwd.json` marker is written unless one is there. Every other command refuses
//! a location without it, so a mistyped URL or an unmounted volume can never look like a fresh
//! start (see docs/checkpoint.md). Running it again changes nothing.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use auditfwd_runtime::Init;

pub(crate) async fn init(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = match crate::load(file).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
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
