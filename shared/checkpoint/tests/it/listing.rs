//! Listing: every backend lists keys by prefix, strictly after `start_after`, in key order and
//! relative to its own prefix; manifests are found by time range without listing a scope whole.

use std::sync::Mutex;

use auditfwd_checkpoint::Counts;
use auditfwd_checkpoint::manifest::{self, Confirmation, DeliveryManifest, Pass};
use auditfwd_checkpoint::{
    AnyStore, Etag, FileStore, MemoryStore, ObjectKey, ObjectStore, Scope, StoreError,
    StoredObject, WriteCondition,
};
use auditfwd_oci::{MinuteTimestamp, Window};
use bytes::Bytes;
use chrono::{TimeZone, Utc};

use crate::documents::scope;

/// The keys the listing contract writes (deliberately not in order).
pub(crate) const KEYS: [&str; 9] = [
    "manifests/t/r/c/20261122T1010Z_20261122T1020Z.fresh.json",
    "state/t/r/c.json",
    "manifests/t/r/c/20261122T1000Z_20261122T1010Z.settle.json",
    "manifests/t/r/c2/x.json",
    "manifests/t/r/c/20261122T1000Z_20261122T1010Z.fresh.json",
    "manifests/t/r/c/sub/deeper.json",
    "manifests/t/r/c-other.json",
    "manifests/t/r/c/20261122T0950Z_20261122T1000Z.fresh.json",
    "manifests/t/r/d/20261122T1000Z_20261122T1010Z.fresh.json",
];

async fn listed<S: ObjectStore>(store: &S, prefix: &str, start_after: Option<&str>) -> Vec<String> {
    store
        .list(prefix, start_after)
        .await
        .unwrap_or_else(|e| panic!("list({prefix:?}, {start_after:?}): {e}"))
        .into_iter()
        .map(|k| k.as_str().to_owned())
        .collect()
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    v.sort();
    v
}

/// Writes [`KEYS`] and checks every listing rule; panics on the first violation. Leaves the
/// keys in place (callers check what else must or must not show up).
pub(crate) async fn lists_keys_by_prefix_in_order<S: ObjectStore>(store: &S) {
    for k in KEYS {
        store
            .put(
                &ObjectKey::new(k).unwrap(),
                Bytes::from_static(b"{}"),
                WriteCondition::IfAbsent,
            )
            .await
            .unwrap();
    }
    let c = "manifests/t/r/c/";
    let under_c = [
        "manifests/t/r/c/20261122T0950Z_20261122T1000Z.fresh.json",
        "manifests/t/r/c/20261122T1000Z_20261122T1010Z.fresh.json",
        "manifests/t/r/c/20261122T1000Z_20261122T1010Z.settle.json",
        "manifests/t/r/c/20261122T1010Z_20261122T1020Z.fresh.json",
        "manifests/t/r/c/sub/deeper.json",
    ];
    assert_eq!(listed(store, c, None).await, under_c);

    // Byte order across directories: '-' < '/' < '2'.
    let mut with_neighbours = vec!["manifests/t/r/c-other.json"];
    with_neighbours.extend(under_c);
    with_neighbours.push("manifests/t/r/c2/x.json");
    assert_eq!(
        listed(store, "manifests/t/r/c", None).await,
        with_neighbours
    );

    // A prefix may end inside a segment.
    assert_eq!(
        listed(store, "manifests/t/r/c/20261122T1000Z", None).await,
        under_c[1..3]
    );

    // `start_after` is exclusive, need not be a key, and may lie outside the prefix.
    assert_eq!(listed(store, c, Some(under_c[1])).await, under_c[2..]);
    assert_eq!(
        listed(store, c, Some("manifests/t/r/c/20261122T1000Z")).await,
        under_c[1..]
    );
    assert_eq!(listed(store, c, Some("a")).await, under_c);
    assert_eq!(
        listed(store, c, Some(under_c[4])).await,
        Vec::<String>::new()
    );
    assert_eq!(listed(store, c, Some("z")).await, Vec::<String>::new());

    assert_eq!(listed(store, "", None).await, sorted(&KEYS));
    assert_eq!(
        listed(store, "", Some("manifests/t/r/d/")).await,
        [
            "manifests/t/r/d/20261122T1000Z_20261122T1010Z.fresh.json",
            "state/t/r/c.json"
        ]
    );
    assert!(listed(store, "nothing/", None).await.is_empty());
    assert!(listed(store, "manifests/t/r/c/zzz", None).await.is_empty());

    for bad in ["../x", "a//b/", "/manifests/"] {
        let err = store.list(bad, None).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey(_)), "{bad}: {err}");
        assert!(!err.is_retryable());
    }

    // A deleted key is gone from the listing.
    store
        .delete(&ObjectKey::new(under_c[4]).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(listed(store, c, None).await, under_c[..4]);
    store
        .put(
            &ObjectKey::new(under_c[4]).unwrap(),
            Bytes::from_static(b"{}"),
            WriteCondition::IfAbsent,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn memory_store_lists_by_prefix_in_order() {
    lists_keys_by_prefix_in_order(&MemoryStore::new()).await;
}

#[tokio::test]
async fn file_store_lists_by_prefix_in_order_without_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let store = FileStore::new(&root);
    assert!(
        listed(&store, "", None).await.is_empty(),
        "a store not written yet lists empty"
    );
    lists_keys_by_prefix_in_order(&store).await;

    // A lock file exists in every directory written to, and a crash can leave temporaries.
    assert!(root.join("state/t/r/.lock").exists());
    assert!(!root.join("state/t/r/.c.json.lock").exists());
    // Lock files of earlier versions (one per object) are never listed either.
    std::fs::write(root.join("state/t/r/.c.json.lock"), b"").unwrap();
    std::fs::write(root.join("manifests/t/r/c/.tmp-99-0"), b"half a docu").unwrap();
    std::fs::write(root.join(".tmp-1-2"), b"x").unwrap();
    std::fs::create_dir_all(root.join("manifests/t/r/c/.tmp-7-7")).unwrap();
    std::fs::write(root.join("manifests/t/r/c/.tmp-7-7/inner.json"), b"x").unwrap();
    assert_eq!(listed(&store, "", None).await, sorted(&KEYS));
    assert_eq!(
        listed(&store, "manifests/t/r/c/.", None).await,
        Vec::<String>::new()
    );

    // Only the prefix's directory is walked: a symlink loop elsewhere in the tree breaks a
    // listing of everything, but not one of a subdirectory.
    std::os::unix::fs::symlink("zz-loop", root.join("zz-loop")).unwrap();
    let err = store.list("", None).await.unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert_eq!(listed(&store, "manifests/t/r/c/", None).await.len(), 5);
    assert_eq!(listed(&store, "state/", None).await, ["state/t/r/c.json"]);

    // A prefix naming a file's "directory" lists nothing.
    assert!(listed(&store, "state/t/r/c.json/", None).await.is_empty());
}

#[tokio::test]
async fn any_store_lists_through_its_backend() {
    let dir = tempfile::tempdir().unwrap();
    lists_keys_by_prefix_in_order(&AnyStore::File(FileStore::new(dir.path()))).await;
}

/// A store that records the listings asked of it.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryStore,
    lists: Mutex<Vec<(String, Option<String>)>>,
}

