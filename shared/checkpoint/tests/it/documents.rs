//! Versioned documents: state round trips, unknown versions, lost write answers.

use auditfwd_checkpoint::Counts;
use auditfwd_checkpoint::manifest::{self, Confirmation, DeliveryManifest, Pass};
use auditfwd_checkpoint::state::{self, AwaitingSettle, CompartmentState, Gap};
use auditfwd_checkpoint::{
    Etag, EventIdSet, IdDigest, MemoryStore, ObjectKey, ObjectStore, Scope, StoreError,
    StoredObject, WriteCondition, doc,
};
use auditfwd_oci::{MinuteTimestamp, Ocid, Window};
use bytes::Bytes;
use chrono::{TimeZone, Utc};

pub(crate) fn scope() -> Scope {
    Scope::new(
        Ocid::parse(
            "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq",
        )
        .unwrap(),
        "us-ashburn-1",
        Ocid::parse(
            "ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa",
        )
        .unwrap(),
    )
}

fn sample_state() -> CompartmentState {
    let mut delivered = EventIdSet::new();
    delivered.insert("5b0c8f2a-7c1e-4f3e-9d8a-0c6e2f1b7a41");
    let w = Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z").unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 10, 6, 0).unwrap();
    CompartmentState {
        delivered_until: MinuteTimestamp::parse("2026-11-22T10:05:00Z").unwrap(),
        awaiting_settle: vec![AwaitingSettle {
            window: w,
            delivered,
            failed_attempts: 0,
        }],
        gaps: vec![Gap {
            window: w,
            reason: "HTTP 403 NotAuthorized".into(),
            first_failed_at: at,
            last_failed_at: at,
            attempts: 3,
            delivered: None,
            lost: false,
            acknowledged: None,
            not_before: None,
        }],
        failing: None,
        last_error: None,
        updated_at: at,
        updated_by: "runner-a".into(),
    }
}

#[test]
fn adjacent_gaps_merge_into_one_entry_and_carried_id_sets_stay_apart() {
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 11, 0, 0).unwrap();
    let w = |a: &str, b: &str| Window::parse(a, b).unwrap();
    let mut s = CompartmentState::starting_at(
        MinuteTimestamp::parse("2026-11-22T10:00:00Z").unwrap(),
        at,
        "r",
    );
    s.add_gap(
        w("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z"),
        "404",
        at,
        None,
    );
    s.add_gap(
        w("2026-11-22T10:10:00Z", "2026-11-22T10:20:00Z"),
        "404 again",
        at,
        None,
    );
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(
        s.gaps[0].window,
        w("2026-11-22T10:00:00Z", "2026-11-22T10:20:00Z")
    );
    assert_eq!(
        (s.gaps[0].attempts, s.gaps[0].reason.as_str()),
        (2, "404 again")
    );
    // A settle-pass gap keeps its delivered ids, so it is never merged away.
    s.add_gap(
        w("2026-11-22T10:20:00Z", "2026-11-22T10:30:00Z"),
        "settle failed",
        at,
        Some(EventIdSet::new()),
    );
    assert_eq!(s.gaps.len(), 2);
    // Entries stay ordered by window.
    s.add_gap(
        w("2026-11-22T09:00:00Z", "2026-11-22T09:10:00Z"),
        "old",
        at,
        None,
    );
    assert_eq!(s.gaps[0].reason, "old");
}

#[tokio::test]
async fn state_round_trips_with_its_version_and_conditional_saves() {
    let store = MemoryStore::new();
    let s = scope();
    assert!(state::load(&store, &s).await.unwrap().is_none());
    let v1 = state::save(&store, &s, &sample_state(), None)
        .await
        .unwrap();
    let (back, etag) = state::load(&store, &s).await.unwrap().unwrap();
    assert_eq!(back, sample_state());
    assert_eq!(etag, v1);
    let raw = store.get(&s.state_key().unwrap()).await.unwrap().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(json["version"], "1");
    assert_eq!(json["delivered_until"], "2026-11-22T10:05:00Z");
    // Another runner writing "first" loses instead of resetting progress.
    let other = CompartmentState {
        updated_by: "runner-b".into(),
        ..sample_state()
    };
    assert!(matches!(
        state::save(&store, &s, &other, None).await,
        Err(StoreError::PreconditionFailed { .. })
    ));
    assert_eq!(
        state::load(&store, &s).await.unwrap().unwrap().0.updated_by,
        "runner-a"
    );
    assert_eq!(
        store.keys(),
        vec![format!(
            "state/{}/us-ashburn-1/{}.json",
            s.tenancy, s.compartment
        )]
    );
}

