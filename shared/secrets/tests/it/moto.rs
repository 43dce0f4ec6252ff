//! A moto server on a free loopback port, stopped on drop (the approach of
//! `shared/checkpoint/tests/it/s3.rs`).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::{Credentials, SharedCredentialsProvider};

pub(crate) struct Moto {
    child: Child,
    port: u16,
}

/// The project's venv, where scripts/setup-dev installs moto_server and the aws CLI.
pub(crate) fn venv_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin")
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let bin = std::env::var_os("AUDITFWD_MOTO_SERVER")
            .map_or_else(|| venv_bin().join("moto_server"), PathBuf::from);
        assert!(
            bin.exists(),
            "moto_server is not installed at {}: run scripts/setup-dev (or set AUDITFWD_MOTO_SERVER)",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start listening on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The shared AWS configuration a function would load from `AWS_*` variables, here built
    /// by hand so the test does not depend on the machine's environment.
    pub(crate) fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint())
    }
}

pub(crate) fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "moto",
        )))
        .build()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
