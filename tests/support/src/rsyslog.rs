//! A private `rsyslogd` process for one test: its own temporary directory, a configuration the
//! test renders, started in the foreground and waited for until its TCP inputs accept
//! connections; stopped gracefully (SIGTERM), killed (SIGKILL) or restarted on the same ports.
//! What a test configures (inputs, output template) and how it parses `out.jsonl` stays with
//! the test crate; the process life cycle lives here once.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's rsyslogd, installed by `scripts/setup-dev`.
pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
/// How long to wait for rsyslogd before failing (not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `n` distinct free TCP ports on 127.0.0.1 (all listeners are held until every port is
/// chosen, so none repeats).
pub fn free_tcp_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A private rsyslogd; killed on drop.
#[derive(Debug)]
pub struct RsyslogProcess {
    dir: tempfile::TempDir,
    conf: PathBuf,
    tcp_ports: Vec<u16>,
    child: Option<Child>,
}

impl Default for RsyslogProcess {
    fn default() -> Self {
        Self::new()
    }
}

impl RsyslogProcess {
    /// A temporary directory (with the `work/` rsyslog needs); nothing runs yet.
    pub fn new() -> Self {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} is missing: run scripts/setup-dev (installs rsyslog, rsyslog-gnutls, rsyslog-relp)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        let conf = dir.path().join("rsyslog.conf");
        RsyslogProcess {
            dir,
            conf,
            tcp_ports: Vec::new(),
            child: None,
        }
    }

    /// The directory: the configuration, `out.jsonl` if the configuration writes it there,
    /// rsyslogd's stderr and `internal.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the configuration and starts rsyslogd, then waits until every port in
    /// `tcp_ports` accepts connections.
    pub fn start(&mut self, config: &str, tcp_ports: &[u16]) {
        std::fs::write(&self.conf, config).unwrap();
        self.tcp_ports = tcp_ports.to_vec();
        self.launch();
    }

    /// Starts rsyslogd again with the same configuration (same ports, appending to the same
    /// output).
    pub fn launch(&mut self) {
        assert!(self.child.is_none(), "rsyslogd is still running");
        let pidfile = self.dir.path().join("rsyslogd.pid");
        let _ = std::fs::remove_file(&pidfile);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("rsyslogd.stderr"))
            .unwrap();
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {RSYSLOGD}: {e}; run scripts/setup-dev"));
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        for &port in &self.tcp_ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                    panic!("rsyslogd exited with {status}: {}", self.diagnostics());
                }
                assert!(
                    Instant::now() < deadline,
                    "rsyslogd did not open port {port}: {}",
                    self.diagnostics()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops rsyslogd gracefully (SIGTERM; SIGKILL after [`PATIENCE`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + PATIENCE;
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Kills rsyslogd (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// rsyslogd's own messages, for failure reports.
    pub fn diagnostics(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "rsyslogd stderr: {}\ninternal.log: {}",
            read("rsyslogd.stderr"),
            read("internal.log")
        )
    }

    /// The complete JSON lines of `out.jsonl` so far (a line still being written is skipped;
    /// it is read on the next poll).
    pub fn output(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("out.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for RsyslogProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
