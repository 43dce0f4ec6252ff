//! The tenancy's layout: how many shards each region is cut into, which shards have written
//! state, and whether version-1 (per-compartment) state was migrated. Written when a tenancy is
//! first worked (or migrated), and again only when a shard writes its first state, so it costs
//! nothing per cycle. It is what makes a missing shard state an error rather than a fresh
//! start: a shard the layout says was created must have its state.
//!
//! The shard count is derived from the tenancy when the layout is written:
//! [`shards_for`] gives the next power of two of `compartments / 128`, so a large tenancy's
//! shards hold 64 to 128 compartments, and it stays fixed afterwards (compartments join and
//! leave their shard by hash; nothing moves).

use std::collections::BTreeSet;

use auditfwd_oci::Ocid;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc;
use crate::error::StoreError;
use crate::shard::ShardId;
use crate::store::{ObjectKey, ObjectStore, WriteCondition};

/// Compartments per shard the count is derived for (a shard then holds 64 to 128).
pub const COMPARTMENTS_PER_SHARD: usize = 128;

/// The shard count for a region with `compartments` compartments.
pub fn shards_for(compartments: usize) -> u32 {
    let wanted = compartments.div_ceil(COMPARTMENTS_PER_SHARD).max(1);
    u32::try_from(wanted.next_power_of_two()).unwrap_or(1 << 16)
}

/// The stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
enum LayoutDocument {
    #[serde(rename = "1")]
    V1(Layout),
}

/// A tenancy's layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Shards per region.
    pub shards: u32,
    /// Shards that have written state, as (region, index).
    #[serde(default)]
    pub created: BTreeSet<(String, u32)>,
    /// When version-1 per-compartment state was migrated into shards, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_from_v1: Option<DateTime<Utc>>,
    /// When the layout was first written.
    pub created_at: DateTime<Utc>,
}

impl Layout {
    /// A layout of `shards` shards per region, none created yet.
    pub fn new(shards: u32, now: DateTime<Utc>) -> Self {
        Layout {
            shards: shards.max(1),
            created: BTreeSet::new(),
            migrated_from_v1: None,
            created_at: now,
        }
    }

    /// The shard of `compartment` in `region`.
    pub fn shard_of(&self, tenancy: &Ocid, region: &str, compartment: &str) -> ShardId {
        ShardId::of(tenancy, region, compartment, self.shards)
    }

    /// Whether `shard` has written state (so missing state is lost state).
    pub fn has_created(&self, shard: &ShardId) -> bool {
        self.created.contains(&(shard.region.clone(), shard.index))
    }
}

fn key(tenancy: &Ocid) -> Result<ObjectKey, StoreError> {
    ObjectKey::new(format!("layout/{tenancy}.json"))
}

/// Reads the layout; `None` before the tenancy was first worked.
pub async fn load<S: ObjectStore>(store: &S, tenancy: &Ocid) -> Result<Option<Layout>, StoreError> {
    Ok(doc::read::<LayoutDocument, _>(store, &key(tenancy)?)
        .await?
        .map(|(LayoutDocument::V1(l), _)| l))
}

/// Writes a new layout unless one exists; returns the layout in force (this one, or the one
/// another runner wrote first).
pub async fn create<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    layout: &Layout,
) -> Result<Layout, StoreError> {
    let key = key(tenancy)?;
    match doc::write(
        store,
        &key,
        &LayoutDocument::V1(layout.clone()),
        WriteCondition::IfAbsent,
    )
    .await
    {
        Ok(_) => Ok(layout.clone()),
        Err(StoreError::PreconditionFailed { .. }) => {
            load(store, tenancy)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    key: key.to_string(),
                    reason: "the layout was created by another runner but cannot be read back"
                        .into(),
                })
        }
        Err(e) => Err(e),
    }
}

/// Records that `shard` has written state (once per shard, ever).
pub async fn mark_created<S: ObjectStore>(store: &S, shard: &ShardId) -> Result<(), StoreError> {
    let key = key(&shard.tenancy)?;
    let entry = (shard.region.clone(), shard.index);
    for _ in 0..5 {
        let Some((LayoutDocument::V1(mut layout), etag)) =
            doc::read::<LayoutDocument, _>(store, &key).await?
        else {
            return Err(StoreError::Corrupt {
                key: key.to_string(),
                reason: "the layout disappeared while a shard was being created".into(),
            });
        };
        if !layout.created.insert(entry.clone()) {
            return Ok(());
        }
        match doc::write(
            store,
            &key,
            &LayoutDocument::V1(layout),
            WriteCondition::IfMatch(etag),
        )
        .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::PreconditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::PreconditionFailed {
        key: key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_hold_64_to_128_compartments_once_the_tenancy_is_large() {
        assert_eq!(shards_for(0), 1);
        assert_eq!(shards_for(20), 1);
        assert_eq!(shards_for(128), 1);
        assert_eq!(shards_for(129), 2);
        assert_eq!(shards_for(500), 4);
        assert_eq!(shards_for(2000), 16);
        assert_eq!(shards_for(5000), 64);
        for n in [1000usize, 3000, 5000, 9000, 20_000] {
            let per = n as f64 / f64::from(shards_for(n));
            assert!((64.0..=128.0).contains(&per), "{n}: {per}");
        }
    }
}
