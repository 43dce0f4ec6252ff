//! What an operator does to the checkpoint by hand: accept gaps as lost (`auditfwd gaps ack`)
//! and start a shard whose state object is gone again (`auditfwd init --reset-shard`).
//!
//! A gap OCI can no longer serve (its events are past the Audit retention, or the compartment
//! is gone) is recorded as *lost*: it is never retried, and `status` and the
//! `auditfwd_gaps_lost_total` metric show it until someone accepts the loss. Accepting it
//! records who, when and why in the gap itself (the gap stays in the ledger as evidence);
//! `status` then lists it as acknowledged and stops counting it as needing attention.
//!
//! Both edit shard states with conditional writes and leave a shard alone while a runner
//! holds its lease (the runner's next write would otherwise conflict and re-send its work).

use std::collections::BTreeSet;

use auditfwd_checkpoint::layout::{self, Layout};
use auditfwd_checkpoint::shard::{self, ShardId, ShardState};
use auditfwd_checkpoint::state::Acknowledgement;
use auditfwd_checkpoint::{ObjectStore, StoreError};
use auditfwd_oci::{Ocid, Window};
use chrono::{DateTime, Utc};

/// Conditional-write attempts per shard before giving up on a busy one.
const ATTEMPTS: u32 = 3;

/// Which gaps to accept.
#[derive(Debug, Clone, Default)]
pub struct AckRequest {
    /// Regions (empty: all of them).
    pub regions: Vec<String>,
    /// Compartment OCIDs (empty: all of them).
    pub compartments: Vec<String>,
    /// Also give up on gaps that are not lost yet (OCI might still serve them).
    pub include_open: bool,
    /// Who accepts the loss.
    pub by: String,
    /// Why.
    pub note: String,
}

/// One gap accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Accepted {
    /// The region.
    pub region: String,
    /// The compartment OCID.
    pub compartment: String,
    /// The window.
    pub window: Window,
    /// Whether it was lost (else: open, given up).
    pub lost: bool,
    /// Why it was undelivered.
    pub reason: String,
}

/// What [`acknowledge`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AckReport {
    /// Gaps accepted now.
    pub accepted: Vec<Accepted>,
    /// Shards left alone because a runner held their lease (run again later).
    pub busy: Vec<String>,
}

/// Why the checkpoint could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The store failed.
    #[error("checkpoint store: {0}")]
    Store(#[from] StoreError),
    /// No layout: the tenancy was never run.
    #[error("no shard layout for tenancy {0}: nothing has run against this checkpoint yet")]
    NoLayout(Ocid),
    /// The shard named does not exist in the layout.
    #[error(
        "no shard {shard} in the layout of {shards} shards per region (expected NNNN-of-{shards:04}, for example 0003-of-{shards:04})"
    )]
    NoSuchShard {
        /// As given.
        shard: String,
        /// The layout's count.
        shards: u32,
    },
    /// The shard still has state: it is not reset.
    #[error("shard {0} has state; only a shard whose state object is missing is reset")]
    HasState(ShardId),
    /// A runner holds the shard's lease.
    #[error("a runner holds the lease of shard {0} until {1}; try again once it has finished")]
    Leased(ShardId, DateTime<Utc>),
}

impl EditError {
    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            EditError::Store(e) => e.is_retryable(),
            EditError::Leased(..) => true,
            EditError::NoLayout(_) | EditError::NoSuchShard { .. } | EditError::HasState(_) => {
                false
            }
        }
    }
}

async fn layout_of<S: ObjectStore>(store: &S, tenancy: &Ocid) -> Result<Layout, EditError> {
    layout::load(store, tenancy)
        .await?
        .ok_or_else(|| EditError::NoLayout(tenancy.clone()))
}

fn leased(state: &ShardState, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    state
        .lease
        .as_ref()
        .map(|l| l.expires_at)
        .filter(|until| *until > now)
}

