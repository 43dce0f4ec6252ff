//! The work queue's message: one shard's live cycle, or the rest of a replay in one
//! compartment.
//!
//! ```json
//! {"version": 3, "kind": "live",
//!  "runner": {"tenancy": "acme", "source": "audit"},
//!  "tenancy": "ocid1.tenancy.oc1..aaaa", "region": "eu-frankfurt-1",
//!  "shard": "0003-of-0016",
//!  "compartments": [{"id": "ocid1.compartment.oc1..bbbb", "name": "root/prod/app"}, ...],
//!  "dueUntil": "2026-11-22T14:04:00Z",
//!  "sentAt": "2026-11-22T14:05:02.113Z", "sentBy": "poller 5f0c...-request-id"}
//! ```
//!
//! - `runner`: which of the deployment's runners the work is for
//!   ([`crate::runners::RunnerId`]): the tenancy's configured name (`AUDITFWD_TENANCIES`, or
//!   `default`) and the source (`audit`, `log-search`, ...). `tenancy` is still the tenancy's
//!   OCID, checked against the runner's.
//! - `kind: "live"` (from the poller): the live cycle of one shard's compartments (gap
//!   ledger, settle re-listing, fresh range), worked under the shard's one lease and committed
//!   with the shard's two writes. `shard` is the poller's label for logs; the worker groups
//!   the compartments again under the tenancy's layout, so a message sent before a layout
//!   change is still worked correctly. `dueUntil` is where fresh work ended when the poller
//!   looked (`now - fresh lag`, whole minutes); the worker plans again from the checkpoint
//!   when the message arrives, so it delivers everything due *then* (a late or repeated
//!   message only finds less to do). At 128 compartments per shard a message is about 20 KB,
//!   well under SQS's 256 KiB.
//! - `kind: "replay"` (from a replay that reached its deadline, or a worker continuing one):
//!   the rest of a replay in one compartment, `from`..`to` with `replayId`, `dryRun` and
//!   `part` (1 for the first continuation).
//!
//! `version` is checked. Messages still in the queue from before an upgrade are read and
//! converted: version 2 (no `runner`: written when the functions collected one tenancy's
//! Audit events) and version 1 (one compartment each, no `runner`); a message without a
//! runner means the audit runner of its tenancy (see [`crate::runners`]). Any other version is
//! refused (and ends in the dead-letter queue) rather than misread: a version 2 worker still
//! running during an upgrade refuses a version 3 message (SQS delivers it again, to a new
//! worker) instead of working a log search's message on its Audit runner. Unknown fields are
//! ignored, so adding an optional one is compatible.

use auditfwd_checkpoint::Scope;
use auditfwd_oci::{MinuteTimestamp, Ocid};
use auditfwd_pipeline::WorkItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runners::RunnerId;

/// The message format this code writes.
pub const MESSAGE_VERSION: u32 = 3;

/// SQS's limit on a message body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One work queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkMessage {
    /// [`MESSAGE_VERSION`].
    pub version: u32,
    /// The runner the work is for; `None` in a message from before runners were named
    /// (versions 1 and 2), which means the audit runner of `tenancy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerId>,
    /// The tenancy's OCID.
    pub tenancy: Ocid,
    /// The region id.
    pub region: String,
    /// What to do there.
    #[serde(flatten)]
    pub work: Work,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// Which invocation sent it (`poller <request id>`, `replay <request id>`, ...).
    pub sent_by: String,
}

/// A compartment named in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The compartment OCID.
    pub id: Ocid,
    /// Its path in the tree, for logs and reports.
    pub name: String,
}

/// The work a message asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Work {
    /// The live cycle of one shard's compartments.
    Live {
        /// The shard, as `NNNN-of-NNNN` (for logs; the worker groups again).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<String>,
        /// The compartments.
        compartments: Vec<Member>,
        /// Where fresh work ended when the poller looked.
        due_until: MinuteTimestamp,
    },
    /// The rest of a replay in one compartment.
    Replay(ReplayPart),
}

/// The remainder of a replay, for one (region, compartment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayPart {
    /// The compartment.
    pub compartment: Ocid,
    /// Its path in the tree.
    pub name: String,
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
        "work message version {found} is not supported (this function reads versions 1 to {MESSAGE_VERSION})"
    )]
    Version {
        /// The version found.
        found: u32,
    },
    /// A current message that does not name its runner.
    #[error("work message version {MESSAGE_VERSION} without a \"runner\"")]
    NoRunner,
    /// Too large for SQS.
    #[error("work message of {0} bytes is over SQS's 256 KiB")]
    TooLarge(usize),
}