impl ObjectStore for Recording {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        self.inner.put(key, body, condition).await
    }
    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        self.inner.delete(key, if_match).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        self.lists
            .lock()
            .unwrap()
            .push((prefix.to_owned(), start_after.map(str::to_owned)));
        self.inner.list(prefix, start_after).await
    }
}

fn at(s: &str) -> MinuteTimestamp {
    MinuteTimestamp::parse(s).unwrap()
}

fn manifest(start: &str, end: &str, pass: Pass) -> DeliveryManifest {
    DeliveryManifest {
        window: Window::new(at(start), at(end)).unwrap(),
        pass,
        counts: Counts {
            listed: 1,
            forwarded: 1,
            ..Counts::default()
        },
        first_event_time: None,
        last_event_time: None,
        forwarded_ids_digest: String::new(),
        confirmation: Confirmation::ReceiverAck,
        committed_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        committed_by: "runner-a".into(),
    }
}

fn windows(found: &[DeliveryManifest]) -> Vec<(String, &'static str)> {
    found
        .iter()
        .map(|m| (m.window.to_string(), m.pass.as_str()))
        .collect()
}

fn label(start: &str, end: &str, pass: Pass) -> (String, &'static str) {
    (
        Window::new(at(start), at(end)).unwrap().to_string(),
        pass.as_str(),
    )
}

