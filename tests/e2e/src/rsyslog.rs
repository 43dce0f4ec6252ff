//! A private `rsyslogd` for one test: plain TCP and RELP inputs on free loopback ports, every
//! message written as one JSON line (rsyslog's parsed MSGID, structured data and MSG) to
//! `out.jsonl`, so a test counts exactly what the receiver accepted. Adapted from
//! `shared/syslog/tests/it/harness.rs` (the TLS inputs are left out: these tests are about
//! the pipeline, not transports).

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
/// How long to wait for rsyslogd or for messages before failing (not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(60);

/// Direct queues: a message is on disk before imrelp answers `rsp 200`, so a RELP-acknowledged
/// message survives a crash of the receiver; `maxMessageSize` is above auditfwd's 64 KiB.
const CONF: &str = r#"
global(workDirectory="@DIR@/work" maxMessageSize="256k")
main_queue(queue.type="Direct")
template(name="auditfwd_e2e" type="list" option.jsonf="on") {
  property(outname="inputname" name="inputname" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="auditfwd" queue.type="Direct") {
  action(type="omfile" file="@DIR@/out.jsonl" template="auditfwd_e2e")
}
module(load="imptcp")
input(type="imptcp" port="@TCP_PORT@" address="127.0.0.1" ruleset="auditfwd")
module(load="imrelp")
input(type="imrelp" port="@RELP_PORT@" address="127.0.0.1" ruleset="auditfwd")
*.* action(type="omfile" file="@DIR@/internal.log")
"#;

/// One message as rsyslog understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The event id in the JSON payload.
    pub event_id: String,
    /// The input it came in on (`imptcp`, `imrelp`).
    pub input: String,
}

/// A running private rsyslogd; killed on drop.
#[derive(Debug)]
pub struct Rsyslog {
    dir: tempfile::TempDir,
    tcp: u16,
    relp: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Rsyslog {
    /// Starts rsyslogd and waits until both inputs accept connections.
    pub fn start() -> Self {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} is missing: run scripts/setup-dev (installs rsyslog and rsyslog-relp)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("work")).expect("rsyslog work dir");
        // Hold both listeners until both ports are chosen so they differ.
        let a = TcpListener::bind("127.0.0.1:0").expect("free port");
        let b = TcpListener::bind("127.0.0.1:0").expect("free port");
        let (tcp, relp) = (
            a.local_addr().expect("addr").port(),
            b.local_addr().expect("addr").port(),
        );
        drop((a, b));
        let text = CONF
            .replace("@DIR@", dir.path().to_str().expect("utf-8 temp path"))
            .replace("@TCP_PORT@", &tcp.to_string())
            .replace("@RELP_PORT@", &relp.to_string());
        let conf = dir.path().join("rsyslog.conf");
        std::fs::write(&conf, text).expect("write rsyslog.conf");
        let mut r = Rsyslog {
            dir,
            tcp,
            relp,
            conf,
            child: None,
        };
        r.launch();
        r
    }

    fn launch(&mut self) {
        let pidfile = self.dir.path().join("rsyslogd.pid");
        let _ = std::fs::remove_file(&pidfile);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("rsyslogd.stderr"))
            .expect("rsyslogd log file");
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {RSYSLOGD}: {e}; run scripts/setup-dev"));
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        for port in [self.tcp, self.relp] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().expect("rsyslogd status"))
                {
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

    /// `relp://127.0.0.1:PORT`: every message acknowledged by the receiver.
    pub fn relp_url(&self) -> String {
        format!("relp://127.0.0.1:{}", self.relp)
    }

    /// `tcp://127.0.0.1:PORT` (octet-counted framing).
    pub fn tcp_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.tcp)
    }

    /// Stops rsyslogd gracefully (SIGTERM to the process this harness started); its ports
    /// then refuse connections until [`Self::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + PATIENCE;
            while child.try_wait().expect("rsyslogd status").is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts again on the same ports, appending to the same output.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "rsyslogd is still running");
        self.launch();
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

    /// Every message received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(self.dir.path().join("out.jsonl")).unwrap_or_default();
        text.lines()
            // The line being written may be incomplete; it is read on the next poll.
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                let sd = v["sd"].as_str().unwrap_or_default();
                let msg = v["msg"].as_str().unwrap_or_default();
                let event_id = event_id_of(msg);
                assert!(
                    sd.contains(&format!("eventId=\"{event_id}\"")),
                    "structured data {sd:?} does not name the payload's event {event_id}"
                );
                Received {
                    event_id,
                    input: v["inputname"].as_str().unwrap_or_default().to_owned(),
                }
            })
            .collect()
    }

    /// How many times each event id was received.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in self.received() {
            *m.entry(r.event_id).or_insert(0) += 1;
        }
        m
    }

    /// Waits until at least `n` messages were received, then returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} messages arrived: {}",
                got.len(),
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The event id inside a JSON payload (a leading BOM tolerated).
pub fn event_id_of(msg: &str) -> String {
    let v: Value = serde_json::from_str(msg.trim_start_matches('\u{feff}'))
        .unwrap_or_else(|e| panic!("payload is not JSON ({e}): {msg:.200}"));
    v["eventId"]
        .as_str()
        .unwrap_or_else(|| panic!("payload has no eventId: {msg:.200}"))
        .to_owned()
}
