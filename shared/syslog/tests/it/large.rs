//! A 1 MB event arrives as valid JSON within the size limit, marked as truncated.

use auditfwd_syslog::encode::DEFAULT_STREAM_MAX;
use auditfwd_syslog::transport::DEFAULT_RELP_WINDOW;
use auditfwd_syslog::{
    Encoder, EncoderConfig, Framing, SenderConfig, SyslogSender, SyslogSink, Transport,
};
use serde_json::{Value, json};

use crate::harness::{Rsyslog, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_megabyte_event_arrives_shrunk_valid_and_marked() {
    let rs = Rsyslog::start();
    let mut big = fixture();
    big.edit_body(|b| b["data"]["additionalDetails"]["blob"] = json!("A".repeat(1 << 20)))
        .unwrap();
    big.edit_body(|b| b["data"]["response"]["payload"]["items"] = json!(vec!["item"; 10_000]))
        .unwrap();
    let original = big.body.to_bytes().len();
    let big_body = big.body.to_value().unwrap();
    assert!(original > 1 << 20);

    for (port, transport) in [
        (
            rs.ports.tcp,
            Transport::Tcp {
                framing: Framing::OctetCounting,
            },
        ),
        (
            rs.ports.relp,
            Transport::Relp {
                tls: None,
                window: DEFAULT_RELP_WINDOW,
            },
        ),
    ] {
        let sender =
            SyslogSender::new(SenderConfig::new(format!("127.0.0.1:{port}"), transport)).unwrap();
        let mut sink = SyslogSink::new(Encoder::new(EncoderConfig::default()).unwrap(), sender);
        sink.send(std::slice::from_ref(&big)).await.unwrap();
        sink.close().await;
    }
    let got = rs.wait_for(2).await;
    assert_eq!(got.len(), 2);
    for m in got {
        assert!(m.msg.len() < DEFAULT_STREAM_MAX, "{}", m.msg.len());
        assert!(
            m.sd.contains(r#" truncated="true" originalSize=""#),
            "{}",
            m.sd
        );
        let body: Value = serde_json::from_str(&m.msg).expect("valid JSON");
        assert_eq!(body["eventId"], big_body["eventId"]);
        assert_eq!(body["data"]["identity"], big_body["data"]["identity"]);
        assert!(
            body["data"]["additionalDetails"]
                .as_str()
                .unwrap()
                .starts_with("[truncated by auditfwd: ")
        );
    }
}
