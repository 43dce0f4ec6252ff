//! Encoders: pure functions from a [`SyslogRecord`] to the bytes of one syslog message
//! (without transport framing, see [`crate::framing`]).
//!
//! An [`Encoder`] is built once from an [`EncoderConfig`] (validated then, so encoding
//! cannot fail on configuration) and combines a header format ([`SyslogFormat`]) with a
//! payload ([`Payload`]). Every message is kept within `max_message_size` by
//! [`shrink`]ing the event deterministically; encoded messages never contain CR, LF or
//! NUL bytes, and payloads never contain the Unicode line breaks U+0085, U+2028 and U+2029,
//! so a field value can never forge a second line.

mod cef;
mod cloud_guard;
mod leef;
mod rfc3164;
mod rfc5424;
mod shrink;
pub(crate) mod text;

use bytes::Bytes;

use crate::error::{ConfigError, EncodeError};
use crate::record::{RecordKind, SyslogRecord};
use crate::severity::{Facility, SeverityPolicy, pri};

/// The syslog header format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    /// RFC 5424, with the event id, compartment and window in structured data (default).
    #[default]
    Rfc5424,
    /// RFC 3164 ("BSD syslog") for legacy receivers: year-less timestamp, no structured
    /// data; the full `eventTime` and ids stay inside the payload.
    Rfc3164,
}

/// The MSG part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Payload {
    /// The whole audit event as compact JSON (default; nothing is lost).
    #[default]
    Json,
    /// ArcSight Common Event Format; field mapping in `docs/syslog.md`.
    Cef,
    /// IBM QRadar Log Event Extended Format 2.0, tab-delimited.
    Leef,
}

/// When MSG is prefixed with a UTF-8 byte order mark (RFC 5424 §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BomPolicy {
    /// When MSG contains non-ASCII bytes: it is then MSG-UTF8, which the RFC requires to
    /// start with a BOM; pure ASCII is valid MSG-ANY without one (default).
    #[default]
    WhenNonAscii,
    /// Always (MSG is always declared UTF-8).
    Always,
    /// Never. Deviates from the RFC for non-ASCII messages; for receivers that show the
    /// BOM as garbage.
    Never,
}

/// Smallest accepted `max_message_size`: RFC 5426 §3.2 requires receivers to accept 480
/// octets, and a fully truncated event fits in that.
pub const MIN_MESSAGE_SIZE: usize = 480;

/// Encoder settings. Field docs are the user documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Header format. Default RFC 5424.
    pub format: SyslogFormat,
    /// MSG payload. Default JSON.
    pub payload: Payload,
    /// Facility in PRI. Default `local0`.
    pub facility: Facility,
    /// How the severity in PRI is derived from each event.
    pub severity: SeverityPolicy,
    /// HOSTNAME field (RFC 3164 too). Default `auditfwd`.
    pub hostname: String,
    /// APP-NAME (RFC 5424) or TAG (RFC 3164, where only letters and digits are kept).
    /// Default `auditfwd`.
    pub app_name: String,
    /// SD-ID of the structured-data element. Default `auditfwd@32473` (32473 is the IANA
    /// example enterprise number: use your own if you have one).
    pub sd_id: String,
    /// MSG byte order mark rule (RFC 5424 only).
    pub bom: BomPolicy,
    /// Largest message in bytes: the whole syslog message as the receiver counts it (PRI,
    /// header, structured data, BOM and payload), excluding transport framing. Larger events
    /// are shrunk. Default [`DEFAULT_STREAM_MAX`].
    pub max_message_size: usize,
}

/// Default maximum message size on stream transports (TCP, TLS, RELP): what a receiver with
/// its stock configuration accepts whole. rsyslog's default `maxMessageSize` ("8k") is 8096
/// bytes of syslog message (header, structured data and payload; tested against rsyslog
/// 8.2302: a longer message is cut there, and imtcp even turns the rest into a second message).
/// RFC 5425 §4.3.1 requires 2048 and recommends 8192. Receivers known to take more get it
/// from their [`crate::ReceiverProfile`] or `max_message_size`.
pub const DEFAULT_STREAM_MAX: usize = 8096;
/// Default maximum message size on UDP: the size RFC 5426 says receivers should accept.
pub const DEFAULT_UDP_MAX: usize = 2048;

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            format: SyslogFormat::default(),
            payload: Payload::default(),
            facility: Facility::Local0,
            severity: SeverityPolicy::default(),
            hostname: "auditfwd".into(),
            app_name: "auditfwd".into(),
            sd_id: "auditfwd@32473".into(),
            bom: BomPolicy::default(),
            max_message_size: DEFAULT_STREAM_MAX,
        }
    }
}

/// The result of encoding one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The syslog message, unframed.
    pub bytes: Bytes,
    /// Size of the message before shrinking, when it had to be shrunk.
    pub truncated_from: Option<usize>,
}

/// A validated encoder. Cheap to share; encoding is a pure function of the record.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    /// RFC 3164 TAG derived from `app_name` once.
    tag: String,
}

impl Encoder {
    /// Validates the configuration.
    pub fn new(config: EncoderConfig) -> Result<Self, ConfigError> {
        if !text::is_token(&config.hostname, 255) {
            return Err(ConfigError::InvalidHostname(config.hostname));
        }
        if !text::is_token(&config.app_name, 48) {
            return Err(ConfigError::InvalidAppName(config.app_name));
        }
        if !text::is_token(&config.sd_id, 32)
            || config
                .sd_id
                .bytes()
                .any(|b| matches!(b, b'=' | b']' | b'"'))
        {
            return Err(ConfigError::InvalidSdId(config.sd_id));
        }
        if config.max_message_size < MIN_MESSAGE_SIZE {
            return Err(ConfigError::MaxSizeTooSmall {
                got: config.max_message_size,
                min: MIN_MESSAGE_SIZE,
            });
        }
        let mut tag: String = config
            .app_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(32)
            .collect();
        if tag.is_empty() {
            tag = "auditfwd".into();
        }
        Ok(Self { config, tag })
    }

