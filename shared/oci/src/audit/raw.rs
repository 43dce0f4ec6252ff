//! Audit events as OCI sent them: each event's exact JSON text, plus the few fields auditfwd
//! decides on ([`EventHead`]), read once when the page arrives.
//!
//! The forwarder never rebuilds an event: what it sends is this text, byte for byte, except
//! the values of credential headers ([`RawEvent::headers`] says where they are; the pipeline's
//! scrubber has them replaced as the message is encoded, without a copy of the event).
//! Fields OCI adds later therefore pass through untouched, and an event costs one scan of its
//! text for its head instead of a typed parse, a conversion and a re-serialization.
//! [`super::AuditEvent`] stays the typed model for callers that want one
//! ([`RawEvent::to_event`]).

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::AuditEvent;

/// One audit event: its JSON text as OCI sent it, and its head.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    text: Bytes,
    head: EventHead,
}

/// What auditfwd reads of an event to decide on it: identity and time for dedupe and
/// windowing, type and principal for filters, name and status for severity, and where each
/// request and response header sits in the text, for scrubbing.
#[derive(Debug, Clone, PartialEq)]
pub struct EventHead {
    /// `eventId`.
    pub event_id: String,
    /// `eventType`.
    pub event_type: String,
    /// `eventTime`.
    pub event_time: DateTime<Utc>,
    /// `data.compartmentId`.
    pub compartment_id: Option<String>,
    /// `data.eventName`.
    pub event_name: Option<String>,
    /// `data.identity`, when present.
    pub identity: Option<Principal>,
    /// `data.response.status` as a number (OCI sends a string such as `"200"`).
    pub response_status: Option<u16>,
    /// What the record is (an audit event unless a source says otherwise): the encoders map
    /// each kind's own fields.
    pub kind: RecordKind,
    /// Every header of `data.request.headers` and `data.response.headers`, in text order
    /// (read them with [`RawEvent::headers`]).
    headers: Vec<HeaderSpan>,
}

/// What a record is. The pipeline decides on every kind alike (id, type, time, compartment);
/// the syslog encoders pick each kind's fields for CEF and LEEF and its severity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RecordKind {
    /// An Audit event (`ListEvents`).
    #[default]
    AuditEvent,
    /// A log record found by a Logging search.
    LogRecord,
    /// One version of a Cloud Guard problem (`ListProblems`).
    CloudGuardProblem {
        /// `riskLevel`: the record's severity.
        risk_level: Option<crate::cloud_guard::RiskLevel>,
    },
}

/// Who acted: the fields of `data.identity` filters look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// `principalName`.
    pub principal_name: Option<String>,
    /// `principalId`.
    pub principal_id: Option<String>,
    /// `authType` (`natv`, `instance`, `resource`, ...).
    pub auth_type: Option<String>,
}

/// Where one header of the audited request or response sits in the event's text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderSpan {
    name: HeaderName,
    value: Range<usize>,
}

/// A header name: a range of the text, or, when OCI escaped a character in it, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeaderName {
    InText(Range<usize>),
    Unescaped(Box<str>),
}

impl EventHead {
    /// The head of a record that is not an audit event (a log record found by Logging
    /// search, a Cloud Guard problem): the envelope fields only, with no principal, no
    /// response and no headers to scrub.
    pub fn of_record(
        kind: RecordKind,
        event_id: String,
        event_type: String,
        event_time: DateTime<Utc>,
        compartment_id: Option<String>,
    ) -> Self {
        EventHead {
            event_id,
            event_type,
            event_time,
            compartment_id,
            event_name: None,
            identity: None,
            response_status: None,
            kind,
            headers: Vec::new(),
        }
    }
}

impl RawEvent {
    /// A record's JSON text with its head, read by the caller (for records that are not audit
    /// events: [`EventHead::of_record`]). `text` must be one JSON value.
    pub fn from_parts(text: Bytes, head: EventHead) -> Self {
        RawEvent { text, head }
    }

    /// Reads the head of one event's JSON text. Fails when the text is not JSON or not an
    /// audit event (`eventId`, `eventType` and an RFC 3339 `eventTime` are required).
    pub fn parse(text: Bytes) -> Result<Self, serde_json::Error> {
        let view: EventView<'_> = serde_json::from_slice(&text)?;
        let head = view.into_head(&text);
        Ok(RawEvent { text, head })
    }

    /// The JSON text of a typed event (test fakes and tools build events this way).
    pub fn from_event(event: &AuditEvent) -> Result<Self, serde_json::Error> {
        Self::parse(Bytes::from(serde_json::to_vec(event)?))
    }