/// Accepts the gaps `request` names in `regions` of `tenancy`.
pub async fn acknowledge<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    regions: &[String],
    request: &AckRequest,
    now: DateTime<Utc>,
) -> Result<AckReport, EditError> {
    let layout = layout_of(store, tenancy).await?;
    let wanted: BTreeSet<&str> = request.compartments.iter().map(String::as_str).collect();
    let mut report = AckReport::default();
    for region in regions
        .iter()
        .filter(|r| request.regions.is_empty() || request.regions.contains(r))
    {
        for index in 0..layout.shards {
            let id = ShardId {
                tenancy: tenancy.clone(),
                region: region.clone(),
                index,
                count: layout.shards,
            };
            let mut attempt = 0;
            loop {
                attempt += 1;
                let Some((mut state, etag)) = shard::load(store, &id).await? else {
                    break;
                };
                if leased(&state, now).is_some() {
                    report.busy.push(id.to_string());
                    break;
                }
                let mut accepted = Vec::new();
                for (compartment, cursor) in &mut state.compartments {
                    if !wanted.is_empty() && !wanted.contains(compartment.as_str()) {
                        continue;
                    }
                    for gap in cursor
                        .gaps
                        .iter_mut()
                        .filter(|g| g.acknowledged.is_none() && (g.lost || request.include_open))
                    {
                        gap.acknowledged = Some(Acknowledgement {
                            by: request.by.clone(),
                            at: now,
                            note: request.note.clone(),
                        });
                        accepted.push(Accepted {
                            region: region.clone(),
                            compartment: compartment.clone(),
                            window: gap.window,
                            lost: gap.lost,
                            reason: gap.reason.clone(),
                        });
                    }
                }
                if accepted.is_empty() {
                    break;
                }
                state.updated_at = Some(now);
                state.updated_by = format!("auditfwd gaps ack ({})", request.by);
                match shard::save(store, &id, &state, Some(&etag)).await {
                    Ok(_) => {
                        report.accepted.extend(accepted);
                        break;
                    }
                    Err(StoreError::PreconditionFailed { .. }) if attempt < ATTEMPTS => {}
                    Err(StoreError::PreconditionFailed { .. }) => {
                        report.busy.push(id.to_string());
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(report)
}

/// Parses `NNNN-of-NNNN` against the layout.
fn shard_named(
    layout: &Layout,
    tenancy: &Ocid,
    region: &str,
    name: &str,
) -> Result<ShardId, EditError> {
    let bad = || EditError::NoSuchShard {
        shard: name.to_owned(),
        shards: layout.shards,
    };
    let (index, count) = name.split_once("-of-").ok_or_else(bad)?;
    let (index, count): (u32, u32) = (
        index.parse().map_err(|_| bad())?,
        count.parse().map_err(|_| bad())?,
    );
    if count != layout.shards || index >= count {
        return Err(bad());
    }
    Ok(ShardId {
        tenancy: tenancy.clone(),
        region: region.to_owned(),
        index,
        count,
    })
}

/// Starts shard `name` (`NNNN-of-NNNN`) of `region` again after its state object was lost:
/// writes an empty state (only if none exists), so its compartments start at the initial
/// look-back on the next run instead of stopping with "checkpoint object ... is missing".
pub async fn reset_shard<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    region: &str,
    name: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ShardId, EditError> {
    let layout = layout_of(store, tenancy).await?;
    let id = shard_named(&layout, tenancy, region, name)?;
    if let Some((state, _)) = shard::load(store, &id).await? {
        return Err(match leased(&state, now) {
            Some(until) => EditError::Leased(id, until),
            None => EditError::HasState(id),
        });
    }
    let state = ShardState {
        updated_at: Some(now),
        updated_by: format!("auditfwd init --reset-shard ({by})"),
        ..ShardState::default()
    };
    shard::save(store, &id, &state, None).await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditfwd_checkpoint::MemoryStore;
    use auditfwd_checkpoint::shard::{CompartmentCursor, ShardLease};
    use auditfwd_checkpoint::state::Gap;
    use auditfwd_oci::MinuteTimestamp;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn tenancy() -> Ocid {
        Ocid::parse("ocid1.tenancy.oc1..aaaa").unwrap()
    }

    const A: &str = "ocid1.compartment.oc1..aaaa";
    const B: &str = "ocid1.compartment.oc1..bbbb";

    /// One shard holding A (a lost and an open gap) and B (a lost gap).
    async fn store() -> (MemoryStore, ShardId) {
        let store = MemoryStore::default();
        let now = t("2026-11-22T12:00:00Z");
        layout::create(&store, &tenancy(), &Layout::new(1, now))
            .await
            .unwrap();
        let id = ShardId::of(&tenancy(), "r1", A, 1);
        let w = |a: &str, b: &str| Window::parse(a, b).unwrap();
        let mut lost = Gap::new(
            w("2026-11-01T10:00:00Z", "2026-11-01T10:10:00Z"),
            "gone",
            now,
        );
        lost.lost = true;
        let open = Gap::new(
            w("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z"),
            "503",
            now,
        );
        let start = MinuteTimestamp::parse("2026-11-22T11:00:00Z").unwrap();
        let mut a = CompartmentCursor::starting_at(start);
        a.gaps = vec![lost.clone(), open];
        let mut b = CompartmentCursor::starting_at(start);
        b.gaps = vec![lost];
        let state = ShardState {
            compartments: [(A.to_owned(), a), (B.to_owned(), b)].into(),
            updated_at: Some(now),
            ..ShardState::default()
        };
        shard::save(&store, &id, &state, None).await.unwrap();
        (store, id)
    }

    fn request(compartments: &[&str], include_open: bool) -> AckRequest {
        AckRequest {
            regions: Vec::new(),
            compartments: compartments.iter().map(|c| (*c).to_owned()).collect(),
            include_open,
            by: "alice".into(),
            note: "past retention, accepted in INC-42".into(),
        }
    }

    #[tokio::test]
    async fn lost_gaps_are_accepted_once_with_who_and_why_and_open_ones_only_when_asked() {
        let (store, id) = store().await;
        let now = t("2026-11-22T12:30:00Z");
        let regions = ["r1".to_owned()];
        let r = acknowledge(&store, &tenancy(), &regions, &request(&[A], false), now)
            .await
            .unwrap();
        assert_eq!(r.accepted.len(), 1, "{r:?}");
        assert_eq!(r.accepted[0].compartment, A);
        assert!(r.accepted[0].lost);
        let (state, _) = shard::load(&store, &id).await.unwrap().unwrap();
        let ack = state.compartments[A].gaps[0].acknowledged.as_ref().unwrap();
        assert_eq!((ack.by.as_str(), ack.at), ("alice", now));
        assert_eq!(ack.note, "past retention, accepted in INC-42");
        assert!(
            state.compartments[A].gaps[1].acknowledged.is_none(),
            "open gap untouched"
        );
        assert!(
            state.compartments[B].gaps[0].acknowledged.is_none(),
            "B not named"
        );
        assert!(!state.compartments[A].gaps[0].needs_attention(now));

        // Again: nothing new. Everything, open gaps included: the other two.
        let again = acknowledge(&store, &tenancy(), &regions, &request(&[A], false), now)
            .await
            .unwrap();
        assert!(again.accepted.is_empty());
        let all = acknowledge(&store, &tenancy(), &regions, &request(&[], true), now)
            .await
            .unwrap();
        assert_eq!(all.accepted.len(), 2, "{all:?}");
    }

    #[tokio::test]
    async fn a_leased_shard_is_left_alone() {
        let (store, id) = store().await;
        let now = t("2026-11-22T12:30:00Z");
        let (mut state, etag) = shard::load(&store, &id).await.unwrap().unwrap();
        state.lease = Some(ShardLease {
            owner: "runner".into(),
            acquired_at: now,
            expires_at: t("2026-11-22T12:35:00Z"),
        });
        shard::save(&store, &id, &state, Some(&etag)).await.unwrap();
        let r = acknowledge(
            &store,
            &tenancy(),
            &["r1".to_owned()],
            &request(&[], false),
            now,
        )
        .await
        .unwrap();
        assert!(r.accepted.is_empty());
        assert_eq!(r.busy, vec![id.to_string()]);
    }

    #[tokio::test]
    async fn only_a_missing_shard_state_is_reset() {
        let (store, id) = store().await;
        let now = t("2026-11-22T12:30:00Z");
        let name = "0000-of-0001";
        assert!(matches!(
            reset_shard(&store, &tenancy(), "r1", name, "alice", now).await,
            Err(EditError::HasState(_))
        ));
        assert!(matches!(
            reset_shard(&store, &tenancy(), "r1", "0001-of-0001", "alice", now).await,
            Err(EditError::NoSuchShard { .. })
        ));
        store.delete(&id.state_key().unwrap(), None).await.unwrap();
        let reset = reset_shard(&store, &tenancy(), "r1", name, "alice", now)
            .await
            .unwrap();
        assert_eq!(reset, id);
        let (state, _) = shard::load(&store, &id).await.unwrap().unwrap();
        assert!(state.compartments.is_empty());
    }
}
