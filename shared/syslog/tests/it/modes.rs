//! The six delivery modes against rsyslog: every event arrives once, and rsyslog's parsed
//! view (PRI, HOSTNAME, APP-NAME, MSGID, STRUCTURED-DATA, MSG) is exactly what was sent.

use std::collections::HashMap;

use auditfwd_syslog::encode::DEFAULT_UDP_MAX;
use auditfwd_syslog::transport::DEFAULT_RELP_WINDOW;
use auditfwd_syslog::{
    Confirmation, Encoder, EncoderConfig, Framing, SenderConfig, SyslogSender, TlsConfig,
    Transport, TransportError,
};

use crate::harness::{ClientTls, Rsyslog, event_id_of, records, rfc5424_view};

const N: usize = 60;

/// (MSGID, STRUCTURED-DATA, MSG) as rsyslog should show them.
type View = (String, String, String);

async fn roundtrip(
    name: &str,
    input: &str,
    max_message_size: usize,
    confirmation: Confirmation,
    dest: impl FnOnce(&Rsyslog) -> (u16, Transport),
) {
    let rs = Rsyslog::start();
    let (port, transport) = dest(&rs);
    let encoder = Encoder::new(EncoderConfig {
        max_message_size,
        ..Default::default()
    })
    .unwrap();
    let recs = records(N, name);
    let encoded: Vec<_> = recs
        .iter()
        .map(|r| encoder.encode(r).unwrap().bytes)
        .collect();
    let mut sender =
        SyslogSender::new(SenderConfig::new(format!("127.0.0.1:{port}"), transport)).unwrap();
    // Two batches, so the second goes over an already open connection.
    let (a, b) = encoded.split_at(N / 2);
    assert_eq!(sender.send(a).await.unwrap().confirmation, confirmation);
    assert_eq!(sender.send(b).await.unwrap().confirmation, confirmation);
    sender.close().await;

    let got = rs.wait_for(N).await;
    assert_eq!(got.len(), N, "{name}: exactly one message per event");
    let expected: HashMap<String, (&[u8], View)> = recs
        .iter()
        .zip(&encoded)
        .map(|(r, e)| (r.event_id.clone(), (&e[..], rfc5424_view(e))))
        .collect();
    for m in &got {
        assert_eq!(m.inputname, input);
        let id = event_id_of(&m.msg);
        let (bytes, (msgid, sd, msg)) = expected
            .get(&id)
            .unwrap_or_else(|| panic!("{name}: unexpected {id}"));
        let pri =
            std::str::from_utf8(&bytes[1..bytes.iter().position(|&b| b == b'>').unwrap()]).unwrap();
        assert_eq!(m.pri, pri, "{name} {id}");
        assert_eq!(m.hostname, "auditfwd");
        assert_eq!(m.appname, "auditfwd");
        assert_eq!(&m.msgid, msgid, "{name} {id}");
        assert_eq!(&m.sd, sd, "{name} {id}");
        assert_eq!(&m.msg, msg, "{name} {id}");
    }
    let ids: std::collections::HashSet<String> = got.iter().map(|m| event_id_of(&m.msg)).collect();
    assert_eq!(ids.len(), N, "{name}: every event id arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_octet_counted() {
    roundtrip(
        "tcp-oc",
        "imptcp",
        64 * 1024,
        Confirmation::TcpAcked,
        |rs| {
            (
                rs.ports.tcp,
                Transport::Tcp {
                    framing: Framing::OctetCounting,
                },
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_lf() {
    roundtrip(
        "tcp-lf",
        "imptcp",
        64 * 1024,
        Confirmation::TcpAcked,
        |rs| {
            (
                rs.ports.tcp,
                Transport::Tcp {
                    framing: Framing::Lf,
                },
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp() {
    // The 2.8 KB fixture exceeds the UDP default and arrives shrunk, still matching.
    roundtrip("udp", "imudp", DEFAULT_UDP_MAX, Confirmation::Sent, |rs| {
        (rs.ports.udp, Transport::Udp)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificate() {
    roundtrip("tls", "imtcp", 64 * 1024, Confirmation::TcpAcked, |rs| {
        (
            rs.ports.tls,
            Transport::Tls {
                framing: Framing::OctetCounting,
                tls: rs.certs.client_tls(),
            },
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relp() {
    roundtrip(
        "relp",
        "imrelp",
        64 * 1024,
        Confirmation::Acknowledged,
        |rs| {
            (
                rs.ports.relp,
                Transport::Relp {
                    tls: None,
                    window: DEFAULT_RELP_WINDOW,
                },
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relp_over_tls_with_client_certificate() {
    roundtrip(
        "relp-tls",
        "imrelp",
        64 * 1024,
        Confirmation::Acknowledged,
        |rs| {
            (
                rs.ports.relp_tls,
                Transport::Relp {
                    tls: Some(rs.certs.client_tls()),
                    window: DEFAULT_RELP_WINDOW,
                },
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_refuses_a_server_signed_by_an_untrusted_ca() {
    let rs = Rsyslog::start();
    let other = tempfile::tempdir().unwrap();
    let foreign = crate::harness::Certs::generate(other.path());
    for transport in [
        Transport::Tls {
            framing: Framing::OctetCounting,
            tls: foreign.client_tls(),
        },
        Transport::Relp {
            tls: Some(foreign.client_tls()),
            window: 8,
        },
    ] {
        let port = if matches!(transport, Transport::Tls { .. }) {
            rs.ports.tls
        } else {
            rs.ports.relp_tls
        };
        let mut sender =
            SyslogSender::new(SenderConfig::new(format!("127.0.0.1:{port}"), transport)).unwrap();
        let err = sender
            .send(&[b"<13>1 - - - - - - never".to_vec()])
            .await
            .unwrap_err();
        assert_eq!(err.unconfirmed, vec![0]);
        assert!(
            matches!(err.source, TransportError::Certificate { .. }),
            "{err}"
        );
        assert!(!err.is_retryable());
    }
    // And the right CA with the wrong name is refused too.
    let wrong_name = TlsConfig {
        server_name: Some("siem.example.com".into()),
        ..rs.certs.client_tls()
    };
    let t = Transport::Tls {
        framing: Framing::OctetCounting,
        tls: wrong_name,
    };
    let mut sender =
        SyslogSender::new(SenderConfig::new(format!("127.0.0.1:{}", rs.ports.tls), t)).unwrap();
    let err = sender
        .send(&[b"<13>1 - - - - - - never".to_vec()])
        .await
        .unwrap_err();
    assert!(
        matches!(err.source, TransportError::Certificate { .. }),
        "{err}"
    );
    assert!(rs.received().is_empty());
}
