//! The input of the encoders: one audit event plus the delivery context the SIEM needs
//! to deduplicate it. Deliberately independent of the OCI client crate; the pipeline
//! builds a [`SyslogRecord`] from the event's text as OCI sent it and the few fields it read.

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// The JSON text of one event, as it goes out. Always one valid JSON value: built from a
/// [`serde_json::Value`], from text checked here, or from text the caller has already parsed
/// (the pipeline's events, each validated when its page arrived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(Bytes);

impl JsonText {
    /// The text of `value`.
    pub fn from_value(value: &serde_json::Value) -> Self {
        // Serializing a `Value` into a Vec cannot fail.
        JsonText(Bytes::from(serde_json::to_vec(value).unwrap_or_default()))
    }

    /// Checks that `text` is one JSON value.
    pub fn parse(text: Bytes) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<serde::de::IgnoredAny>(&text)?;
        Ok(JsonText(text))
    }

    /// Wraps text the caller has already parsed as JSON (and edited only by replacing whole
    /// values with JSON values). Not checked again: that would cost a scan per event.
    pub fn already_validated(text: Bytes) -> Self {
        JsonText(text)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Parsed (for the CEF and LEEF payloads, and for shrinking an event that is too large).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.0)
    }
}

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
    /// The whole audit event (CloudEvents envelope with `data`), sent as the payload.
    pub body: JsonText,
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
    fn from_event_rejects_non_events() {
        assert!(SyslogRecord::from_event(json!({"eventId": "e1"}), window(), false).is_none());
        let bad_time = json!({"eventId": "e", "eventType": "t", "eventTime": "yesterday"});
        assert!(SyslogRecord::from_event(bad_time, window(), false).is_none());
    }
}
