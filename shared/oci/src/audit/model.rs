//! Audit event schema version 2 (a CloudEvents 0.1 envelope).
//!
//! Every field OCI documents is typed; any field it does not (or adds later) is kept in the
//! `extra` map of the enclosing object and written back out on serialization, so an event
//! forwarded by auditfwd carries everything OCI sent. Inside `data`, every field may be null
//! or absent, so they are all `Option`s.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Headers and parameters as OCI records them: a name to a list of values.
pub type MultiMap = BTreeMap<String, Vec<String>>;

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// e.g. `com.oraclecloud.ComputeApi.GetInstance`.
    pub event_type: String,
    /// CloudEvents version, `0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_events_version: Option<String>,
    /// Schema version, `2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_version: Option<String>,
    /// The emitting service, e.g. `ComputeApi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Unique id: the key auditfwd dedupes on and the SIEM can dedupe on.
    pub event_id: String,
    /// When the audited action happened (not when OCI made it visible).
    pub event_time: DateTime<Utc>,
    /// `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The payload.
    #[serde(default)]
    pub data: EventData,
    /// Fields OCI sent that this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The event payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    /// Groups the events of one logical operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_grouping_id: Option<String>,
    /// e.g. `GetInstance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// The compartment the event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment_id: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment_name: Option<String>,
    /// The affected resource's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// The affected resource's OCID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Availability domain of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_domain: Option<String>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeform_tags: Option<BTreeMap<String, String>>,
    /// Defined tags: namespace to key to value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_tags: Option<BTreeMap<String, Map<String, Value>>>,
    /// Who acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The request that was audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The response to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// Resource state before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_change: Option<StateChange>,
    /// Service-specific details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_details: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The principal behind an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_name: Option<String>,
    /// Principal OCID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// `natv` (ordinary user login), `instance`, `resource`, ... .
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// Calling service or user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_name: Option<String>,
    /// Calling principal OCID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Tenancy OCID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Source IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// `tenancy/user/fingerprint` of the key used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// User agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Console session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_session_id: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The audited request. Its headers carry credential material (`Authorization`,
/// `opc-principal`, ...) that auditfwd scrubs before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Query parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<MultiMap>,
    /// Request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<MultiMap>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The response to the audited request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// HTTP status as a string, e.g. `"200"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When the response was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<String>,
    /// Response headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<MultiMap>,
    /// Response payload (service-specific).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Resource state before and after the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// Before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Value>,
    /// After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_event_round_trips_with_unknown_fields_kept() {
        let text = include_str!("../../tests/fixtures/audit-event.json");
        let original: Value = serde_json::from_str(text).unwrap();
        let event: AuditEvent = serde_json::from_str(text).unwrap();
        assert_eq!(
            event.event_type,
            "com.oraclecloud.ComputeApi.TerminateInstance"
        );
        assert_eq!(
            event.data.identity.as_ref().unwrap().auth_type.as_deref(),
            Some("natv")
        );
        assert_eq!(
            event.extra.get("futureTopLevelField"),
            Some(&Value::from("kept"))
        );
        assert!(
            event
                .data
                .request
                .as_ref()
                .unwrap()
                .extra
                .contains_key("futureRequestField")
        );
        // Nothing is lost but explicit nulls, which mean the same as absence.
        let mut expected = original;
        strip_nulls(&mut expected);
        assert_eq!(serde_json::to_value(&event).unwrap(), expected);
    }

    #[test]
    fn nulls_and_missing_data_fields_are_accepted() {
        let event: AuditEvent = serde_json::from_str(
            r#"{"eventType":"x","eventId":"1","eventTime":"2026-11-22T10:00:00.123Z","data":{"identity":null,"request":{"headers":null}}}"#,
        )
        .unwrap();
        assert!(event.data.identity.is_none());
        let missing_time = serde_json::from_str::<AuditEvent>(r#"{"eventType":"x","eventId":"1"}"#);
        assert!(
            missing_time.is_err(),
            "eventTime is required: the pipeline windows on it"
        );
    }

    fn strip_nulls(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, v| !v.is_null());
                m.values_mut().for_each(strip_nulls);
            }
            Value::Array(a) => a.iter_mut().for_each(strip_nulls),
            _ => {}
        }
    }
}