async fn manifests_overlapping_a_range_in_order<S: ObjectStore>(store: &S) {
    let s = scope();
    let other = Scope::new(s.tenancy.clone(), "eu-frankfurt-1", s.compartment.clone());
    let all = [
        // Ends exactly at `from`: no overlap.
        ("2026-11-22T09:50:00Z", "2026-11-22T10:00:00Z", Pass::Fresh),
        // Straddles `from`.
        ("2026-11-22T09:55:00Z", "2026-11-22T10:05:00Z", Pass::Fresh),
        // Inside, every pass, written out of order.
        ("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Replay),
        ("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Settle),
        ("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Fresh),
        // Straddles `to`.
        ("2026-11-22T10:55:00Z", "2026-11-22T11:05:00Z", Pass::Settle),
        // Starts exactly at `to`: no overlap.
        ("2026-11-22T11:00:00Z", "2026-11-22T11:10:00Z", Pass::Fresh),
        // Long ago, and well after.
        ("2026-11-21T09:00:00Z", "2026-11-21T09:10:00Z", Pass::Fresh),
        ("2026-11-23T10:00:00Z", "2026-11-23T10:10:00Z", Pass::Fresh),
        // A window of almost a day that began within the look-behind: found.
        ("2026-11-21T10:30:00Z", "2026-11-22T10:30:00Z", Pass::Replay),
        // One longer than a day that began before it: not found (the documented limit).
        ("2026-11-21T09:30:00Z", "2026-11-22T10:30:00Z", Pass::Replay),
    ];
    for (start, end, pass) in all {
        manifest::write(store, &s, &manifest(start, end, pass))
            .await
            .unwrap();
    }
    // Same times, another scope.
    manifest::write(
        store,
        &other,
        &manifest("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Fresh),
    )
    .await
    .unwrap();
    // A stray object among the manifests is skipped, not an error.
    let dir = s
        .manifest_key(
            &Window::new(at("2026-11-22T10:00:00Z"), at("2026-11-22T10:01:00Z")).unwrap(),
            Pass::Fresh,
        )
        .unwrap();
    let dir = dir.as_str().rsplit_once('/').unwrap().0;
    store
        .put(
            &ObjectKey::new(format!("{dir}/20261122T1030Z_notes.json")).unwrap(),
            Bytes::from_static(b"{}"),
            WriteCondition::Unconditional,
        )
        .await
        .unwrap();

    let found = manifest::list(
        store,
        &s,
        at("2026-11-22T10:00:00Z"),
        at("2026-11-22T11:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(
        windows(&found),
        [
            label("2026-11-21T10:30:00Z", "2026-11-22T10:30:00Z", Pass::Replay),
            label("2026-11-22T09:55:00Z", "2026-11-22T10:05:00Z", Pass::Fresh),
            label("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Fresh),
            label("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Settle),
            label("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Replay),
            label("2026-11-22T10:55:00Z", "2026-11-22T11:05:00Z", Pass::Settle),
        ]
    );
    assert_eq!(
        found[2],
        manifest("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", Pass::Fresh)
    );

    // One minute at each edge.
    let edge = |from: &str, to: &str| manifest::list(store, &s, at(from), at(to));
    assert_eq!(
        windows(
            &edge("2026-11-22T10:59:00Z", "2026-11-22T11:00:00Z")
                .await
                .unwrap()
        ),
        [label(
            "2026-11-22T10:55:00Z",
            "2026-11-22T11:05:00Z",
            Pass::Settle
        )]
    );
    assert_eq!(
        windows(
            &edge("2026-11-22T11:05:00Z", "2026-11-22T11:10:00Z")
                .await
                .unwrap()
        ),
        [label(
            "2026-11-22T11:00:00Z",
            "2026-11-22T11:10:00Z",
            Pass::Fresh
        )]
    );
    assert!(
        edge("2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z")
            .await
            .unwrap()
            .is_empty(),
        "an empty range"
    );
    assert!(
        edge("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn manifests_overlapping_a_range_are_listed_in_order_from_memory() {
    manifests_overlapping_a_range_in_order(&MemoryStore::new()).await;
}

#[tokio::test]
async fn manifests_overlapping_a_range_are_listed_in_order_from_files() {
    let dir = tempfile::tempdir().unwrap();
    manifests_overlapping_a_range_in_order(&FileStore::new(dir.path())).await;
}

#[tokio::test]
async fn manifest_listing_starts_a_day_back_and_stays_inside_the_ranges_common_prefix() {
    let store = Recording::default();
    let s = scope();
    for (start, end) in [
        ("2026-12-31T23:50:00Z", "2027-01-01T00:00:00Z"),
        ("2027-01-01T00:00:00Z", "2027-01-01T00:10:00Z"),
    ] {
        manifest::write(&store, &s, &manifest(start, end, Pass::Fresh))
            .await
            .unwrap();
    }
    let base = format!("manifests/{}/{}/{}/", s.tenancy, s.region, s.compartment);

    // Across a year boundary the bounds share only the century.
    let found = manifest::list(
        &store,
        &s,
        at("2026-12-31T23:55:00Z"),
        at("2027-01-01T00:05:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 2);
    // Within one day, only that day's keys from the look-behind on are listed.
    manifest::list(
        &store,
        &s,
        at("2027-01-02T10:00:00Z"),
        at("2027-01-02T11:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(
        *store.lists.lock().unwrap(),
        [
            (format!("{base}202"), Some(format!("{base}20261230T2355Z"))),
            (
                format!("{base}2027010"),
                Some(format!("{base}20270101T1000Z"))
            ),
        ]
    );
}