/// Version 1: one compartment per message.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageV1 {
    tenancy: Ocid,
    region: String,
    compartment: Ocid,
    name: String,
    #[serde(flatten)]
    work: WorkV1,
    sent_at: DateTime<Utc>,
    sent_by: String,
}

#[derive(Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum WorkV1 {
    Live {
        due_until: MinuteTimestamp,
    },
    Replay {
        replay_id: String,
        from: MinuteTimestamp,
        to: MinuteTimestamp,
        dry_run: bool,
        part: u32,
    },
}

impl From<MessageV1> for WorkMessage {
    fn from(m: MessageV1) -> Self {
        let work = match m.work {
            WorkV1::Live { due_until } => Work::Live {
                shard: None,
                compartments: vec![Member {
                    id: m.compartment,
                    name: m.name,
                }],
                due_until,
            },
            WorkV1::Replay {
                replay_id,
                from,
                to,
                dry_run,
                part,
            } => Work::Replay(ReplayPart {
                compartment: m.compartment,
                name: m.name,
                replay_id,
                from,
                to,
                dry_run,
                part,
            }),
        };
        WorkMessage {
            version: MESSAGE_VERSION,
            runner: None,
            tenancy: m.tenancy,
            region: m.region,
            work,
            sent_at: m.sent_at,
            sent_by: m.sent_by,
        }
    }
}

#[derive(Deserialize)]
struct Versioned {
    version: u32,
}

impl WorkMessage {
    /// A live message for `runner`'s `items` (one shard's compartments, all in `tenancy` and
    /// `region`).
    #[allow(clippy::too_many_arguments)]
    pub fn live(
        runner: &RunnerId,
        tenancy: &Ocid,
        region: &str,
        shard: Option<String>,
        items: &[WorkItem],
        due_until: MinuteTimestamp,
        sent_at: DateTime<Utc>,
        sent_by: &str,
    ) -> Self {
        WorkMessage {
            version: MESSAGE_VERSION,
            runner: Some(runner.clone()),
            tenancy: tenancy.clone(),
            region: region.to_owned(),
            work: Work::Live {
                shard,
                compartments: items
                    .iter()
                    .map(|i| Member {
                        id: i.scope.compartment.clone(),
                        name: i.name.clone(),
                    })
                    .collect(),
                due_until,
            },
            sent_at,
            sent_by: sent_by.to_owned(),
        }
    }

    /// A replay continuation for `runner`, in `tenancy` and `region`.
    pub fn replay(
        runner: &RunnerId,
        tenancy: &Ocid,
        region: &str,
        part: ReplayPart,
        sent_at: DateTime<Utc>,
        sent_by: &str,
    ) -> Self {
        WorkMessage {
            version: MESSAGE_VERSION,
            runner: Some(runner.clone()),
            tenancy: tenancy.clone(),
            region: region.to_owned(),
            work: Work::Replay(part),
            sent_at,
            sent_by: sent_by.to_owned(),
        }
    }

