//! The OCI Object Storage checkpoint backend against the emulator, held to the same contract as
//! every other backend, plus the race for a shard's lease on real conditional writes.

use std::sync::Arc;

use auditfwd_checkpoint::shard::{self, ShardId, ShardLease};
use auditfwd_checkpoint::testing::{conditional_writes, no_lost_updates};
use auditfwd_checkpoint::{OciStore, StoreError};
use auditfwd_e2e::{client_config, emulator};
use auditfwd_oci::{Ocid, RetryConfig, object_storage};

#[tokio::test]
async fn oci_store_keeps_the_checkpoint_contract() {
    let (builder, _clock) = emulator(8);
    let emu = builder.compartments(1).start().await.unwrap();
    let client = object_storage::Client::new(&client_config(&emu, RetryConfig::disabled()));
    let ns = client.get_namespace().send().await.unwrap();
    assert_eq!(ns, emu.namespace());

    conditional_writes(&OciStore::new(
        client.clone(),
        &ns,
        "auditfwd-state",
        "e2e/contract",
    ))
    .await;
    no_lost_updates(Arc::new(OciStore::new(
        client.clone(),
        &ns,
        "auditfwd-state",
        "e2e/counter",
    )))
    .await;

    let tenancy = Ocid::parse(emu.tenancy_id()).unwrap();
    let id = ShardId::of(&tenancy, &emu.region(), &emu.tenancy_id(), 1);
    let store = Arc::new(OciStore::new(client, &ns, "auditfwd-state", "e2e/shards"));
    // First from no state at all (create-only writes), then over an existing state whose
    // lease has lapsed (writes over the version read).
    assert_eq!(shard_lease_race(&store, &id, 6, "first").await, "first-");
    let (mut state, etag) = shard::load(&*store, &id).await.unwrap().unwrap();
    state.lease.as_mut().unwrap().expires_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    shard::save(&*store, &id, &state, Some(&etag))
        .await
        .unwrap();
    assert_eq!(shard_lease_race(&store, &id, 6, "second").await, "second-");
}

/// `runners` tasks take the lease of `shard` at the same instant, as the runner does: read the
/// state, refuse a valid lease of another, write the state with their own lease over the
/// version read. Exactly one may win; every other must find the lease held or lose the write
/// (never an error). Returns the winner's owner name without its number.
async fn shard_lease_race(
    store: &Arc<OciStore>,
    shard: &ShardId,
    runners: usize,
    round: &str,
) -> String {
    let now = chrono::Utc::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(runners));
    let mut tasks = Vec::new();
    for i in 0..runners {
        let (store, shard, barrier) = (store.clone(), shard.clone(), barrier.clone());
        let owner = format!("{round}-{i}");
        tasks.push(tokio::spawn(async move {
            let read = shard::load(&*store, &shard).await.unwrap();
            barrier.wait().await;
            let (mut state, etag) = read.map_or((Default::default(), None), |(s, e)| (s, Some(e)));
            if state
                .lease
                .as_ref()
                .is_some_and(|l| l.owner != owner && l.expires_at > now)
            {
                return None;
            }
            state.lease = Some(ShardLease {
                owner: owner.clone(),
                acquired_at: now,
                expires_at: now + chrono::Duration::minutes(5),
            });
            match shard::save(&*store, &shard, &state, etag.as_ref()).await {
                Ok(_) => Some(owner),
                Err(StoreError::PreconditionFailed { .. }) => None,
                Err(e) => panic!("a racing runner failed instead of losing the race: {e}"),
            }
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {runners} racing runners may take the lease: {winners:?}"
    );
    let (state, _) = shard::load(&**store, shard).await.unwrap().unwrap();
    assert_eq!(
        state.lease.map(|l| l.owner),
        Some(winners[0].clone()),
        "the stored lease is the winner's"
    );
    winners[0]
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned()
}
