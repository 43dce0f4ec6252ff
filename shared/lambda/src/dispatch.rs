//! Back-pressure for the fan-out: at most one live message per shard waits in the work queue.
//!
//! Without it the poller enqueues every shard every run, and when the workers fall behind
//! the queue grows by a full tenancy per minute (issue 13 measured 218,000 messages an hour
//! at 5,000 compartments). Instead the poller keeps one small document per tenancy,
//! `dispatch/<tenancy>.json`, with when it last sent each shard, and reads each shard's state
//! (which it needs for freshness anyway). A shard is sent again only when
//!
//! - its state was written since the last message (a worker worked it: the message is
//!   consumed), or
//! - the last message is older than [`RESEND_AFTER`] (lost, in the dead-letter queue, or
//!   stuck behind a long backlog: one more message is then cheap insurance), or
//! - it was never sent;
//!
//! and never while another runner holds the shard's lease (it is being worked now).
//!
//! Cost per poll: one GET and one PUT of this document, one GET per shard. Nothing is lost
//! when the document is lost or stale: the worst case is one duplicate message per shard,
//! which the worker finds with less (or nothing) to do.

use std::collections::BTreeMap;
use std::time::Duration;

use auditfwd_checkpoint::StoreError;
use auditfwd_checkpoint::doc;
use auditfwd_checkpoint::shard::{ShardId, ShardState};
use auditfwd_checkpoint::store::{ObjectKey, ObjectStore, WriteCondition};
use auditfwd_oci::Ocid;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long a message may wait unworked before its shard is sent again.
pub const RESEND_AFTER: Duration = Duration::from_secs(3600);

/// When each shard was last sent, per tenancy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchRecord {
    /// Format version (1).
    pub version: u32,
    /// Per shard key (`<region>/NNNN-of-NNNN`): when its last live message was sent.
    pub sent: BTreeMap<String, DateTime<Utc>>,
}

/// Whether to send a shard now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send a live message.
    Send,
    /// Another runner holds the shard's lease until then.
    Leased(DateTime<Utc>),
    /// The message sent then has not been worked yet.
    Queued(DateTime<Utc>),
}

/// The record's key for `shard` (stable across runs).
pub fn shard_key(shard: &ShardId) -> String {
    format!("{}/{:04}-of-{:04}", shard.region, shard.index, shard.count)
}

fn record_key(tenancy: &Ocid) -> Result<ObjectKey, StoreError> {
    ObjectKey::new(format!("dispatch/{tenancy}.json"))
}

/// What to do with a shard last sent at `sent` whose state is `state`.
pub fn decide(
    sent: Option<DateTime<Utc>>,
    state: Option<&ShardState>,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(lease) = state.and_then(|s| s.lease.as_ref())
        && lease.expires_at > now
    {
        return Decision::Leased(lease.expires_at);
    }
    let Some(sent) = sent else {
        return Decision::Send;
    };
    let worked_since = state
        .and_then(|s| s.updated_at)
        .is_some_and(|updated| updated >= sent);
    let resend = chrono::Duration::from_std(RESEND_AFTER).unwrap_or(chrono::Duration::MAX);
    if worked_since || now - sent >= resend {
        Decision::Send
    } else {
        Decision::Queued(sent)
    }
}

/// Reads the tenancy's record; a missing or unreadable one is empty (logged): the cost is
/// one extra message per shard, never a skipped one.
pub async fn load<S: ObjectStore>(store: &S, tenancy: &Ocid) -> DispatchRecord {
    let read = match record_key(tenancy) {
        Ok(key) => doc::read::<DispatchRecord, _>(store, &key).await,
        Err(e) => Err(e),
    };
    match read {
        Ok(Some((r, _))) => r,
        Ok(None) => DispatchRecord::default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the dispatch record: every shard is sent");
            DispatchRecord::default()
        }
    }
}

/// Writes the tenancy's record (last writer wins: two pollers at once only send a shard twice).
pub async fn save<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    record: &DispatchRecord,
) -> Result<(), StoreError> {
    let record = DispatchRecord {
        version: 1,
        ..record.clone()
    };
    doc::write(
        store,
        &record_key(tenancy)?,
        &record,
        WriteCondition::Unconditional,
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditfwd_checkpoint::shard::ShardLease;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .to_utc()
            + chrono::Duration::minutes(minute)
    }

    fn state(updated: i64, lease_until: Option<i64>) -> ShardState {
        ShardState {
            lease: lease_until.map(|u| ShardLease {
                owner: "worker".into(),
                acquired_at: at(updated),
                expires_at: at(u),
            }),
            updated_at: Some(at(updated)),
            ..ShardState::default()
        }
    }

    #[test]
    fn a_shard_is_sent_once_until_a_worker_has_worked_it() {
        // Never sent, no state yet: send.
        assert_eq!(decide(None, None, at(0)), Decision::Send);
        // Sent at minute 1, not worked since: wait, minute after minute.
        for now in [2, 10, 59] {
            assert_eq!(
                decide(Some(at(1)), Some(&state(0, None)), at(now)),
                Decision::Queued(at(1))
            );
        }
        assert_eq!(decide(Some(at(1)), None, at(5)), Decision::Queued(at(1)));
        // Worked at minute 3: send the next cycle.
        assert_eq!(
            decide(Some(at(1)), Some(&state(3, None)), at(4)),
            Decision::Send
        );
        // Never worked, but the message is an hour old: send one more.
        assert_eq!(
            decide(Some(at(1)), Some(&state(0, None)), at(61)),
            Decision::Send
        );
    }

    #[test]
    fn a_shard_leased_elsewhere_is_not_sent_until_the_lease_lapses() {
        let leased = state(3, Some(8));
        assert_eq!(
            decide(Some(at(1)), Some(&leased), at(4)),
            Decision::Leased(at(8))
        );
        assert_eq!(decide(None, Some(&leased), at(4)), Decision::Leased(at(8)));
        // Lapsed (its holder died): the state was written after the message, so send.
        assert_eq!(decide(Some(at(1)), Some(&leased), at(9)), Decision::Send);
    }
}
