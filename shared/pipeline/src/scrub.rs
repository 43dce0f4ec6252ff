//! Credential scrubbing: audit events record the request and response headers of every call,
//! including `Authorization` signatures, `opc-principal` and `opc-obo-token` tokens and
//! cookies. SIEM vendors and Oracle both scrub these before export; auditfwd does so by
//! default, before an event leaves the process.
//!
//! A header is sensitive if its lowercase name is on a list of known credential headers or
//! contains one of a few words that mark credentials (`token`, `secret`, `password`, ...). Its
//! values are replaced by one [`REDACTED`] marker; the header itself stays, so an analyst sees
//! that it was there. An allow-list keeps named headers as they are.
//!
//! Only those values change: they are replaced in the event's text, where OCI put them, and
//! every other byte of the event goes out as OCI sent it. The replacement is made as the
//! message is encoded ([`JsonText`] carries the ranges): a scrubbed event is never copied.

use std::collections::BTreeSet;

use auditfwd_oci::audit::RawEvent;
use auditfwd_syslog::JsonText;

/// What replaces a sensitive header's values.
pub const REDACTED: &str = "[REDACTED by auditfwd]";

const SENSITIVE_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "opc-principal",
    "opc-obo-principal",
    "opc-obo-token",
    "opc-security-token",
    "x-auth-token",
    "x-api-key",
    "x-amz-security-token",
    "cookie",
    "set-cookie",
];

/// Words that make any header name containing them sensitive. Matched through
/// [`words_starting_with`], which holds the same words by first byte (a test keeps the two in
/// step).
#[cfg_attr(not(test), allow(dead_code))]
const SENSITIVE_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "session",
    "signature",
    "apikey",
    "api-key",
];

/// Which headers to scrub.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubPolicy {
    /// Lowercase header names never scrubbed (`AUDITFWD_SCRUB_ALLOW`).
    pub allow: BTreeSet<String>,
    /// Turn scrubbing off entirely (not recommended; for receivers that scrub themselves).
    pub disabled: bool,
}

impl ScrubPolicy {
    /// Whether `name`'s values are replaced.
    pub fn is_sensitive(&self, name: &str) -> bool {
        if self.disabled {
            return false;
        }
        // Runs for every header of every event: lowercase on the stack for ordinary names.
        let mut buf = [0u8; 64];
        let owned;
        let lower: &[u8] = match buf.get_mut(..name.len()) {
            Some(b) => {
                b.copy_from_slice(name.as_bytes());
                b.make_ascii_lowercase();
                b
            }
            None => {
                owned = name.to_ascii_lowercase();
                owned.as_bytes()
            }
        };
        if !self.allow.is_empty()
            && std::str::from_utf8(lower).is_ok_and(|l| self.allow.contains(l))
        {
            return false;
        }
        SENSITIVE_NAMES.iter().any(|n| n.as_bytes() == lower) || has_sensitive_word(lower)
    }

    /// The text of `event` going out with the values of its sensitive request and response
    /// headers replaced by `["[REDACTED by auditfwd]"]`, and how many headers are redacted.
    /// The text is not copied.
    pub fn scrub(&self, event: &RawEvent) -> (JsonText, usize) {
        if self.disabled {
            return (JsonText::already_validated(event.text().clone()), 0);
        }
        let text = event.text();
        let spans: Vec<_> = event
            .headers()
            .filter(|(name, value)| {
                self.is_sensitive(name) && text[value.clone()] != *REDACTED_VALUE
            })
            .map(|(_, value)| value)
            .collect();
        let n = spans.len();
        (
            JsonText::already_validated_replacing(text.clone(), spans, REDACTED_VALUE),
            n,
        )
    }
}

/// Whether one of [`SENSITIVE_WORDS`] occurs in `lower`. Runs for every header of every
/// event: one pass over the name, comparing only the words that start with the byte at hand.
fn has_sensitive_word(lower: &[u8]) -> bool {
    (0..lower.len()).any(|i| {
        let rest = &lower[i..];
        words_starting_with(rest[0])
            .iter()
            .any(|w| rest.starts_with(w.as_bytes()))
    })
}

/// The words of [`SENSITIVE_WORDS`] that start with `b` (a test keeps the two in step).
fn words_starting_with(b: u8) -> &'static [&'static str] {
    match b {
        b't' => &["token"],
        b's' => &["secret", "session", "signature"],
        b'p' => &["password", "passwd"],
        b'c' => &["credential"],
        b'a' => &["apikey", "api-key"],
        _ => &[],
    }
}

