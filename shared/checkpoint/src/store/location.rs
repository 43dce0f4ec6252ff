//! The checkpoint location itself: whether it exists, and whether auditfwd initialised it.
//!
//! Why this exists: an empty location reads exactly like a fresh start, and a fresh start
//! begins every compartment at the initial look-back. A typo in `AUDITFWD_CHECKPOINT_URL`, a
//! volume that is not mounted or another bucket would therefore re-send (or skip) hours of
//! events, and exit 0 while doing it. So a location is only used once it is known to be
//! auditfwd's: it exists (the directory, the bucket) **and** holds a small marker object,
//! [`MARKER_KEY`] (`auditfwd.json`, with a schema version), at the store's prefix.
//!
//! | step | directory (`file://`) | bucket (`s3://`, `oci://`) |
//! |---|---|---|
//! | [`initialise`] with [`Init::Create`] (`auditfwd init`) | created if missing; marker written if absent | must exist (auditfwd never creates buckets); marker written if absent |
//! | [`initialise`] with [`Init::Existing`] (the Lambda functions' cold start) | must exist; marker written if absent | must exist; marker written if absent |
//! | [`open`] (every command that reads or writes state) | must exist and hold the marker | must exist and hold the marker |
//!
//! The Lambda functions use [`Init::Existing`] because their bucket is made by the SAM
//! template together with the functions, under a prefix the template fixes: an empty location
//! there means a new stack, not a typo or an unmounted volume, and requiring a manual
//! `auditfwd init` would make the documented first deploy fail at its first invocation. A
//! missing bucket is still an error there.
//!
//! Every backend also reports a location that disappears while in use (a bucket deleted, a
//! directory unmounted) as [`StoreError::LocationMissing`] on the operation that meets it,
//! never as "no object": the file store never creates its root directory, and the remote
//! stores map "no such bucket/namespace" to it.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ObjectKey, ObjectStore, WriteCondition};
use crate::doc;
use crate::error::StoreError;

/// The marker's key, at the store's prefix.
pub const MARKER_KEY: &str = "auditfwd.json";

/// What to tell the user when a directory location does not exist.
pub(crate) const DIRECTORY_REMEDY: &str = "correct AUDITFWD_CHECKPOINT_URL or mount its volume; \
     for a new location, `auditfwd init` creates the directory";
/// What to tell the user when a bucket (or its namespace) does not exist.
pub(crate) const BUCKET_REMEDY: &str = "correct AUDITFWD_CHECKPOINT_URL, or create the bucket \
     (auditfwd never creates buckets; the SAM template makes one) and run `auditfwd init`";

/// The marker's stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
enum MarkerDocument {
    #[serde(rename = "1")]
    V1(Marker),
}

/// The content of [`MARKER_KEY`]: who initialised the location, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// When the marker was written.
    pub created_at: DateTime<Utc>,
    /// What wrote it (`auditfwd init`, or a Lambda function), with auditfwd's version.
    pub created_by: String,
}

/// A store whose location (directory, bucket) can be checked and, for directories, created.
pub trait Location: ObjectStore {
    /// The location as the URL that names it, for messages (`file:///var/lib/auditfwd`,
    /// `s3://bucket/prefix`, `oci://namespace/bucket/prefix`).
    fn url(&self) -> String;

