//! The input of the encoders: one audit event plus the delivery context the SIEM needs
//! to deduplicate it. Deliberately independent of the OCI client crate; the pipeline
//! converts its typed event into a [`SyslogRecord`].

use chrono::{DateTime, Utc};

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
    /// The window this event was fetched in.
    pub window: Window,
    /// True when this delivery is an operator-requested replay of a window.
    pub replay: bool,
    /// The whole audit event (CloudEvents envelope with `data`), sent as the payload.
    pub body: serde_json::Value,
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
        Some(Self {
            event_id,
            event_type,
            event_time,
            compartment_id,
            window,
            replay,
            body,
        })
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
        let r = SyslogRecord::from_event(body, window(), true).unwrap();
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
