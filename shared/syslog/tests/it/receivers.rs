//! Receivers that do not take what they are sent: `send` must fail and list as unconfirmed
//! every message the receiver did not get (never `Ok`), on `tcp://` and `tls://` alike. Then
//! rsyslog as users run it: requiring a client certificate auditfwd was not given, at its
//! stock 8k message size, and with a self-signed certificate made by the `openssl` CLI.

use std::time::Duration;

use auditfwd_syslog::tls::{Pem, Roots, TlsConfig};
use auditfwd_syslog::transport::DEFAULT_RELP_WINDOW;
use auditfwd_syslog::{
    Confirmation, Encoder, EncoderConfig, Framing, RetryPolicy, SenderConfig, SyslogSender,
    SyslogSink, Transport, TransportError,
};
use auditfwd_test_support::pki::Certs;
use auditfwd_test_support::receivers::{MisbehavingReceiver, Misbehaviour};
use auditfwd_test_support::rsyslog::{Inputs, RsyslogProcess, TlsInput, free_tcp_ports};
use serde_json::{Value, json};

use crate::harness::{fixture, records};

/// Short timeouts and two attempts: a misbehaving receiver costs seconds, not minutes.
fn quick(address: String, transport: Transport) -> SenderConfig {
    let mut c = SenderConfig::new(address, transport);
    c.io_timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(2);
    c.retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    };
    c
}

fn trusting(certs: &Certs) -> TlsConfig {
    TlsConfig {
        roots: Roots::Bundle(Pem::File(certs.ca.clone())),
        server_name: Some("localhost".into()),
        client_identity: None,
    }
}

/// 300 realistic events (about 900 KB), each message about 3 KB.
fn batch() -> Vec<bytes::Bytes> {
    let encoder = Encoder::new(EncoderConfig::default()).unwrap();
    records(300, "misbehaving")
        .iter()
        .map(|r| encoder.encode(r).unwrap().bytes)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_receivers_never_confirm_on_tcp_or_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let batch = batch();
    let total: usize = batch.iter().map(|m| m.len()).sum();
    for how in [
        Misbehaviour::AcceptAndClose,
        Misbehaviour::CloseAfter(60_000),
        Misbehaviour::NeverRead,
    ] {
        for tls in [false, true] {
            let what = format!("{how:?} over {}", if tls { "tls" } else { "tcp" });
            let mut receiver = MisbehavingReceiver::start(how, tls.then(|| certs.server_config()));
            let address = format!("127.0.0.1:{}", receiver.port());
            let transport = if tls {
                Transport::Tls {
                    framing: Framing::OctetCounting,
                    tls: trusting(&certs),
                }
            } else {
                Transport::Tcp {
                    framing: Framing::OctetCounting,
                }
            };
            let mut sender = SyslogSender::new(quick(address, transport)).unwrap();
            let result = sender.send(&batch).await;
            sender.close().await;
            receiver.stop();
            let err = match result {
                Ok(d) => panic!("{what}: confirmed as {d:?}"),
                Err(e) => e,
            };
            assert_eq!(
                err.unconfirmed,
                (0..batch.len()).collect::<Vec<_>>(),
                "{what}: {err}"
            );
            assert!(err.is_retryable(), "{what}: {err}");
            assert!(receiver.accepted() >= 1, "{what}: never connected");
            assert!(
                receiver.bytes_read() < total,
                "{what}: the receiver read everything"
            );
            if let Misbehaviour::CloseAfter(n) = how {
                // Each attempt went to a new connection, which took its n bytes and hung up
                // (over TLS, plus the rest of the record it had decrypted: at most 16 KiB of
                // plaintext, and whatever of the next records its small buffer held).
                assert_eq!(receiver.accepted(), 2, "{what}");
                for stream in receiver.read_streams() {
                    let extra = if tls { 32 * 1024 } else { 0 };
                    assert!(
                        (n..=n + extra).contains(&stream.len()),
                        "{what}: {} bytes read on one connection",
                        stream.len()
                    );
                }
            }
        }
    }
}

