//! The compartments a tenancy had at the last cycle, so one that disappears from the tree (deleted,
//! moved out of reach, or hidden by a policy change) is reported instead of silently dropped,
//! and one seen for the first time is announced. One document per tenancy:
//! `index/<tenancy>.json`, updated with a conditional write (merged and retried on a lost race),
//! and only when something changed: a steady tenancy costs one read per cycle, no write.
//!
//! It also keeps the last compartment-tree failure ([`record_tree_error`]), so `auditfwd
//! status`, which reads only the store, can say that no compartment is being worked.

use std::collections::BTreeMap;

use auditfwd_oci::Ocid;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc;
use crate::error::StoreError;
use crate::store::{ObjectKey, ObjectStore, WriteCondition};

/// The stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
enum IndexDocument {
    #[serde(rename = "1")]
    V1(KnownCompartments),
}

/// Every compartment seen so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KnownCompartments {
    /// By OCID.
    pub compartments: BTreeMap<String, KnownCompartment>,
    /// When last updated.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The compartment tree could not be listed by the latest run(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_error: Option<TreeError>,
}

/// Compartment-tree listing failing, run after run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeError {
    /// The first failure in a row.
    pub since: DateTime<Utc>,
    /// The latest.
    pub at: DateTime<Utc>,
    /// What OCI said.
    pub message: String,
}

/// One compartment's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownCompartment {
    /// Its name (or path) when last seen.
    pub name: String,
    /// First cycle that saw it.
    pub first_seen: DateTime<Utc>,
    /// The last write of the index that saw it (the index is written only when something
    /// changes, so this is a lower bound of when it was last present).
    pub last_seen: DateTime<Utc>,
    /// Since when it has been missing from the tree (`None` while present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<DateTime<Utc>>,
}

/// What changed in one cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Compartments seen for the first time: (OCID, name).
    pub new: Vec<(String, String)>,
    /// Compartments known before and missing now, with when they were last seen.
    pub missing: Vec<(String, String, DateTime<Utc>)>,
    /// Compartments that came back after having been missing.
    pub returned: Vec<(String, String)>,
}

fn key(tenancy: &Ocid) -> Result<ObjectKey, StoreError> {
    ObjectKey::new(format!("index/{tenancy}.json"))
}

/// Reads the index (empty when none has been written).
pub async fn load<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
) -> Result<KnownCompartments, StoreError> {
    Ok(doc::read::<IndexDocument, _>(store, &key(tenancy)?)
        .await?
        .map(|(IndexDocument::V1(k), _)| k)
        .unwrap_or_default())
}

/// Records that `present` (OCID, name) are the compartments now, and says what changed.
pub async fn update<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    present: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Changes, StoreError> {
    let key = key(tenancy)?;
    // A lost race re-reads and re-applies: two runners seeing the same tree agree anyway.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = doc::read::<IndexDocument, _>(store, &key).await?;
        let (mut known, condition) = match current {
            Some((IndexDocument::V1(k), etag)) => (k, WriteCondition::IfMatch(etag)),
            None => (KnownCompartments::default(), WriteCondition::IfAbsent),
        };
        let before = known.clone();
        let changes = apply(&mut known, present, now);
        known.tree_error = None;
        if known == before && !matches!(condition, WriteCondition::IfAbsent) {
            return Ok(changes);
        }
        for k in known.compartments.values_mut() {
            if k.missing_since.is_none() {
                k.last_seen = now;
            }
        }
        known.updated_at = Some(now);
        match doc::write(store, &key, &IndexDocument::V1(known), condition).await {
            Ok(_) => return Ok(changes),
            Err(StoreError::PreconditionFailed { .. }) if attempts < 3 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Records that the compartment tree could not be listed at `now` (kept until a run lists it
/// again).
pub async fn record_tree_error<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    message: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let key = key(tenancy)?;
    for _ in 0..3 {
        let current = doc::read::<IndexDocument, _>(store, &key).await?;
        let (mut known, condition) = match current {
            Some((IndexDocument::V1(k), etag)) => (k, WriteCondition::IfMatch(etag)),
            None => (KnownCompartments::default(), WriteCondition::IfAbsent),
        };
        let since = known.tree_error.as_ref().map_or(now, |e| e.since);
        known.tree_error = Some(TreeError {
            since,
            at: now,
            message: message.to_owned(),
        });
        match doc::write(store, &key, &IndexDocument::V1(known), condition).await {
            Ok(_) => return Ok(()),
            Err(StoreError::PreconditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::PreconditionFailed {
        key: key.to_string(),
    })
}

fn apply(
    known: &mut KnownCompartments,
    present: &[(String, String)],
    now: DateTime<Utc>,
) -> Changes {
    let mut changes = Changes::default();
    let ids: std::collections::BTreeSet<&str> = present.iter().map(|(id, _)| id.as_str()).collect();
    for (id, name) in present {
        match known.compartments.get_mut(id) {
            Some(k) => {
                if k.missing_since.take().is_some() {
                    changes.returned.push((id.clone(), name.clone()));
                }
                if k.name != *name {
                    k.name.clone_from(name);
                }
            }
            None => {
                changes.new.push((id.clone(), name.clone()));
                known.compartments.insert(
                    id.clone(),
                    KnownCompartment {
                        name: name.clone(),
                        first_seen: now,
                        last_seen: now,
                        missing_since: None,
                    },
                );
            }
        }
    }
    for (id, k) in &mut known.compartments {
        if !ids.contains(id.as_str()) {
            if k.missing_since.is_none() {
                k.missing_since = Some(now);
            }
            changes
                .missing
                .push((id.clone(), k.name.clone(), k.last_seen));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn new_missing_and_returning_compartments_are_reported() {
        let t = |m| Utc.with_ymd_and_hms(2026, 11, 22, 10, m, 0).unwrap();
        let c = |id: &str| (id.to_owned(), format!("name-{id}"));
        let mut k = KnownCompartments::default();
        let first = apply(&mut k, &[c("a"), c("b")], t(0));
        assert_eq!(first.new.len(), 2);
        let second = apply(&mut k, &[c("a")], t(5));
        assert_eq!(second.missing, vec![("b".into(), "name-b".into(), t(0))]);
        // Still missing a cycle later: still reported, missing since the first absence.
        let third = apply(&mut k, &[c("a")], t(10));
        assert_eq!(third.missing.len(), 1);
        assert_eq!(k.compartments["b"].missing_since, Some(t(5)));
        let back = apply(&mut k, &[c("a"), c("b")], t(15));
        assert_eq!(back.returned, vec![c("b")]);
        assert!(back.missing.is_empty() && back.new.is_empty());
    }
}