    /// The event's JSON text, exactly as OCI sent it.
    pub fn text(&self) -> &Bytes {
        &self.text
    }

    /// The fields auditfwd decides on.
    pub fn head(&self) -> &EventHead {
        &self.head
    }

    /// Text and head, by value.
    pub fn into_parts(self) -> (Bytes, EventHead) {
        (self.text, self.head)
    }

    /// The typed event (a full parse; the forwarder itself never needs one).
    pub fn to_event(&self) -> Result<AuditEvent, serde_json::Error> {
        serde_json::from_slice(&self.text)
    }

    /// Each header of `data.request.headers` and `data.response.headers`, in text order: its
    /// name, and the byte range in [`Self::text`] of its value (whatever JSON OCI put there,
    /// usually an array of strings).
    pub fn headers(&self) -> impl Iterator<Item = (&str, Range<usize>)> {
        self.head.headers.iter().map(|h| {
            let name = match &h.name {
                HeaderName::Unescaped(name) => name,
                HeaderName::InText(range) => self
                    .text
                    .get(range.clone())
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .unwrap_or_default(),
            };
            (name, h.value.clone())
        })
    }
}

/// Splits a `ListEvents` body (a JSON array of events) into events, each keeping a zero-copy
/// slice of `body` as its text. One pass: each element is read as an event head by serde_json,
/// which also says where the element ends.
pub fn parse_page(body: &Bytes) -> Result<Vec<RawEvent>, serde_json::Error> {
    use serde::de::Error as _;
    let bytes: &[u8] = body;
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        // Let serde_json say what it found instead.
        return serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(bytes).and(Err(
            serde_json::Error::custom("expected an array of events"),
        ));
    }
    at = skip_whitespace(bytes, at + 1);
    // A page that is UTF-8 as a whole (every page OCI sends) is checked once here, and
    // serde_json then reads it as text without checking each string it borrows again. A page
    // with invalid UTF-8 somewhere is read as bytes, as before: an event with a broken string
    // in a field auditfwd does not read still goes out byte for byte.
    let text = std::str::from_utf8(bytes).ok();
    let mut events = Vec::new();
    if bytes.get(at) == Some(&b']') {
        at += 1;
    } else {
        loop {
            let (view, len) = match text.and_then(|t| t.get(at..)) {
                Some(rest) => next_view(serde_json::Deserializer::from_str(rest))?,
                None => next_view(serde_json::Deserializer::from_slice(
                    bytes.get(at..).unwrap_or_default(),
                ))?,
            };
            let end = at + len;
            let text = body.slice(at..end);
            let head = view.into_head(&text);
            events.push(RawEvent { text, head });
            at = skip_whitespace(bytes, end);
            match bytes.get(at) {
                Some(b',') => at = skip_whitespace(bytes, at + 1),
                Some(b']') => {
                    at += 1;
                    break;
                }
                _ => {
                    return Err(serde_json::Error::custom(
                        "expected `,` or `]` after an event",
                    ));
                }
            }
        }
    }
    if skip_whitespace(bytes, at) != bytes.len() {
        return Err(serde_json::Error::custom(
            "trailing characters after the array of events",
        ));
    }
    Ok(events)
}

/// The event at the start of `de`'s input, and how many bytes it took.
fn next_view<'de, R: serde_json::de::Read<'de>>(
    de: serde_json::Deserializer<R>,
) -> Result<(EventView<'de>, usize), serde_json::Error> {
    use serde::de::Error as _;
    let mut stream = de.into_iter::<EventView<'de>>();
    match stream.next() {
        Some(view) => Ok((view?, stream.byte_offset())),
        None => Err(serde_json::Error::custom("the array of events is cut off")),
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// The byte range of `part`, a slice of `whole`, within it.
fn span_in(whole: &[u8], part: &str) -> Range<usize> {
    let start = part.as_ptr().addr().saturating_sub(whole.as_ptr().addr());
    let start = start.min(whole.len());
    start..(start + part.len()).min(whole.len())
}

// The borrowed views serde fills from the text; everything else in the event is skipped.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventView<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    event_time: DateTime<Utc>,
    #[serde(default, borrow)]
    data: Option<DataView<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DataView<'a> {
    #[serde(default, borrow)]
    compartment_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    identity: Option<IdentityView<'a>>,
    #[serde(default, borrow)]
    request: Option<HeadersView<'a>>,
    #[serde(default, borrow)]
    response: Option<ResponseView<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityView<'a> {
    #[serde(default, borrow)]
    principal_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    auth_type: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct HeadersView<'a> {
    #[serde(default, borrow)]
    headers: Option<HeaderMapView<'a>>,
}

#[derive(Deserialize)]
struct ResponseView<'a> {
    #[serde(default, borrow)]
    status: Option<&'a RawValue>,
    #[serde(default, borrow)]
    headers: Option<HeaderMapView<'a>>,
}

