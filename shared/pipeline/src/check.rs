//! `auditfwd check`: proves a configuration works before anyone trusts it. Each step runs
//! even when an earlier one failed, so one run shows every problem:
//!
//! 1. OCI: list the compartment tree (authentication, Identity endpoint, policy
//!    `inspect compartments`);
//! 2. OCI, per region: read one recent window of the tenancy's own audit events (Audit
//!    endpoint, policy `read audit-events`); for a log search runner, one recent window of
//!    each search (Logging endpoint, policy `read log-content`), saying when it found no
//!    records, as a log that is not enabled does;
//! 3. the checkpoint store: write a probe object (create-only), read it back, delete it;
//! 4. syslog: send one test message, clearly marked (`eventType` `com.auditfwd.check`,
//!    `eventId` `auditfwd-check-…`), and report how the receiver confirmed it.
//!
//! Nothing touches the live cursor, the dedupe state or the ledger.

use std::fmt;

use auditfwd_checkpoint::manifest::Confirmation;
use auditfwd_checkpoint::{ObjectKey, ObjectStore, WriteCondition};
use auditfwd_oci::{MinuteTimestamp, Ocid, Window};
use auditfwd_syslog::JsonText;
use bytes::Bytes;
use serde::Serialize;

use crate::runner::Runner;
use crate::sink::{Outbound, Sink};
use crate::source::AuditSource;
use crate::source::EventPages;

/// One step's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckStep {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What happened (the error when it failed).
    pub detail: String,
}

/// Every step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// In order.
    pub steps: Vec<CheckStep>,
}

