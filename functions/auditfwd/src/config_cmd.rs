//! `auditfwd config`: every variable's effective value (secrets redacted) and where it came
//! from (default, environment, config file), then whether the whole parses.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

pub(crate) fn config(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let sources = match crate::sources(file) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let rows = sources.effective();
    let width = rows
        .iter()
        .map(|r| r.variable.name.len())
        .max()
        .unwrap_or(0);
    let vwidth = rows
        .iter()
        .map(|r| r.value.chars().count().min(60))
        .max()
        .unwrap_or(0);
    let mut out = std::io::stdout().lock();
    let mut group = "";
    for r in &rows {
        if r.variable.group != group {
            group = r.variable.group;
            writeln!(out, "# {group}").context("cannot write")?;
        }
        let value = if r.value.is_empty() {
            "(unset)".to_owned()
        } else if r.value.contains('\n') {
            // PEM text given inline (not a secret, e.g. a CA): first line only.
            format!("{}…", r.value.lines().next().unwrap_or_default())
        } else {
            r.value.clone()
        };
        writeln!(
            out,
            "{:<width$}  {:<vwidth$}  ({})",
            r.variable.name, value, r.source
        )
        .context("cannot write")?;
    }
    // Whether it parses (KMS ciphertext is not decrypted here: no AWS call for this command).
    match auditfwd_config::Config::from_vars(sources.vars()) {
        Ok(_) => {
            writeln!(out, "\nconfiguration is valid").context("cannot write")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let kms_only = e.problems.iter().all(|p| {
                sources
                    .vars()
                    .iter()
                    .any(|(k, v)| k == &format!("{}_KMS", p.variable) && !v.trim().is_empty())
            });
            if kms_only {
                writeln!(out, "\nconfiguration is valid once the *_KMS secrets are decrypted (auditfwd check decrypts them)").context("cannot write")?;
                Ok(ExitCode::SUCCESS)
            } else {
                writeln!(out, "\n{e}").context("cannot write")?;
                Ok(ExitCode::from(2))
            }
        }
    }
}
