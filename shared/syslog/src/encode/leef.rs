//! IBM QRadar LEEF 2.0: `LEEF:2.0|Oracle|OCI Audit|<version>|<eventType>|x09|k=v<TAB>k=v...`.
//!
//! The attribute delimiter is a tab, declared explicitly (`x09`). LEEF has no escape for
//! the delimiter, so tab, CR, LF, the Unicode line breaks U+0085, U+2028 and U+2029 and other
//! control characters inside values become a space; `|` and `\` in header fields are backslash-escaped. `devTime` carries the full
//! date with milliseconds and zone, with a matching `devTimeFormat`.

use serde_json::Value;

// LEEF escapes its header like CEF does (`\\` and `|`).
use super::cef::{is_plain, push_header_field, scalar};
use super::text::{push_rfc3339, push_rfc3339_millis, push_usize};
use crate::record::SyslogRecord;
use crate::severity::Severity;

fn push_value(out: &mut Vec<u8>, s: &str) {
    if is_plain(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        if c.is_control() || super::text::UNICODE_LINE_BREAKS.contains(&c) {
            out.push(b' ');
        } else {
            push_char(out, c);
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// (LEEF key, path into the event), in output order. `cat`, `sev`, `src`, `usrName`,
/// `resource`, `url` are LEEF predefined keys; the rest are custom keys.
const MAPPED: &[(&str, &[&str])] = &[
    ("cat", &["source"]),
    ("eventName", &["data", "eventName"]),
    ("src", &["data", "identity", "ipAddress"]),
    ("usrName", &["data", "identity", "principalName"]),
    ("principalId", &["data", "identity", "principalId"]),
    ("authType", &["data", "identity", "authType"]),
    ("tenantId", &["data", "identity", "tenantId"]),
    ("userAgent", &["data", "identity", "userAgent"]),
    ("requestMethod", &["data", "request", "action"]),
    ("url", &["data", "request", "path"]),
    ("responseStatus", &["data", "response", "status"]),
    ("compartmentName", &["data", "compartmentName"]),
    ("resource", &["data", "resourceName"]),
    ("resourceId", &["data", "resourceId"]),
    ("message", &["data", "response", "message"]),
];

pub(crate) fn kv(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b'\t');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    push_value(out, value);
}

pub(crate) fn write(out: &mut Vec<u8>, r: &SyslogRecord, body: &Value, severity: Severity) {
    out.extend_from_slice(b"LEEF:2.0|Oracle|");
    out.extend_from_slice(super::cef::product(r).as_bytes());
    out.push(b'|');
    push_header_field(
        out,
        &scalar(body, &["eventTypeVersion"]).unwrap_or("2.0".into()),
    );
    out.push(b'|');
    push_header_field(out, &r.event_type);
    out.extend_from_slice(b"|x09|devTime=");
    push_rfc3339_millis(out, &r.event_time);
    out.extend_from_slice(b"\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX\tsev=");
    push_usize(out, severity.leef() as usize);
    kv(out, "eventId", &r.event_id);
    kv(out, "compartmentId", &r.compartment_id);
    for (key, pointer) in MAPPED {
        if let Some(v) = scalar(body, pointer) {
            kv(out, key, &v);
        }
    }
    push_delivery(out, r);
}

/// The delivery context every record carries: `windowStart`, `windowEnd`, `replay`.
pub(crate) fn push_delivery(out: &mut Vec<u8>, r: &SyslogRecord) {
    out.extend_from_slice(b"\twindowStart=");
    push_rfc3339(out, &r.window.start);
    out.extend_from_slice(b"\twindowEnd=");
    push_rfc3339(out, &r.window.end);
    out.extend_from_slice(if r.replay {
        b"\treplay=true"
    } else {
        b"\treplay=false"
    });
}
