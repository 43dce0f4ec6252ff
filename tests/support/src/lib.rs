//! Harnesses shared by auditfwd's tests (a dev-dependency only): real components, started on
//! loopback for one test and stopped when dropped.
//!
//! - [`MotoServer`]: moto's server mode (S3, KMS, SQS, CloudWatch), installed into `.venv` by
//!   `scripts/setup-dev`.
//! - [`rsyslog::RsyslogProcess`]: a private rsyslogd's life cycle (start, stop, kill, restart,
//!   its output lines); [`rsyslog::Inputs`]: its configuration for plain TCP, RELP and TLS
//!   (mutual TLS too, requiring a client certificate) at rsyslog's stock or a raised size;
//! - [`receivers::MisbehavingReceiver`]: receivers that accept and close, close after N bytes,
//!   or never read, on TCP or TLS;
//! - [`pki::Certs`]: a test CA with server and client certificates.
//!
//! Two binaries serve `scripts/bench-backlog`: `discard-receiver` (counts octet-counted syslog
//! frames and drops them, faster than any sender it measures) and `fetch-pages` (feature
//! `bench`: fetches a compartment's `ListEvents` pages from the OCI emulator unparsed, the
//! ceiling auditfwd's throughput is compared with).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test set-up: failing loudly is the point

pub mod pki;
pub mod receivers;
pub mod rsyslog;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The project's Python venv `bin/`, where `scripts/setup-dev` installs moto and the CLIs.
pub fn venv_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin")
}

/// A moto server on a free loopback port, stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts `moto_server` (from `.venv`, or `AUDITFWD_MOTO_SERVER`) and waits until it listens.
    pub fn start() -> MotoServer {
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
        MotoServer { child, port }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, for `endpoint_url` / `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