/// The documented limit: a TCP acknowledgement proves the receiving kernel has the bytes, not
/// that the process read them. A receiver whose buffers still have room acknowledges a small
/// batch it never reads.
#[tokio::test]
async fn tcp_acknowledgement_cannot_prove_the_receiving_process_read_the_batch() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let mut sender = SyslogSender::new(quick(
        address,
        Transport::Tcp {
            framing: Framing::OctetCounting,
        },
    ))
    .unwrap();
    let small = [b"<134>1 - - - - - - never read".to_vec()];
    let d = sender.send(&small).await.unwrap();
    assert_eq!(d.confirmation, Confirmation::TcpAcked);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_requiring_a_client_certificate_refuses_a_sender_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let port = free_tcp_ports(1)[0];
    let rsyslog = Inputs {
        tls: Some(TlsInput {
            port,
            certs: certs.clone(),
            client_cert_required: true,
        }),
        ..Default::default()
    }
    .start();
    let mut sender = SyslogSender::new(quick(
        format!("127.0.0.1:{port}"),
        Transport::Tls {
            framing: Framing::OctetCounting,
            tls: trusting(&certs),
        },
    ))
    .unwrap();
    // One small message: its bytes fit in any receive buffer, so only knowing that the server
    // asked for a certificate we do not have keeps it from being acknowledged and confirmed.
    let err = sender
        .send(&[b"<134>1 - - - - mtls - no client certificate".to_vec()])
        .await
        .unwrap_err();
    assert_eq!(err.unconfirmed, vec![0], "{err}");
    assert!(
        matches!(err.source, TransportError::ClientCertificateRequired { .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("AUDITFWD_SYSLOG_TLS_CERT"),
        "{err}"
    );
    assert!(rsyslog.output().is_empty(), "{}", rsyslog.diagnostics());
}

/// rsyslog with no `maxMessageSize` (8096 bytes) and events of 8 to 64 KiB: with auditfwd's
/// default size every one arrives whole, its JSON intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_rsyslog_receives_every_large_event_as_valid_json() {
    let ports = free_tcp_ports(2);
    let rsyslog = Inputs {
        tcp: Some(ports[0]),
        relp: Some(ports[1]),
        ..Default::default()
    }
    .start();
    let events: Vec<_> = (0..8)
        .map(|i| {
            let mut r = fixture();
            r.event_id = format!("large-{i}");
            let id = r.event_id.clone();
            r.edit_body(|b| b["eventId"] = json!(id)).unwrap();
            let size = (8 + i * 8) * 1024;
            r.edit_body(|b| b["data"]["additionalDetails"] = json!({"blob": "A".repeat(size)}))
                .unwrap();
            r
        })
        .collect();
    let transports = [
        (
            ports[0],
            Transport::Tcp {
                framing: Framing::OctetCounting,
            },
        ),
        (
            ports[0],
            Transport::Tcp {
                framing: Framing::Lf,
            },
        ),
        (
            ports[1],
            Transport::Relp {
                tls: None,
                window: DEFAULT_RELP_WINDOW,
            },
        ),
    ];
    let sent = transports.len() * events.len();
    for (port, transport) in transports {
        let sender =
            SyslogSender::new(SenderConfig::new(format!("127.0.0.1:{port}"), transport)).unwrap();
        let mut sink = SyslogSink::new(Encoder::new(EncoderConfig::default()).unwrap(), sender);
        sink.send(&events).await.unwrap();
        sink.close().await;
    }
    let got = wait_for(&rsyslog, sent).await;
    assert_eq!(got.len(), sent, "one record per event, none split");
    for line in &got {
        let msg = line["msg"].as_str().unwrap();
        let body: Value = serde_json::from_str(msg.trim_start_matches('\u{feff}'))
            .unwrap_or_else(|e| panic!("cut JSON ({e}): {:.200}", msg));
        assert!(body["eventId"].as_str().unwrap().starts_with("large-"));
        assert!(
            line["sd"].as_str().unwrap().contains("truncated=\"true\""),
            "{line}"
        );
    }
}

/// A self-signed certificate as `openssl req -x509` makes it (CA:TRUE), given to auditfwd as
/// its CA bundle: pinned and accepted by a real rsyslog TLS listener. The same certificate is
/// refused for another name, and a bundle without it gets an error that says how to fix it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_self_signed_openssl_certificate_is_accepted_by_exact_match() {
    let dir = tempfile::tempdir().unwrap();
    let openssl = |name: &str| {
        let (cert, key) = (
            dir.path().join(format!("{name}.pem")),
            dir.path().join(format!("{name}.key")),
        );
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the openssl CLI");
        assert!(status.success());
        (cert, key)
    };
    let (cert, key) = openssl("server");
    let (other_cert, _) = openssl("other");
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "openssl's default self-signed certificate is a CA certificate"
    );
    let port = free_tcp_ports(1)[0];
    let certs = Certs {
        ca: cert.clone(),
        server_cert: cert.clone(),
        server_key: key,
        client_cert: cert.clone(),
        client_key: dir.path().join("unused"),
    };
    let rsyslog = Inputs {
        tls: Some(TlsInput {
            port,
            certs,
            client_cert_required: false,
        }),
        max_message_size: Some("64k".into()),
        ..Default::default()
    }
    .start();
    let send = |bundle: &std::path::Path, name: &str| {
        let tls = TlsConfig {
            roots: Roots::Bundle(Pem::File(bundle.to_owned())),
            server_name: Some(name.to_owned()),
            client_identity: None,
        };
        let cfg = quick(
            format!("127.0.0.1:{port}"),
            Transport::Tls {
                framing: Framing::OctetCounting,
                tls,
            },
        );
        async move {
            let mut s = SyslogSender::new(cfg).unwrap();
            let r = s.send(&[b"<134>1 - - - - pinned - pinned".to_vec()]).await;
            s.close().await;
            r
        }
    };
    let d = send(&cert, "localhost").await.unwrap();
    assert_eq!(d.confirmation, Confirmation::TcpAcked);
    let d = send(&cert, "127.0.0.1").await.unwrap();
    assert_eq!(d.confirmation, Confirmation::TcpAcked);
    let got = wait_for(&rsyslog, 2).await;
    assert!(got.iter().all(|l| l["msgid"] == "pinned"), "{got:?}");

    let wrong_name = send(&cert, "siem.example.com").await.unwrap_err();
    assert!(
        matches!(wrong_name.source, TransportError::Certificate { .. }),
        "{wrong_name}"
    );
    assert!(!wrong_name.is_retryable());
    let not_pinned = send(&other_cert, "localhost").await.unwrap_err();
    assert!(
        matches!(
            not_pinned.source,
            TransportError::ServerCertificateIsCa { .. }
        ),
        "{not_pinned}"
    );
    assert!(!not_pinned.is_retryable());
    let text = not_pinned.to_string();
    assert!(
        text.contains("CA:TRUE") && text.contains("AUDITFWD_SYSLOG_TLS_CA"),
        "{text}"
    );
    assert_eq!(rsyslog.output().len(), 2);
}

async fn wait_for(rsyslog: &RsyslogProcess, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + auditfwd_test_support::rsyslog::PATIENCE;
    loop {
        let got = rsyslog.output();
        if got.len() >= n {
            // Give a split remainder or a duplicate a moment to show up too.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return rsyslog.output();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} messages arrived: {}",
            got.len(),
            rsyslog.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
