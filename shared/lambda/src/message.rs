//! The work queue's message: one (region, compartment) and the work due there.
//!
//! ```json
//! {"version": 1, "kind": "live",
//!  "tenancy": "ocid1.tenancy.oc1..aaaa", "region": "eu-frankfurt-1",
//!  "compartment": "ocid1.compartment.oc1..bbbb", "name": "root/prod/app",
//!  "dueUntil": "2026-11-22T14:04:00Z",
//!  "sentAt": "2026-11-22T14:05:02.113Z", "sentBy": "poller 5f0c...-request-id"}
//! ```
//!
//! - `kind: "live"` (from the poller): the compartment's live cycle: gap ledger, settle
//!   passes, fresh windows. `dueUntil` is where fresh work ended when the poller looked
//!   (`now - fresh lag`, whole minutes); the worker plans again from the checkpoint when the
//!   message arrives, so it delivers everything due *then* (a late or repeated message only
//!   finds less to do).
//! - `kind: "replay"` (from a replay that reached its deadline, or a worker continuing one):
//!   the rest of a replay in this compartment, `from`..`to` with `replayId`, `dryRun` and
//!   `part` (1 for the first continuation).
//!
//! `version` is checked: a message of another version is refused (and ends in the dead-letter
//! queue) rather than misread. Unknown fields are ignored, so adding one is compatible.

use auditfwd_checkpoint::Scope;
use auditfwd_oci::{MinuteTimestamp, Ocid};
use auditfwd_pipeline::WorkItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The message format this code writes and reads.
pub const MESSAGE_VERSION: u32 = 1;

/// SQS's limit on a message body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One work queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkMessage {
    /// [`MESSAGE_VERSION`].
    pub version: u32,
    /// The tenancy.
    pub tenancy: Ocid,
    /// The region id.
    pub region: String,
    /// The compartment.
    pub compartment: Ocid,
    /// The compartment's path in the tree, for logs and reports.
    pub name: String,
    /// What to do there.
    #[serde(flatten)]
    pub work: Work,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// Which invocation sent it (`poller <request id>`, `replay <request id>`, ...).
    pub sent_by: String,
}

/// The work a message asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Work {
    /// The live cycle of the compartment.
    Live {
        /// Where fresh work ended when the poller looked.
        due_until: MinuteTimestamp,
    },
    /// The rest of a replay in the compartment.
    Replay(ReplayPart),
}

/// The remainder of a replay, for one (region, compartment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayPart {
    /// The replay's id (the request id of the replay invocation); results are under
    /// `replays/<id>/` in the state store.
    pub replay_id: String,
    /// Start of what is left (inclusive).
    pub from: MinuteTimestamp,
    /// End of the replay (exclusive).
    pub to: MinuteTimestamp,
    /// Count only, send nothing.
    pub dry_run: bool,
    /// 1 for the first continuation, then 2, 3, ...
    pub part: u32,
}

/// Why a message body cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not JSON of this shape.
    #[error("not a work message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Another format version.
    #[error(
        "work message version {found} is not supported (this function reads version {MESSAGE_VERSION})"
    )]
    Version {
        /// The version found.
        found: u32,
    },
    /// Too large for SQS.
    #[error("work message of {0} bytes is over SQS's 256 KiB")]
    TooLarge(usize),
}

impl WorkMessage {
    /// A message for `item`.
    pub fn new(item: &WorkItem, work: Work, sent_at: DateTime<Utc>, sent_by: &str) -> Self {
        WorkMessage {
            version: MESSAGE_VERSION,
            tenancy: item.scope.tenancy.clone(),
            region: item.scope.region.clone(),
            compartment: item.scope.compartment.clone(),
            name: item.name.clone(),
            work,
            sent_at,
            sent_by: sent_by.to_owned(),
        }
    }

    /// Parses and checks a message body.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let m: WorkMessage = serde_json::from_str(body)?;
        if m.version != MESSAGE_VERSION {
            return Err(MessageError::Version { found: m.version });
        }
        Ok(m)
    }

    /// The message body.
    pub fn to_body(&self) -> Result<String, MessageError> {
        let body = serde_json::to_string(self)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(MessageError::TooLarge(body.len()));
        }
        Ok(body)
    }

    /// Which (tenancy, region, compartment).
    pub fn scope(&self) -> Scope {
        Scope::new(
            self.tenancy.clone(),
            self.region.clone(),
            self.compartment.clone(),
        )
    }

    /// The pipeline's unit of work.
    pub fn item(&self) -> WorkItem {
        WorkItem {
            scope: self.scope(),
            name: self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> WorkItem {
        WorkItem {
            scope: Scope::new(
                Ocid::parse("ocid1.tenancy.oc1..aaaa").unwrap(),
                "eu-frankfurt-1",
                Ocid::parse("ocid1.compartment.oc1..bbbb").unwrap(),
            ),
            name: "root/prod/app".into(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_live_message_has_the_documented_shape_and_round_trips() {
        let m = WorkMessage::new(
            &item(),
            Work::Live {
                due_until: MinuteTimestamp::parse("2026-11-22T14:04:00Z").unwrap(),
            },
            at("2026-11-22T14:05:02.113Z"),
            "poller req-1",
        );
        let body = m.to_body().unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "version": 1, "kind": "live",
                "tenancy": "ocid1.tenancy.oc1..aaaa", "region": "eu-frankfurt-1",
                "compartment": "ocid1.compartment.oc1..bbbb", "name": "root/prod/app",
                "dueUntil": "2026-11-22T14:04:00Z",
                "sentAt": "2026-11-22T14:05:02.113Z", "sentBy": "poller req-1"
            })
        );
        assert_eq!(WorkMessage::parse(&body).unwrap(), m);
        assert_eq!(m.item(), item());
    }

    #[test]
    fn a_replay_message_round_trips() {
        let m = WorkMessage::new(
            &item(),
            Work::Replay(ReplayPart {
                replay_id: "r-1".into(),
                from: MinuteTimestamp::parse("2026-11-22T10:30:00Z").unwrap(),
                to: MinuteTimestamp::parse("2026-11-22T12:00:00Z").unwrap(),
                dry_run: true,
                part: 1,
            }),
            at("2026-11-22T14:05:02Z"),
            "replay req-2",
        );
        let body = m.to_body().unwrap();
        assert!(body.contains(r#""kind":"replay""#), "{body}");
        assert!(body.contains(r#""replayId":"r-1""#), "{body}");
        assert!(body.contains(r#""dryRun":true"#), "{body}");
        assert_eq!(WorkMessage::parse(&body).unwrap(), m);
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        assert!(matches!(
            WorkMessage::parse("not json"),
            Err(MessageError::Malformed(_))
        ));
        let future = r#"{"version": 2, "kind": "live", "tenancy": "ocid1.tenancy.oc1..aaaa",
            "region": "r", "compartment": "ocid1.compartment.oc1..bbbb", "name": "n",
            "dueUntil": "2026-11-22T14:04:00Z", "sentAt": "2026-11-22T14:05:02Z", "sentBy": "x"}"#;
        assert!(matches!(
            WorkMessage::parse(future),
            Err(MessageError::Version { found: 2 })
        ));
        let bad_ocid = future
            .replace("\"version\": 2", "\"version\": 1")
            .replace("ocid1.compartment.oc1..bbbb", "nope");
        assert!(matches!(
            WorkMessage::parse(&bad_ocid),
            Err(MessageError::Malformed(_))
        ));
    }
}
