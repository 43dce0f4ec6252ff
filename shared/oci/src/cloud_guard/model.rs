//! `ProblemSummary` and the enumerations `ListProblems` filters on.
//!
//! Every field but `id` may be absent (Cloud Guard adds fields over time and leaves some out
//! for some detectors), enumerations keep values this crate does not know as text, and fields
//! not modelled here are kept in [`ProblemSummary::extra`]: a forwarder re-serialising a
//! problem loses nothing Cloud Guard sent.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::{EventHead, RawEvent, RecordKind};

/// An enumeration on the wire: known values as variants, anything newer kept as text.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value this crate does not know yet.
            Other(String),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => $name::$variant,)*
                    _ => $name::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> Self {
                v.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// How severe a problem is.
    RiskLevel {
        /// `CRITICAL`
        Critical = "CRITICAL",
        /// `HIGH`
        High = "HIGH",
        /// `MEDIUM`
        Medium = "MEDIUM",
        /// `LOW`
        Low = "LOW",
        /// `MINOR`
        Minor = "MINOR",
    }
}

wire_enum! {
    /// Whether a problem is still listed by default (`ACTIVE`) or closed (`INACTIVE`).
    ProblemLifecycleState {
        /// `ACTIVE`
        Active = "ACTIVE",
        /// `INACTIVE`
        Inactive = "INACTIVE",
    }
}

wire_enum! {
    /// Where a problem is in its handling.
    ProblemLifecycleDetail {
        /// `OPEN`
        Open = "OPEN",
        /// `RESOLVED`
        Resolved = "RESOLVED",
        /// `DISMISSED`
        Dismissed = "DISMISSED",
        /// `DELETED`
        Deleted = "DELETED",
    }
}

/// A Cloud Guard problem as `ListProblems` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemSummary {
    /// The problem OCID: stable across the problem's updates.
    pub id: String,
    /// Compartment of the affected resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment_id: Option<String>,
    /// The detector rule that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector_rule_id: Option<String>,
    /// Severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<RiskLevel>,
    /// Risk score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<f64>,
    /// Affected resource OCID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Affected resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Affected resource type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// User-defined labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// First detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_first_detected: Option<DateTime<Utc>>,
    /// Latest detection: moves forward each time the problem is detected again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_last_detected: Option<DateTime<Utc>>,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<ProblemLifecycleState>,
    /// `OPEN`, `RESOLVED`, `DISMISSED`, `DELETED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_detail: Option<ProblemLifecycleDetail>,
    /// The detector, e.g. `IAAS_CONFIGURATION_DETECTOR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector_id: Option<String>,
    /// Region where it was detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Regions where it was detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// Cloud Guard target OCID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Fields not modelled here (`locks`, and whatever Cloud Guard adds), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The type of a forwarded problem's record (its syslog MSGID is `cloudguard.problem`).
pub const PROBLEM_RECORD_TYPE: &str = "com.oraclecloud.cloudguard.problem";

impl ProblemSummary {
    /// The id of this version of the problem: `<id>/<timeLastDetected>/<lifecycleState>/<lifecycleDetail>`,
    /// the time in RFC 3339 with milliseconds, an absent field as `-`. A problem changes in
    /// place, so its OCID alone names it, not what happened to it: a new detection or a change
    /// of state is a new version and is forwarded once. A SIEM can build the same id from the
    /// four fields of the forwarded JSON.
    pub fn version_id(&self) -> String {
        let time = self.time_last_detected.map_or_else(
            || "-".to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        );
        let state = self.lifecycle_state.as_ref().map_or("-", |s| s.as_str());
        let detail = self.lifecycle_detail.as_ref().map_or("-", |d| d.as_str());
        format!("{}/{time}/{state}/{detail}", self.id)
    }

    /// This version as a record the pipeline forwards: the problem's JSON (every field Cloud
    /// Guard sent, [`Self::extra`] included), id [`Self::version_id`], type
    /// [`PROBLEM_RECORD_TYPE`], time `timeLastDetected` (`listed_at` when absent).
    pub fn to_raw_event(&self, listed_at: DateTime<Utc>) -> Result<RawEvent, serde_json::Error> {
        let text = bytes::Bytes::from(serde_json::to_vec(self)?);
        let head = EventHead::of_record(
            RecordKind::CloudGuardProblem {
                risk_level: self.risk_level.clone(),
            },
            self.version_id(),
            PROBLEM_RECORD_TYPE.to_owned(),
            self.time_last_detected.unwrap_or(listed_at),
            self.compartment_id.clone(),
        );
        Ok(RawEvent::from_parts(text, head))
    }
}

