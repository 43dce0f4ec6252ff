//! Shared set-up: credentials from the sample key, a config pointed at a mock server.

use std::time::Duration;

use auditfwd_oci::auth::{ApiKeyCredentials, PrivateKeySource};
use auditfwd_oci::{Config, Endpoint, Ocid, Region, RetryConfig, TimeoutConfig, Window};
use wiremock::MockServer;

pub(crate) const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
pub(crate) const USER: &str =
    "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
pub(crate) const COMPARTMENT: &str =
    "ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa";
pub(crate) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Oracle's 1024-bit sample key (signed with the `rsa` crate).
pub(crate) const SAMPLE_KEY: &str = "oracle-sample-key.pem";
/// A 2048-bit key, the size OCI requires (signed with AWS-LC).
pub(crate) const KEY_2048: &str = "bench-key-2048.pem";

pub(crate) fn credentials() -> ApiKeyCredentials {
    credentials_with_key(SAMPLE_KEY)
}

/// Credentials signing with the fixture `key_file`.
pub(crate) fn credentials_with_key(key_file: &str) -> ApiKeyCredentials {
    ApiKeyCredentials::builder()
        .tenancy(TENANCY)
        .user(USER)
        .private_key(PrivateKeySource::File(
            format!("{FIXTURES}/{key_file}").into(),
        ))
        .build()
        .unwrap()
}

/// Fast retries so tests that do not pause the clock stay quick.
pub(crate) fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20))
}

pub(crate) fn config(server: &MockServer, retry: RetryConfig, timeouts: TimeoutConfig) -> Config {
    config_with_credentials(server, credentials(), retry, timeouts)
}

pub(crate) fn config_with_credentials(
    server: &MockServer,
    credentials: ApiKeyCredentials,
    retry: RetryConfig,
    timeouts: TimeoutConfig,
) -> Config {
    Config::builder()
        .credentials(credentials)
        .region(Region::parse("us-phoenix-1").unwrap())
        .endpoint_override_all(Endpoint::parse(&server.uri()).unwrap())
        .retry_config(retry)
        .timeout_config(timeouts)
        .build()
        .unwrap()
}

pub(crate) fn compartment() -> Ocid {
    Ocid::parse(COMPARTMENT).unwrap()
}

pub(crate) fn window() -> Window {
    Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z").unwrap()
}

pub(crate) fn event(id: &str) -> serde_json::Value {
    serde_json::json!({
        "eventType": "com.oraclecloud.ComputeApi.GetInstance",
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "ComputeApi",
        "eventId": id,
        "eventTime": "2026-11-22T10:01:02.345Z",
        "contentType": "application/json",
        "data": {"compartmentId": COMPARTMENT, "identity": {"authType": "natv"}}
    })
}
