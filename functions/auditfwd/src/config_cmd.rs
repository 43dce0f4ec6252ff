//! `auditfwd config`: every variable's effective value (secrets, and any user or password in a
//! URL, redacted) and where it came from (default, environment, config file), the `AUDITFWD_*`
//! names it does not know (with the closest known one), then whether the whole parses.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use auditfwd_config::{ReadBy, Sources};
use auditfwd_telemetry::printable;

pub(crate) fn config(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let sources = match crate::sources(file) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let valid = render(&sources, &mut std::io::stdout().lock()).context("cannot write")?;
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Writes the report; returns whether the configuration is valid.
fn render(sources: &Sources, out: &mut impl Write) -> std::io::Result<bool> {
    let rows = sources.effective();
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let vwidth = rows
        .iter()
        .map(|r| r.value.chars().count().min(60))
        .max()
        .unwrap_or(0);
    let mut group = None;
    for r in &rows {
        let title = if r.name == r.variable.name {
            r.variable.group.title()
        } else {
            "Per tenancy (AUDITFWD_TENANCIES)"
        };
        if group != Some(title) {
            group = Some(title);
            writeln!(out, "# {title}")?;
        }
        let value = if r.value.is_empty() {
            "(unset)".to_owned()
        } else if r.value.contains('\n') {
            // PEM text given inline (not a secret, e.g. a CA): first line only.
            format!("{}…", r.value.lines().next().unwrap_or_default())
        } else {
            r.value.clone()
        };
        write!(
            out,
            "{:<width$}  {:<vwidth$}  ({})",
            r.name,
            printable(&value),
            r.source
        )?;
        match &r.problem {
            Some(p) => writeln!(out, "  <- {}", printable(p))?,
            None => writeln!(out)?,
        }
    }
    let unknown = sources.unknown();
    if !unknown.is_empty() {
        writeln!(out, "\n# Not auditfwd variables (ignored)")?;
        for u in &unknown {
            writeln!(out, "warning: {}", printable(&u.to_string()))?;
        }
    }
    // Whether it parses. Secrets given in another form are not fetched here (no AWS call for
    // this command): they stand in as placeholders.
    let fetched_later = rows.iter().any(|r| {
        r.variable.read_by() == ReadBy::Secrets && r.source != auditfwd_config::Source::Default
    });
    match auditfwd_config::Config::from_vars(sources.with_placeholder_secrets().vars()) {
        Ok(_) if fetched_later => {
            writeln!(
                out,
                "\nconfiguration is valid; the secrets given as _KMS, _SECRET_ARN or _SSM_PARAMETER are fetched at start-up (auditfwd check fetches them)"
            )?;
            Ok(true)
        }
        Ok(_) => {
            writeln!(out, "\nconfiguration is valid")?;
            Ok(true)
        }
        Err(e) => {
            writeln!(out, "\n{}", printable(&e.to_string()))?;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn report(pairs: &[(&str, &str)]) -> (String, bool) {
        let sources = Sources::from_env(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut out = Vec::new();
        let valid = render(&sources, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), valid)
    }

    const VALID: [(&str, &str); 6] = [
        (
            "AUDITFWD_OCI_TENANCY",
            "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq",
        ),
        (
            "AUDITFWD_OCI_USER",
            "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq",
        ),
        (
            "AUDITFWD_OCI_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oci-key",
        ),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
        ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
        ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
    ];

    #[test]
    fn a_mistyped_variable_is_named_with_the_closest_known_one() {
        let mut pairs = VALID.to_vec();
        pairs.push(("AUDITFWD_FAN_OUT_TRESHOLD", "5"));
        let (text, valid) = report(&pairs);
        assert!(valid, "{text}");
        assert!(
            text.contains("warning: AUDITFWD_FAN_OUT_TRESHOLD is not an auditfwd variable; did you mean AUDITFWD_FAN_OUT_THRESHOLD?"),
            "{text}"
        );
        assert!(text.contains("fetched at start-up"), "{text}");
    }

    #[test]
    fn passwords_and_secrets_never_show_and_bad_values_are_marked() {
        let mut pairs = VALID.to_vec();
        pairs.retain(|(k, _)| *k != "AUDITFWD_SYSLOG_URL");
        pairs.extend([
            ("AUDITFWD_SYSLOG_URL", "relp://admin:hunter2@siem:2514"),
            ("AUDITFWD_OCI_KEY_PASSPHRASE", "correct horse"),
            ("AUDITFWD_LEASE_TTL", "0"),
        ]);
        let (text, valid) = report(&pairs);
        assert!(!valid);
        assert!(
            !text.contains("hunter2") && !text.contains("correct horse"),
            "{text}"
        );
        assert!(text.contains("AUDITFWD_OCI_KEY_PASSPHRASE"), "{text}");
        let lease = text
            .lines()
            .find(|l| l.starts_with("AUDITFWD_LEASE_TTL"))
            .unwrap();
        assert!(lease.contains("<- \"0\" is outside 30s..1d"), "{lease}");
        assert!(text.contains("invalid configuration:"), "{text}");
    }
}
