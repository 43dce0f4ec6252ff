//! The input of the encoders: one audit event plus the delivery context the SIEM needs
//! to deduplicate it. Deliberately independent of the OCI client crate; the pipeline
//! builds a [`SyslogRecord`] from the event's text as OCI sent it and the few fields it read.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// The JSON text of one event, as it goes out. Always one valid JSON value: built from a
/// [`serde_json::Value`], from text checked here, or from text the caller has already parsed
/// (the pipeline's events, each validated when its page arrived).
///
/// Text can carry replacements: ranges of it (whole JSON values) that go out as another JSON
/// value. The pipeline scrubs credential headers this way, so a scrubbed event is never
/// copied: the replacement happens as the message is encoded. Every way of reading the text
/// ([`Self::for_each_piece`], [`Self::to_bytes`], [`Self::to_value`]) gives it replaced.
#[derive(Debug, Clone)]
pub struct JsonText {
    text: Bytes,
    replaced: Option<Box<Replaced>>,
}

#[derive(Debug, Clone)]
struct Replaced {
    /// Ascending, not overlapping, within the text.
    spans: Box<[Range<usize>]>,
    with: &'static [u8],
}

impl JsonText {
    /// The text of `value`.
    pub fn from_value(value: &serde_json::Value) -> Self {
        // Serializing a `Value` into a Vec cannot fail.
        Self::already_validated(Bytes::from(serde_json::to_vec(value).unwrap_or_default()))
    }

    /// Checks that `text` is one JSON value.
    pub fn parse(text: Bytes) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<serde::de::IgnoredAny>(&text)?;
        Ok(Self::already_validated(text))
    }

    /// Wraps text the caller has already parsed as JSON. Not checked again: that would cost a
    /// scan per event.
    pub fn already_validated(text: Bytes) -> Self {
        JsonText {
            text,
            replaced: None,
        }
    }

    /// Text the caller has already parsed as JSON, going out with each of `spans` (whole JSON
    /// values, ascending, not overlapping) replaced by `with` (one JSON value). Spans out of
    /// order or out of range are clamped or skipped, never a panic.
    pub fn already_validated_replacing(
        text: Bytes,
        spans: Vec<Range<usize>>,
        with: &'static [u8],
    ) -> Self {
        let replaced = (!spans.is_empty()).then(|| {
            Box::new(Replaced {
                spans: spans.into_boxed_slice(),
                with,
            })
        });
        JsonText { text, replaced }
    }

    /// Calls `f` with each piece of the text, in order: runs of the original and the
    /// replacements between them.
    pub fn for_each_piece(&self, mut f: impl FnMut(&[u8])) {
        let Some(r) = &self.replaced else {
            f(&self.text);
            return;
        };
        let mut at = 0;
        for span in &r.spans {
            let (start, end) = (span.start.max(at), span.end.min(self.text.len()));
            if start > end {
                continue;
            }
            f(&self.text[at..start]);
            f(r.with);
            at = end;
        }
        f(&self.text[at..]);
    }

    /// The text, replaced; borrowed when there is nothing to replace.
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        if self.replaced.is_none() {
            return Cow::Borrowed(&self.text);
        }
        let mut out = Vec::with_capacity(self.text.len());
        self.for_each_piece(|p| out.extend_from_slice(p));
        Cow::Owned(out)
    }

    /// Parsed (for the CEF and LEEF payloads, and for shrinking an event that is too large).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.to_bytes())
    }
}

/// Equal when the texts that go out are equal.
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for JsonText {}

/// The polling window an event was fetched in. Carried in structured data so a SIEM
/// can tell a replay of a window from fresh delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// One audit event ready to be encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogRecord {
    /// `eventId`: the SIEM's deduplication key.
    pub event_id: String,
    /// `eventType`, e.g. `com.oraclecloud.ComputeApi.TerminateInstance`.
    pub event_type: String,
    /// `eventTime`: becomes the syslog TIMESTAMP.
    pub event_time: DateTime<Utc>,
    /// `data.compartmentId`.
    pub compartment_id: String,
    /// `data.eventName` (severity is derived from it).
    pub event_name: Option<String>,
    /// `data.response.status` as a number (severity is derived from it).
    pub response_status: Option<u16>,
    /// The window this event was fetched in.
    pub window: Window,
    /// True when this delivery is an operator-requested replay of a window.
    pub replay: bool,
    /// What the record is: the CEF and LEEF field mappings and the severity depend on it.
    pub kind: RecordKind,
    /// The whole audit event (CloudEvents envelope with `data`), or the record as its source
    /// sent it, sent as the payload.
    pub body: JsonText,
}

/// What a record is. JSON payloads are the record's own text whatever its kind; CEF and LEEF
/// name the product and map the fields of each kind (listed in `docs/syslog.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RecordKind {
    /// An OCI Audit event.
    #[default]
    AuditEvent,
    /// A log record found by a Logging search.
    LogRecord,
    /// One version of a Cloud Guard problem.
    CloudGuardProblem {
        /// `riskLevel` as Cloud Guard sent it (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`, `MINOR`):
        /// the severity.
        risk_level: Option<String>,
    },
}

