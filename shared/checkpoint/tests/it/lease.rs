//! Leases: one holder at a time, takeover only after expiry, a lost lease is noticed.

use std::sync::Arc;
use std::time::Duration;

use auditfwd_checkpoint::{LeaseError, MemoryStore, lease};
use chrono::{TimeZone, Utc};

use crate::documents::scope;

#[tokio::test]
async fn one_holder_at_a_time_and_takeover_only_after_expiry() {
    let store = MemoryStore::new();
    let s = scope();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    let ttl = Duration::from_secs(300);

    let a = lease::acquire(&store, &s, "runner-a", ttl, t0)
        .await
        .unwrap();
    assert_eq!(a.expires_at(), t0 + chrono::Duration::seconds(300));
    let held = lease::acquire(
        &store,
        &s,
        "runner-b",
        ttl,
        t0 + chrono::Duration::seconds(299),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&held, LeaseError::Held { owner, .. } if owner == "runner-a"),
        "{held}"
    );
    assert!(held.is_retryable());

    // The holder may re-acquire (a retried cycle) and renew.
    let a = lease::acquire(
        &store,
        &s,
        "runner-a",
        ttl,
        t0 + chrono::Duration::seconds(60),
    )
    .await
    .unwrap();
    let a = lease::renew(&store, &a, ttl, t0 + chrono::Duration::seconds(120))
        .await
        .unwrap();

    // Once it lapses, b takes over, and a's next renewal finds out.
    let b = lease::acquire(
        &store,
        &s,
        "runner-b",
        ttl,
        t0 + chrono::Duration::seconds(421),
    )
    .await
    .unwrap();
    let lost = lease::renew(&store, &a, ttl, t0 + chrono::Duration::seconds(422))
        .await
        .unwrap_err();
    assert!(matches!(lost, LeaseError::Lost { .. }), "{lost}");
    // a's late release must not remove b's lease.
    lease::release(&store, a).await.unwrap();
    let still = lease::acquire(
        &store,
        &s,
        "runner-c",
        ttl,
        t0 + chrono::Duration::seconds(430),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&still, LeaseError::Held { owner, .. } if owner == "runner-b"),
        "{still}"
    );
    lease::release(&store, b).await.unwrap();
    lease::acquire(
        &store,
        &s,
        "runner-c",
        ttl,
        t0 + chrono::Duration::seconds(431),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_runners_get_exactly_one_lease() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(auditfwd_checkpoint::FileStore::new(dir.path()));
    auditfwd_checkpoint::testing::lease_race(store, &scope(), 8).await;
}
