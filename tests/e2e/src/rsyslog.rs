//! A private `rsyslogd` for one test: plain TCP and RELP inputs on free loopback ports (or the
//! inputs a test chooses, TLS included, on ports it chooses), every message written as one JSON
//! line (rsyslog's parsed MSGID, structured data and MSG) to `out.jsonl`, so a test counts
//! exactly what the receiver accepted. The process life cycle and the configuration are
//! `auditfwd_test_support::rsyslog` (shared with the syslog crate's tests).

use std::collections::BTreeMap;
use std::time::Instant;

use auditfwd_test_support::rsyslog::{Inputs, PATIENCE, RsyslogProcess, free_tcp_ports};
use serde_json::Value;

/// One message as rsyslog understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The event id in the JSON payload.
    pub event_id: String,
    /// The input it came in on (`imptcp`, `imrelp`).
    pub input: String,
    /// Marked as an operator's replay (`replay="true"` in the structured data).
    pub replay: bool,
}

/// A running private rsyslogd; killed on drop.
#[derive(Debug)]
pub struct Rsyslog {
    process: RsyslogProcess,
    inputs: Inputs,
}

impl Rsyslog {
    /// Starts rsyslogd with plain TCP and RELP inputs and waits until both accept connections.
    /// Direct queues: a message is on disk before imrelp answers `rsp 200`, so a
    /// RELP-acknowledged message survives a crash of the receiver; `maxMessageSize` is raised to
    /// 256k, so the size limit under test is auditfwd's.
    pub fn start() -> Self {
        let ports = free_tcp_ports(2);
        Self::start_with(Inputs {
            tcp: Some(ports[0]),
            relp: Some(ports[1]),
            max_message_size: Some("256k".into()),
            ..Default::default()
        })
    }

    /// Starts rsyslogd with exactly these inputs (for example on the port a misbehaving
    /// receiver held, or with a TLS input), and waits until each accepts connections.
    pub fn start_with(inputs: Inputs) -> Self {
        let process = inputs.start();
        Rsyslog { process, inputs }
    }

    /// `relp://127.0.0.1:PORT`: every message acknowledged by the receiver.
    pub fn relp_url(&self) -> String {
        format!(
            "relp://127.0.0.1:{}",
            self.inputs.relp.expect("a RELP input")
        )
    }

    /// `tcp://127.0.0.1:PORT` (octet-counted framing).
    pub fn tcp_url(&self) -> String {
        format!(
            "tcp://127.0.0.1:{}",
            self.inputs.tcp.expect("a plain TCP input")
        )
    }

    /// Stops rsyslogd gracefully (SIGTERM to the process this harness started); its ports
    /// then refuse connections until [`Self::start_again`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts again on the same ports, appending to the same output.
    pub fn start_again(&mut self) {
        self.process.launch();
    }

    /// rsyslogd's own messages, for failure reports.
    pub fn diagnostics(&self) -> String {
        self.process.diagnostics()
    }

    /// Every message received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.process
            .output()
            .into_iter()
            .map(|v| {
                let sd = v["sd"].as_str().unwrap_or_default();
                let msg = v["msg"].as_str().unwrap_or_default();
                let event_id = event_id_of(msg);
                assert!(
                    sd.contains(&format!("eventId=\"{event_id}\"")),
                    "structured data {sd:?} does not name the payload's event {event_id}"
                );
                Received {
                    replay: sd.contains("replay=\"true\""),
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

    /// Waits until at least `n` messages were received while `running` still runs (to
    /// interrupt it mid-run); fails if it finishes first or nothing arrives within a minute.
    pub async fn wait_mid_run(&self, running: &mut crate::auditfwd::Running, n: usize) {
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while self.received().len() < n {
            assert!(
                !running.has_exited(),
                "auditfwd finished before it could be interrupted: {:?}",
                running.output()
            );
            assert!(Instant::now() < deadline, "no events arrived in time");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// How many times each event id was received, once the messages a killed process left in
    /// its socket are written (the counts stop changing).
    pub async fn counts_once_settled(&self) -> BTreeMap<String, usize> {
        let mut last = self.counts();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let now = self.counts();
            if now == last {
                return now;
            }
            last = now;
        }
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
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

/// The record id inside a JSON payload (a leading BOM tolerated): an audit event's `eventId`,
/// a log record's `logContent.id` (Logging search), or a Cloud Guard problem's version id
/// ([`problem_version_id`]).
pub fn event_id_of(msg: &str) -> String {
    let v: Value = serde_json::from_str(msg.trim_start_matches('\u{feff}'))
        .unwrap_or_else(|e| panic!("payload is not JSON ({e}): {msg:.200}"));
    if let Some(id) = v["eventId"]
        .as_str()
        .or_else(|| v["logContent"]["id"].as_str())
    {
        return id.to_owned();
    }
    let problem: oci_emulator::Problem = serde_json::from_value(v)
        .unwrap_or_else(|e| panic!("payload is no event, record or problem ({e}): {msg:.200}"));
    problem_version_id(&problem)
}

/// The id a SIEM dedupes a version of a Cloud Guard problem by, built from the fields of the
/// forwarded JSON as `docs/sources.md` says: `<id>/<timeLastDetected>/<state>/<detail>`, the time
/// in RFC 3339 with milliseconds.
pub fn problem_version_id(p: &oci_emulator::Problem) -> String {
    format!(
        "{}/{}/{}/{}",
        p.id,
        p.time_last_detected
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        p.lifecycle_state,
        p.lifecycle_detail
    )
}
