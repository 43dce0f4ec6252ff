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
}
