//! `SearchResponse` and its parts.
//!
//! A result's `data` is a free-form JSON object (the SDKs type it as `object`), so it is kept
//! as the exact text OCI sent ([`SearchResult::raw`]): a forwarder passes it on byte for byte,
//! with every field, in OCI's order. [`SearchResult::head`] reads the few fields a forwarder
//! decides on (id, `datetime`, type, log) without building the rest.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::audit::{EventHead, RawEvent, RecordKind};

/// One page of `SearchLogs`, as the service sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchResponse {
    #[serde(default)]
    pub(crate) results: Vec<SearchResult>,
    #[serde(default)]
    pub(crate) fields: Option<Vec<FieldInfo>>,
    #[serde(default)]
    pub(crate) summary: Option<SearchResultSummary>,
}

/// One log search result.
#[derive(Debug, Deserialize)]
pub struct SearchResult {
    data: Box<RawValue>,
}

impl SearchResult {
    /// `data` exactly as OCI sent it (for a plain search, `{"datetime": ..., "logContent":
    /// {...}}`).
    pub fn raw(&self) -> &str {
        self.data.get()
    }

    /// The fields a forwarder decides on. Absent fields are `None`; a `data` that is not a
    /// JSON object is an error.
    pub fn head(&self) -> Result<RecordHead, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            #[serde(default)]
            datetime: Option<i64>,
            #[serde(default)]
            log_content: Option<Content>,
        }
        #[derive(Deserialize)]
        struct Content {
            #[serde(default)]
            id: Option<String>,
            #[serde(default, rename = "type")]
            record_type: Option<String>,
            #[serde(default)]
            source: Option<String>,
            #[serde(default)]
            time: Option<String>,
            #[serde(default)]
            oracle: Option<Oracle>,
        }
        #[derive(Deserialize)]
        struct Oracle {
            #[serde(default)]
            compartmentid: Option<String>,
            #[serde(default)]
            logid: Option<String>,
            #[serde(default)]
            ingestedtime: Option<String>,
        }
        let d: Data = serde_json::from_str(self.data.get())?;
        let c = d.log_content;
        let oracle = c.as_ref().and_then(|c| c.oracle.as_ref());
        Ok(RecordHead {
            datetime_ms: d.datetime,
            id: c.as_ref().and_then(|c| c.id.clone()),
            record_type: c.as_ref().and_then(|c| c.record_type.clone()),
            source: c.as_ref().and_then(|c| c.source.clone()),
            time: c.as_ref().and_then(|c| c.time.clone()),
            compartment_id: oracle.and_then(|o| o.compartmentid.clone()),
            log_id: oracle.and_then(|o| o.logid.clone()),
            ingested_time: oracle.and_then(|o| o.ingestedtime.clone()),
        })
    }

    /// The record as a forwarder carries it: `data`'s text exactly as OCI sent it, with an
    /// audit-shaped head. Its id is `logContent.id`, or, for a record without one, a digest of
    /// its text (`sha256:<hex>`, the same for the same record, so a duplicate is still
    /// recognised); its type `logContent.type` (else `com.oraclecloud.logging.record`); its
    /// time `datetime`, else `logContent.time`, else `listed_at` (the start of the window it
    /// was found in: a record without a time is forwarded, never dropped).
    pub fn to_raw_event(&self, listed_at: DateTime<Utc>) -> Result<RawEvent, serde_json::Error> {
        use sha2::Digest as _;
        let head = self.head()?;
        let id = head.id.filter(|id| !id.is_empty()).unwrap_or_else(|| {
            let digest = sha2::Sha256::digest(self.raw().as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        });
        let time = head
            .datetime_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .or_else(|| {
                head.time
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
            })
            .unwrap_or(listed_at);
        let record_type = head
            .record_type
            .unwrap_or_else(|| "com.oraclecloud.logging.record".to_owned());
        Ok(RawEvent::from_parts(
            bytes::Bytes::from(self.raw().to_owned()),
            EventHead::of_record(
                RecordKind::LogRecord,
                id,
                record_type,
                time,
                head.compartment_id,
            ),
        ))
    }

    /// `data` decoded into any type (for callers that want the whole record typed).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }
}