impl SyslogRecord {
    /// Builds a record from a whole audit event as OCI returns it, taking the envelope
    /// fields from the JSON. Returns `None` when `eventId`, `eventType` or a parseable
    /// `eventTime` is missing: such an object is not an audit event.
    pub fn from_event(body: serde_json::Value, window: Window, replay: bool) -> Option<Self> {
        let event_id = body.get("eventId")?.as_str()?.to_owned();
        let event_type = body.get("eventType")?.as_str()?.to_owned();
        let event_time = DateTime::parse_from_rfc3339(body.get("eventTime")?.as_str()?)
            .ok()?
            .with_timezone(&Utc);
        let compartment_id = body
            .pointer("/data/compartmentId")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let event_name = body
            .pointer("/data/eventName")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let response_status = body.pointer("/data/response/status").and_then(status_of);
        Some(Self {
            event_id,
            event_type,
            event_time,
            compartment_id,
            event_name,
            response_status,
            window,
            replay,
            kind: RecordKind::AuditEvent,
            body: JsonText::from_value(&body),
        })
    }
}

impl SyslogRecord {
    /// Edits the event (parsed, changed by `f`, written back) and reads `eventName` and the
    /// response status again. For tests and tools: the pipeline never rebuilds an event.
    pub fn edit_body(
        &mut self,
        f: impl FnOnce(&mut serde_json::Value),
    ) -> Result<(), serde_json::Error> {
        let mut body = self.body.to_value()?;
        f(&mut body);
        self.event_name = body
            .pointer("/data/eventName")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        self.response_status = body.pointer("/data/response/status").and_then(status_of);
        self.body = JsonText::from_value(&body);
        Ok(())
    }
}

/// An HTTP status given as `"200"` (as OCI does) or `200`.
pub(crate) fn status_of(v: &serde_json::Value) -> Option<u16> {
    match v {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn window() -> Window {
        Window {
            start: "2026-11-22T14:00:00Z".parse().unwrap(),
            end: "2026-11-22T14:05:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn from_event_reads_the_envelope() {
        let body = json!({
            "eventId": "e1", "eventType": "com.oraclecloud.ComputeApi.GetInstance",
            "eventTime": "2026-11-22T14:01:02.345Z",
            "data": {"compartmentId": "ocid1.compartment.oc1..x"}
        });
        let r = SyslogRecord::from_event(body.clone(), window(), true).unwrap();
        assert_eq!(r.body.to_value().unwrap(), body);
        assert_eq!(r.event_id, "e1");
        assert_eq!(r.compartment_id, "ocid1.compartment.oc1..x");
        assert_eq!(r.event_time.timestamp_subsec_millis(), 345);
        assert!(r.replay);
    }

    #[test]
    fn replaced_text_reads_replaced_every_way_and_encodes_like_the_copy() {
        let original = concat!(
            r#"{"eventId":"e1","eventType":"t","eventTime":"2026-11-22T14:01:02Z","data":{"a":["secret"],"b":""#,
            "\u{2028}",
            r#"","c":{"k":1}}}"#
        )
        .as_bytes();
        let text = Bytes::from_static(original);
        let find = |needle: &str| {
            let at = original
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap();
            at..at + needle.len()
        };
        let spans = vec![find(r#"["secret"]"#), find(r#"{"k":1}"#)];
        let with: &'static [u8] = br#"["[REDACTED]"]"#;
        let replaced = JsonText::already_validated_replacing(text.clone(), spans, with);
        let expected = concat!(
            r#"{"eventId":"e1","eventType":"t","eventTime":"2026-11-22T14:01:02Z","data":{"a":["[REDACTED]"],"b":""#,
            "\u{2028}",
            r#"","c":["[REDACTED]"]}}"#
        )
        .as_bytes();
        assert_eq!(&*replaced.to_bytes(), expected);
        let mut pieces = Vec::new();
        replaced.for_each_piece(|p| pieces.extend_from_slice(p));
        assert_eq!(pieces, expected);
        assert_eq!(replaced.to_value().unwrap()["data"]["a"][0], "[REDACTED]");
        let copy = JsonText::already_validated(Bytes::from_static(expected));
        assert_eq!(replaced, copy);
        // The encoders see the same text either way, JSON (escaping U+2028) and CEF alike.
        let record = |body: JsonText| {
            let mut r = SyslogRecord::from_event(
                json!({"eventId": "e1", "eventType": "t", "eventTime": "2026-11-22T14:01:02Z"}),
                window(),
                false,
            )
            .unwrap();
            r.body = body;
            r
        };
        for payload in [crate::Payload::Json, crate::Payload::Cef] {
            let encoder = crate::Encoder::new(crate::EncoderConfig {
                payload,
                ..Default::default()
            })
            .unwrap();
            assert_eq!(
                encoder.encode(&record(replaced.clone())).unwrap().bytes,
                encoder.encode(&record(copy.clone())).unwrap().bytes,
                "{payload:?}"
            );
        }
        // Spans out of order or out of range are skipped or clamped, never a panic.
        let odd = JsonText::already_validated_replacing(text, vec![5..9, 2..4, 400..500], b"0");
        assert!(odd.to_bytes().starts_with(br#"{"eve0"#));
        assert_eq!(
            JsonText::already_validated_replacing(Bytes::new(), Vec::new(), b"0")
                .to_bytes()
                .len(),
            0
        );
    }

    #[test]
    fn from_event_rejects_non_events() {
        assert!(SyslogRecord::from_event(json!({"eventId": "e1"}), window(), false).is_none());
        let bad_time = json!({"eventId": "e", "eventType": "t", "eventTime": "yesterday"});
        assert!(SyslogRecord::from_event(bad_time, window(), false).is_none());
    }
}