/// A JSON object read as a list of (name, raw value) pairs, in text order.
struct HeaderMapView<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for HeaderMapView<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Pairs<'a> {
            type Value = HeaderMapView<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of headers")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(pair) = map.next_entry::<Cow<'a, str>, &'a RawValue>()? {
                    pairs.push(pair);
                }
                Ok(HeaderMapView(pairs))
            }
        }
        d.deserialize_map(Pairs(std::marker::PhantomData))
    }
}

impl<'a> EventView<'a> {
    fn into_head(self, text: &[u8]) -> EventHead {
        let (mut compartment_id, mut event_name, mut identity) = (None, None, None);
        let (mut response_status, mut headers) = (None, Vec::new());
        if let Some(d) = self.data {
            compartment_id = d.compartment_id.map(Cow::into_owned);
            event_name = d.event_name.map(Cow::into_owned);
            identity = d.identity.map(|i| Principal {
                principal_name: i.principal_name.map(Cow::into_owned),
                principal_id: i.principal_id.map(Cow::into_owned),
                auth_type: i.auth_type.map(Cow::into_owned),
            });
            let spans = |pairs: Vec<(Cow<'a, str>, &'a RawValue)>| {
                pairs.into_iter().map(|(name, value)| HeaderSpan {
                    name: match name {
                        Cow::Borrowed(name) => HeaderName::InText(span_in(text, name)),
                        Cow::Owned(name) => HeaderName::Unescaped(name.into_boxed_str()),
                    },
                    value: span_in(text, value.get()),
                })
            };
            let request = d.request.and_then(|r| r.headers).map(|h| h.0);
            let (status, response) = d.response.map_or((None, None), |r| (r.status, r.headers));
            let response = response.map(|h| h.0);
            response_status = status.and_then(status_of);
            // One allocation for both maps' headers (extending twice grew it several times).
            headers = Vec::with_capacity(
                request.as_ref().map_or(0, Vec::len) + response.as_ref().map_or(0, Vec::len),
            );
            for pairs in [request, response].into_iter().flatten() {
                headers.extend(spans(pairs));
            }
        }
        headers.sort_by_key(|h| h.value.start);
        EventHead {
            event_id: self.event_id.into_owned(),
            event_type: self.event_type.into_owned(),
            event_time: self.event_time,
            compartment_id,
            event_name,
            identity,
            response_status,
            kind: RecordKind::AuditEvent,
            headers,
        }
    }
}

