//! Byte-for-byte tests of the encoders.

use serde_json::{Value, json};

use super::*;
use crate::framing::Framing;
use crate::record::{JsonText, Window};
use crate::severity::Severity;

const FORGED: &str = "\n<13>1 2020-01-01T00:00:00Z forged - - - - injected";

fn window() -> Window {
    Window {
        start: "2026-11-22T14:00:00Z".parse().unwrap(),
        end: "2026-11-22T14:05:00Z".parse().unwrap(),
    }
}

fn rec(body: Value) -> SyslogRecord {
    let mut r = SyslogRecord {
        event_id: "e-1".into(),
        event_type: "com.oraclecloud.ComputeApi.GetInstance".into(),
        event_time: "2026-11-22T14:01:02.345Z".parse().unwrap(),
        compartment_id: "ocid1.compartment.oc1..c".into(),
        event_name: None,
        response_status: None,
        window: window(),
        replay: false,
        kind: Default::default(),
        body: JsonText::from_value(&Value::Null),
    };
    r.edit_body(|b| *b = body).unwrap();
    r
}

fn small_body() -> Value {
    json!({"eventId": "e-1", "data": {"eventName": "GetInstance", "response": {"status": "200"}}})
}

fn enc(cfg: EncoderConfig, r: &SyslogRecord) -> String {
    String::from_utf8(Encoder::new(cfg).unwrap().encode(r).unwrap().bytes.to_vec()).unwrap()
}

/// MSG of an RFC 5424 message with one SD element, skipping escaped `]` in SD values.
fn msg_after_sd(s: &str) -> &str {
    // Skip PRI+VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID: none has spaces, but
    // MSGID may contain '[' or '"'.
    let header_end = s.match_indices(' ').nth(5).unwrap().0;
    let b = s.as_bytes();
    let mut i = header_end + 2;
    let mut in_value = false;
    while i < b.len() {
        match b[i] {
            b'\\' if in_value => i += 1,
            b'"' => in_value = !in_value,
            b']' if !in_value => return &s[i + 2..],
            _ => {}
        }
        i += 1;
    }
    panic!("no SD end in {s}")
}

fn fixture() -> SyslogRecord {
    let text = include_str!("../../tests/fixtures/terminate_instance.json");
    SyslogRecord::from_event(serde_json::from_str(text).unwrap(), window(), false).unwrap()
}

const SD: &str = r#"[auditfwd@32473 eventId="e-1" compartmentId="ocid1.compartment.oc1..c" windowStart="2026-11-22T14:00:00.000Z" windowEnd="2026-11-22T14:05:00.000Z" replay="false"]"#;

#[test]
fn rfc5424_json_byte_for_byte() {
    let got = enc(EncoderConfig::default(), &rec(small_body()));
    let want = format!(
        "<134>1 2026-11-22T14:01:02.345Z auditfwd auditfwd - ComputeApi.GetInstance {SD} {}",
        r#"{"eventId":"e-1","data":{"eventName":"GetInstance","response":{"status":"200"}}}"#
    );
    assert_eq!(got, want);
}

#[test]
fn rfc5424_configured_names_facility_and_replay() {
    let cfg = EncoderConfig {
        hostname: "fwd-1.example".into(),
        app_name: "oci-audit".into(),
        sd_id: "oci@99999".into(),
        facility: Facility::LogAudit,
        ..Default::default()
    };
    let mut r = rec(json!({"data": {"eventName": "DeleteVcn"}}));
    r.replay = true;
    r.event_type = "DeleteVcn".into();
    let got = enc(cfg, &r);
    // LogAudit (13) * 8 + Warning (4) = 108.
    assert_eq!(
        got,
        r#"<108>1 2026-11-22T14:01:02.345Z fwd-1.example oci-audit - DeleteVcn [oci@99999 eventId="e-1" compartmentId="ocid1.compartment.oc1..c" windowStart="2026-11-22T14:00:00.000Z" windowEnd="2026-11-22T14:05:00.000Z" replay="true"] {"data":{"eventName":"DeleteVcn"}}"#
    );
}