    /// Parses and checks a message body (version 1 and 2 bodies are converted, without a
    /// runner).
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let Versioned { version } = serde_json::from_str(body)?;
        match version {
            MESSAGE_VERSION => {
                let m: WorkMessage = serde_json::from_str(body)?;
                if m.runner.is_none() {
                    return Err(MessageError::NoRunner);
                }
                Ok(m)
            }
            // Version 2 is version 3 without `runner` (a `runner` there is ignored: version
            // 2 writers had none).
            2 => Ok(WorkMessage {
                version: MESSAGE_VERSION,
                runner: None,
                ..serde_json::from_str(body)?
            }),
            1 => Ok(serde_json::from_str::<MessageV1>(body)?.into()),
            found => Err(MessageError::Version { found }),
        }
    }

    /// The message body.
    pub fn to_body(&self) -> Result<String, MessageError> {
        let body = serde_json::to_string(self)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(MessageError::TooLarge(body.len()));
        }
        Ok(body)
    }

    fn scope(&self, compartment: &Ocid) -> Scope {
        Scope::new(
            self.tenancy.clone(),
            self.region.clone(),
            compartment.clone(),
        )
    }

    /// The pipeline's units of work: the live message's compartments, or the replay's one.
    pub fn items(&self) -> Vec<WorkItem> {
        match &self.work {
            Work::Live { compartments, .. } => compartments
                .iter()
                .map(|m| WorkItem {
                    scope: self.scope(&m.id),
                    name: m.name.clone(),
                })
                .collect(),
            Work::Replay(part) => vec![WorkItem {
                scope: self.scope(&part.compartment),
                name: part.name.clone(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenancy() -> Ocid {
        Ocid::parse("ocid1.tenancy.oc1..aaaa").unwrap()
    }

    fn item(c: &str, name: &str) -> WorkItem {
        WorkItem {
            scope: Scope::new(tenancy(), "eu-frankfurt-1", Ocid::parse(c).unwrap()),
            name: name.into(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_live_message_has_the_documented_shape_and_round_trips() {
        let items = [
            item("ocid1.compartment.oc1..bbbb", "root/prod/app"),
            item("ocid1.compartment.oc1..cccc", "root/prod/db"),
        ];
        let m = WorkMessage::live(
            &RunnerId::new("acme", "audit"),
            &tenancy(),
            "eu-frankfurt-1",
            Some("0003-of-0016".into()),
            &items,
            MinuteTimestamp::parse("2026-11-22T14:04:00Z").unwrap(),
            at("2026-11-22T14:05:02.113Z"),
            "poller req-1",
        );
        let body = m.to_body().unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "version": 3, "kind": "live",
                "runner": {"tenancy": "acme", "source": "audit"},
                "tenancy": "ocid1.tenancy.oc1..aaaa", "region": "eu-frankfurt-1",
                "shard": "0003-of-0016",
                "compartments": [
                    {"id": "ocid1.compartment.oc1..bbbb", "name": "root/prod/app"},
                    {"id": "ocid1.compartment.oc1..cccc", "name": "root/prod/db"}
                ],
                "dueUntil": "2026-11-22T14:04:00Z",
                "sentAt": "2026-11-22T14:05:02.113Z", "sentBy": "poller req-1"
            })
        );
        assert_eq!(WorkMessage::parse(&body).unwrap(), m);
        assert_eq!(m.items(), items);
    }

    #[test]
    fn a_replay_message_round_trips() {
        let m = WorkMessage::replay(
            &RunnerId::new("globex", "audit"),
            &tenancy(),
            "eu-frankfurt-1",
            ReplayPart {
                compartment: Ocid::parse("ocid1.compartment.oc1..bbbb").unwrap(),
                name: "root/prod/app".into(),
                replay_id: "r-1".into(),
                from: MinuteTimestamp::parse("2026-11-22T10:30:00Z").unwrap(),
                to: MinuteTimestamp::parse("2026-11-22T12:00:00Z").unwrap(),
                dry_run: true,
                part: 1,
            },
            at("2026-11-22T14:05:02Z"),
            "replay req-2",
        );
        let body = m.to_body().unwrap();
        assert!(body.contains(r#""kind":"replay""#), "{body}");
        assert!(body.contains(r#""replayId":"r-1""#), "{body}");
        assert!(body.contains(r#""dryRun":true"#), "{body}");
        assert!(
            body.contains(r#""runner":{"tenancy":"globex","source":"audit"}"#),
            "{body}"
        );
        assert_eq!(WorkMessage::parse(&body).unwrap(), m);
        assert_eq!(
            m.items(),
            [item("ocid1.compartment.oc1..bbbb", "root/prod/app")]
        );
    }

    /// Messages already in the queue when the functions are upgraded are still worked.
    #[test]
    fn version_1_messages_are_read_as_one_compartment() {
        let live = r#"{"version": 1, "kind": "live", "tenancy": "ocid1.tenancy.oc1..aaaa",
            "region": "eu-frankfurt-1", "compartment": "ocid1.compartment.oc1..bbbb",
            "name": "root/prod/app", "dueUntil": "2026-11-22T14:04:00Z",
            "sentAt": "2026-11-22T14:05:02Z", "sentBy": "poller x"}"#;
        let m = WorkMessage::parse(live).unwrap();
        assert_eq!(m.version, MESSAGE_VERSION);
        assert_eq!(
            m.items(),
            [item("ocid1.compartment.oc1..bbbb", "root/prod/app")]
        );
        assert!(matches!(m.work, Work::Live { shard: None, .. }));
        let replay = r#"{"version": 1, "kind": "replay", "tenancy": "ocid1.tenancy.oc1..aaaa",
            "region": "eu-frankfurt-1", "compartment": "ocid1.compartment.oc1..bbbb",
            "name": "root/prod/app", "replayId": "r-1", "from": "2026-11-22T10:30:00Z",
            "to": "2026-11-22T12:00:00Z", "dryRun": false, "part": 3,
            "sentAt": "2026-11-22T14:05:02Z", "sentBy": "replay x"}"#;
        let Work::Replay(part) = WorkMessage::parse(replay).unwrap().work else {
            panic!("not a replay");
        };
        assert_eq!(part.part, 3);
        assert_eq!(part.compartment.as_str(), "ocid1.compartment.oc1..bbbb");
    }

    /// A message the previous version wrote (version 2, no `runner`), byte for byte: still
    /// read, with no runner (the audit runner of its tenancy: see `crate::runners`).
    #[test]
    fn version_2_messages_are_read_without_a_runner() {
        let live = r#"{"version":2,"kind":"live","tenancy":"ocid1.tenancy.oc1..aaaa","region":"eu-frankfurt-1","shard":"0003-of-0016","compartments":[{"id":"ocid1.compartment.oc1..bbbb","name":"root/prod/app"},{"id":"ocid1.compartment.oc1..cccc","name":"root/prod/db"}],"dueUntil":"2026-11-22T14:04:00Z","sentAt":"2026-11-22T14:05:02.113Z","sentBy":"poller req-1"}"#;
        let m = WorkMessage::parse(live).unwrap();
        assert_eq!(m.version, MESSAGE_VERSION);
        assert_eq!(m.runner, None);
        assert_eq!(m.tenancy, tenancy());
        assert_eq!(
            m.items(),
            [
                item("ocid1.compartment.oc1..bbbb", "root/prod/app"),
                item("ocid1.compartment.oc1..cccc", "root/prod/db")
            ]
        );
        assert!(matches!(
            &m.work,
            Work::Live { shard: Some(s), .. } if s == "0003-of-0016"
        ));

        let replay = r#"{"version":2,"kind":"replay","tenancy":"ocid1.tenancy.oc1..aaaa","region":"eu-frankfurt-1","compartment":"ocid1.compartment.oc1..bbbb","name":"root/prod/app","replayId":"r-1","from":"2026-11-22T10:30:00Z","to":"2026-11-22T12:00:00Z","dryRun":false,"part":2,"sentAt":"2026-11-22T14:05:02Z","sentBy":"worker x"}"#;
        let m = WorkMessage::parse(replay).unwrap();
        assert_eq!(m.runner, None);
        let Work::Replay(part) = m.work else {
            panic!("not a replay");
        };
        assert_eq!(part.part, 2);
    }

    #[test]
    fn a_current_message_must_name_its_runner() {
        let body = r#"{"version": 3, "kind": "live", "tenancy": "ocid1.tenancy.oc1..aaaa",
            "region": "r", "compartments": [{"id": "ocid1.compartment.oc1..bbbb", "name": "n"}],
            "dueUntil": "2026-11-22T14:04:00Z", "sentAt": "2026-11-22T14:05:02Z", "sentBy": "x"}"#;
        assert!(matches!(
            WorkMessage::parse(body),
            Err(MessageError::NoRunner)
        ));
        let named = body.replace(
            r#""kind": "live","#,
            r#""kind": "live", "runner": {"tenancy": "acme", "source": "log-search"},"#,
        );
        assert_eq!(
            WorkMessage::parse(&named).unwrap().runner,
            Some(RunnerId::new("acme", "log-search"))
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        assert!(matches!(
            WorkMessage::parse("not json"),
            Err(MessageError::Malformed(_))
        ));
        let future = r#"{"version": 4, "kind": "live", "tenancy": "ocid1.tenancy.oc1..aaaa",
            "region": "r", "compartments": [{"id": "ocid1.compartment.oc1..bbbb", "name": "n"}],
            "dueUntil": "2026-11-22T14:04:00Z", "sentAt": "2026-11-22T14:05:02Z", "sentBy": "x"}"#;
        assert!(matches!(
            WorkMessage::parse(future),
            Err(MessageError::Version { found: 4 })
        ));
        let bad_ocid = future
            .replace("\"version\": 4", "\"version\": 2")
            .replace("ocid1.compartment.oc1..bbbb", "nope");
        assert!(matches!(
            WorkMessage::parse(&bad_ocid),
            Err(MessageError::Malformed(_))
        ));
    }
}