/// The body of a `ListProblems` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ProblemCollection {
    pub(crate) items: Vec<ProblemSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_round_trips_with_unknown_fields_and_values() {
        let text = r#"{
            "id": "ocid1.cloudguardproblem.oc1.iad.aaaa",
            "compartmentId": "ocid1.compartment.oc1..bbbb",
            "riskLevel": "SEVERE",
            "riskScore": 72.5,
            "labels": ["CIS_OCI_V1.1_OBJECTSTORAGE"],
            "timeFirstDetected": "2026-01-02T03:04:05.678Z",
            "timeLastDetected": "2026-01-03T03:04:05.678Z",
            "lifecycleState": "ACTIVE",
            "lifecycleDetail": "OPEN",
            "locks": [{"type": "FULL"}],
            "impactedResourceCount": 3
        }"#;
        let p: ProblemSummary = serde_json::from_str(text).unwrap();
        assert_eq!(p.risk_level, Some(RiskLevel::Other("SEVERE".into())));
        assert_eq!(p.lifecycle_state, Some(ProblemLifecycleState::Active));
        assert_eq!(p.lifecycle_detail, Some(ProblemLifecycleDetail::Open));
        assert_eq!(p.extra["impactedResourceCount"], 3);
        assert!(p.resource_name.is_none());
        let back = serde_json::to_value(&p).unwrap();
        let orig: Value = serde_json::from_str(text).unwrap();
        // Same fields and values (times re-rendered, equal instants).
        assert_eq!(back["locks"], orig["locks"]);
        assert_eq!(back["riskLevel"], "SEVERE");
        assert_eq!(
            back.as_object().unwrap().keys().collect::<Vec<_>>().len(),
            orig.as_object().unwrap().len()
        );
        let again: ProblemSummary = serde_json::from_value(back).unwrap();
        assert_eq!(again, p);
    }

    fn problem(state: &str, detail: &str, last: &str) -> ProblemSummary {
        serde_json::from_value(serde_json::json!({
            "id": "ocid1.cloudguardproblem.oc1.iad.p1",
            "compartmentId": "ocid1.compartment.oc1..c",
            "riskLevel": "HIGH",
            "timeLastDetected": last,
            "lifecycleState": state,
            "lifecycleDetail": detail,
            "impactedResourceCount": 3
        }))
        .unwrap()
    }

    #[test]
    fn each_detection_and_state_is_a_version_of_its_own() {
        let open = problem("ACTIVE", "OPEN", "2026-01-03T03:04:05.6Z");
        assert_eq!(
            open.version_id(),
            "ocid1.cloudguardproblem.oc1.iad.p1/2026-01-03T03:04:05.600Z/ACTIVE/OPEN"
        );
        let resolved = problem("INACTIVE", "RESOLVED", "2026-01-03T03:04:05.600Z");
        let again = problem("ACTIVE", "OPEN", "2026-01-03T03:09:00Z");
        let ids: std::collections::HashSet<_> = [&open, &resolved, &again]
            .map(ProblemSummary::version_id)
            .into();
        assert_eq!(ids.len(), 3);
        // The same version listed twice (another page, the settle pass) has the same id.
        assert_eq!(open.version_id(), open.clone().version_id());
        let bare: ProblemSummary =
            serde_json::from_value(serde_json::json!({"id": "ocid1.cloudguardproblem.oc1.iad.p2"}))
                .unwrap();
        assert_eq!(
            bare.version_id(),
            "ocid1.cloudguardproblem.oc1.iad.p2/-/-/-"
        );
    }

    #[test]
    fn a_problem_becomes_a_record_with_its_risk_and_every_field() {
        let p = problem("ACTIVE", "OPEN", "2026-01-03T03:04:05.678Z");
        let listed_at: DateTime<Utc> = "2026-01-03T03:04:00Z".parse().unwrap();
        let (text, head) = p.to_raw_event(listed_at).unwrap().into_parts();
        assert_eq!(head.event_id, p.version_id());
        assert_eq!(head.event_type, PROBLEM_RECORD_TYPE);
        assert_eq!(head.event_time, p.time_last_detected.unwrap());
        assert_eq!(
            head.compartment_id.as_deref(),
            Some("ocid1.compartment.oc1..c")
        );
        assert_eq!(
            head.kind,
            RecordKind::CloudGuardProblem {
                risk_level: Some(RiskLevel::High)
            }
        );
        let back: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(back["impactedResourceCount"], 3);
        assert_eq!(back["lifecycleDetail"], "OPEN");
        // No detection time: the window's start stands in, so the record still has a place.
        let mut undated = p;
        undated.time_last_detected = None;
        let (_, head) = undated.to_raw_event(listed_at).unwrap().into_parts();
        assert_eq!(head.event_time, listed_at);
    }
}
