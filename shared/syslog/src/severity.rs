//! Facility, severity and the policy that derives a severity from an audit event.
//!
//! The default policy ranks an event by two signals and keeps the more severe:
//! the HTTP outcome in `data.response.status` (a server error outranks a refused
//! credential, which outranks another client error) and the verb of the operation
//! (destructive verbs such as `Delete` or `Terminate` outrank changes, which outrank reads).

/// Syslog facility (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    AuthPriv = 10,
    Ftp = 11,
    Ntp = 12,
    LogAudit = 13,
    LogAlert = 14,
    Clock = 15,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

/// Syslog severity (RFC 5424 §6.2.1). Lower is more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Severity {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

impl Severity {
    /// CEF severity (0..=10, higher is worse).
    pub fn cef(self) -> u8 {
        match self {
            Self::Emergency => 10,
            Self::Alert => 9,
            Self::Critical => 8,
            Self::Error => 7,
            Self::Warning => 5,
            Self::Notice => 3,
            Self::Informational => 2,
            Self::Debug => 0,
        }
    }

    /// LEEF `sev` (1..=10, higher is worse).
    pub fn leef(self) -> u8 {
        self.cef().max(1)
    }
}

/// The PRI value `<facility * 8 + severity>`.
pub fn pri(facility: Facility, severity: Severity) -> u8 {
    facility as u8 * 8 + severity as u8
}

/// How a severity is derived from an event. All fields are configurable; the default is
/// documented in `docs/syslog.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityPolicy {
    /// When set, every event gets this severity and nothing else is consulted.
    pub fixed: Option<Severity>,
    /// Severity of an ordinary successful read.
    pub default: Severity,
    /// `data.response.status` 5xx.
    pub server_error: Severity,
    /// `data.response.status` 401 or 403: refused credentials or permissions.
    pub auth_failure: Severity,
    /// Any other 4xx.
    pub client_error: Severity,
    /// Operation verbs (prefixes of the operation name) that destroy or disable things.
    pub destructive_verbs: Vec<String>,
    /// Severity of a destructive operation.
    pub destructive: Severity,
    /// Operation verbs that create or change things.
    pub mutating_verbs: Vec<String>,
    /// Severity of a mutating operation.
    pub mutating: Severity,
}

impl Default for SeverityPolicy {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        Self {
            fixed: None,
            default: Severity::Informational,
            server_error: Severity::Error,
            auth_failure: Severity::Warning,
            client_error: Severity::Notice,
            destructive_verbs: words(&[
                "Delete",
                "Terminate",
                "Remove",
                "Detach",
                "Disable",
                "Deactivate",
                "Revoke",
                "Purge",
                "Cancel",
            ]),
            destructive: Severity::Warning,
            mutating_verbs: words(&[
                "Create",
                "Update",
                "Put",
                "Change",
                "Attach",
                "Enable",
                "Activate",
                "Add",
                "Move",
                "Upload",
                "Restore",
                "Rotate",
                "Launch",
                "Start",
                "Stop",
                "Reset",
                "Reboot",
                "InstanceAction",
                "Import",
                "Copy",
                "Rename",
                "Patch",
                "Upsert",
                "Set",
            ]),
            mutating: Severity::Notice,
        }
    }
}

impl SeverityPolicy {
    /// Derives the severity of an audit event from its type, `data.eventName` and
    /// `data.response.status`.
    pub fn derive(
        &self,
        event_type: &str,
        event_name: Option<&str>,
        response_status: Option<u16>,
    ) -> Severity {
        if let Some(fixed) = self.fixed {
            return fixed;
        }
        let by_status = response_status
            .map(|status| match status {
                500..=599 => self.server_error,
                401 | 403 => self.auth_failure,
                400..=499 => self.client_error,
                _ => self.default,
            })
            .unwrap_or(self.default);
        let name = event_name
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| operation_name(event_type));
        let has = |verbs: &[String]| {
            verbs
                .iter()
                .any(|v| !v.is_empty() && name.starts_with(v.as_str()))
        };
        let by_verb = if has(&self.destructive_verbs) {
            self.destructive
        } else if has(&self.mutating_verbs) {
            self.mutating
        } else {
            self.default
        };
        by_status.min(by_verb)
    }
}

impl SeverityPolicy {
    /// The severity of a record of any kind: an audit event's is derived from its operation
    /// and outcome ([`Self::derive`]); a Cloud Guard problem's from its `riskLevel`
    /// ([`Severity::of_risk_level`]); a log record's is the default. `fixed` overrides all.
    pub fn of_record(&self, record: &crate::record::SyslogRecord) -> Severity {
        use crate::record::RecordKind;
        if let Some(fixed) = self.fixed {
            return fixed;
        }
        match &record.kind {
            RecordKind::AuditEvent => self.derive(
                &record.event_type,
                record.event_name.as_deref(),
                record.response_status,
            ),
            RecordKind::LogRecord => self.default,
            RecordKind::CloudGuardProblem { risk_level } => risk_level
                .as_deref()
                .and_then(Severity::of_risk_level)
                .unwrap_or(self.default),
        }
    }
}

impl Severity {
    /// The severity of a Cloud Guard `riskLevel`: `CRITICAL` is critical, `HIGH` an error,
    /// `MEDIUM` a warning, `LOW` a notice, `MINOR` informational (CEF 8, 7, 5, 3, 2). `None`
    /// for a level Cloud Guard may add later.
    pub fn of_risk_level(level: &str) -> Option<Severity> {
        match level {
            "CRITICAL" => Some(Severity::Critical),
            "HIGH" => Some(Severity::Error),
            "MEDIUM" => Some(Severity::Warning),
            "LOW" => Some(Severity::Notice),
            "MINOR" => Some(Severity::Informational),
            _ => None,
        }
    }
}