/// `"200"`, `" 200 "` or `200`; anything else is no status.
fn status_of(raw: &RawValue) -> Option<u16> {
    let text = raw.get();
    let digits = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.trim(),
        None => text,
    };
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/audit-event.json");

    #[test]
    fn the_head_matches_the_typed_event_and_the_text_is_kept_byte_for_byte() {
        let body = Bytes::from(format!("[ {FIXTURE} ,\n{FIXTURE}]"));
        let events = parse_page(&body).unwrap();
        assert_eq!(events.len(), 2);
        let typed: AuditEvent = serde_json::from_str(FIXTURE).unwrap();
        for e in &events {
            assert_eq!(e.text().as_ref(), FIXTURE.trim().as_bytes());
            let h = e.head();
            assert_eq!(h.event_id, typed.event_id);
            assert_eq!(h.event_type, typed.event_type);
            assert_eq!(h.event_time, typed.event_time);
            assert_eq!(h.compartment_id, typed.data.compartment_id);
            assert_eq!(h.event_name, typed.data.event_name);
            let identity = typed.data.identity.as_ref().unwrap();
            assert_eq!(
                h.identity.as_ref().unwrap().auth_type,
                identity.auth_type.clone()
            );
            assert_eq!(*h, RawEvent::parse(e.text().clone()).unwrap().head);
            assert_eq!(e.to_event().unwrap(), typed);
        }
    }

    #[test]
    fn header_spans_point_at_the_values() {
        let e = RawEvent::parse(Bytes::from_static(FIXTURE.as_bytes())).unwrap();
        let typed: AuditEvent = serde_json::from_str(FIXTURE).unwrap();
        let request = typed.data.request.unwrap().headers.unwrap();
        let response = typed.data.response.unwrap().headers.unwrap();
        assert_eq!(e.headers().count(), request.len() + response.len());
        for (name, span) in e.headers() {
            let value: Vec<String> = serde_json::from_slice(&e.text()[span]).unwrap();
            let expected = request.get(name).or(response.get(name)).unwrap();
            assert_eq!(&value, expected, "{name}");
        }
    }

    #[test]
    fn escaped_names_odd_values_and_numbers_are_read() {
        let text = r#"{"eventId":"a\"b","eventType":"t","eventTime":"2026-11-22T10:00:00.5+01:00",
            "data":{"compartmentId":null,"identity":null,"request":{"headers":{"Auth\u006fr":null,"x":["1"]}},
            "response":{"status":404,"headers":null},"future":{"deep":[1,2,{"x":"y"}]}}}"#;
        let e = RawEvent::parse(Bytes::from_static(text.as_bytes())).unwrap();
        let h = e.head();
        assert_eq!(h.event_id, "a\"b");
        assert_eq!(
            h.event_time,
            "2026-11-22T09:00:00.5Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(h.response_status, Some(404));
        let headers: Vec<_> = e.headers().collect();
        assert_eq!(headers[0].0, "Author");
        assert_eq!(&e.text()[headers[0].1.clone()], b"null");
        assert_eq!(headers[1].0, "x");
        assert!(h.identity.is_none() && h.compartment_id.is_none());
    }

    #[test]
    fn a_page_that_is_not_an_array_of_events_fails() {
        let ok = r#"{"eventId":"1","eventType":"t","eventTime":"2026-11-22T10:00:00Z"}"#;
        for body in [
            "{}".to_owned(),
            "[{\"eventId\":\"1\"}]".to_owned(),
            "[1]".to_owned(),
            "[{\"eventId\":\"1\",\"eventType\":\"t\",\"eventTime\":\"x\"}]".to_owned(),
            "[".to_owned(),
            String::new(),
            format!("[{ok}"),
            format!("[{ok},"),
            format!("[{ok} {ok}]"),
            format!("[{ok},]"),
            format!("[{ok}] x"),
            format!("[{ok}]]"),
            format!("[{ok}")[..20].to_owned(),
        ] {
            assert!(parse_page(&Bytes::from(body.clone())).is_err(), "{body}");
        }
        assert!(parse_page(&Bytes::from(" [ \n] ")).unwrap().is_empty());
        let two = parse_page(&Bytes::from(format!(" [\n{ok}\r\n,\t{ok} ]\n"))).unwrap();
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|e| e.text().as_ref() == ok.as_bytes()));
    }

    #[test]
    fn a_page_with_invalid_utf8_in_a_field_not_read_keeps_the_bytes() {
        // Read as bytes (the page is not UTF-8 as a whole), with the same result for the valid
        // events around it, and the broken one's text byte for byte.
        let ok = r#"{"eventId":"1","eventType":"t","eventTime":"2026-11-22T10:00:00Z"}"#;
        let mut broken = br#"{"eventId":"2","eventType":"t","eventTime":"2026-11-22T10:00:00Z","data":{"message":"a"#.to_vec();
        broken.extend_from_slice(b"\xff\xfe");
        broken.extend_from_slice(br#"z","compartmentId":"c"}}"#);
        let mut body = format!("[{ok},").into_bytes();
        body.extend_from_slice(&broken);
        body.extend_from_slice(format!(",{ok}]").as_bytes());
        let events = parse_page(&Bytes::from(body)).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].text().as_ref(), broken.as_slice());
        assert_eq!(events[1].head().compartment_id.as_deref(), Some("c"));
        assert_eq!(events[2].text().as_ref(), ok.as_bytes());
        // A string auditfwd reads must be UTF-8 either way.
        let bad_id =
            b"[{\"eventId\":\"\xff\",\"eventType\":\"t\",\"eventTime\":\"2026-11-22T10:00:00Z\"}]";
        assert!(parse_page(&Bytes::from_static(bad_id)).is_err());
    }

    #[test]
    fn status_forms() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        assert_eq!(status_of(&raw("\"200\"")), Some(200));
        assert_eq!(status_of(&raw("\" 503 \"")), Some(503));
        assert_eq!(status_of(&raw("401")), Some(401));
        assert_eq!(status_of(&raw("\"OK\"")), None);
        assert_eq!(status_of(&raw("null")), None);
    }
}
