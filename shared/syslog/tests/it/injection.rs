//! A field containing a forged syslog line never produces a second message at rsyslog,
//! in any framing, transport or payload.

use auditfwd_syslog::transport::DEFAULT_RELP_WINDOW;
use auditfwd_syslog::{
    Encoder, EncoderConfig, Framing, Payload, SenderConfig, SyslogFormat, SyslogRecord,
    SyslogSender, Transport,
};

use crate::harness::{ClientTls, Rsyslog, fixture};

const FORGED: &str = "\n<13>1 2020-01-01T00:00:00Z forged - - - - injected";

fn forged(i: usize) -> SyslogRecord {
    let mut r = fixture();
    r.event_id = format!("forged-{i}{FORGED}");
    r.event_type = format!("com.oraclecloud.ComputeApi.GetInstance{FORGED}");
    r.compartment_id = format!("ocid1.compartment.oc1..c{FORGED}\r\0");
    for p in ["resourceName", "compartmentName", "eventName"] {
        r.edit_body(|b| b["data"][p] = format!("x{FORGED}").into())
            .unwrap();
    }
    r.edit_body(|b| b["data"]["identity"]["principalName"] = format!("p{FORGED}\r\0").into())
        .unwrap();
    r.edit_body(|b| b["data"]["response"]["message"] = FORGED.into())
        .unwrap();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_lines_never_become_messages() {
    let rs = Rsyslog::start();
    let p = rs.ports;
    let tls = rs.certs.client_tls();
    let destinations = [
        (
            p.tcp,
            Transport::Tcp {
                framing: Framing::OctetCounting,
            },
        ),
        (
            p.tcp,
            Transport::Tcp {
                framing: Framing::Lf,
            },
        ),
        (p.udp, Transport::Udp),
        (
            p.tls,
            Transport::Tls {
                framing: Framing::OctetCounting,
                tls: tls.clone(),
            },
        ),
        (
            p.tls,
            Transport::Tls {
                framing: Framing::Lf,
                tls: tls.clone(),
            },
        ),
        (
            p.relp,
            Transport::Relp {
                tls: None,
                window: DEFAULT_RELP_WINDOW,
            },
        ),
        (
            p.relp_tls,
            Transport::Relp {
                tls: Some(tls),
                window: DEFAULT_RELP_WINDOW,
            },
        ),
    ];
    let encodings = [
        (SyslogFormat::Rfc5424, Payload::Json),
        (SyslogFormat::Rfc5424, Payload::Cef),
        (SyslogFormat::Rfc3164, Payload::Leef),
        (SyslogFormat::Rfc3164, Payload::Json),
    ];
    let mut sent = 0;
    for (port, transport) in destinations {
        let mut sender =
            SyslogSender::new(SenderConfig::new(format!("127.0.0.1:{port}"), transport)).unwrap();
        for (format, payload) in encodings {
            let enc = Encoder::new(EncoderConfig {
                format,
                payload,
                max_message_size: 8192,
                ..Default::default()
            })
            .unwrap();
            let msgs: Vec<_> = (0..3)
                .map(|i| enc.encode(&forged(sent + i)).unwrap().bytes)
                .collect();
            sender.send(&msgs).await.unwrap();
            sent += msgs.len();
        }
        sender.close().await;
    }
    let got = rs.wait_for(sent).await;
    assert_eq!(
        got.len(),
        sent,
        "one message per event, no forged extra lines"
    );
    for m in &got {
        assert_ne!(m.hostname, "forged", "{m:?}");
        assert_ne!(m.msg.trim(), "injected", "{m:?}");
        assert_eq!(m.hostname, "auditfwd", "{m:?}");
        // The forged text arrives, neutralised, inside the one real message.
        assert!(
            m.msg.contains("forged - - - - injected") || m.sd.contains("forged - - - - injected"),
            "{m:?}"
        );
    }
}
