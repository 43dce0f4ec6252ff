//! Small HTTP helpers shared by the service handlers: replies, query strings, OCI timestamps.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::error::ApiError;

/// A response before the server adds `opc-request-id` and applies output faults.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
    /// For HEAD: the length the body would have had.
    pub(crate) head_length: Option<usize>,
    /// Events returned (ListEvents), for the request log.
    pub(crate) events: Option<usize>,
}

impl Reply {
    pub(crate) fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            head_length: None,
            events: None,
        }
    }

    pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let mut r = Self::new(status);
        r.body = body.into();
        r.header(http::header::CONTENT_TYPE, "application/json")
    }

    pub(crate) fn json_value(status: StatusCode, v: &impl serde::Serialize) -> Self {
        Self::json(status, serde_json::to_vec(v).unwrap_or_default())
    }

    pub(crate) fn error(e: &ApiError) -> Self {
        Self::json(e.status, e.body())
    }

    /// Adds a header; values that are not valid header text are dropped (never panics).
    pub(crate) fn header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((name, v));
        }
        self
    }
}

/// Query parameters; a repeated name keeps its first value.
pub(crate) fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = query {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    out
}

/// Parses an RFC 3339 time. A `+` that was sent unencoded in a query arrives as a space.
pub(crate) fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    let fixed = value.trim().replace(' ', "+");
    DateTime::parse_from_rfc3339(&fixed)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_parameter(format!("{name} '{value}' is not an RFC 3339 date-time"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_accept_z_offsets_and_unencoded_plus() {
        let a = parse_time("t", "2026-01-02T03:04:00Z").unwrap();
        let b = parse_time("t", "2026-01-02T03:04:00 00:00").unwrap();
        let c = parse_time("t", "2026-01-02T04:04:00.000+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(parse_time("t", "yesterday").is_err());
        let q = parse_query(Some("a=1&b=x%2By&a=2"));
        assert_eq!(q["a"], "1");
        assert_eq!(q["b"], "x+y");
    }
}
