//! The backend contract as an executable suite, so every [`ObjectStore`] (including ones
//! tested from other crates, such as the OCI store against the emulator) is held to the same
//! rules. Enabled by the `test-util` feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bytes::Bytes;

use crate::error::StoreError;
use crate::keys::Scope;
use crate::lease::{self, LeaseError};
use crate::store::{ObjectKey, ObjectStore, WriteCondition};

/// The conditional-write contract: create-if-absent, replace-by-etag, stale etags refused,
/// conditional deletes, unconditional overwrites. Panics on the first violation.
pub async fn conditional_writes<S: ObjectStore>(store: &S) {
    let key = ObjectKey::new("state/t/r/c.json").unwrap();
    assert!(store.get(&key).await.unwrap().is_none());

    let v1 = store
        .put(&key, Bytes::from_static(b"one"), WriteCondition::IfAbsent)
        .await
        .unwrap();
    let again = store
        .put(&key, Bytes::from_static(b"other"), WriteCondition::IfAbsent)
        .await;
    assert!(
        matches!(again, Err(StoreError::PreconditionFailed { .. })),
        "{again:?}"
    );
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().body,
        Bytes::from_static(b"one")
    );

    let v2 = store
        .put(
            &key,
            Bytes::from_static(b"two"),
            WriteCondition::IfMatch(v1.clone()),
        )
        .await
        .unwrap();
    assert_ne!(v1, v2);
    let stale = store
        .put(
            &key,
            Bytes::from_static(b"stale"),
            WriteCondition::IfMatch(v1.clone()),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::PreconditionFailed { .. })));
    let current = store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (current.body, current.etag.clone()),
        (Bytes::from_static(b"two"), v2.clone())
    );

    let stale_delete = store.delete(&key, Some(&v1)).await;
    assert!(matches!(
        stale_delete,
        Err(StoreError::PreconditionFailed { .. })
    ));
    store.delete(&key, Some(&v2)).await.unwrap();
    assert!(store.get(&key).await.unwrap().is_none());
    store.delete(&key, None).await.unwrap();
    let named_but_gone = store.delete(&key, Some(&v2)).await;
    assert!(
        matches!(named_but_gone, Err(StoreError::PreconditionFailed { .. })),
        "{named_but_gone:?}"
    );

    let if_match_absent = store
        .put(&key, Bytes::from_static(b"x"), WriteCondition::IfMatch(v2))
        .await;
    assert!(
        matches!(if_match_absent, Err(StoreError::PreconditionFailed { .. })),
        "if-match on an absent object must fail: {if_match_absent:?}"
    );
    store
        .put(
            &key,
            Bytes::from_static(b"u1"),
            WriteCondition::Unconditional,
        )
        .await
        .unwrap();
    store
        .put(
            &key,
            Bytes::from_static(b"u2"),
            WriteCondition::Unconditional,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().body,
        Bytes::from_static(b"u2")
    );
}

/// Eight writers doing read-modify-write with if-match on one object: no update may be lost.
pub async fn no_lost_updates<S: ObjectStore + 'static>(store: Arc<S>) {
    let key = ObjectKey::new("counter").unwrap();
    store
        .put(&key, Bytes::from_static(b"0"), WriteCondition::IfAbsent)
        .await
        .unwrap();
    let (writers, each) = (8, 10);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..each {
                loop {
                    let cur = store.get(&key).await.unwrap().unwrap();
                    let n: u64 = std::str::from_utf8(&cur.body).unwrap().parse().unwrap();
                    match store
                        .put(
                            &key,
                            Bytes::from((n + 1).to_string()),
                            WriteCondition::IfMatch(cur.etag),
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::PreconditionFailed { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total: u64 = std::str::from_utf8(&store.get(&key).await.unwrap().unwrap().body)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, writers * each);
}

/// `runners` tasks race for the lease on `scope` at the same instant: exactly one may win, and
/// every other must see the lease held (not an error).
pub async fn lease_race<S: ObjectStore + 'static>(store: Arc<S>, scope: &Scope, runners: usize) {
    let now = chrono::Utc::now();
    let mut tasks = Vec::new();
    for i in 0..runners {
        let (store, scope) = (store.clone(), scope.clone());
        tasks.push(tokio::spawn(async move {
            lease::acquire(
                &*store,
                &scope,
                &format!("runner-{i}"),
                std::time::Duration::from_secs(60),
                now,
            )
            .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.expect("lease task") {
            Ok(_) => winners += 1,
            Err(LeaseError::Held { .. }) => {}
            Err(e) => panic!("a racing runner failed instead of seeing the lease held: {e}"),
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one of {runners} racing runners may hold the lease"
    );
}
