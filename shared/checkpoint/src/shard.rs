//! Shard state: the delivery progress of a group of compartments of one region, with the lease
//! of the runner working on them, in **one** conditionally written object. A shard cycle costs
//! one read, one lease write and one commit write (plus a manifest when anything was listed)
//! whatever the number of compartments in it, which is what keeps object-store cost per
//! compartment near zero in a large tenancy (docs/design/scale.md).
//!
//! Per compartment the state keeps two cursors, the ids listed recently, and the gap ledger:
//!
//! - `delivered_until`: every minute before it has been listed at least once;
//! - `settled_until`: every minute before it has also been listed once at least the settle lag
//!   after it ended (its settle pass); never past `delivered_until`;
//! - `recent`: the ids each listing returned, kept while a later live listing can return them
//!   again (until `settled_until` passes the listing's end), so nothing is sent twice across
//!   passes, restarts and runners;
//! - the gap ledger and the failing range, as in the per-compartment state of version 1.
//!
//! Stored versioned (`{"version": "2", ...}`); version 1 (one object per compartment) is
//! migrated by [`crate::migrate`].

use std::collections::BTreeMap;
use std::time::Duration;

use auditfwd_oci::{MinuteTimestamp, Ocid, Window};
use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::doc;
use crate::error::StoreError;
use crate::ids::EventIdSet;
use crate::state::{Gap, LastError};
use crate::store::{Etag, ObjectKey, ObjectStore, WriteCondition};

/// One shard: a region of a tenancy, and which of its `count` hash buckets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShardId {
    /// The tenancy.
    pub tenancy: Ocid,
    /// The region id.
    pub region: String,
    /// The bucket, `0..count`.
    pub index: u32,
    /// How many shards the region has (the layout's count).
    pub count: u32,
}

impl ShardId {
    /// The shard `compartment` belongs to when the region has `count` shards: the first eight
    /// bytes of the SHA-256 of its OCID, modulo `count`, so membership never needs storing and
    /// is the same in every process.
    pub fn of(tenancy: &Ocid, region: &str, compartment: &str, count: u32) -> Self {
        let digest = Sha256::digest(compartment.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let count = count.max(1);
        let index = u32::try_from(u64::from_be_bytes(first) % u64::from(count)).unwrap_or(0);
        ShardId {
            tenancy: tenancy.clone(),
            region: region.to_owned(),
            index,
            count,
        }
    }

    fn base(&self) -> String {
        format!(
            "{}/{}/{:04}-of-{:04}",
            self.tenancy, self.region, self.index, self.count
        )
    }

    /// The shard state's key.
    pub fn state_key(&self) -> Result<ObjectKey, StoreError> {
        ObjectKey::new(format!("shards/{}.json", self.base()))
    }

    /// The prefix of the shard's manifests (each named by its commit time, so keys sort by
    /// time).
    pub fn manifest_prefix(&self) -> String {
        format!("shard-manifests/{}/", self.base())
    }
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/shard {} of {}", self.region, self.index, self.count)
    }
}

/// The stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum ShardDocument {
    /// Version 2 (version 1 was one document per compartment, see [`crate::state`]).
    #[serde(rename = "2")]
    V2(ShardState),
}

/// [`ShardDocument`], borrowed: written without a copy of the state (a busy shard's id sets
/// are megabytes, and it is written after every busy window).
#[derive(Serialize)]
#[serde(tag = "version")]
enum ShardDocumentRef<'a> {
    #[serde(rename = "2")]
    V2(&'a ShardState),
}

/// Who works on a shard, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardLease {
    /// The runner.
    pub owner: String,
    /// When it took the lease.
    pub acquired_at: DateTime<Utc>,
    /// When the lease lapses unless renewed (any write by its holder renews it).
    pub expires_at: DateTime<Utc>,
}

/// The delivery progress of every compartment of a shard that has been worked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShardState {
    /// The runner working on the shard, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<ShardLease>,
    /// Per compartment OCID.
    #[serde(default)]
    pub compartments: BTreeMap<String, CompartmentCursor>,
    /// When this version was written.
    pub updated_at: Option<DateTime<Utc>>,
    /// Which runner wrote it.
    #[serde(default)]
    pub updated_by: String,
}

