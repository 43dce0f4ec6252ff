//! Which events are forwarded: include/exclude by event type and by principal, and an optional
//! filter for service principals. Every event a filter removes is counted by reason; nothing
//! is dropped without a trace.

use auditfwd_oci::Ocid;
use auditfwd_oci::audit::{EventHead, Principal};

use crate::glob::Glob;

/// Why an event was not forwarded (a low-cardinality metric tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilterReason {
    /// An event-type include list exists and the type is not on it.
    EventTypeNotIncluded,
    /// The type is on the exclude list.
    EventTypeExcluded,
    /// A principal include list exists and the principal is not on it.
    PrincipalNotIncluded,
    /// The principal is on the exclude list.
    PrincipalExcluded,
    /// A service principal, and service principals are filtered.
    ServicePrincipal,
}

impl FilterReason {
    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterReason::EventTypeNotIncluded => "event_type_not_included",
            FilterReason::EventTypeExcluded => "event_type_excluded",
            FilterReason::PrincipalNotIncluded => "principal_not_included",
            FilterReason::PrincipalExcluded => "principal_excluded",
            FilterReason::ServicePrincipal => "service_principal",
        }
    }
}

/// Event filters. Exclusions win over inclusions; empty include lists include everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Event types to forward (wildcards; empty: all).
    pub include_types: Vec<Glob>,
    /// Event types never forwarded.
    pub exclude_types: Vec<Glob>,
    /// Principals (name or OCID, wildcards) to forward (empty: all).
    pub include_principals: Vec<Glob>,
    /// Principals never forwarded.
    pub exclude_principals: Vec<Glob>,
    /// Drop events whose principal is positively a service principal (see
    /// [`is_service_principal`]).
    pub drop_service_principals: bool,
}

impl EventFilter {
    /// `Ok(())` to forward `event`, or why not.
    pub fn check(&self, event: &EventHead) -> Result<(), FilterReason> {
        let t = event.event_type.as_str();
        if self.exclude_types.iter().any(|g| g.matches(t)) {
            return Err(FilterReason::EventTypeExcluded);
        }
        if !self.include_types.is_empty() && !self.include_types.iter().any(|g| g.matches(t)) {
            return Err(FilterReason::EventTypeNotIncluded);
        }
        let identity = event.identity.as_ref();
        let names = [
            identity.and_then(|i| i.principal_name.as_deref()),
            identity.and_then(|i| i.principal_id.as_deref()),
        ];
        let matches = |globs: &[Glob]| {
            names
                .iter()
                .flatten()
                .any(|n| globs.iter().any(|g| g.matches(n)))
        };
        if matches(&self.exclude_principals) {
            return Err(FilterReason::PrincipalExcluded);
        }
        if !self.include_principals.is_empty() && !matches(&self.include_principals) {
            return Err(FilterReason::PrincipalNotIncluded);
        }
        if self.drop_service_principals && identity.is_some_and(is_service_principal) {
            return Err(FilterReason::ServicePrincipal);
        }
        Ok(())
    }
}

