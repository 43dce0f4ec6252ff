//! Issue 11, "state never silently resets" (the state): on `file://`, `s3://` (moto) and
//! `oci://` (the emulator), with the real `auditfwd` binary. When a shard's state object
//! disappears while the tenancy's layout says it was written (a deleted object, a restore that
//! missed it):
//!
//! - `run --once` exits non-zero naming the object and both ways to recover, sends nothing
//!   for the shard's compartments, and does not recreate the object;
//! - `status` exits non-zero;
//! - `auditfwd init --reset-shard REGION/NNNN-of-NNNN` starts the shard again, after which every
//!   ground-truth event has arrived (the look-back is re-sent: duplicates, never gaps).

use auditfwd_checkpoint::ObjectStore as _;
use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};

fn shape(b: oci_emulator::EmulatorBuilder) -> oci_emulator::EmulatorBuilder {
    b.compartments(3)
        .max_depth(1)
        .events_per_minute(2.0)
        .backlog(chrono::Duration::minutes(20))
}

async fn a_missing_shard_state_stops_its_compartments_until_reset(backend: Backend, seed: u64) {
    let tenancy = Tenancy::backlog(seed, shape).await;
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(backend, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);
    let run = auditfwd.run_once().await;
    assert!(run.complete(), "{}", run.describe());
    let expected = tenancy.truth_ids();
    rsyslog.wait_for(expected.len()).await;
    assert_exactly_once(&expected, &rsyslog.counts());

    let scopes = tenancy.scopes();
    let shards = checkpoint.shards(&scopes).await;
    let id = shards.states.keys().next().expect("a shard").clone();
    let key = id.state_key().unwrap();
    checkpoint.store().delete(&key, None).await.unwrap();
    let received = rsyslog.counts();

    let run = auditfwd.run_once().await;
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("is missing") && said.contains("--reset-shard"),
        "{}",
        run.describe()
    );
    assert!(
        checkpoint.store().get(&key).await.unwrap().is_none(),
        "the run recreated the missing state object"
    );
    assert_eq!(rsyslog.counts(), received, "nothing was sent");
    let status = auditfwd.command(&["status"]).await;
    assert_eq!(status.code, Some(1), "{}", status.describe());

    // The shard name as operators see it in the key: <region>/NNNN-of-NNNN.
    let name = format!("{}/{:04}-of-{:04}", id.region, id.index, id.count);
    let reset = auditfwd.command(&["init", "--reset-shard", &name]).await;
    assert_eq!(reset.code, Some(0), "{}", reset.describe());
    let again = auditfwd.command(&["init", "--reset-shard", &name]).await;
    assert_eq!(
        again.code,
        Some(1),
        "only a missing state is reset: {}",
        again.describe()
    );

    let run = auditfwd.run_once().await;
    assert!(run.complete(), "{}", run.describe());
    let counts = rsyslog.counts();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost after the reset: {missing:?}");
    assert!(
        counts.keys().all(|id| expected.contains(id)),
        "an id that is not a ground-truth event arrived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_missing_shard_state_stops_its_compartments_until_reset() {
    a_missing_shard_state_stops_its_compartments_until_reset(Backend::File, 811).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_missing_shard_state_stops_its_compartments_until_reset() {
    a_missing_shard_state_stops_its_compartments_until_reset(Backend::S3, 812).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_a_missing_shard_state_stops_its_compartments_until_reset() {
    a_missing_shard_state_stops_its_compartments_until_reset(Backend::Oci, 813).await;
}
