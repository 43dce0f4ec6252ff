//! CEF and LEEF for a Cloud Guard problem ([`RecordKind::CloudGuardProblem`]): the product is
//! `OCI Cloud Guard`, the event class the detector rule (`BUCKET_IS_PUBLIC`), and the fields
//! are the problem's own (risk, resource, lifecycle, detections). Escaping is CEF's and LEEF's
//! as for audit events ([`super::cef`], [`super::leef`]); the mapping is listed in
//! `docs/syslog.md`. The JSON payload needs nothing here: it is the problem's text.
//!
//! [`RecordKind::CloudGuardProblem`]: crate::record::RecordKind::CloudGuardProblem

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cef::{push_ext_value, push_header_field, scalar};
use super::text::{push_cef_time, push_rfc3339_millis, push_usize};
use crate::record::SyslogRecord;
use crate::severity::Severity;

/// The API version, as the product version.
const VERSION: &str = "20200131";

/// (CEF key, field of the problem) for plain string mappings, in output order.
const CEF_MAPPED: &[(&str, &str)] = &[
    ("cat", "detectorId"),
    ("act", "lifecycleDetail"),
    ("outcome", "lifecycleState"),
    ("deviceExternalId", "targetId"),
];

/// Custom string slots after `cs1` (the compartment): (key, label, field of the problem).
const CEF_CUSTOM: &[(&str, &str, &str)] = &[
    ("cs2", "riskLevel", "riskLevel"),
    ("cs3", "resourceName", "resourceName"),
    ("cs4", "resourceId", "resourceId"),
    ("cs5", "resourceType", "resourceType"),
    ("flexString1", "problemId", "id"),
    ("flexString2", "region", "region"),
];

/// (LEEF key, field of the problem), in output order. `cat` and `resource` are LEEF
/// predefined keys; the rest are custom keys.
const LEEF_MAPPED: &[(&str, &str)] = &[
    ("problemId", "id"),
    ("cat", "detectorId"),
    ("detectorRuleId", "detectorRuleId"),
    ("riskLevel", "riskLevel"),
    ("riskScore", "riskScore"),
    ("lifecycleState", "lifecycleState"),
    ("lifecycleDetail", "lifecycleDetail"),
    ("resource", "resourceName"),
    ("resourceId", "resourceId"),
    ("resourceType", "resourceType"),
    ("timeFirstDetected", "timeFirstDetected"),
    ("region", "region"),
    ("targetId", "targetId"),
];

/// The detector rule (`BUCKET_IS_PUBLIC`): the event class, and the name.
fn rule<'a>(r: &'a SyslogRecord, body: &'a Value) -> Cow<'a, str> {
    scalar(body, &["detectorRuleId"]).unwrap_or(Cow::Borrowed(&r.event_type))
}

/// `labels`, joined with `, ` (absent when there are none).
fn labels(body: &Value) -> Option<String> {
    let labels: Vec<&str> = body
        .get("labels")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    (!labels.is_empty()).then(|| labels.join(", "))
}

fn time_of(body: &Value, field: &str) -> Option<DateTime<Utc>> {
    let s = body.get(field)?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `CEF:0|Oracle|OCI Cloud Guard|20200131|<detectorRuleId>|<detectorRuleId>|<severity>|...`.
pub(crate) fn write_cef(out: &mut Vec<u8>, r: &SyslogRecord, body: &Value, severity: Severity) {
    out.extend_from_slice(b"CEF:0|Oracle|");
    out.extend_from_slice(super::cef::product(r).as_bytes());
    out.push(b'|');
    out.extend_from_slice(VERSION.as_bytes());
    out.push(b'|');
    let rule = rule(r, body);
    push_header_field(out, &rule);
    out.push(b'|');
    push_header_field(out, &rule);
    out.push(b'|');
    push_usize(out, severity.cef() as usize);
    out.extend_from_slice(b"|rt=");
    push_cef_time(out, &r.event_time);
    out.extend_from_slice(b" externalId=");
    push_ext_value(out, &r.event_id);
    if let Some(first) = time_of(body, "timeFirstDetected") {
        out.extend_from_slice(b" start=");
        push_cef_time(out, &first);
    }
    for (key, field) in CEF_MAPPED {
        if let Some(v) = scalar(body, &[field]) {
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            push_ext_value(out, &v);
        }
    }
    out.extend_from_slice(b" cs1Label=compartmentId cs1=");
    push_ext_value(out, &r.compartment_id);
    for (key, label, field) in CEF_CUSTOM {
        if let Some(v) = scalar(body, &[field]) {
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"Label=");
            out.extend_from_slice(label.as_bytes());
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            push_ext_value(out, &v);
        }
    }
    if let Some(score) = scalar(body, &["riskScore"]) {
        out.extend_from_slice(b" cfp1Label=riskScore cfp1=");
        push_ext_value(out, &score);
    }
    super::cef::push_delivery(out, r);
    if let Some(labels) = labels(body) {
        out.extend_from_slice(b" msg=");
        push_ext_value(out, &labels);
    }
}

/// `LEEF:2.0|Oracle|OCI Cloud Guard|20200131|<detectorRuleId>|x09|...`.
pub(crate) fn write_leef(out: &mut Vec<u8>, r: &SyslogRecord, body: &Value, severity: Severity) {
    out.extend_from_slice(b"LEEF:2.0|Oracle|");
    out.extend_from_slice(super::cef::product(r).as_bytes());
    out.push(b'|');
    out.extend_from_slice(VERSION.as_bytes());
    out.push(b'|');
    push_header_field(out, &rule(r, body));
    out.extend_from_slice(b"|x09|devTime=");
    push_rfc3339_millis(out, &r.event_time);
    out.extend_from_slice(b"\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX\tsev=");
    push_usize(out, severity.leef() as usize);
    super::leef::kv(out, "eventId", &r.event_id);
    super::leef::kv(out, "compartmentId", &r.compartment_id);
    for (key, field) in LEEF_MAPPED {
        if let Some(v) = scalar(body, &[field]) {
            super::leef::kv(out, key, &v);
        }
    }
    if let Some(labels) = labels(body) {
        super::leef::kv(out, "labels", &labels);
    }
    super::leef::push_delivery(out, r);
}