#[tokio::test]
async fn an_unknown_version_is_an_error_not_a_reset() {
    let store = MemoryStore::new();
    let s = scope();
    let body = Bytes::from_static(br#"{"version":"9","delivered_until":"2026-11-22T10:05:00Z"}"#);
    store
        .put(&s.state_key().unwrap(), body, WriteCondition::IfAbsent)
        .await
        .unwrap();
    let err = state::load(&store, &s).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn manifests_record_a_window_per_pass() {
    let store = MemoryStore::new();
    let s = scope();
    let w = Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z").unwrap();
    let mut digest = IdDigest::default();
    digest.add("a");
    let m = DeliveryManifest {
        window: w,
        pass: Pass::Settle,
        counts: Counts {
            listed: 3,
            forwarded: 1,
            deduplicated: 2,
            filtered: 0,
            dropped: 0,
            late_arrivals: 1,
        },
        first_event_time: Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 1, 0).unwrap()),
        last_event_time: Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 1, 0).unwrap()),
        forwarded_ids_digest: digest.to_hex(),
        confirmation: Confirmation::ReceiverAck,
        committed_at: Utc.with_ymd_and_hms(2026, 11, 22, 10, 26, 0).unwrap(),
        committed_by: "runner-a".into(),
    };
    manifest::write(&store, &s, &m).await.unwrap();
    assert_eq!(
        manifest::read(&store, &s, &w, Pass::Settle).await.unwrap(),
        Some(m)
    );
    assert_eq!(
        manifest::read(&store, &s, &w, Pass::Fresh).await.unwrap(),
        None
    );
    assert!(
        store.keys()[0].ends_with("/20261122T1000Z_20261122T1005Z.settle.json"),
        "{:?}",
        store.keys()
    );
}

/// A store whose conditional puts land but report a lost precondition, as a backend retry
/// after a lost answer does.
#[derive(Debug, Default)]
struct AnswerLost(MemoryStore);

impl ObjectStore for AnswerLost {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        self.0.get(key).await
    }
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        self.0.put(key, body, condition).await?;
        Err(StoreError::PreconditionFailed {
            key: key.to_string(),
        })
    }
    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        self.0.delete(key, if_match).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        self.0.list(prefix, start_after).await
    }
}

#[tokio::test]
async fn a_write_that_landed_before_its_answer_was_lost_counts_as_written() {
    let store = AnswerLost::default();
    let key = ObjectKey::new("doc").unwrap();
    let etag = doc::write(
        &store,
        &key,
        &serde_json::json!({"n": 1}),
        WriteCondition::IfAbsent,
    )
    .await
    .unwrap();
    assert_eq!(store.get(&key).await.unwrap().unwrap().etag, etag);
    // A genuinely different document in the way is still a lost race.
    let err = doc::write(
        &store,
        &key,
        &serde_json::json!({"n": 2}),
        WriteCondition::IfAbsent,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed { .. }));
}

#[tokio::test]
async fn a_sized_write_stores_the_same_bytes_and_learns_the_size() {
    let store = MemoryStore::new();
    let key = ObjectKey::new("docs/sized.json").unwrap();
    let doc = serde_json::json!({"ids": "x".repeat(10_000), "n": 1});
    let mut size = 0;
    doc::write_sized(&store, &key, &doc, WriteCondition::Unconditional, &mut size)
        .await
        .unwrap();
    let stored = store.get(&key).await.unwrap().unwrap().body;
    assert_eq!(stored, serde_json::to_vec(&doc).unwrap());
    assert_eq!(size, stored.len());
    // A guess too small (the document grew) still writes it whole, and learns the new size.
    let grown = serde_json::json!({"ids": "y".repeat(30_000), "n": 2});
    doc::write_sized(
        &store,
        &key,
        &grown,
        WriteCondition::Unconditional,
        &mut size,
    )
    .await
    .unwrap();
    let stored = store.get(&key).await.unwrap().unwrap().body;
    assert_eq!(stored, serde_json::to_vec(&grown).unwrap());
    assert_eq!(size, stored.len());
}