    /// The configuration this encoder was built from.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Encodes one record into a new buffer.
    pub fn encode(&self, record: &SyslogRecord) -> Result<Encoded, EncodeError> {
        // Typical audit events encode to 2-4 KB; start there rather than regrowing.
        let mut out = Vec::with_capacity(4096);
        let truncated_from = self.encode_into(record, &mut out)?;
        Ok(Encoded {
            bytes: Bytes::from(out),
            truncated_from,
        })
    }

    /// Appends one encoded message to `out` (which may already hold earlier messages).
    /// Returns the pre-shrink size when the event had to be shrunk.
    pub fn encode_into(
        &self,
        record: &SyslogRecord,
        out: &mut Vec<u8>,
    ) -> Result<Option<usize>, EncodeError> {
        let start = out.len();
        let severity = self.config.severity.of_record(record);
        let pri = pri(self.config.facility, severity);
        let invalid = |source| EncodeError::InvalidJson {
            event_id: record.event_id.clone(),
            source,
        };
        // JSON goes out as the event's own text; CEF and LEEF pick fields from the parsed event.
        let parsed = match self.config.payload {
            Payload::Json => None,
            Payload::Cef | Payload::Leef => Some(record.body.to_value().map_err(invalid)?),
        };
        let body = match &parsed {
            Some(v) => Body::Value(v),
            None => Body::Text(&record.body),
        };
        self.write(record, body, pri, severity, None, out);
        let max = self.config.max_message_size;
        if out.len() - start <= max {
            return Ok(None);
        }
        let original = out.len() - start;
        let value = match parsed {
            Some(v) => v,
            None => record.body.to_value().map_err(invalid)?,
        };
        let mut shrinker = shrink::Shrinker::new(value);
        loop {
            let excess = out.len() - start - max;
            if !shrinker.step(excess) {
                let size = out.len() - start;
                out.truncate(start);
                return Err(EncodeError::TooLarge {
                    event_id: record.event_id.clone(),
                    size,
                    max,
                });
            }
            out.truncate(start);
            let body = Body::Value(shrinker.body());
            self.write(record, body, pri, severity, Some(original), out);
            if out.len() - start <= max {
                return Ok(Some(original));
            }
        }
    }

    fn write(
        &self,
        record: &SyslogRecord,
        body: Body<'_>,
        pri: u8,
        severity: crate::severity::Severity,
        truncated_from: Option<usize>,
        out: &mut Vec<u8>,
    ) {
        let c = &self.config;
        match c.format {
            SyslogFormat::Rfc5424 => {
                rfc5424::write_header(out, pri, c, record, truncated_from);
                out.push(b' ');
                let msg_start = out.len();
                self.write_payload(record, body, severity, out);
                let bom = match c.bom {
                    BomPolicy::Always => true,
                    BomPolicy::Never => false,
                    BomPolicy::WhenNonAscii => !out[msg_start..].is_ascii(),
                };
                if bom {
                    out.splice(msg_start..msg_start, [0xEF, 0xBB, 0xBF]);
                }
            }
            SyslogFormat::Rfc3164 => {
                rfc3164::write_header(out, pri, c, &self.tag, record);
                out.push(b' ');
                self.write_payload(record, body, severity, out);
            }
        }
    }

    fn write_payload(
        &self,
        record: &SyslogRecord,
        body: Body<'_>,
        severity: crate::severity::Severity,
        out: &mut Vec<u8>,
    ) {
        match (self.config.payload, body) {
            // Compact JSON never contains a raw CR, LF or NUL (serde_json escapes control
            // characters inside strings; whitespace between tokens is dropped), and U+0085,
            // U+2028 and U+2029 are escaped.
            (Payload::Json, Body::Text(text)) => {
                text.for_each_piece(|piece| text::write_json_text(out, piece));
            }
            (Payload::Json, Body::Value(v)) => text::write_json(&mut *out, v),
            (Payload::Cef, body) => match record.kind {
                RecordKind::CloudGuardProblem { .. } => {
                    cloud_guard::write_cef(out, record, body.value(), severity)
                }
                _ => cef::write(out, record, body.value(), severity),
            },
            (Payload::Leef, body) => match record.kind {
                RecordKind::CloudGuardProblem { .. } => {
                    cloud_guard::write_leef(out, record, body.value(), severity)
                }
                _ => leef::write(out, record, body.value(), severity),
            },
        }
    }
}

/// The event as the payload writers take it: its text (JSON payload), or parsed (CEF and
/// LEEF, and any event being shrunk).
#[derive(Clone, Copy)]
enum Body<'a> {
    Text(&'a crate::record::JsonText),
    Value(&'a serde_json::Value),
}

impl<'a> Body<'a> {
    /// The parsed event; `encode_into` always parses it for the payloads that need this.
    fn value(self) -> &'a serde_json::Value {
        static NOTHING: serde_json::Value = serde_json::Value::Null;
        match self {
            Body::Value(v) => v,
            Body::Text(_) => &NOTHING,
        }
    }
}

#[cfg(test)]
mod tests;