/// Whether `identity` is positively a service principal: an instance, resource or service
/// principal by `authType`, or a principal OCID of a machine resource. `natv`, the ordinary
/// console or API-key login of a user, is never one, and neither is an identity that says too
/// little to tell: filtering an unknown principal away would hide exactly the events worth
/// looking at.
pub fn is_service_principal(identity: &Principal) -> bool {
    let auth = identity
        .auth_type
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if auth == "natv" {
        return false;
    }
    if matches!(auth.as_str(), "instance" | "resource" | "service") {
        return true;
    }
    identity
        .principal_id
        .as_deref()
        .and_then(|id| Ocid::parse(id).ok())
        .is_some_and(|ocid| {
            matches!(
                ocid.resource_type(),
                "instance"
                    | "fnfunc"
                    | "datasciencenotebooksession"
                    | "datasciencejobrun"
                    | "devopsbuildpipeline"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, identity: serde_json::Value) -> EventHead {
        let text = serde_json::to_vec(&serde_json::json!({
            "eventType": event_type, "eventId": "e", "eventTime": "2026-11-22T10:00:00Z", "data": {"identity": identity}
        }))
        .unwrap();
        let (_, head) = auditfwd_oci::audit::RawEvent::parse(text.into())
            .unwrap()
            .into_parts();
        head
    }

    fn globs(p: &[&str]) -> Vec<Glob> {
        p.iter().map(|s| Glob::new(s)).collect()
    }

    #[test]
    fn exclusions_win_and_empty_includes_include_all() {
        let alice = serde_json::json!({"principalName": "alice@example.com", "principalId": "ocid1.user.oc1..alice", "authType": "natv"});
        let f = EventFilter {
            include_types: globs(&["com.oraclecloud.ComputeApi.*", "*.identityControlPlane.*"]),
            exclude_types: globs(&["*.Get*", "*.List*"]),
            exclude_principals: globs(&["svc-*"]),
            ..EventFilter::default()
        };
        assert_eq!(
            f.check(&event(
                "com.oraclecloud.ComputeApi.TerminateInstance",
                alice.clone()
            )),
            Ok(())
        );
        assert_eq!(
            f.check(&event(
                "com.oraclecloud.ComputeApi.GetInstance",
                alice.clone()
            )),
            Err(FilterReason::EventTypeExcluded)
        );
        assert_eq!(
            f.check(&event("com.oraclecloud.objectstorage.PutObject", alice)),
            Err(FilterReason::EventTypeNotIncluded)
        );
        let svc = serde_json::json!({"principalName": "svc-backup", "authType": "natv"});
        assert_eq!(
            f.check(&event("com.oraclecloud.ComputeApi.TerminateInstance", svc)),
            Err(FilterReason::PrincipalExcluded)
        );
        assert_eq!(
            EventFilter::default().check(&event("anything", serde_json::Value::Null)),
            Ok(())
        );
    }

    #[test]
    fn principals_match_by_name_or_ocid() {
        let f = EventFilter {
            include_principals: globs(&["ocid1.user.oc1..alice"]),
            ..EventFilter::default()
        };
        let alice = serde_json::json!({"principalName": "alice@example.com", "principalId": "ocid1.user.oc1..alice"});
        let bob = serde_json::json!({"principalName": "bob@example.com", "principalId": "ocid1.user.oc1..bob"});
        assert_eq!(f.check(&event("t", alice)), Ok(()));
        assert_eq!(
            f.check(&event("t", bob)),
            Err(FilterReason::PrincipalNotIncluded)
        );
    }

    #[test]
    fn natv_is_never_a_service_principal_and_unknowns_are_kept() {
        let f = EventFilter {
            drop_service_principals: true,
            ..EventFilter::default()
        };
        for (identity, dropped) in [
            (
                serde_json::json!({"authType": "natv", "principalId": "ocid1.user.oc1..alice"}),
                false,
            ),
            // Even a natv login whose principal OCID looks like a machine is a user login.
            (
                serde_json::json!({"authType": "natv", "principalId": "ocid1.instance.oc1.phx.x"}),
                false,
            ),
            (
                serde_json::json!({"authType": "instance", "principalId": "ocid1.instance.oc1.phx.x"}),
                true,
            ),
            (serde_json::json!({"authType": "resource"}), true),
            (
                serde_json::json!({"principalId": "ocid1.fnfunc.oc1.phx.f"}),
                true,
            ),
            (
                serde_json::json!({"authType": null, "principalId": null}),
                false,
            ),
            (
                serde_json::json!({"authType": "fed", "principalId": "ocid1.user.oc1..carol"}),
                false,
            ),
        ] {
            let got = f.check(&event("t", identity.clone()));
            assert_eq!(
                got == Err(FilterReason::ServicePrincipal),
                dropped,
                "{identity}"
            );
        }
    }
}
