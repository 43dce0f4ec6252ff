//! ArcSight CEF: `CEF:0|Oracle|OCI Audit|<version>|<eventType>|<eventName>|<severity>|<extension>`
//! (`OCI Logging` for a log record; a Cloud Guard problem has its own mapping,
//! [`super::cloud_guard`]).
//!
//! Header fields escape `\` and `|`; extension values escape `\`, `=`, CR (`\r`) and LF
//! (`\n`) as the CEF specification says, so no value can start a new key or line; the Unicode
//! line breaks U+0085, U+2028 and U+2029 are written as `\n` too (CEF has no other escape for
//! a line break). Other control characters (NUL, tab...) become a space, as does any line break
//! in a header field. `rt` carries the full date, with
//! milliseconds and zone. The field mapping is listed in `docs/syslog.md`.

use serde_json::Value;

use super::text::push_cef_time;
use crate::record::{RecordKind, SyslogRecord};
use crate::severity::Severity;

/// True when `s` needs no escaping in any CEF/LEEF position: printable ASCII without
/// `\\`, `|` or `=`. Most values are, and are then copied in one go.
pub(crate) fn is_plain(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'\\' | b'|' | b'='))
}

pub(crate) fn push_header_field(out: &mut Vec<u8>, s: &str) {
    if is_plain(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '|' => out.extend_from_slice(b"\\|"),
            c if c.is_control() || super::text::UNICODE_LINE_BREAKS.contains(&c) => out.push(b' '),
            c => push_char(out, c),
        }
    }
}

pub(crate) fn push_ext_value(out: &mut Vec<u8>, s: &str) {
    if is_plain(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '=' => out.extend_from_slice(b"\\="),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if super::text::UNICODE_LINE_BREAKS.contains(&c) => out.extend_from_slice(b"\\n"),
            c if c.is_control() => out.push(b' '),
            c => push_char(out, c),
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// A string (or number/bool, shown as JSON) at a path; None when absent, null,
/// empty or a container.
pub(crate) fn scalar<'a>(body: &'a Value, path: &[&str]) -> Option<std::borrow::Cow<'a, str>> {
    match super::text::at(body, path)? {
        Value::String(s) if !s.is_empty() => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        _ => None,
    }
}

/// (CEF key, path into the event) for plain string mappings, in output order.
const MAPPED: &[(&str, &[&str])] = &[
    ("cat", &["source"]),
    ("act", &["data", "eventName"]),
    ("outcome", &["data", "response", "status"]),
    ("src", &["data", "identity", "ipAddress"]),
    ("suser", &["data", "identity", "principalName"]),
    ("suid", &["data", "identity", "principalId"]),
    ("requestMethod", &["data", "request", "action"]),
    ("request", &["data", "request", "path"]),
    (
        "requestClientApplication",
        &["data", "identity", "userAgent"],
    ),
];

/// Custom string slots: (key, label, path into the event).
const CUSTOM: &[(&str, &str, &[&str])] = &[
    ("cs2", "compartmentName", &["data", "compartmentName"]),
    ("cs3", "resourceName", &["data", "resourceName"]),
    ("cs4", "resourceId", &["data", "resourceId"]),
    ("cs5", "tenantId", &["data", "identity", "tenantId"]),
];

/// The product in the CEF and LEEF headers.
pub(crate) fn product(r: &SyslogRecord) -> &'static str {
    match r.kind {
        RecordKind::AuditEvent => "OCI Audit",
        RecordKind::LogRecord => "OCI Logging",
        RecordKind::CloudGuardProblem { .. } => "OCI Cloud Guard",
    }
}

/// The delivery context every record carries: ` cs6Label=window cs6=<start>/<end>
/// cn1Label=replay cn1=<0|1>`.
pub(crate) fn push_delivery(out: &mut Vec<u8>, r: &SyslogRecord) {
    out.extend_from_slice(b" cs6Label=window cs6=");
    super::text::push_rfc3339(out, &r.window.start);
    out.push(b'/');
    super::text::push_rfc3339(out, &r.window.end);
    out.extend_from_slice(if r.replay {
        b" cn1Label=replay cn1=1"
    } else {
        b" cn1Label=replay cn1=0"
    });
}

pub(crate) fn write(out: &mut Vec<u8>, r: &SyslogRecord, body: &Value, severity: Severity) {
    out.extend_from_slice(b"CEF:0|Oracle|");
    out.extend_from_slice(product(r).as_bytes());
    out.push(b'|');
    push_header_field(
        out,
        &scalar(body, &["eventTypeVersion"]).unwrap_or("2.0".into()),
    );
    out.push(b'|');
    push_header_field(out, &r.event_type);
    out.push(b'|');
    let name = scalar(body, &["data", "eventName"]);
    push_header_field(out, name.as_deref().unwrap_or(&r.event_type));
    out.push(b'|');
    super::text::push_usize(out, severity.cef() as usize);
    out.extend_from_slice(b"|rt=");
    push_cef_time(out, &r.event_time);
    out.extend_from_slice(b" externalId=");
    push_ext_value(out, &r.event_id);
    for (key, pointer) in MAPPED {
        if let Some(v) = scalar(body, pointer) {
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            push_ext_value(out, &v);
        }
    }
    out.extend_from_slice(b" cs1Label=compartmentId cs1=");
    push_ext_value(out, &r.compartment_id);
    for (key, label, pointer) in CUSTOM {
        if let Some(v) = scalar(body, pointer) {
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"Label=");
            out.extend_from_slice(label.as_bytes());
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            push_ext_value(out, &v);
        }
    }
    push_delivery(out, r);
    if let Some(v) = scalar(body, &["data", "response", "message"]) {
        out.extend_from_slice(b" msg=");
        push_ext_value(out, &v);
    }
}
