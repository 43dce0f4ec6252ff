//! Credential scrubbing: audit events record the request and response headers of every call,
//! including `Authorization` signatures, `opc-principal` and `opc-obo-token` tokens and
//! cookies. SIEM vendors and Oracle both scrub these before export; auditfwd does so by
//! default, before an event leaves the process.
//!
//! A header is sensitive if its lowercase name is on a list of known credential headers or
//! contains one of a few words that mark credentials (`token`, `secret`, `password`, ...). Its
//! values are replaced by one [`REDACTED`] marker; the header itself stays, so an analyst sees
//! that it was there. An allow-list keeps named headers as they are.

use std::collections::BTreeSet;

use auditfwd_oci::audit::{AuditEvent, MultiMap};

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
        let lower = name.to_ascii_lowercase();
        if self.disabled || self.allow.contains(&lower) {
            return false;
        }
        SENSITIVE_NAMES.contains(&lower.as_str())
            || SENSITIVE_WORDS.iter().any(|w| lower.contains(w))
    }

    /// Scrubs the request and response headers of `event` in place; returns how many headers
    /// were redacted.
    pub fn scrub(&self, event: &mut AuditEvent) -> usize {
        let mut n = 0;
        if let Some(headers) = event.data.request.as_mut().and_then(|r| r.headers.as_mut()) {
            n += self.scrub_map(headers);
        }
        if let Some(headers) = event
            .data
            .response
            .as_mut()
            .and_then(|r| r.headers.as_mut())
        {
            n += self.scrub_map(headers);
        }
        n
    }

    fn scrub_map(&self, headers: &mut MultiMap) -> usize {
        let mut n = 0;
        for (name, values) in headers.iter_mut() {
            if self.is_sensitive(name) && !(values.len() == 1 && values[0] == REDACTED) {
                *values = vec![REDACTED.to_owned()];
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        serde_json::from_value(serde_json::json!({
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
                "response": {"headers": {"Set-Cookie": ["s=1"], "Content-Type": ["application/json"]}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn credentials_are_redacted_and_everything_else_kept() {
        let mut e = event();
        assert_eq!(ScrubPolicy::default().scrub(&mut e), 5);
        let req = e.data.request.as_ref().unwrap().headers.as_ref().unwrap();
        for h in [
            "Authorization",
            "opc-principal",
            "opc-obo-token",
            "X-Custom-Session-Id",
        ] {
            assert_eq!(req[h], vec![REDACTED], "{h}");
        }
        assert_eq!(req["User-Agent"], vec!["Oracle-JavaSDK/3.0"]);
        assert_eq!(req["opc-request-id"], vec!["rid"]);
        let resp = e.data.response.as_ref().unwrap().headers.as_ref().unwrap();
        assert_eq!(resp["Set-Cookie"], vec![REDACTED]);
        assert_eq!(resp["Content-Type"], vec!["application/json"]);
        let text = serde_json::to_string(&e).unwrap();
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("eyJhbGciOi") && !text.contains("pstype"),
            "{text}"
        );
        // Scrubbing twice changes nothing more.
        assert_eq!(ScrubPolicy::default().scrub(&mut e), 0);
    }

    #[test]
    fn the_allow_list_keeps_named_headers_and_disabled_keeps_all() {
        let mut e = event();
        let policy = ScrubPolicy {
            allow: ["opc-principal".to_owned()].into(),
            disabled: false,
        };
        assert_eq!(policy.scrub(&mut e), 4);
        assert!(
            e.data.request.as_ref().unwrap().headers.as_ref().unwrap()["opc-principal"][0]
                .contains("pstype")
        );
        let mut e = event();
        assert_eq!(
            ScrubPolicy {
                disabled: true,
                ..ScrubPolicy::default()
            }
            .scrub(&mut e),
            0
        );
    }

    #[test]
    fn events_without_headers_are_fine() {
        let mut e: AuditEvent = serde_json::from_value(serde_json::json!({"eventType": "x", "eventId": "e", "eventTime": "2026-11-22T10:00:00Z"})).unwrap();
        assert_eq!(ScrubPolicy::default().scrub(&mut e), 0);
    }
}
