//! Delivery manifests: for every committed window, a small record of what was delivered and
//! how delivery was confirmed, kept beside the checkpoint for reconciliation and audits.

use auditfwd_oci::Window;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc;
use crate::error::StoreError;
use crate::keys::Scope;
use crate::store::{Etag, ObjectStore, WriteCondition};

/// Which pass over a window a manifest records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pass {
    /// The first listing, shortly after the window closed.
    Fresh,
    /// The second listing, after OCI's ingestion delay.
    Settle,
    /// An operator's replay.
    Replay,
}

impl Pass {
    /// The name used in keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Pass::Fresh => "fresh",
            Pass::Settle => "settle",
            Pass::Replay => "replay",
        }
    }
}

/// How the sink confirmed delivery, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// Every message acknowledged by the receiver (RELP `rsp 200`).
    ReceiverAck,
    /// Written and flushed on a healthy TLS or TCP connection (receipt not provable).
    Flushed,
    /// Sent as UDP datagrams (lossy by nature).
    Sent,
    /// Nothing to send: every listed event was deduplicated or filtered.
    NothingToSend,
}

/// The stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum ManifestDocument {
    /// Version 1.
    #[serde(rename = "1")]
    V1(DeliveryManifest),
}

/// What one pass over one window delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryManifest {
    /// The window.
    pub window: Window,
    /// Which pass.
    pub pass: Pass,
    /// Events OCI returned.
    pub listed: u64,
    /// Events forwarded and confirmed.
    pub forwarded: u64,
    /// Events already delivered earlier (dedupe).
    pub deduplicated: u64,
    /// Events removed by filters.
    pub filtered: u64,
    /// Events dropped by a drop-policy rate cap (counted, never silent).
    pub dropped: u64,
    /// Events first seen on this pass although the window had been listed before.
    pub late_arrivals: u64,
    /// Earliest forwarded `eventTime`.
    pub first_event_time: Option<DateTime<Utc>>,
    /// Latest forwarded `eventTime`.
    pub last_event_time: Option<DateTime<Utc>>,
    /// [`IdDigest`](crate::IdDigest) of the forwarded ids.
    pub forwarded_ids_digest: String,
    /// How delivery was confirmed.
    pub confirmation: Confirmation,
    /// When the window was committed.
    pub committed_at: DateTime<Utc>,
    /// Which runner committed it.
    pub committed_by: String,
}

/// Writes a window's manifest (a replayed or re-run pass replaces the earlier record).
pub async fn write<S: ObjectStore>(
    store: &S,
    scope: &Scope,
    manifest: &DeliveryManifest,
) -> Result<Etag, StoreError> {
    let key = scope.manifest_key(&manifest.window, manifest.pass)?;
    doc::write(
        store,
        &key,
        &ManifestDocument::V1(manifest.clone()),
        WriteCondition::Unconditional,
    )
    .await
}

/// Reads a window's manifest for one pass.
pub async fn read<S: ObjectStore>(
    store: &S,
    scope: &Scope,
    window: &Window,
    pass: Pass,
) -> Result<Option<DeliveryManifest>, StoreError> {
    Ok(
        doc::read::<ManifestDocument, _>(store, &scope.manifest_key(window, pass)?)
            .await?
            .map(|(ManifestDocument::V1(m), _)| m),
    )
}