/// A redacted header's value, as JSON.
const REDACTED_VALUE: &[u8] = b"[\"[REDACTED by auditfwd]\"]";

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    impl ScrubPolicy {
        /// [`Self::scrub`], with the text as it goes out.
        fn scrub_bytes(&self, event: &RawEvent) -> (Bytes, usize) {
            let (text, n) = self.scrub(event);
            (Bytes::from(text.to_bytes().into_owned()), n)
        }
    }

    fn event() -> RawEvent {
        RawEvent::parse(Bytes::from(serde_json::to_vec(&serde_json::json!({
            "eventType": "com.oraclecloud.ComputeApi.GetInstance", "eventId": "e1", "eventTime": "2026-11-22T10:00:00Z",
            "data": {
                "request": {"headers": {
                    "Authorization": ["Signature version=\"1\",keyId=\"t/u/f\",signature=\"c2VjcmV0\""],
                    "opc-principal": ["{\"tenantId\":\"t\",\"claims\":[{\"key\":\"pstype\"}]}"],
                    "opc-obo-token": ["eyJhbGciOi..."],
                    "X-Custom-Session-Id": ["abc"],
                    "User-Agent": ["Oracle-JavaSDK/3.0"],
                    "opc-request-id": ["rid"]
                }},
                "response": {"headers": {"Set-Cookie": ["s=1"], "Content-Type": ["application/json"]}},
                "future": {"headers": {"Authorization": ["not a header map auditfwd knows"]}}
            }
        })).unwrap()))
        .unwrap()
    }

    fn json(text: &Bytes) -> serde_json::Value {
        serde_json::from_slice(text).unwrap()
    }

    #[test]
    fn every_sensitive_word_is_found_by_its_first_byte_and_no_other_is() {
        let mut dispatched: Vec<&str> = (0..=u8::MAX)
            .flat_map(|b| {
                let words = words_starting_with(b);
                assert!(
                    words.iter().all(|w| w.as_bytes()[0] == b),
                    "{words:?} under {b}"
                );
                words.iter().copied()
            })
            .collect();
        dispatched.sort_unstable();
        let mut listed = SENSITIVE_WORDS.to_vec();
        listed.sort_unstable();
        assert_eq!(dispatched, listed);
        for (name, sensitive) in [
            ("x-session-id", true),
            ("my-api-key-header", true),
            ("passwd", true),
            ("x-credentials", true),
            ("tokenize", true),
            ("opc-request-id", false),
            ("accept", false),
            ("s", false),
            ("", false),
        ] {
            assert_eq!(has_sensitive_word(name.as_bytes()), sensitive, "{name}");
        }
    }
    #[test]
    fn credentials_are_redacted_and_everything_else_kept() {
        let e = event();
        let (text, n) = ScrubPolicy::default().scrub_bytes(&e);
        assert_eq!(n, 5);
        let v = json(&text);
        let req = &v["data"]["request"]["headers"];
        for h in [
            "Authorization",
            "opc-principal",
            "opc-obo-token",
            "X-Custom-Session-Id",
        ] {
            assert_eq!(req[h], serde_json::json!([REDACTED]), "{h}");
        }
        assert_eq!(req["User-Agent"][0], "Oracle-JavaSDK/3.0");
        assert_eq!(req["opc-request-id"][0], "rid");
        let resp = &v["data"]["response"]["headers"];
        assert_eq!(resp["Set-Cookie"], serde_json::json!([REDACTED]));
        assert_eq!(resp["Content-Type"][0], "application/json");
        let s = String::from_utf8(text.to_vec()).unwrap();
        assert!(
            !s.contains("c2VjcmV0") && !s.contains("eyJhbGciOi") && !s.contains("pstype"),
            "{s}"
        );
        // Everything but the redacted values is the original, byte for byte.
        let mut expected = json(e.text());
        for h in [
            "Authorization",
            "opc-principal",
            "opc-obo-token",
            "X-Custom-Session-Id",
        ] {
            expected["data"]["request"]["headers"][h] = serde_json::json!([REDACTED]);
        }
        expected["data"]["response"]["headers"]["Set-Cookie"] = serde_json::json!([REDACTED]);
        assert_eq!(v, expected);
        // Scrubbing twice changes nothing more.
        let again = RawEvent::parse(text.clone()).unwrap();
        let (text2, n2) = ScrubPolicy::default().scrub_bytes(&again);
        assert_eq!((n2, &text2), (0, &text));
    }

    #[test]
    fn the_allow_list_keeps_named_headers_and_disabled_keeps_all() {
        let e = event();
        let policy = ScrubPolicy {
            allow: ["opc-principal".to_owned()].into(),
            disabled: false,
        };
        let (text, n) = policy.scrub_bytes(&e);
        assert_eq!(n, 4);
        assert!(
            json(&text)["data"]["request"]["headers"]["opc-principal"][0]
                .as_str()
                .unwrap()
                .contains("pstype")
        );
        let (text, n) = ScrubPolicy {
            disabled: true,
            ..ScrubPolicy::default()
        }
        .scrub_bytes(&e);
        assert_eq!((n, &text), (0, e.text()));
    }

    #[test]
    fn events_without_headers_and_odd_header_values_are_fine() {
        let plain = RawEvent::parse(Bytes::from_static(
            br#"{"eventType": "x", "eventId": "e", "eventTime": "2026-11-22T10:00:00Z"}"#,
        ))
        .unwrap();
        let (text, n) = ScrubPolicy::default().scrub_bytes(&plain);
        assert_eq!((n, &text), (0, plain.text()));
        // A null or a bare string where OCI usually puts a list is replaced all the same.
        let odd = RawEvent::parse(Bytes::from_static(
            br#"{"eventType":"x","eventId":"e","eventTime":"2026-11-22T10:00:00Z","data":{"request":{"headers":{"Cookie":"a=b","Authorization":null}}}}"#,
        ))
        .unwrap();
        let (text, n) = ScrubPolicy::default().scrub_bytes(&odd);
        assert_eq!(n, 2);
        let v = json(&text);
        assert_eq!(
            v["data"]["request"]["headers"]["Cookie"],
            serde_json::json!([REDACTED])
        );
        assert_eq!(
            v["data"]["request"]["headers"]["Authorization"],
            serde_json::json!([REDACTED])
        );
    }
}