/// Ids a listing of `[.., until)` returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdBucket {
    /// The end of the listing; every id in it was selected by a time before this.
    pub until: MinuteTimestamp,
    /// The ids.
    pub ids: EventIdSet,
}

/// One compartment's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompartmentCursor {
    /// Every minute before it has been listed at least once.
    pub delivered_until: MinuteTimestamp,
    /// Every minute before it has had its settle pass; at most `delivered_until`.
    pub settled_until: MinuteTimestamp,
    /// Ids listed by recent listings, kept while a live listing can return them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<IdBucket>,
    /// The gap ledger: ranges the cursors moved past without delivering them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// The range at the cursor whose listing keeps failing with errors that may pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<Gap>,
    /// The most recent failure, for status displays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// The last combined (settle and fresh) listing paged: list the two ranges separately, so
    /// a busy compartment does not re-read its settle span every cycle.
    #[serde(default, skip_serializing_if = "is_false")]
    pub busy: bool,
    /// Events forwarded per hour over the last day, for `status`.
    #[serde(default, skip_serializing_if = "HourlyCounts::is_empty")]
    pub forwarded: HourlyCounts,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl CompartmentCursor {
    /// A compartment seen for the first time, starting at `start`.
    pub fn starting_at(start: MinuteTimestamp) -> Self {
        CompartmentCursor {
            delivered_until: start,
            settled_until: start,
            recent: Vec::new(),
            gaps: Vec::new(),
            failing: None,
            last_error: None,
            busy: false,
            forwarded: HourlyCounts::default(),
        }
    }

    /// Whether `id` was listed by a listing still remembered.
    pub fn has_listed(&self, id: &crate::ids::IdHash) -> bool {
        self.recent.iter().any(|b| b.ids.contains_hash(id))
    }

    /// Every id still remembered, in one set (what a gap made of these minutes must not send
    /// again).
    pub fn remembered(&self) -> EventIdSet {
        let mut all = EventIdSet::new();
        for b in &self.recent {
            all.extend(&b.ids);
        }
        all
    }

    /// Records a listing of `listed` (`[a, b)`) that started at `started`, with the ids it
    /// returned: the cursors move as far as the listing proves (`settled_until` only up to the
    /// minutes that had ended `settle_lag` before it started), and ids no live listing can
    /// return any more are forgotten.
    pub fn listed(
        &mut self,
        listed: Window,
        started: DateTime<Utc>,
        settle_lag: Duration,
        ids: EventIdSet,
    ) {
        let (a, b) = (listed.start(), listed.end());
        if a <= self.delivered_until && b > self.delivered_until {
            self.delivered_until = b;
        }
        let settled_by = chrono::Duration::from_std(settle_lag)
            .ok()
            .and_then(|lag| started.checked_sub_signed(lag))
            .map(MinuteTimestamp::floor)
            .unwrap_or(a);
        let settles_to = b.min(settled_by);
        if a <= self.settled_until && settles_to > self.settled_until {
            self.settled_until = settles_to.min(self.delivered_until);
        }
        if !ids.is_empty() {
            match self.recent.iter_mut().find(|bucket| bucket.until == b) {
                Some(bucket) => bucket.ids.extend(&ids),
                None => self.recent.push(IdBucket { until: b, ids }),
            }
        }
        let settled = self.settled_until;
        self.recent.retain(|bucket| bucket.until > settled);
    }

    /// Moves both cursors to `to` without listing (the range went to the gap ledger).
    pub fn skip_to(&mut self, to: MinuteTimestamp) {
        self.delivered_until = self.delivered_until.max(to);
        self.settled_until = self.settled_until.max(to);
        let settled = self.settled_until;
        self.recent.retain(|bucket| bucket.until > settled);
    }

    /// Gap-ledger entries that still need delivering now (not lost, not acknowledged, not
    /// waiting for their settle time).
    pub fn open_gaps(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Gap> {
        self.gaps.iter().filter(move |g| g.is_open(now))
    }
}

/// Forwarded events per hour for the last 24 hours (a ring keyed by the hour).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HourlyCounts(BTreeMap<DateTime<Utc>, u64>);

impl HourlyCounts {
    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `n` events forwarded at `at`, forgetting hours older than a day.
    pub fn add(&mut self, at: DateTime<Utc>, n: u64) {
        let hour = at
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(at);
        if n > 0 {
            *self.0.entry(hour).or_default() += n;
        }
        let day_ago = hour - chrono::Duration::hours(24);
        self.0.retain(|h, _| *h > day_ago);
    }

    /// Events forwarded in the 24 hours before `now`.
    pub fn last_day(&self, now: DateTime<Utc>) -> u64 {
        let from = now - chrono::Duration::hours(24);
        self.0
            .iter()
            .filter(|(h, _)| **h > from - chrono::Duration::hours(1))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Reads a shard's state; `None` when it has none yet.
pub async fn load<S: ObjectStore>(
    store: &S,
    shard: &ShardId,
) -> Result<Option<(ShardState, Etag)>, StoreError> {
    Ok(doc::read::<ShardDocument, _>(store, &shard.state_key()?)
        .await?
        .map(|(ShardDocument::V2(s), e)| (s, e)))
}

/// Writes a shard's state over the version `expected` (or only if none exists, when
/// `expected` is `None`). A lost race is [`StoreError::PreconditionFailed`].
pub async fn save<S: ObjectStore>(
    store: &S,
    shard: &ShardId,
    state: &ShardState,
    expected: Option<&Etag>,
) -> Result<Etag, StoreError> {
    save_sized(store, shard, state, expected, &mut 0).await
}

/// [`save`] for a runner that saves the same shard again and again: `size` is the length of
/// the last version it wrote, updated to this one's ([`doc::write_sized`]).
pub async fn save_sized<S: ObjectStore>(
    store: &S,
    shard: &ShardId,
    state: &ShardState,
    expected: Option<&Etag>,
    size: &mut usize,
) -> Result<Etag, StoreError> {
    doc::write_sized(
        store,
        &shard.state_key()?,
        &ShardDocumentRef::V2(state),
        WriteCondition::over(expected),
        size,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> MinuteTimestamp {
        MinuteTimestamp::parse(s).unwrap()
    }

    fn w(a: &str, b: &str) -> Window {
        Window::new(m(a), m(b)).unwrap()
    }

    fn ids(list: &[&str]) -> EventIdSet {
        let mut s = EventIdSet::new();
        for id in list {
            s.insert(id);
        }
        s
    }

    const LAG: Duration = Duration::from_secs(20 * 60);

    #[test]
    fn the_borrowed_document_is_written_exactly_as_the_owned_one_reads() {
        let mut state = ShardState {
            updated_by: "runner-1".into(),
            ..ShardState::default()
        };
        let mut c = CompartmentCursor::starting_at(m("2026-11-22T09:00:00Z"));
        c.listed(
            w("2026-11-22T09:00:00Z", "2026-11-22T10:00:00Z"),
            "2026-11-22T10:01:10Z".parse().unwrap(),
            LAG,
            ids(&["a", "b"]),
        );
        state
            .compartments
            .insert("ocid1.compartment.oc1..x".into(), c);
        let borrowed = serde_json::to_vec(&ShardDocumentRef::V2(&state)).unwrap();
        let owned = serde_json::to_vec(&ShardDocument::V2(state.clone())).unwrap();
        assert_eq!(borrowed, owned);
        let ShardDocument::V2(read) = serde_json::from_slice(&borrowed).unwrap();
        assert_eq!(read, state);
    }

    #[test]
    fn a_combined_listing_is_the_settle_pass_of_old_minutes_and_the_fresh_pass_of_new_ones() {
        let mut c = CompartmentCursor::starting_at(m("2026-11-22T09:00:00Z"));
        // The first look-back, listed at 10:01: 09:00-09:41 are settled at once.
        let started = "2026-11-22T10:01:10Z".parse().unwrap();
        c.listed(
            w("2026-11-22T09:00:00Z", "2026-11-22T10:00:00Z"),
            started,
            LAG,
            ids(&["a"]),
        );
        assert_eq!(c.delivered_until, m("2026-11-22T10:00:00Z"));
        assert_eq!(c.settled_until, m("2026-11-22T09:41:00Z"));
        assert!(c.has_listed(&crate::ids::IdHash::of("a")));
        // A minute later: [09:41, 10:01) settles 09:41-09:42 and freshly lists 10:00-10:01.
        let started = "2026-11-22T10:02:10Z".parse().unwrap();
        c.listed(
            w("2026-11-22T09:41:00Z", "2026-11-22T10:01:00Z"),
            started,
            LAG,
            ids(&["b"]),
        );
        assert_eq!(c.delivered_until, m("2026-11-22T10:01:00Z"));
        assert_eq!(c.settled_until, m("2026-11-22T09:42:00Z"));
        // Twenty minutes on, the first listing's ids can no longer be listed live: forgotten.
        let started = "2026-11-22T10:21:10Z".parse().unwrap();
        c.listed(
            w("2026-11-22T09:42:00Z", "2026-11-22T10:20:00Z"),
            started,
            LAG,
            ids(&[]),
        );
        assert_eq!(c.settled_until, m("2026-11-22T10:01:00Z"));
        assert!(!c.has_listed(&crate::ids::IdHash::of("a")));
        assert!(
            !c.has_listed(&crate::ids::IdHash::of("b")),
            "bucket until 10:01 is settled"
        );
    }

    #[test]
    fn a_listing_that_does_not_start_at_a_cursor_moves_neither() {
        let mut c = CompartmentCursor::starting_at(m("2026-11-22T09:00:00Z"));
        let started = "2026-11-22T12:00:00Z".parse().unwrap();
        // A gap being delivered far behind: the cursors are elsewhere.
        c.delivered_until = m("2026-11-22T11:00:00Z");
        c.settled_until = m("2026-11-22T10:30:00Z");
        c.listed(
            w("2026-11-22T08:00:00Z", "2026-11-22T08:10:00Z"),
            started,
            LAG,
            ids(&[]),
        );
        assert_eq!(c.delivered_until, m("2026-11-22T11:00:00Z"));
        assert_eq!(c.settled_until, m("2026-11-22T10:30:00Z"));
    }

    #[test]
    fn settled_never_passes_delivered() {
        let mut c = CompartmentCursor::starting_at(m("2026-11-22T09:00:00Z"));
        c.delivered_until = m("2026-11-22T09:30:00Z");
        let started = "2026-11-22T12:00:00Z".parse().unwrap();
        // The settle part alone, listed long after: it may not claim minutes never listed.
        c.listed(
            w("2026-11-22T09:00:00Z", "2026-11-22T09:20:00Z"),
            started,
            LAG,
            ids(&[]),
        );
        assert_eq!(c.settled_until, m("2026-11-22T09:20:00Z"));
        assert!(c.settled_until <= c.delivered_until);
    }

    #[test]
    fn every_compartment_has_one_stable_shard() {
        let tenancy = Ocid::parse("ocid1.tenancy.oc1..aaaaaaaatenancy").unwrap();
        let mut sizes = [0u32; 8];
        for i in 0..4000 {
            let c = format!("ocid1.compartment.oc1..aaaa{i:06}");
            let s = ShardId::of(&tenancy, "us-ashburn-1", &c, 8);
            assert_eq!(s, ShardId::of(&tenancy, "us-ashburn-1", &c, 8));
            sizes[s.index as usize] += 1;
        }
        // Spread evenly enough: every shard within 20% of 500.
        assert!(sizes.iter().all(|n| (400..=600).contains(n)), "{sizes:?}");
    }

    #[test]
    fn hourly_counts_keep_a_day() {
        let mut h = HourlyCounts::default();
        let t0: DateTime<Utc> = "2026-11-22T10:15:00Z".parse().unwrap();
        h.add(t0, 5);
        h.add(t0 + chrono::Duration::minutes(10), 2);
        h.add(t0 + chrono::Duration::hours(3), 1);
        assert_eq!(h.last_day(t0 + chrono::Duration::hours(3)), 8);
        h.add(t0 + chrono::Duration::hours(25), 0);
        assert_eq!(h.last_day(t0 + chrono::Duration::hours(25)), 1);
    }
}
