//! Delivery manifests: for every committed window, a small record of what was delivered and
//! how delivery was confirmed, kept beside the checkpoint for reconciliation and audits.
//!
//! [`list`] finds the manifests of a time range by listing keys: a manifest's key starts with
//! its window's start (`<YYYYmmddTHHMMZ>_<YYYYmmddTHHMMZ>.<pass>.json`), which sorts as time
//! does, so a range is a key range.

use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::counts::Counts;
use crate::doc;
use crate::error::StoreError;
use crate::keys::Scope;
use crate::store::{Etag, ObjectStore, WriteCondition};

/// How far before `from` [`list`] looks for manifests whose window began earlier but still
/// overlaps `from`: the longest window a manifest can have. Windows are at most
/// `AUDITFWD_MAX_WINDOW` long, but the configuration sets no upper bound on that setting
/// (`WindowPolicy::validate` only refuses zero), so one day is assumed: a manifest of a window
/// longer than a day that starts more than a day before `from` is not found.
pub const LIST_LOOK_BEHIND_MINUTES: i64 = 24 * 60;

/// Which pass over a window a manifest records, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// TCP or TLS: every byte acknowledged by the receiver's TCP stack, on a connection still
    /// open afterwards (that the receiver's application processed them is not provable).
    /// Manifests written before this was proven say `flushed`.
    #[serde(alias = "flushed")]
    TcpAcked,
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
    /// What happened to the events listed (stored flat: `listed`, `forwarded`, ...).
    #[serde(flatten)]
    pub counts: Counts,
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

/// Every manifest of `scope` whose window overlaps `[from, to)`, every pass, sorted by window
/// start, then pass (fresh, settle, replay), then window end.
///
/// The listing starts at the key of `from` minus [`LIST_LOOK_BEHIND_MINUTES`] (so a year of
/// manifests is never listed whole), is confined to the longest key prefix the range shares
/// (a range within one day lists at most that day), and the keys are read only until one
/// starts at or after `to`. Keys that do not parse as manifest keys are skipped with a warning;
/// a manifest deleted between listing and reading is skipped; an unreadable manifest is an
/// error ([`StoreError::Corrupt`]), as for [`read`].
pub async fn list<S: ObjectStore>(
    store: &S,
    scope: &Scope,
    from: MinuteTimestamp,
    to: MinuteTimestamp,
) -> Result<Vec<DeliveryManifest>, StoreError> {
    if to <= from {
        return Ok(Vec::new());
    }
    let look_behind = from.plus_minutes(-LIST_LOOK_BEHIND_MINUTES).unwrap_or(from);
    let (dir, lower) = key_start(scope, look_behind)?;
    let (_, upper) = key_start(scope, to)?;
    // Keys of windows starting in [look_behind, to) all share the bounds' common prefix, as long
    // as both bounds have the same length (four-digit years).
    let prefix = if lower.len() == upper.len() {
        let common = lower
            .char_indices()
            .zip(upper.chars())
            .find(|((_, a), b)| a != b)
            .map_or(lower.len(), |((i, _), _)| i);
        lower.get(..common).unwrap_or(dir.as_str())
    } else {
        dir.as_str()
    };
    let keys = store.list(prefix, Some(&lower)).await?;
    let mut found = Vec::new();
    for key in keys {
        if key.as_str() >= upper.as_str() {
            break;
        }
        let Some((start, end, pass)) = key
            .as_str()
            .strip_prefix(dir.as_str())
            .and_then(parse_manifest_name)
        else {
            tracing::warn!(key = %key, "not a manifest key; skipped");
            continue;
        };
        if end <= from.as_datetime() || start >= to.as_datetime() {
            continue;
        }
        match doc::read::<ManifestDocument, _>(store, &key).await? {
            Some((ManifestDocument::V1(m), _)) => {
                if m.pass != pass || m.window.start().as_datetime() != start {
                    tracing::warn!(key = %key, window = %m.window, pass = m.pass.as_str(), "manifest does not match its key; listed as its content says");
                }
                found.push(m);
            }
            None => tracing::debug!(key = %key, "manifest deleted while listing"),
        }
    }
    found.sort_by_key(|m| (m.window.start(), m.pass, m.window.end()));
    Ok(found)
}

/// The manifest directory of `scope` (`manifests/<tenancy>/<region>/<compartment>/`) and the
/// key prefix of every manifest whose window starts at `at` (that directory plus the start).
/// Both come from [`Scope::manifest_key`], so the key layout is defined in one place.
fn key_start(scope: &Scope, at: MinuteTimestamp) -> Result<(String, String), StoreError> {
    let invalid = || StoreError::InvalidKey(format!("manifest key for {scope} at {at}"));
    let one_minute = at
        .plus_minutes(1)
        .and_then(|end| Window::new(at, end))
        .map_err(|_| invalid())?;
    let key = scope.manifest_key(&one_minute, Pass::Fresh)?;
    let (dir, name) = key.as_str().rsplit_once('/').ok_or_else(invalid)?;
    let (start, _) = name.split_once('_').ok_or_else(invalid)?;
    Ok((format!("{dir}/"), format!("{dir}/{start}")))
}

/// Parses `<YYYYmmddTHHMMZ>_<YYYYmmddTHHMMZ>.<pass>.json` into the window bounds and the pass.
fn parse_manifest_name(name: &str) -> Option<(DateTime<Utc>, DateTime<Utc>, Pass)> {
    let stem = name.strip_suffix(".json")?;
    let (window, pass) = stem.rsplit_once('.')?;
    let pass = match pass {
        "fresh" => Pass::Fresh,
        "settle" => Pass::Settle,
        "replay" => Pass::Replay,
        _ => return None,
    };
    let (start, end) = window.split_once('_')?;
    let time = |s: &str| {
        NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%MZ")
            .ok()
            .map(|t| t.and_utc())
    };
    let (start, end) = (time(start)?, time(end)?);
    (start < end).then_some((start, end, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_parse_back_into_window_and_pass() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            parse_manifest_name("20261122T1000Z_20261122T1005Z.settle.json"),
            Some((
                t("2026-11-22T10:00:00Z"),
                t("2026-11-22T10:05:00Z"),
                Pass::Settle
            ))
        );
        for bad in [
            "20261122T1000Z_20261122T1005Z.later.json",
            "20261122T1000Z_20261122T1005Z.fresh",
            "20261122T1005Z_20261122T1000Z.fresh.json",
            "20261122T1000Z.fresh.json",
            "notes.json",
        ] {
            assert_eq!(parse_manifest_name(bad), None, "{bad}");
        }
    }
}