#[test]
fn sd_values_are_escaped() {
    let mut r = rec(json!({}));
    r.event_id = r#"a"b\c]d"#.into();
    r.compartment_id = "x\ny".into();
    let got = enc(EncoderConfig::default(), &r);
    assert!(
        got.contains(r#"eventId="a\"b\\c\]d" compartmentId="x\ny" "#),
        "{got}"
    );
}

#[test]
fn msgid_keeps_the_operation_of_oci_event_types() {
    let mut r = rec(json!({}));
    for (event_type, want) in [
        (
            "com.oraclecloud.ComputeApi.TerminateInstance",
            "ComputeApi.TerminateInstance",
        ),
        (
            "com.oraclecloud.identityControlPlane.UpdateAuthenticationPolicy",
            "UpdateAuthenticationPolicy",
        ),
        (
            "com.oraclecloud.ComputeApi.TerminateInstance.begin",
            "TerminateInstance.begin",
        ),
        (
            "x.ThisSingleSegmentIsLongerThanThirtyTwoCharacters",
            "tIsLongerThanThirtyTwoCharacters",
        ),
        ("com.example.Short", "com.example.Short"),
    ] {
        r.event_type = event_type.to_owned();
        let got = enc(EncoderConfig::default(), &r);
        assert_eq!(got.split(' ').nth(5).unwrap(), want, "{event_type}");
    }
}

#[test]
fn msgid_is_truncated_to_32_printable_characters() {
    let mut r = rec(json!({}));
    r.event_type = "ab cd\u{e9}".to_owned() + &"x".repeat(40);
    let got = enc(EncoderConfig::default(), &r);
    let msgid = got.split(' ').nth(5).unwrap();
    assert_eq!(msgid, "ab_cd_xxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_eq!(msgid.len(), 32);
    r.event_type = String::new();
    assert_eq!(
        enc(EncoderConfig::default(), &r).split(' ').nth(5).unwrap(),
        "-"
    );
}

#[test]
fn bom_rule() {
    let ascii = rec(json!({"k": "v"}));
    let utf8 = rec(json!({"k": "vé"}));
    let bytes = |cfg: EncoderConfig, r: &SyslogRecord| {
        Encoder::new(cfg).unwrap().encode(r).unwrap().bytes.to_vec()
    };
    let msg_of = |b: &[u8]| {
        let sd_end = b.iter().position(|&c| c == b']').unwrap();
        b[sd_end + 2..].to_vec()
    };
    assert_eq!(
        msg_of(&bytes(EncoderConfig::default(), &ascii)),
        br#"{"k":"v"}"#
    );
    assert_eq!(
        msg_of(&bytes(EncoderConfig::default(), &utf8)),
        "\u{feff}{\"k\":\"vé\"}".as_bytes()
    );
    let always = EncoderConfig {
        bom: BomPolicy::Always,
        ..Default::default()
    };
    assert_eq!(msg_of(&bytes(always, &ascii)), b"\xef\xbb\xbf{\"k\":\"v\"}");
    let never = EncoderConfig {
        bom: BomPolicy::Never,
        ..Default::default()
    };
    assert_eq!(msg_of(&bytes(never, &utf8)), "{\"k\":\"vé\"}".as_bytes());
}

#[test]
fn rfc3164_has_yearless_timestamp_and_tag() {
    let cfg = EncoderConfig {
        format: SyslogFormat::Rfc3164,
        app_name: "oci-audit_1".into(),
        ..Default::default()
    };
    let mut r = rec(small_body());
    r.event_time = "2026-01-05T04:03:02.999Z".parse().unwrap();
    assert_eq!(
        enc(cfg, &r),
        r#"<134>Jan  5 04:03:02 auditfwd ociaudit1: {"eventId":"e-1","data":{"eventName":"GetInstance","response":{"status":"200"}}}"#
    );
}

#[test]
fn cef_byte_for_byte_with_escaping() {
    let cfg = EncoderConfig {
        payload: Payload::Cef,
        ..Default::default()
    };
    let body = json!({
        "eventTypeVersion": "2.0",
        "source": "ComputeApi",
        "data": {
            "eventName": "Get|Instance",
            "compartmentName": "a=b\\c",
            "identity": {"ipAddress": "198.51.100.23", "principalName": "alice\nbob"},
            "request": {"action": "GET", "path": "/x?a=1"},
            "response": {"status": "200", "message": "line1\r\nline2"}
        }
    });
    let got = enc(cfg, &rec(body));
    let want = concat!(
        r#"<134>1 2026-11-22T14:01:02.345Z auditfwd auditfwd - ComputeApi.GetInstance "#,
        r#"[auditfwd@32473 eventId="e-1" compartmentId="ocid1.compartment.oc1..c" windowStart="2026-11-22T14:00:00.000Z" windowEnd="2026-11-22T14:05:00.000Z" replay="false"] "#,
        r#"CEF:0|Oracle|OCI Audit|2.0|com.oraclecloud.ComputeApi.GetInstance|Get\|Instance|2|"#,
        r#"rt=Nov 22 2026 14:01:02.345 UTC externalId=e-1 cat=ComputeApi act=Get|Instance outcome=200 "#,
        r#"src=198.51.100.23 suser=alice\nbob requestMethod=GET request=/x?a\=1 "#,
        r#"cs1Label=compartmentId cs1=ocid1.compartment.oc1..c cs2Label=compartmentName cs2=a\=b\\c "#,
        r#"cs6Label=window cs6=2026-11-22T14:00:00.000Z/2026-11-22T14:05:00.000Z cn1Label=replay cn1=0 "#,
        r#"msg=line1\r\nline2"#
    );
    assert_eq!(got, want);
}

#[test]
fn leef_byte_for_byte() {
    let cfg = EncoderConfig {
        payload: Payload::Leef,
        format: SyslogFormat::Rfc3164,
        ..Default::default()
    };
    let body = json!({
        "source": "ComputeApi",
        "data": {"eventName": "GetInstance", "identity": {"principalName": "al\tice"}, "response": {"status": "200"}}
    });
    let mut r = rec(body);
    r.event_type = "com.x|y".into();
    assert_eq!(
        enc(cfg, &r),
        "<134>Nov 22 14:01:02 auditfwd auditfwd: LEEF:2.0|Oracle|OCI Audit|2.0|com.x\\|y|x09|\
         devTime=2026-11-22T14:01:02.345Z\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX\tsev=2\
         \teventId=e-1\tcompartmentId=ocid1.compartment.oc1..c\tcat=ComputeApi\teventName=GetInstance\
         \tusrName=al ice\tresponseStatus=200\twindowStart=2026-11-22T14:00:00.000Z\
         \twindowEnd=2026-11-22T14:05:00.000Z\treplay=false"
    );
}

/// NEXT LINE, LINE SEPARATOR and PARAGRAPH SEPARATOR between letters.
const UNICODE_BREAKS: &str = "a\u{2028}b\u{2029}c\u{85}d";

fn unicode_breaks_record() -> SyslogRecord {
    rec(json!({
        "eventId": "e-1",
        "data": {"eventName": UNICODE_BREAKS, "response": {"message": UNICODE_BREAKS}}
    }))
}

#[test]
fn json_escapes_unicode_line_breaks_byte_for_byte() {
    let r = unicode_breaks_record();
    let got = enc(EncoderConfig::default(), &r);
    let want = format!(
        "<134>1 2026-11-22T14:01:02.345Z auditfwd auditfwd - ComputeApi.GetInstance {SD} {}",
        r#"{"eventId":"e-1","data":{"eventName":"a\u2028b\u2029c\u0085d","response":{"message":"a\u2028b\u2029c\u0085d"}}}"#
    );
    assert_eq!(got, want);
    // Still the same JSON value, and pure ASCII (so no BOM either).
    let back: Value = serde_json::from_str(msg_after_sd(&got)).unwrap();
    assert_eq!(back, r.body.to_value().unwrap());
}

#[test]
fn cef_writes_unicode_line_breaks_as_newline_escapes_byte_for_byte() {
    let cfg = EncoderConfig {
        payload: Payload::Cef,
        ..Default::default()
    };
    let got = enc(cfg, &unicode_breaks_record());
    let want = concat!(
        r#"<134>1 2026-11-22T14:01:02.345Z auditfwd auditfwd - ComputeApi.GetInstance "#,
        r#"[auditfwd@32473 eventId="e-1" compartmentId="ocid1.compartment.oc1..c" windowStart="2026-11-22T14:00:00.000Z" windowEnd="2026-11-22T14:05:00.000Z" replay="false"] "#,
        r#"CEF:0|Oracle|OCI Audit|2.0|com.oraclecloud.ComputeApi.GetInstance|a b c d|2|"#,
        r#"rt=Nov 22 2026 14:01:02.345 UTC externalId=e-1 act=a\nb\nc\nd "#,
        r#"cs1Label=compartmentId cs1=ocid1.compartment.oc1..c "#,
        r#"cs6Label=window cs6=2026-11-22T14:00:00.000Z/2026-11-22T14:05:00.000Z cn1Label=replay cn1=0 "#,
        r#"msg=a\nb\nc\nd"#
    );
    assert_eq!(got, want);
}

#[test]
fn leef_writes_unicode_line_breaks_as_spaces_byte_for_byte() {
    let cfg = EncoderConfig {
        payload: Payload::Leef,
        format: SyslogFormat::Rfc3164,
        ..Default::default()
    };
    assert_eq!(
        enc(cfg, &unicode_breaks_record()),
        "<134>Nov 22 14:01:02 auditfwd auditfwd: LEEF:2.0|Oracle|OCI Audit|2.0|\
         com.oraclecloud.ComputeApi.GetInstance|x09|devTime=2026-11-22T14:01:02.345Z\
         \tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX\tsev=2\teventId=e-1\
         \tcompartmentId=ocid1.compartment.oc1..c\teventName=a b c d\tmessage=a b c d\
         \twindowStart=2026-11-22T14:00:00.000Z\twindowEnd=2026-11-22T14:05:00.000Z\treplay=false"
    );
}

#[test]
fn severity_reaches_pri() {
    let fx = fixture();
    assert_eq!(
        SeverityPolicy::default().derive(
            &fx.event_type,
            fx.event_name.as_deref(),
            fx.response_status
        ),
        Severity::Warning
    );
    let got = enc(EncoderConfig::default(), &fx);
    assert!(got.starts_with("<132>1 2026-11-22T14:01:02.345Z "), "{got}");
}

#[test]
fn fixture_roundtrips_through_json_payload() {
    let fx = fixture();
    let got = Encoder::new(EncoderConfig::default())
        .unwrap()
        .encode(&fx)
        .unwrap();
    assert_eq!(got.truncated_from, None);
    let s = std::str::from_utf8(&got.bytes).unwrap();
    let msg = &s[s.find("] ").unwrap() + 2..];
    let back: Value = serde_json::from_str(msg).unwrap();
    assert_eq!(back, fx.body.to_value().unwrap());
}

fn huge_record() -> SyslogRecord {
    let mut fx = fixture();
    fx.edit_body(|b| b["data"]["additionalDetails"]["blob"] = json!("A".repeat(1 << 20)))
        .unwrap();
    fx.edit_body(|b| b["data"]["response"]["payload"]["items"] = json!(vec!["item"; 20_000]))
        .unwrap();
    fx
}

#[test]
fn a_one_megabyte_event_is_shrunk_into_valid_json_with_a_marker() {
    let fx = huge_record();
    let encoder = Encoder::new(EncoderConfig::default()).unwrap();
    let got = encoder.encode(&fx).unwrap();
    assert!(got.bytes.len() <= DEFAULT_STREAM_MAX, "{}", got.bytes.len());
    let original = got.truncated_from.unwrap();
    assert!(original > 1 << 20);
    let s = std::str::from_utf8(&got.bytes).unwrap();
    assert!(
        s.contains(&format!(
            r#"replay="false" truncated="true" originalSize="{original}"]"#
        )),
        "{}",
        &s[..400]
    );
    let body: Value = serde_json::from_str(&s[s.find("] ").unwrap() + 2..]).unwrap();
    let original = fx.body.to_value().unwrap();
    assert_eq!(body["eventId"], original["eventId"]);
    assert!(
        body["data"]["additionalDetails"]
            .as_str()
            .unwrap()
            .starts_with("[truncated by auditfwd: ")
    );
    assert!(
        body["data"]["response"]["payload"]
            .as_str()
            .unwrap()
            .starts_with("[truncated by auditfwd: ")
    );
    // What was small survives.
    assert_eq!(body["data"]["identity"], original["data"]["identity"]);
    assert_eq!(
        body["data"]["request"]["path"],
        original["data"]["request"]["path"]
    );
    // Deterministic.
    assert_eq!(encoder.encode(&fx).unwrap(), got);
}

#[test]
fn every_format_and_payload_respects_tiny_limits() {
    for format in [SyslogFormat::Rfc5424, SyslogFormat::Rfc3164] {
        for payload in [Payload::Json, Payload::Cef, Payload::Leef] {
            let mut fx = huge_record();
            fx.edit_body(|b| b["data"]["response"]["message"] = json!("m".repeat(100_000)))
                .unwrap();
            let cfg = EncoderConfig {
                format,
                payload,
                max_message_size: 1024,
                ..Default::default()
            };
            let got = Encoder::new(cfg).unwrap().encode(&fx).unwrap();
            assert!(
                got.bytes.len() <= 1024,
                "{format:?}/{payload:?}: {}",
                got.bytes.len()
            );
            assert!(got.truncated_from.is_some());
        }
    }
}

#[test]
fn too_large_is_an_error_not_a_drop() {
    let mut r = rec(json!({}));
    r.event_id = "x".repeat(1000);
    let cfg = EncoderConfig {
        max_message_size: MIN_MESSAGE_SIZE,
        ..Default::default()
    };
    let err = Encoder::new(cfg).unwrap().encode(&r).unwrap_err();
    assert!(matches!(
        err,
        EncodeError::TooLarge {
            max: MIN_MESSAGE_SIZE,
            ..
        }
    ));
    assert!(!err.is_retryable());
}

#[test]
fn invalid_configuration_is_rejected() {
    let bad = |cfg: EncoderConfig| Encoder::new(cfg).unwrap_err();
    assert!(matches!(
        bad(EncoderConfig {
            hostname: "a b".into(),
            ..Default::default()
        }),
        ConfigError::InvalidHostname(_)
    ));
    assert!(matches!(
        bad(EncoderConfig {
            app_name: "x".repeat(49),
            ..Default::default()
        }),
        ConfigError::InvalidAppName(_)
    ));
    assert!(matches!(
        bad(EncoderConfig {
            sd_id: "a=b".into(),
            ..Default::default()
        }),
        ConfigError::InvalidSdId(_)
    ));
    assert!(matches!(
        bad(EncoderConfig {
            max_message_size: 100,
            ..Default::default()
        }),
        ConfigError::MaxSizeTooSmall { .. }
    ));
}

fn forged_record() -> SyslogRecord {
    let mut r = fixture();
    r.event_id = format!("id{FORGED}");
    r.event_type = format!("type{FORGED}");
    r.compartment_id = format!("c{FORGED}\r\0");
    r.edit_body(|b| b["data"]["resourceName"] = json!(FORGED))
        .unwrap();
    r.edit_body(|b| b["data"]["eventName"] = json!(FORGED))
        .unwrap();
    r.edit_body(|b| b["data"]["compartmentName"] = json!(FORGED))
        .unwrap();
    r.edit_body(|b| b["data"]["response"]["message"] = json!(FORGED))
        .unwrap();
    r.edit_body(|b| b["data"]["identity"]["principalName"] = json!(format!("p{FORGED}\r\0")))
        .unwrap();
    r
}

#[test]
fn a_forged_line_never_reaches_the_wire_in_any_format_payload_or_framing() {
    let r = forged_record();
    for format in [SyslogFormat::Rfc5424, SyslogFormat::Rfc3164] {
        for payload in [Payload::Json, Payload::Cef, Payload::Leef] {
            let cfg = EncoderConfig {
                format,
                payload,
                ..Default::default()
            };
            let msg = Encoder::new(cfg).unwrap().encode(&r).unwrap().bytes;
            assert!(
                !msg.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
                "{format:?}/{payload:?}"
            );
            let mut lf = Vec::new();
            Framing::Lf.frame_into(&msg, &mut lf);
            assert_eq!(lf.iter().filter(|&&b| b == b'\n').count(), 1);
            // The escaped framing changed nothing: the encoder had already neutralised it.
            assert_eq!(&lf[..lf.len() - 1], &msg[..]);
        }
    }
}

#[test]
fn forged_line_in_sd_is_escaped_exactly() {
    let mut r = rec(json!({}));
    r.compartment_id = FORGED.into();
    let got = enc(EncoderConfig::default(), &r);
    assert!(
        got.contains(r#"compartmentId="\n<13>1 2020-01-01T00:00:00Z forged - - - - injected" "#),
        "{got}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    #[test]
    fn encoded_messages_never_contain_line_breaks_and_json_roundtrips(
        id in ".*", ctype in ".*", name in ".*", value in ".*",
    ) {
        let mut r = rec(json!({"data": {"eventName": name, "x": value}}));
        r.event_id = id;
        r.event_type = ctype;
        for payload in [Payload::Json, Payload::Cef, Payload::Leef] {
            let cfg = EncoderConfig { payload, ..Default::default() };
            let msg = Encoder::new(cfg).unwrap().encode(&r).unwrap().bytes;
            proptest::prop_assert!(!msg.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
            if payload == Payload::Json {
                let s = std::str::from_utf8(&msg).unwrap();
                let j = msg_after_sd(s).trim_start_matches('\u{feff}');
                let back: Value = serde_json::from_str(j).unwrap();
                proptest::prop_assert_eq!(back, r.body.to_value().unwrap());
            }
        }
    }
}

/// The JSON payload is the event's own text: byte for byte when it is compact ASCII (number
/// spellings, escapes and key order as OCI wrote them), and with line breaks removed or
/// escaped otherwise, still the same JSON value.
#[test]
fn json_payload_is_the_event_text_unchanged_or_with_line_breaks_neutralised() {
    let compact = r#"{"eventId":"e-1","n":1.0e3,"s":"a\/b \u00e9","future":{"x":[null,true]}}"#;
    let mut r = rec(json!({}));
    r.body = JsonText::parse(bytes::Bytes::from_static(compact.as_bytes())).unwrap();
    let got = enc(EncoderConfig::default(), &r);
    assert!(got.ends_with(compact), "{got}");

    let pretty = "{\r\n  \"eventId\": \"e-1\",\n  \"s\": \"x\u{2028}y\u{85}z\u{2029}\u{e9}\"\n}";
    r.body = JsonText::parse(bytes::Bytes::from_static(pretty.as_bytes())).unwrap();
    let got = enc(EncoderConfig::default(), &r);
    assert!(!got.contains(['\n', '\r']));
    let text = got;
    assert!(!text.contains(['\u{85}', '\u{2028}', '\u{2029}']), "{text}");
    let payload = text
        .trim_start_matches(|c| c != '{')
        .trim_start_matches('\u{feff}');
    let back: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(pretty).unwrap());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Event text as it may come (pretty-printed, any Unicode in strings) goes out on one line,
    /// without raw Unicode line breaks, as the same JSON value.
    #[test]
    fn event_text_goes_out_on_one_line_as_the_same_value(a in ".*", b in "[\u{85}\u{2028}\u{2029}\u{e9}\u{c2}x\n]*") {
        let value = json!({"eventId": "e-1", "data": {"a": a, "b": b, "n": [1, {"c": "\u{2028}"}]}});
        let mut r = rec(json!({}));
        r.body = JsonText::parse(serde_json::to_vec_pretty(&value).unwrap().into()).unwrap();
        let msg = Encoder::new(EncoderConfig::default()).unwrap().encode(&r).unwrap().bytes;
        let s = std::str::from_utf8(&msg).unwrap();
        let line_breaks = ['\r', '\n', '\0', '\u{85}', '\u{2028}', '\u{2029}'];
        proptest::prop_assert!(!s.contains(line_breaks), "{}", s);
        let j = msg_after_sd(s).trim_start_matches('\u{feff}');
        let back: Value = serde_json::from_str(j).unwrap();
        proptest::prop_assert_eq!(back, value);
    }
}

/// A Cloud Guard problem as a record: its JSON, its version id, its risk level.
fn problem_record(body: Value) -> SyslogRecord {
    let mut r = rec(json!({}));
    r.event_id = "ocid1.cloudguardproblem.oc1.iad.p1/2026-11-22T14:01:02.345Z/ACTIVE/OPEN".into();
    r.event_type = "com.oraclecloud.cloudguard.problem".into();
    r.kind = RecordKind::CloudGuardProblem {
        risk_level: body["riskLevel"].as_str().map(str::to_owned),
    };
    r.body = JsonText::from_value(&body);
    r
}

fn problem_body() -> Value {
    json!({
        "id": "ocid1.cloudguardproblem.oc1.iad.p1",
        "compartmentId": "ocid1.compartment.oc1..c",
        "detectorId": "IAAS_CONFIGURATION_DETECTOR",
        "detectorRuleId": "BUCKET_IS_PUBLIC",
        "riskLevel": "HIGH",
        "riskScore": 72.5,
        "resourceId": "ocid1.bucket.oc1..b",
        "resourceName": "pay=roll|s",
        "resourceType": "Bucket",
        "labels": ["CIS_OCI_V1.1_OBJECTSTORAGE", "ObjectStorage"],
        "timeFirstDetected": "2026-11-20T09:00:00Z",
        "timeLastDetected": "2026-11-22T14:01:02.345Z",
        "lifecycleState": "ACTIVE",
        "lifecycleDetail": "OPEN",
        "region": "us-ashburn-1",
        "targetId": "ocid1.cloudguardtarget.oc1..t",
        "locks": []
    })
}

#[test]
fn a_problem_in_cef_byte_for_byte_with_its_risk_as_severity() {
    let cfg = EncoderConfig {
        payload: Payload::Cef,
        ..Default::default()
    };
    let got = enc(cfg, &problem_record(problem_body()));
    let want = concat!(
        // HIGH: error (PRI 131 = local0.err), CEF 7.
        r#"<131>1 2026-11-22T14:01:02.345Z auditfwd auditfwd - cloudguard.problem "#,
        r#"[auditfwd@32473 eventId="ocid1.cloudguardproblem.oc1.iad.p1/2026-11-22T14:01:02.345Z/ACTIVE/OPEN" compartmentId="ocid1.compartment.oc1..c" windowStart="2026-11-22T14:00:00.000Z" windowEnd="2026-11-22T14:05:00.000Z" replay="false"] "#,
        r#"CEF:0|Oracle|OCI Cloud Guard|20200131|BUCKET_IS_PUBLIC|BUCKET_IS_PUBLIC|7|"#,
        r#"rt=Nov 22 2026 14:01:02.345 UTC externalId=ocid1.cloudguardproblem.oc1.iad.p1/2026-11-22T14:01:02.345Z/ACTIVE/OPEN "#,
        r#"start=Nov 20 2026 09:00:00.000 UTC cat=IAAS_CONFIGURATION_DETECTOR act=OPEN outcome=ACTIVE "#,
        r#"deviceExternalId=ocid1.cloudguardtarget.oc1..t "#,
        r#"cs1Label=compartmentId cs1=ocid1.compartment.oc1..c cs2Label=riskLevel cs2=HIGH "#,
        r#"cs3Label=resourceName cs3=pay\=roll|s cs4Label=resourceId cs4=ocid1.bucket.oc1..b "#,
        r#"cs5Label=resourceType cs5=Bucket flexString1Label=problemId flexString1=ocid1.cloudguardproblem.oc1.iad.p1 "#,
        r#"flexString2Label=region flexString2=us-ashburn-1 cfp1Label=riskScore cfp1=72.5 "#,
        r#"cs6Label=window cs6=2026-11-22T14:00:00.000Z/2026-11-22T14:05:00.000Z cn1Label=replay cn1=0 "#,
        r#"msg=CIS_OCI_V1.1_OBJECTSTORAGE, ObjectStorage"#
    );
    assert_eq!(got, want);
}

#[test]
fn a_problem_in_leef_byte_for_byte() {
    let cfg = EncoderConfig {
        payload: Payload::Leef,
        format: SyslogFormat::Rfc3164,
        ..Default::default()
    };
    let mut body = problem_body();
    body["riskLevel"] = json!("CRITICAL");
    body["detectorRuleId"] = json!("RULE|X");
    body["resourceName"] = json!("tab\there");
    let got = enc(cfg, &problem_record(body));
    assert_eq!(
        got,
        "<130>Nov 22 14:01:02 auditfwd auditfwd: LEEF:2.0|Oracle|OCI Cloud Guard|20200131|RULE\\|X|x09|\
         devTime=2026-11-22T14:01:02.345Z\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX\tsev=8\
         \teventId=ocid1.cloudguardproblem.oc1.iad.p1/2026-11-22T14:01:02.345Z/ACTIVE/OPEN\
         \tcompartmentId=ocid1.compartment.oc1..c\tproblemId=ocid1.cloudguardproblem.oc1.iad.p1\
         \tcat=IAAS_CONFIGURATION_DETECTOR\tdetectorRuleId=RULE|X\triskLevel=CRITICAL\triskScore=72.5\
         \tlifecycleState=ACTIVE\tlifecycleDetail=OPEN\tresource=tab here\tresourceId=ocid1.bucket.oc1..b\
         \tresourceType=Bucket\ttimeFirstDetected=2026-11-20T09:00:00Z\tregion=us-ashburn-1\
         \ttargetId=ocid1.cloudguardtarget.oc1..t\tlabels=CIS_OCI_V1.1_OBJECTSTORAGE, ObjectStorage\
         \twindowStart=2026-11-22T14:00:00.000Z\twindowEnd=2026-11-22T14:05:00.000Z\treplay=false"
    );
}

#[test]
fn a_problem_in_json_is_its_own_text_and_a_sparse_one_still_encodes() {
    let body = problem_body();
    let r = problem_record(body.clone());
    let got = enc(EncoderConfig::default(), &r);
    let payload: Value = serde_json::from_str(msg_after_sd(&got)).unwrap();
    assert_eq!(payload, body);
    // Only an id: the rule falls back to the record type, nothing else is invented.
    let sparse = problem_record(json!({"id": "ocid1.cloudguardproblem.oc1.iad.p2"}));
    let cef = enc(
        EncoderConfig {
            payload: Payload::Cef,
            ..Default::default()
        },
        &sparse,
    );
    assert!(
        cef.contains(
            "|com.oraclecloud.cloudguard.problem|com.oraclecloud.cloudguard.problem|2|rt="
        ),
        "{cef}"
    );
    assert!(!cef.contains("cs2Label"), "{cef}");
}

#[test]
fn a_forged_line_in_a_problem_never_reaches_the_wire() {
    let mut body = problem_body();
    for field in [
        "detectorRuleId",
        "resourceName",
        "detectorId",
        "lifecycleDetail",
    ] {
        body[field] = json!(format!("x{FORGED}\r\0"));
    }
    body["labels"] = json!([FORGED]);
    let r = problem_record(body);
    for format in [SyslogFormat::Rfc5424, SyslogFormat::Rfc3164] {
        for payload in [Payload::Json, Payload::Cef, Payload::Leef] {
            let cfg = EncoderConfig {
                format,
                payload,
                ..Default::default()
            };
            let msg = Encoder::new(cfg).unwrap().encode(&r).unwrap().bytes;
            assert!(
                !msg.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
                "{format:?}/{payload:?}"
            );
        }
    }
}

#[test]
fn a_log_record_names_logging_as_its_product() {
    let mut r = rec(small_body());
    r.kind = RecordKind::LogRecord;
    for (payload, head) in [
        (Payload::Cef, "CEF:0|Oracle|OCI Logging|"),
        (Payload::Leef, "LEEF:2.0|Oracle|OCI Logging|"),
    ] {
        let cfg = EncoderConfig {
            payload,
            ..Default::default()
        };
        assert!(enc(cfg, &r).contains(head), "{payload:?}");
    }
}