impl CheckReport {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }

    fn push(&mut self, name: impl Into<String>, result: Result<String, String>) {
        let (passed, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.steps.push(CheckStep {
            name: name.into(),
            passed,
            detail,
        });
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            let mark = if s.passed { "PASS" } else { "FAIL" };
            writeln!(f, "{mark}  {}: {}", s.name, s.detail)?;
        }
        let failed = self.steps.iter().filter(|s| !s.passed).count();
        if failed == 0 {
            writeln!(f, "all {} checks passed", self.steps.len())
        } else {
            writeln!(f, "{failed} of {} checks failed", self.steps.len())
        }
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Runs every check (see the module documentation).
    pub async fn check(&self) -> CheckReport {
        let mut report = CheckReport::default();
        let source = self.source();
        let tenancy = source.tenancy().clone();

        let tree = source.compartment_tree().await;
        report.push(
            "OCI compartment tree",
            match &tree {
                Ok(t) => Ok(format!(
                    "{} compartments visible in tenancy {tenancy}",
                    t.iter().count()
                )),
                Err(e) => Err(format!("cannot list compartments: {e}")),
            },
        );

        let now = self.clock().now();
        let end = MinuteTimestamp::floor(
            now - chrono::Duration::from_std(self.config().windows.fresh_lag)
                .unwrap_or(chrono::Duration::zero()),
        );
        let window = end
            .plus_minutes(-1)
            .ok()
            .and_then(|s| Window::new(s, end).ok());
        // What to read in each region: the tenancy root for Audit; each listing of a made-up
        // tree (a log search, a Cloud Guard lifecycle state), whose root is never collected.
        let mut targets: Vec<(String, Ocid, Option<String>)> = Vec::new();
        for region in source.regions() {
            if source.covers(&region, &tenancy) {
                targets.push((region, tenancy.clone(), None));
                continue;
            }
            let Ok(tree) = &tree else { continue };
            for c in tree.iter() {
                if let Ok(id) = Ocid::parse(c.id.as_str())
                    && source.covers(&region, &id)
                {
                    let path = tree
                        .path(&c.id)
                        .map_or_else(|| c.name.clone(), |p| p.join("/"));
                    targets.push((region.clone(), id, Some(path)));
                }
            }
        }
        let label = source.label();
        for (region, id, path) in targets {
            let (name, what) = match &path {
                None => (
                    format!("{label} in {region}"),
                    "the tenancy root".to_owned(),
                ),
                Some(path) => (format!("{label} {path} in {region}"), path.clone()),
            };
            let result = match window {
                None => Err("cannot form a one-minute window before now".to_owned()),
                Some(w) => match source.list_events(&region, &id, w).next_page().await {
                    None => Ok(format!("read window {w} of {what}: no pages")),
                    Some(Ok(page)) if page.events.is_empty() && source.empty_hint().is_some() => {
                        Ok(format!(
                            "read window {w} of {what}: no records ({})",
                            source.empty_hint().unwrap_or_default()
                        ))
                    }
                    Some(Ok(page)) => Ok(format!(
                        "read window {w} of {what}: {} records on the first page",
                        page.events.len()
                    )),
                    Some(Err(e)) => Err(format!("cannot list: {e}")),
                },
            };
            report.push(name, result);
        }

        report.push("checkpoint store", self.probe_store().await);
        report.push("syslog destination", self.probe_sink(now).await);
        report
    }

    async fn probe_store(&self) -> Result<String, String> {
        let store = self.store();
        let key = ObjectKey::new(format!(
            "probes/{}-{:08x}.json",
            self.config().owner,
            fastrand::u32(..)
        ))
        .map_err(|e| e.to_string())?;
        let body = Bytes::from(format!(
            "{{\"probe\":\"auditfwd check\",\"owner\":{:?}}}",
            self.config().owner
        ));
        store
            .put(&key, body.clone(), WriteCondition::IfAbsent)
            .await
            .map_err(|e| format!("cannot write {key}: {e}"))?;
        let read = store.get(&key).await;
        let deleted = store.delete(&key, None).await;
        match read {
            Ok(Some(o)) if o.body == body => {}
            Ok(Some(_)) => return Err(format!("{key} read back different from what was written")),
            Ok(None) => return Err(format!("{key} was written but cannot be read back")),
            Err(e) => return Err(format!("cannot read {key} back: {e}")),
        }
        deleted.map_err(|e| format!("cannot delete {key}: {e}"))?;
        Ok(format!("wrote, read back and deleted {key}"))
    }

    async fn probe_sink(&self, now: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
        let id = format!("auditfwd-check-{:016x}", fastrand::u64(..));
        let minute = MinuteTimestamp::floor(now);
        let window = minute
            .plus_minutes(1)
            .ok()
            .and_then(|end| Window::new(minute, end).ok())
            .ok_or_else(|| "cannot form a one-minute window at now".to_owned())?;
        let record = Outbound {
            event_id: id.clone(),
            event_type: "com.auditfwd.check".to_owned(),
            event_time: now,
            compartment_id: self.source().tenancy().to_string(),
            event_name: None,
            response_status: None,
            window,
            replay: false,
            kind: auditfwd_oci::audit::RecordKind::AuditEvent,
            text: JsonText::from_value(&serde_json::json!({
                "eventId": id,
                "eventType": "com.auditfwd.check",
                "eventTime": now.to_rfc3339(),
                "source": "auditfwd",
                "data": {
                    "message": "auditfwd check: test message, not an OCI audit event",
                    "sentBy": self.config().owner,
                }
            })),
        };
        let mut sink = self.new_sink();
        let sent = sink.send(vec![record]).await;
        sink.close().await;
        match sent {
            Ok(how) => Ok(format!(
                "test message {id} delivered ({})",
                match how {
                    Confirmation::ReceiverAck => "acknowledged by the receiver",
                    Confirmation::TcpAcked => {
                        "every byte acknowledged by the receiver's TCP stack on a connection still open afterwards; RELP also proves the receiver took it"
                    }
                    Confirmation::Sent => {
                        "sent as UDP, UNCONFIRMED: UDP cannot tell whether the receiver got it; use relp:// or tls:// to know"
                    }
                    Confirmation::NothingToSend => "nothing sent",
                }
            )),
            Err(e) => Err(format!("cannot deliver the test message: {e}")),
        }
    }
}
