//! Starts a private rsyslogd for one test and reads back its parsed view of each message.

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use auditfwd_syslog::tls::{ClientIdentity, Pem, Roots, TlsConfig};
use auditfwd_syslog::{SyslogRecord, Window};
use auditfwd_test_support::rsyslog::{PATIENCE, RsyslogProcess, free_tcp_ports};
use serde_json::Value;

const TEMPLATE: &str = include_str!("../../../../scripts/rsyslog/rsyslog.conf.tmpl");
/// MSGID of the readiness probes, left out of [`Rsyslog::received`].
const PROBE: &str = "auditfwd-harness-probe";

pub use auditfwd_test_support::pki::Certs;

/// Client TLS settings for the test PKI.
pub trait ClientTls {
    /// Trusting the test CA, with the client certificate (mTLS).
    fn client_tls(&self) -> TlsConfig;
}

impl ClientTls for Certs {
    fn client_tls(&self) -> TlsConfig {
        TlsConfig {
            roots: Roots::Bundle(Pem::File(self.ca.clone())),
            server_name: Some("localhost".into()),
            client_identity: Some(ClientIdentity {
                cert_chain: Pem::File(self.client_cert.clone()),
                key: Pem::File(self.client_key.clone()),
            }),
        }
    }
}

/// Ports of the inputs of one rsyslogd.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub tcp: u16,
    pub udp: u16,
    pub tls: u16,
    pub relp: u16,
    pub relp_tls: u16,
}

impl Ports {
    fn pick() -> Self {
        let tcp = free_tcp_ports(4);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        Self {
            tcp: tcp[0],
            udp: udp.local_addr().unwrap().port(),
            tls: tcp[1],
            relp: tcp[2],
            relp_tls: tcp[3],
        }
    }
}

/// One line of rsyslog's output: its parsed view of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub inputname: String,
    pub pri: String,
    pub hostname: String,
    pub appname: String,
    pub msgid: String,
    pub sd: String,
    pub msg: String,
}

/// A running private rsyslogd (its life cycle is `auditfwd_test_support::rsyslog`). Killed on
/// drop.
#[derive(Debug)]
pub struct Rsyslog {
    pub ports: Ports,
    pub certs: Certs,
    process: RsyslogProcess,
}

impl Rsyslog {
    pub fn start() -> Self {
        let mut process = RsyslogProcess::new();
        let certs = Certs::generate(process.dir());
        let ports = Ports::pick();
        let path = |p: &Path| p.to_str().unwrap().to_owned();
        let conf_text = TEMPLATE
            .replace("@DIR@", &path(process.dir()))
            .replace("@CA@", &path(&certs.ca))
            .replace("@CERT@", &path(&certs.server_cert))
            .replace("@KEY@", &path(&certs.server_key))
            .replace("@TCP_PORT@", &ports.tcp.to_string())
            .replace("@UDP_PORT@", &ports.udp.to_string())
            .replace("@TLS_PORT@", &ports.tls.to_string())
            .replace("@RELP_PORT@", &ports.relp.to_string())
            .replace("@RELP_TLS_PORT@", &ports.relp_tls.to_string());
        process.start(
            &conf_text,
            &[ports.tcp, ports.tls, ports.relp, ports.relp_tls],
        );
        let r = Self {
            ports,
            certs,
            process,
        };
        r.wait_for_udp();
        r
    }

    /// imudp may bind after the TCP inputs: probe until a datagram gets through.
    fn wait_for_udp(&self) {
        let deadline = Instant::now() + PATIENCE;
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let probe = format!("<13>1 - probe probe - {PROBE} - ready");
        let probes = || {
            self.process
                .output()
                .iter()
                .filter(|v| v["msgid"] == PROBE)
                .count()
        };
        let before = probes();
        loop {
            udp.send_to(probe.as_bytes(), ("127.0.0.1", self.ports.udp))
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
            if probes() > before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "rsyslogd UDP input not ready: {}",
                self.diagnostics()
            );
        }
    }

    /// Stops rsyslogd gracefully (SIGTERM to the process this harness started).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Kills rsyslogd (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Stops and starts again on the same ports, appending to the same output.
    pub fn restart(&mut self) {
        self.process.stop();
        self.process.launch();
        self.wait_for_udp();
    }

    pub fn diagnostics(&self) -> String {
        self.process.diagnostics()
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        self.process
            .output()
            .into_iter()
            .filter(|v| v["msgid"] != PROBE)
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                Received {
                    inputname: s("inputname"),
                    pri: s("pri"),
                    hostname: s("hostname"),
                    appname: s("appname"),
                    msgid: s("msgid"),
                    sd: s("sd"),
                    msg: s("msg"),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages were received, and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.received();
            if got.len() >= n {
                // Give stragglers (duplicates, forged lines) a moment to show up too.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return self.received();
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

/// The window every test record belongs to.
pub fn window() -> Window {
    Window {
        start: "2026-11-22T14:00:00Z".parse().unwrap(),
        end: "2026-11-22T14:05:00Z".parse().unwrap(),
    }
}

/// The realistic 2.8 KB TerminateInstance event.
pub fn fixture() -> SyslogRecord {
    let text = include_str!("../fixtures/terminate_instance.json");
    SyslogRecord::from_event(serde_json::from_str(text).unwrap(), window(), false).unwrap()
}

/// `n` distinct records: fixture variants with unique ids, some with non-ASCII text and
/// SD-special characters.
pub fn records(n: usize, tag: &str) -> Vec<SyslogRecord> {
    (0..n)
        .map(|i| {
            let mut r = fixture();
            r.event_id = format!("{tag}-{i:05}");
            let id = r.event_id.clone();
            r.edit_body(|b| b["eventId"] = id.into()).unwrap();
            if i % 3 == 1 {
                r.edit_body(|b| b["data"]["resourceName"] = format!("café-{i}").into())
                    .unwrap();
            }
            if i % 5 == 2 {
                r.compartment_id = format!("ocid1.compartment.oc1..q\"uo\\te]{i}");
            }
            if i % 2 == 0 {
                r.event_type = "com.oraclecloud.ComputeApi.GetInstance".into();
                r.edit_body(|b| b["data"]["eventName"] = "GetInstance".into())
                    .unwrap();
            }
            r.replay = i % 4 == 3;
            r
        })
        .collect()
}

/// What rsyslog should show for an RFC 5424 message we sent: (msgid, structured data, msg).
pub fn rfc5424_view(bytes: &[u8]) -> (String, String, String) {
    let s = std::str::from_utf8(bytes).unwrap();
    // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
    let mut rest = s;
    let mut fields = Vec::new();
    for _ in 0..6 {
        let (f, r) = rest.split_once(' ').unwrap();
        fields.push(f);
        rest = r;
    }
    let b = rest.as_bytes();
    let mut i = 0;
    let mut in_value = false;
    let sd_end = loop {
        match b[i] {
            b'\\' if in_value => i += 1,
            b'"' => in_value = !in_value,
            b']' if !in_value && b.get(i + 1) != Some(&b'[') => break i + 1,
            _ => {}
        }
        i += 1;
    };
    (
        fields[5].to_owned(),
        rest[..sd_end].to_owned(),
        rest[sd_end + 1..].to_owned(),
    )
}

/// The event id inside a JSON payload (BOM tolerated).
pub fn event_id_of(msg: &str) -> String {
    let v: Value = serde_json::from_str(msg.trim_start_matches('\u{feff}')).unwrap();
    v["eventId"].as_str().unwrap().to_owned()
}
