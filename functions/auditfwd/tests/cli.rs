//! The `auditfwd` command as an operator meets it before anything runs: configuration problems
//! and the effective configuration. (The pipeline's end-to-end tests are in `tests/e2e`; they
//! run this same binary, which `cargo test --workspace` builds for these tests.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";

/// Runs `auditfwd` with exactly `vars` in its environment.
fn auditfwd(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("temp HOME");
    Command::new(env!("CARGO_BIN_EXE_auditfwd"))
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .envs(vars.iter().copied())
        .output()
        .expect("run auditfwd")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_configuration_problem_is_reported_at_once_naming_its_variable_and_exits_2() {
    let out = auditfwd(
        &["run", "--once"],
        &[
            ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
            ("AUDITFWD_SYSLOG_URL", "ftp://127.0.0.1:514"),
            (
                "AUDITFWD_CHECKPOINT_URL",
                "file:///nonexistent-auditfwd-test",
            ),
            ("AUDITFWD_INTERVAL", "soon"),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    for name in [
        "AUDITFWD_OCI_TENANCY",
        "AUDITFWD_SYSLOG_URL",
        "AUDITFWD_INTERVAL",
    ] {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
}

#[test]
fn config_shows_where_each_value_came_from_and_never_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("auditfwd.env");
    std::fs::write(&file, "AUDITFWD_SYSLOG_URL=tcp://127.0.0.1:10514\n").expect("write file");
    let key = "-----BEGIN PRIVATE KEY-----\nTHIS-KEY-TEXT-MUST-NEVER-BE-PRINTED\n-----END PRIVATE KEY-----";
    let file_arg = file.to_str().expect("utf-8 path");
    let out = auditfwd(
        &["--config", file_arg, "config"],
        &[
            ("AUDITFWD_OCI_TENANCY", TENANCY),
            ("AUDITFWD_OCI_USER", USER),
            ("AUDITFWD_OCI_KEY", key),
            ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
            ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    for stream in [&stdout, &stderr] {
        assert!(
            !stream.contains("THIS-KEY-TEXT-MUST-NEVER-BE-PRINTED"),
            "the key was printed: {stream}"
        );
    }
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from: {stdout}"))
            .to_owned()
    };
    let key_line = line("AUDITFWD_OCI_KEY");
    assert!(key_line.contains("<redacted>"), "{key_line}");
    assert!(key_line.contains("(environment)"), "{key_line}");
    assert!(line("AUDITFWD_SYSLOG_URL").contains(file_arg), "{stdout}");
    assert!(line("AUDITFWD_SYSLOG_URL").contains("tcp://127.0.0.1:10514"));
}
