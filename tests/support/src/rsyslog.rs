//! A private `rsyslogd` process for one test: its own temporary directory, a configuration the
//! test renders, started in the foreground and waited for until its TCP inputs accept
//! connections; stopped gracefully (SIGTERM), killed (SIGKILL) or restarted on the same ports.
//! How a test parses `out.jsonl` stays with the test crate; the process life cycle lives here
//! once, and so does [`Inputs`], a configuration for the common cases (plain TCP, RELP, TLS
//! with or without a required client certificate, rsyslog's stock or a raised message size).

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use crate::pki::Certs;
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

/// A TLS input (RFC 5425: imtcp with the gtls driver).
#[derive(Debug, Clone)]
pub struct TlsInput {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The server certificate, its key, and the CA client certificates must chain to.
    pub certs: Certs,
    /// Mutual TLS: a client without a certificate signed by the CA is refused
    /// (`x509/certvalid`); otherwise none is asked for (`anon`).
    pub client_cert_required: bool,
}

/// The inputs and limits of a private rsyslogd. Every input writes one JSON line per message
/// to `out.jsonl` in the process directory, with rsyslog's parsed view: `inputname`, `msgid`,
/// `sd` (structured data) and `msg`. Direct queues: a message is on disk before an input
/// acknowledges it (RELP `rsp 200`).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Plain TCP (imptcp; octet-counted and LF-framed messages alike).
    pub tcp: Option<u16>,
    /// RELP (imrelp).
    pub relp: Option<u16>,
    /// TLS.
    pub tls: Option<TlsInput>,
    /// rsyslog's `maxMessageSize` (e.g. `"256k"`); `None` leaves rsyslog's stock limit
    /// (8096 bytes).
    pub max_message_size: Option<String>,
}

impl Inputs {
    /// The configuration text, for a process whose directory is `dir`.
    pub fn config(&self, dir: &Path) -> String {
        let dir = dir.to_str().unwrap();
        let mut c = format!("global(workDirectory=\"{dir}/work\"");
        if let Some(size) = &self.max_message_size {
            write!(c, " maxMessageSize=\"{size}\"").unwrap();
        }
        if let Some(t) = &self.tls {
            let p = |p: &Path| p.to_str().unwrap().to_owned();
            write!(
                c,
                " defaultNetstreamDriverCAFile=\"{}\" defaultNetstreamDriverCertFile=\"{}\" \
                 defaultNetstreamDriverKeyFile=\"{}\"",
                p(&t.certs.ca),
                p(&t.certs.server_cert),
                p(&t.certs.server_key)
            )
            .unwrap();
        }
        c.push_str(")\n");
        c.push_str(concat!(
            "main_queue(queue.type=\"Direct\")\n",
            "template(name=\"auditfwd_view\" type=\"list\" option.jsonf=\"on\") {\n",
            "  property(outname=\"inputname\" name=\"inputname\" format=\"jsonf\")\n",
            "  property(outname=\"msgid\" name=\"msgid\" format=\"jsonf\")\n",
            "  property(outname=\"sd\" name=\"structured-data\" format=\"jsonf\")\n",
            "  property(outname=\"msg\" name=\"msg\" format=\"jsonf\")\n",
            "}\n",
        ));
        writeln!(
            c,
            "ruleset(name=\"auditfwd\" queue.type=\"Direct\") {{ action(type=\"omfile\" \
             file=\"{dir}/out.jsonl\" template=\"auditfwd_view\") }}"
        )
        .unwrap();
        if let Some(port) = self.tcp {
            c.push_str("module(load=\"imptcp\")\n");
            writeln!(
                c,
                "input(type=\"imptcp\" port=\"{port}\" address=\"127.0.0.1\" ruleset=\"auditfwd\")"
            )
            .unwrap();
        }
        if let Some(port) = self.relp {
            c.push_str("module(load=\"imrelp\")\n");
            writeln!(
                c,
                "input(type=\"imrelp\" port=\"{port}\" address=\"127.0.0.1\" ruleset=\"auditfwd\")"
            )
            .unwrap();
        }
        if let Some(t) = &self.tls {
            let mode = if t.client_cert_required {
                "x509/certvalid"
            } else {
                "anon"
            };
            writeln!(
                c,
                "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" \
                 streamDriver.authMode=\"{mode}\")\n\
                 input(type=\"imtcp\" port=\"{}\" address=\"127.0.0.1\" ruleset=\"auditfwd\")",
                t.port
            )
            .unwrap();
        }
        writeln!(c, "*.* action(type=\"omfile\" file=\"{dir}/internal.log\")").unwrap();
        c
    }

    /// The TCP ports rsyslogd listens on.
    pub fn ports(&self) -> Vec<u16> {
        self.tcp
            .into_iter()
            .chain(self.relp)
            .chain(self.tls.as_ref().map(|t| t.port))
            .collect()
    }

    /// Starts a private rsyslogd with these inputs (waits until every port accepts).
    pub fn start(&self) -> RsyslogProcess {
        let mut process = RsyslogProcess::new();
        let config = self.config(process.dir());
        process.start(&config, &self.ports());
        process
    }
}
