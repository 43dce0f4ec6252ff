//! The install functions, which change process-wide state: this binary is their only user, so
//! the global recorder and subscriber they install cannot collide with the unit tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: failing loudly is the point

mod monitoring;

use auditfwd_telemetry::{
    LogFormat, LogTarget, TelemetryError, init_logging, install_emf, install_prometheus, names,
};

#[test]
fn install_emf_records_through_the_facade_and_refuses_a_second_recorder() {
    let handle = install_emf("auditfwd").unwrap();
    metrics::counter!(names::EVENTS_FORWARDED, "region" => "eu-frankfurt-1", "pass" => "live")
        .increment(3);
    metrics::gauge!(names::CHECKPOINT_LAG, "region" => "eu-frankfurt-1").set(42.0);

    let mut out = Vec::new();
    let written = handle.flush(&mut out).unwrap();
    let docs: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), written);
    let total = docs
        .iter()
        .find(|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == serde_json::json!([[]]))
        .unwrap();
    assert_eq!(total[names::EVENTS_FORWARDED], 3);
    assert_eq!(total[names::CHECKPOINT_LAG], 42.0);
    assert!(total["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);

    let second = install_prometheus().unwrap_err();
    assert!(
        matches!(second, TelemetryError::RecorderAlreadyInstalled),
        "{second}"
    );
    assert!(!second.is_retryable());
    assert!(matches!(
        install_emf("auditfwd"),
        Err(TelemetryError::RecorderAlreadyInstalled)
    ));
}

#[test]
fn init_logging_installs_once() {
    let env = |name: &str| match name {
        "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".to_owned()),
        "AWS_LAMBDA_LOG_LEVEL" => Some("WARN".to_owned()),
        _ => None,
    };
    let settings = init_logging(LogTarget::Lambda, env).unwrap();
    assert_eq!(
        (settings.format, settings.filter.as_str()),
        (LogFormat::Json, "warn")
    );
    let again = init_logging(LogTarget::Cli, |_| None).unwrap_err();
    assert!(
        matches!(again, TelemetryError::LoggingAlreadyInstalled(_)),
        "{again}"
    );
}
