//! The checkpoint location on every backend: a location that does not exist, or was never
//! initialised, is an error naming its URL; `initialise` makes it usable; and no operation on a
//! missing location reads as "no state yet".

use auditfwd_checkpoint::store::location::{self, Init};
use auditfwd_checkpoint::{FileStore, Location, ObjectKey, StoreError, WriteCondition};
use bytes::Bytes;
use chrono::Utc;

/// The same checks on any backend: `missing` names a location that does not exist, `fresh`
/// (empty, or made by `init` for directories) one that does but was never initialised.
pub(crate) async fn location_lifecycle<L: Location>(missing: &L, fresh: &L, init: Init) {
    let url = missing.url();
    let is_missing = |e: &StoreError| matches!(e, StoreError::LocationMissing { location, .. } if *location == url);
    let key = ObjectKey::new("state/t/r/c.json").unwrap();

    // A missing location: every way in is an error, none a fresh start.
    let err = location::open(missing).await.unwrap_err();
    assert!(is_missing(&err), "{err}");
    assert!(!err.is_retryable());
    assert!(!missing.exists().await.unwrap());
    let err = location::initialise(missing, Init::Existing, "test", Utc::now())
        .await
        .unwrap_err();
    assert!(is_missing(&err), "{err}");
    let err = missing.get(&key).await.unwrap_err();
    assert!(is_missing(&err), "get: {err}");
    let err = missing.list("state/", None).await.unwrap_err();
    assert!(is_missing(&err), "list: {err}");
    let err = missing
        .put(&key, Bytes::from_static(b"{}"), WriteCondition::IfAbsent)
        .await
        .unwrap_err();
    assert!(is_missing(&err), "put: {err}");

    // An existing location without the marker is not used until initialised.
    assert!(fresh.exists().await.unwrap());
    let err = location::open(fresh).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotInitialised { location } if *location == fresh.url()),
        "{err}"
    );
    let done = location::initialise(fresh, init, "auditfwd init", Utc::now())
        .await
        .unwrap();
    assert!(done.wrote_marker, "{done:?}");
    assert_eq!(location::open(fresh).await.unwrap(), done.marker);
    let stored = fresh
        .get(&ObjectKey::new(location::MARKER_KEY).unwrap())
        .await
        .unwrap()
        .expect("the marker object");
    let doc: serde_json::Value = serde_json::from_slice(&stored.body).unwrap();
    assert_eq!(doc["version"], "1", "{doc}");
    assert_eq!(doc["created_by"], "auditfwd init", "{doc}");
    let again = location::initialise(fresh, init, "someone else", Utc::now())
        .await
        .unwrap();
    assert!(!again.wrote_marker && again.marker == done.marker);
}

#[tokio::test]
async fn a_file_location_is_created_only_by_init() {
    let dir = tempfile::tempdir().unwrap();
    let missing = FileStore::new(dir.path().join("typo"));
    let fresh = FileStore::new(dir.path().join("state"));
    std::fs::create_dir(dir.path().join("state")).unwrap();
    location_lifecycle(&missing, &fresh, Init::Existing).await;
    assert!(!dir.path().join("typo").exists());

    let new = FileStore::new(dir.path().join("new/nested"));
    let done = location::initialise(&new, Init::Create, "auditfwd init", Utc::now())
        .await
        .unwrap();
    assert!(done.created_location && done.wrote_marker);
    assert!(dir.path().join("new/nested/auditfwd.json").is_file());
}
