//! RFC 3164 header: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG:`.
//!
//! The timestamp is the event time in UTC without a year, as the RFC requires; receivers
//! must take the full `eventTime` (and zone) from the payload.

use super::EncoderConfig;
use super::text::{push_rfc3164, push_usize};
use crate::record::SyslogRecord;

/// Writes the header up to and including the `:` after the TAG (no trailing space).
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    pri: u8,
    c: &EncoderConfig,
    tag: &str,
    r: &SyslogRecord,
) {
    out.push(b'<');
    push_usize(out, pri as usize);
    out.push(b'>');
    push_rfc3164(out, &r.event_time);
    out.push(b' ');
    out.extend_from_slice(c.hostname.as_bytes());
    out.push(b' ');
    out.extend_from_slice(tag.as_bytes());
    out.push(b':');
}