/// The operation part of an event type: `com.oraclecloud.ComputeApi.TerminateInstance.begin`
/// gives `TerminateInstance`.
fn operation_name(event_type: &str) -> &str {
    let mut parts = event_type.rsplit('.');
    let last = parts.next().unwrap_or_default();
    if matches!(last, "begin" | "end") {
        parts.next().unwrap_or(last)
    } else {
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sev(event_type: &str, body: serde_json::Value) -> Severity {
        derive(&SeverityPolicy::default(), event_type, &body)
    }

    fn derive(p: &SeverityPolicy, event_type: &str, body: &serde_json::Value) -> Severity {
        let name = body.pointer("/data/eventName").and_then(|v| v.as_str());
        let status = body
            .pointer("/data/response/status")
            .and_then(crate::record::status_of);
        p.derive(event_type, name, status)
    }

    #[test]
    fn pri_combines_facility_and_severity() {
        assert_eq!(pri(Facility::Local0, Severity::Informational), 134);
        assert_eq!(pri(Facility::Kern, Severity::Emergency), 0);
        assert_eq!(pri(Facility::Local7, Severity::Debug), 191);
    }

    #[test]
    fn reads_are_informational_and_deletes_rank_higher() {
        let ok = json!({"data": {"response": {"status": "200"}}});
        assert_eq!(
            sev("com.oraclecloud.ComputeApi.GetInstance", ok.clone()),
            Severity::Informational
        );
        assert_eq!(
            sev("com.oraclecloud.ComputeApi.UpdateInstance", ok.clone()),
            Severity::Notice
        );
        assert_eq!(
            sev(
                "com.oraclecloud.ComputeApi.TerminateInstance.begin",
                ok.clone()
            ),
            Severity::Warning
        );
        assert_eq!(
            sev("com.oraclecloud.objectstorage.deletebucket", ok),
            Severity::Informational
        );
    }

    #[test]
    fn failures_rank_by_status_and_the_worse_signal_wins() {
        let s = |st: serde_json::Value| json!({"data": {"response": {"status": st}}});
        assert_eq!(sev("x.GetInstance", s(json!("503"))), Severity::Error);
        assert_eq!(sev("x.GetInstance", s(json!("401"))), Severity::Warning);
        assert_eq!(sev("x.GetInstance", s(json!(404))), Severity::Notice);
        assert_eq!(sev("x.DeleteVcn", s(json!("404"))), Severity::Warning);
        assert_eq!(sev("x.DeleteVcn", s(json!("500"))), Severity::Error);
        assert_eq!(
            sev("x.GetInstance", s(json!("not a status"))),
            Severity::Informational
        );
    }

    #[test]
    fn event_name_wins_over_event_type_and_fixed_overrides_all() {
        let body = json!({"data": {"eventName": "DeleteBucket"}});
        assert_eq!(
            sev("com.oraclecloud.objectstorage.deletebucket", body.clone()),
            Severity::Warning
        );
        let fixed = SeverityPolicy {
            fixed: Some(Severity::Alert),
            ..Default::default()
        };
        assert_eq!(derive(&fixed, "x", &body), Severity::Alert);
    }

    #[test]
    fn a_problem_ranks_by_its_risk_level_and_a_log_record_is_the_default() {
        use crate::record::{RecordKind, SyslogRecord, Window};
        let window = Window {
            start: "2026-11-22T14:00:00Z".parse().unwrap(),
            end: "2026-11-22T14:01:00Z".parse().unwrap(),
        };
        let body = json!({"eventId": "e", "eventType": "x.DeleteVcn", "eventTime": "2026-11-22T14:00:01Z"});
        let mut r = SyslogRecord::from_event(body, window, false).unwrap();
        let p = SeverityPolicy::default();
        assert_eq!(
            p.of_record(&r),
            Severity::Warning,
            "an audit event by its verb"
        );
        let levels = [
            (Some("CRITICAL"), Severity::Critical, 8),
            (Some("HIGH"), Severity::Error, 7),
            (Some("MEDIUM"), Severity::Warning, 5),
            (Some("LOW"), Severity::Notice, 3),
            (Some("MINOR"), Severity::Informational, 2),
            (Some("SEVERE"), Severity::Informational, 2),
            (None, Severity::Informational, 2),
        ];
        for (level, want, cef) in levels {
            r.kind = RecordKind::CloudGuardProblem {
                risk_level: level.map(str::to_owned),
            };
            assert_eq!(p.of_record(&r), want, "{level:?}");
            assert_eq!(p.of_record(&r).cef(), cef, "{level:?}");
        }
        r.kind = RecordKind::LogRecord;
        assert_eq!(
            p.of_record(&r),
            Severity::Informational,
            "not by the verb of its type"
        );
        let fixed = SeverityPolicy {
            fixed: Some(Severity::Alert),
            ..Default::default()
        };
        r.kind = RecordKind::CloudGuardProblem {
            risk_level: Some("MINOR".into()),
        };
        assert_eq!(fixed.of_record(&r), Severity::Alert);
    }

    #[test]
    fn cef_and_leef_scales() {
        assert_eq!(Severity::Emergency.cef(), 10);
        assert_eq!(Severity::Debug.cef(), 0);
        assert_eq!(Severity::Debug.leef(), 1);
        assert_eq!(Severity::Warning.leef(), 5);
    }
}