    /// Whether the directory or bucket exists (a missing OCI namespace counts as missing).
    fn exists(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Creates the location if this backend can (a directory, with its parents). Buckets are
    /// never created: [`StoreError::LocationMissing`].
    fn create(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How [`initialise`] treats a location that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// `auditfwd init`: create a missing directory (a missing bucket stays an error).
    Create,
    /// The location must exist already (the Lambda functions' template-made bucket).
    Existing,
}

/// What [`initialise`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initialised {
    /// The location's URL.
    pub location: String,
    /// The directory was created (never a bucket).
    pub created_location: bool,
    /// The marker was written now (`false`: it was there already).
    pub wrote_marker: bool,
    /// The marker as stored.
    pub marker: Marker,
}

fn marker_key() -> Result<ObjectKey, StoreError> {
    ObjectKey::new(MARKER_KEY)
}

async fn read_marker<L: Location>(store: &L) -> Result<Option<Marker>, StoreError> {
    Ok(doc::read::<MarkerDocument, _>(store, &marker_key()?)
        .await?
        .map(|(MarkerDocument::V1(m), _)| m))
}

/// Makes `store`'s location ready for use: checks (or, with [`Init::Create`], creates) the
/// location, then writes the marker unless one is there. Idempotent, and safe to run from
/// several processes at once (the marker is written only if absent).
pub async fn initialise<L: Location>(
    store: &L,
    init: Init,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<Initialised, StoreError> {
    let location = store.url();
    let mut created_location = false;
    if !store.exists().await? {
        match init {
            Init::Create => {
                store.create().await?;
                created_location = true;
            }
            Init::Existing => return Err(store.missing()),
        }
    }
    if let Some(marker) = read_marker(store).await? {
        return Ok(Initialised {
            location,
            created_location,
            wrote_marker: false,
            marker,
        });
    }
    let marker = Marker {
        created_at: now,
        created_by: created_by.to_owned(),
    };
    let doc = MarkerDocument::V1(marker.clone());
    match doc::write(store, &marker_key()?, &doc, WriteCondition::IfAbsent).await {
        Ok(_) => Ok(Initialised {
            location,
            created_location,
            wrote_marker: true,
            marker,
        }),
        // Another process initialised it at the same moment: theirs stands.
        Err(StoreError::PreconditionFailed { .. }) => Ok(Initialised {
            location,
            created_location,
            wrote_marker: false,
            marker: read_marker(store)
                .await?
                .ok_or_else(|| store.not_initialised())?,
        }),
        Err(e) => Err(e),
    }
}

/// Checks that `store`'s location exists and was initialised, before anything reads state
/// from it: [`StoreError::LocationMissing`] or [`StoreError::NotInitialised`] otherwise (each
/// naming the URL and what to do), never an empty start.
pub async fn open<L: Location>(store: &L) -> Result<Marker, StoreError> {
    if !store.exists().await? {
        return Err(store.missing());
    }
    read_marker(store)
        .await?
        .ok_or_else(|| store.not_initialised())
}

/// The errors for a location, from its URL.
trait LocationErrors {
    fn missing(&self) -> StoreError;
    fn not_initialised(&self) -> StoreError;
}

impl<L: Location> LocationErrors for L {
    fn missing(&self) -> StoreError {
        let url = self.url();
        let remedy = if url.starts_with("file:") {
            DIRECTORY_REMEDY
        } else {
            BUCKET_REMEDY
        };
        StoreError::LocationMissing {
            location: url,
            remedy,
        }
    }

    fn not_initialised(&self) -> StoreError {
        StoreError::NotInitialised {
            location: self.url(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::FileStore;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_error_until_init_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("state"));
        let err = open(&store).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::LocationMissing { location, .. } if location.ends_with("/state")),
            "{err}"
        );
        assert!(err.to_string().contains("auditfwd init"), "{err}");
        assert!(!err.is_retryable());
        assert!(
            !dir.path().join("state").exists(),
            "opening never creates the directory"
        );
        let err = initialise(&store, Init::Existing, "test", now())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LocationMissing { .. }), "{err}");

        let done = initialise(&store, Init::Create, "auditfwd init", now())
            .await
            .unwrap();
        assert!(done.created_location && done.wrote_marker, "{done:?}");
        assert_eq!(open(&store).await.unwrap(), done.marker);
        let body = std::fs::read_to_string(dir.path().join("state/auditfwd.json")).unwrap();
        assert!(body.contains(r#""version":"1""#), "{body}");

        // Again: nothing changes, the first marker stands.
        let later = now() + chrono::Duration::hours(1);
        let again = initialise(&store, Init::Create, "other", later)
            .await
            .unwrap();
        assert!(!again.created_location && !again.wrote_marker);
        assert_eq!(again.marker.created_by, "auditfwd init");
    }

    #[tokio::test]
    async fn an_existing_directory_without_the_marker_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let err = open(&store).await.unwrap_err();
        assert!(matches!(err, StoreError::NotInitialised { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("auditfwd.json") && text.contains("auditfwd init"),
            "{text}"
        );
        let done = initialise(&store, Init::Existing, "poller", now())
            .await
            .unwrap();
        assert!(!done.created_location && done.wrote_marker);
        open(&store).await.unwrap();
    }

    #[tokio::test]
    async fn a_marker_of_an_unknown_version_is_not_taken_for_ours() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MARKER_KEY), r#"{"version":"9"}"#).unwrap();
        let err = open(&FileStore::new(dir.path())).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { key, .. } if key == MARKER_KEY),
            "{err}"
        );
    }
}
