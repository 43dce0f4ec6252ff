//! RFC 5424 header: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA`.

use super::EncoderConfig;
use super::text::{push_rfc3339, push_sd_value, push_token, push_usize};
use crate::record::SyslogRecord;

/// MSGID is at most 32 printable characters (§6.2.7).
pub(crate) const MSGID_MAX: usize = 32;

/// MSGID for an event type: without OCI's constant `com.oraclecloud.` prefix, and when still
/// longer than 32 characters, with whole leading dot-separated segments dropped until it fits,
/// so the operation (what analysts filter on) survives:
/// `com.oraclecloud.ComputeApi.TerminateInstance` gives `ComputeApi.TerminateInstance`, and
/// `com.oraclecloud.ComputeApi.TerminateInstance.begin` gives `TerminateInstance.begin`. A single
/// segment longer than 32 keeps its last 32 characters. The full type is always in the payload.
pub(crate) fn msgid(event_type: &str) -> &str {
    let mut short = event_type
        .strip_prefix("com.oraclecloud.")
        .unwrap_or(event_type);
    if !short.is_ascii() {
        return short;
    }
    while short.len() > MSGID_MAX {
        match short.split_once('.') {
            Some((_, rest)) if !rest.is_empty() => short = rest,
            _ => return &short[short.len() - MSGID_MAX..],
        }
    }
    short
}

/// Writes everything up to and including the structured data (no trailing space).
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    pri: u8,
    c: &EncoderConfig,
    r: &SyslogRecord,
    truncated_from: Option<usize>,
) {
    out.push(b'<');
    push_usize(out, pri as usize);
    out.extend_from_slice(b">1 ");
    push_rfc3339(out, &r.event_time);
    out.push(b' ');
    out.extend_from_slice(c.hostname.as_bytes());
    out.push(b' ');
    out.extend_from_slice(c.app_name.as_bytes());
    // PROCID: a Lambda invocation has no meaningful process id.
    out.extend_from_slice(b" - ");
    push_token(out, msgid(&r.event_type), MSGID_MAX);
    out.extend_from_slice(b" [");
    out.extend_from_slice(c.sd_id.as_bytes());
    out.extend_from_slice(b" eventId=\"");
    push_sd_value(out, &r.event_id);
    out.extend_from_slice(b"\" compartmentId=\"");
    push_sd_value(out, &r.compartment_id);
    out.extend_from_slice(b"\" windowStart=\"");
    push_rfc3339(out, &r.window.start);
    out.extend_from_slice(b"\" windowEnd=\"");
    push_rfc3339(out, &r.window.end);
    out.extend_from_slice(if r.replay {
        b"\" replay=\"true\""
    } else {
        b"\" replay=\"false\""
    });
    if let Some(original) = truncated_from {
        out.extend_from_slice(b" truncated=\"true\" originalSize=\"");
        push_usize(out, original);
        out.push(b'"');
    }
    out.push(b']');
}
