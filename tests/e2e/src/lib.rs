//! Shared set-up for auditfwd's cross-crate end-to-end tests (the tests themselves are in
//! `tests/it/`): an OCI emulator with a frozen clock, and an `auditfwd-oci` client configuration
//! signed with a key the emulator knows.
//!
//! For the pipeline tests, which run the real `auditfwd` command against real receivers:
//! - [`tenancy`]: an emulated tenancy with a frozen backlog, its ground truth, and the
//!   exactly-once / none-lost checks;
//! - [`rsyslog`]: a private rsyslogd (TCP and RELP) whose output the tests count;
//! - [`checkpoint`]: the `file://`, `s3://` (on [`moto`], the shared `tests/support` server) and
//!   `oci://` checkpoint backends, read back through auditfwd's own store types;
//! - [`auditfwd`]: the command as a child process, configured by environment only.
#![allow(clippy::expect_used)] // test set-up: a failure here is a broken test environment

pub mod auditfwd;
pub mod checkpoint;
pub mod moto;
pub mod rsyslog;
pub mod tenancy;

use auditfwd_oci::auth::{ApiKeyCredentials, PrivateKeySource};
use auditfwd_oci::{Config, Endpoint, Region, RetryConfig, TimeoutConfig};
use oci_emulator::{EmulatorBuilder, EmulatorHandle, ManualClock, TEST_USER_ID};

/// A 2048-bit PKCS#8 test key (the size OCI requires for real API keys), shared with the OCI
/// client's own tests.
pub fn key_pem() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/oci/tests/fixtures/bench-key-2048.pem"
    ))
    .expect("key fixture in shared/oci/tests/fixtures")
}

/// An emulator builder with the clock frozen at the real "now" (so what is visible cannot
/// change during a test, while signatures dated by the real clock stay within OCI's 5 minutes).
pub fn emulator(seed: u64) -> (EmulatorBuilder, ManualClock) {
    let clock = ManualClock::new(chrono::Utc::now());
    (
        oci_emulator::Emulator::builder()
            .seed(seed)
            .live(false)
            .clock(clock.clone()),
        clock,
    )
}

/// A client configuration for `emu`, signed with the fixture key (registered with `emu`).
pub fn client_config(emu: &EmulatorHandle, retry: RetryConfig) -> Config {
    emu.register_key_pem(&key_pem(), None)
        .expect("register the test key");
    let credentials = ApiKeyCredentials::builder()
        .tenancy(emu.tenancy_id())
        .user(TEST_USER_ID)
        .private_key(PrivateKeySource::Pem(key_pem().into()))
        .build()
        .expect("credentials from the fixture key");
    Config::builder()
        .credentials(credentials)
        .region(Region::parse(&emu.region()).expect("emulator region"))
        .endpoint_override_all(Endpoint::parse(&emu.base_url()).expect("loopback endpoint"))
        .retry_config(retry)
        .timeout_config(TimeoutConfig::default())
        .build()
        .expect("client config")
}
