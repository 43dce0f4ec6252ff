//! Shard manifests: what one shard cycle (or one busy window of it) committed, one object per
//! commit that listed anything, written just before the shard state that makes it durable.
//!
//! A manifest lists each compartment range committed, with its counts and how delivery was
//! confirmed, and the forwarded events **per aligned window** (`AUDITFWD_MAX_WINDOW`, bucketed
//! by `eventTime`) with an order-independent digest of their ids. Every id is forwarded live
//! once, so the per-window digests summed over all manifests equal what the live run delivered
//! for that window, whichever listings delivered it: replay reconciliation compares against
//! that sum, and windows line up run after run.
//!
//! Keys are `shard-manifests/<shard>/<committed_at>-<owner>-<seq>.json`; `committed_at` first,
//! so a time range is a key range.

use std::collections::BTreeMap;

use auditfwd_oci::Window;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::counts::Counts;
use crate::doc;
use crate::error::StoreError;
use crate::ids::IdDigest;
use crate::manifest::Confirmation;
use crate::shard::ShardId;
use crate::store::{ObjectKey, ObjectStore, WriteCondition};

const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// The stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
enum ShardManifestDocument {
    #[serde(rename = "2")]
    V2(ShardManifest),
}

/// One commit of a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// The shard.
    pub shard: ShardId,
    /// When it was committed.
    pub committed_at: DateTime<Utc>,
    /// Which runner committed it.
    pub committed_by: String,
    /// What it committed, per listed range.
    pub ranges: Vec<RangeRecord>,
}

/// One compartment range listed and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeRecord {
    /// The compartment OCID.
    pub compartment: String,
    /// The range listed.
    pub range: Window,
    /// The compartment's `delivered_until` before the listing: the part of `range` before it
    /// was a re-listing (a settle pass, or a gap), the part after it a first listing.
    pub delivered_before: auditfwd_oci::MinuteTimestamp,
    /// What happened to the events listed.
    #[serde(flatten)]
    pub counts: Counts,
    /// How delivery was confirmed.
    pub confirmation: Confirmation,
    /// Earliest forwarded `eventTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event_time: Option<DateTime<Utc>>,
    /// Latest forwarded `eventTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<DateTime<Utc>>,
    /// Forwarded events per aligned window of their `eventTime`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowTally>,
}

/// Events forwarded whose `eventTime` falls in one aligned window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTally {
    /// The aligned window.
    pub window: Window,
    /// How many.
    pub forwarded: u64,
    /// [`IdDigest`] of their ids (hex).
    pub digest: String,
}

/// Per aligned window: forwarded count and id digest, as a listing accumulates them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tallies(BTreeMap<Window, (u64, IdDigest)>);

impl Tallies {
    /// Adds one forwarded id to `window`.
    pub fn add(&mut self, window: Window, id: &crate::ids::IdHash) {
        let entry = self.0.entry(window).or_default();
        entry.0 += 1;
        entry.1.add_hash(id);
    }

    /// The tallies, by window.
    pub fn into_records(self) -> Vec<WindowTally> {
        self.0
            .into_iter()
            .map(|(window, (forwarded, digest))| WindowTally {
                window,
                forwarded,
                digest: digest.to_hex(),
            })
            .collect()
    }
}

fn key(shard: &ShardId, at: DateTime<Utc>, owner: &str, seq: u32) -> Result<ObjectKey, StoreError> {
    let owner: String = owner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    ObjectKey::new(format!(
        "{}{}-{owner}-{seq:04}.json",
        shard.manifest_prefix(),
        at.format(TIME_FORMAT)
    ))
}

/// Writes a shard manifest (`seq` tells apart the commits of one cycle).
pub async fn write<S: ObjectStore>(
    store: &S,
    manifest: &ShardManifest,
    seq: u32,
) -> Result<(), StoreError> {
    let key = key(
        &manifest.shard,
        manifest.committed_at,
        &manifest.committed_by,
        seq,
    )?;
    doc::write(
        store,
        &key,
        &ShardManifestDocument::V2(manifest.clone()),
        WriteCondition::Unconditional,
    )
    .await
    .map(|_| ())
}

/// Every manifest of `shard` committed in `[from, to)`, oldest first.
pub async fn list<S: ObjectStore>(
    store: &S,
    shard: &ShardId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ShardManifest>, StoreError> {
    let prefix = shard.manifest_prefix();
    let start_after = format!("{prefix}{}", from.format(TIME_FORMAT));
    let mut found = Vec::new();
    for key in store.list(&prefix, Some(&start_after)).await? {
        let Some(at) = key
            .as_str()
            .strip_prefix(&prefix)
            .and_then(|name| name.split('-').next())
            .and_then(|t| NaiveDateTime::parse_from_str(t, TIME_FORMAT).ok())
            .map(|t| t.and_utc())
        else {
            tracing::warn!(key = %key, "not a shard manifest key; skipped");
            continue;
        };
        if at >= to {
            break;
        }
        if at < from {
            continue;
        }
        if let Some((ShardManifestDocument::V2(m), _)) =
            doc::read::<ShardManifestDocument, _>(store, &key).await?
        {
            found.push(m);
        }
    }
    found.sort_by_key(|m| m.committed_at);
    Ok(found)
}