/// The decision fields of a log record (`data.datetime` and parts of `data.logContent`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordHead {
    /// `datetime`: when the record happened, epoch milliseconds.
    pub datetime_ms: Option<i64>,
    /// `logContent.id`: unique per record (the key to dedupe by).
    pub id: Option<String>,
    /// `logContent.type`, e.g. `com.oraclecloud.vcn.flowlogs.DataEvent`.
    pub record_type: Option<String>,
    /// `logContent.source`.
    pub source: Option<String>,
    /// `logContent.time` (RFC 3339).
    pub time: Option<String>,
    /// `logContent.oracle.compartmentid`.
    pub compartment_id: Option<String>,
    /// `logContent.oracle.logid`.
    pub log_id: Option<String>,
    /// `logContent.oracle.ingestedtime`: when Logging ingested it.
    pub ingested_time: Option<String>,
}

/// The type of a field in [`FieldInfo`]; values this crate does not know are kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FieldType {
    /// `STRING`
    String,
    /// `NUMBER`
    Number,
    /// `BOOLEAN`
    Boolean,
    /// `ARRAY`
    Array,
    /// A value this crate does not know yet.
    Other(std::string::String),
}

impl FieldType {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            FieldType::String => "STRING",
            FieldType::Number => "NUMBER",
            FieldType::Boolean => "BOOLEAN",
            FieldType::Array => "ARRAY",
            FieldType::Other(s) => s,
        }
    }
}

impl From<std::string::String> for FieldType {
    fn from(s: std::string::String) -> Self {
        match s.as_str() {
            "STRING" => FieldType::String,
            "NUMBER" => FieldType::Number,
            "BOOLEAN" => FieldType::Boolean,
            "ARRAY" => FieldType::Array,
            _ => FieldType::Other(s),
        }
    }
}

impl From<FieldType> for std::string::String {
    fn from(v: FieldType) -> Self {
        v.as_str().to_owned()
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of the searched logs' schema (`isReturnFieldInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    /// Field name, a dotted path such as `data.action`.
    pub field_name: String,
    /// Its type.
    pub field_type: FieldType,
}

/// `summary` of a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResultSummary {
    /// `resultCount`: the number of results.
    #[serde(default)]
    pub result_count: Option<u64>,
    /// `fieldCount`: the number of field infos.
    #[serde(default)]
    pub field_count: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_bytes_and_expose_a_head() {
        let body = br#"{"results":[{"data":{"datetime":1767225600123,"logContent":{"zeta":1,"id":"r1","type":"t","time":"2026-01-01T00:00:00.123Z","oracle":{"logid":"l1","compartmentid":"c1","ingestedtime":"2026-01-01T00:00:05.000Z"},"data":{"x":[1, 2.50]}}}},{"data":"not an object"}],"fields":[{"fieldName":"data.x","fieldType":"ARRAY"},{"fieldName":"y","fieldType":"GEO"}],"summary":{"resultCount":2,"fieldCount":2}}"#;
        let r: SearchResponse = serde_json::from_slice(body).unwrap();
        assert_eq!(
            r.results[0].raw(),
            r#"{"datetime":1767225600123,"logContent":{"zeta":1,"id":"r1","type":"t","time":"2026-01-01T00:00:00.123Z","oracle":{"logid":"l1","compartmentid":"c1","ingestedtime":"2026-01-01T00:00:05.000Z"},"data":{"x":[1, 2.50]}}}"#
        );
        let head = r.results[0].head().unwrap();
        assert_eq!(head.datetime_ms, Some(1_767_225_600_123));
        assert_eq!(head.id.as_deref(), Some("r1"));
        assert_eq!(head.log_id.as_deref(), Some("l1"));
        assert_eq!(head.compartment_id.as_deref(), Some("c1"));
        assert!(r.results[1].head().is_err());
        let fields = r.fields.unwrap();
        assert_eq!(fields[0].field_type, FieldType::Array);
        assert_eq!(fields[1].field_type, FieldType::Other("GEO".into()));
        assert_eq!(r.summary.unwrap().result_count, Some(2));
        // A page without fields or summary still decodes.
        let r: SearchResponse = serde_json::from_slice(br#"{"results":[]}"#).unwrap();
        assert!(r.results.is_empty() && r.fields.is_none() && r.summary.is_none());
    }
}
