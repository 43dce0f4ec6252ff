//! Issue 5, "must show": two `auditfwd run --once` processes started at the same moment on the
//! same checkpoint send no event twice between them, leave every state document readable, and
//! together deliver everything (conditional writes and the lease at work). The tenancy is one
//! shard: its lease, taken with a conditional write of the shard's state, lets exactly one of
//! them work it; the other reports who holds it. On S3 (moto), as the issue asks, and on the
//! other two backends.

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint, assert_cursor_not_ahead};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_none_lost};
use auditfwd_oci::Ocid;
use oci_emulator::{Api, FaultKind, FaultRule};

async fn two_runners_at_once(backend: Backend, seed: u64) {
    let tenancy = Tenancy::backlog(seed, |b| {
        b.compartments(12)
            .max_depth(3)
            .events_per_minute(4.0)
            .backlog(chrono::Duration::minutes(40))
            .page_size(50)
    })
    .await;
    // Slightly slow pages, so the two runs overlap for the whole tenancy.
    tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 40 }).for_api(Api::Audit),
    ]);
    let expected = tenancy.truth_ids();
    let scopes = tenancy.scopes();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(backend, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    let (a, b) = (auditfwd.spawn(), auditfwd.spawn());
    let (a, b) = (a.wait().await, b.wait().await);
    // Each run either delivered everything, or exited 1 only because the other held the shard's
    // lease (a run never claims success for compartments it could not work). The summary is
    // all a process shows; its line for a compartment leased elsewhere is the report's
    // `Outcome::LeasedElsewhere`.
    for (name, run) in [("first", &a), ("second", &b)] {
        let only_leases = run
            .stdout
            .lines()
            .filter(|l| {
                ["PENDING", "GAP", "FAILING", "FAILED"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .all(|l| l.contains("holds its lease"));
        assert!(
            run.complete() || (run.code == Some(1) && only_leases),
            "{name} process: {}",
            run.describe()
        );
    }

    assert!(
        [&a.stdout, &b.stdout]
            .iter()
            .any(|s| s.contains("holds its lease")),
        "the two runs did not overlap: nothing was skipped for a lease"
    );
    let received = rsyslog.counts();
    assert_none_lost(&expected, &received);
    let sent = rsyslog.received().len() as u64;
    let forwarded = a.forwarded() + b.forwarded();
    assert_eq!(
        forwarded, sent,
        "the two summaries account for every message rsyslog got"
    );
    // One shard, one lease holder: nothing is sent by both.
    let duplicates = sent as usize - received.len();
    assert_eq!(
        duplicates, 0,
        "{duplicates} events sent twice by the pair of runners"
    );
    assert_eq!(
        checkpoint.shards(&scopes).await.states.len(),
        1,
        "the tenancy is one shard"
    );
    let states = checkpoint.states(&scopes).await;
    assert_cursor_not_ahead(&tenancy, &states, &received);
    checkpoint
        .assert_intact(&Ocid::parse(tenancy.emu.tenancy_id()).unwrap(), &scopes)
        .await;
    let again = auditfwd.run_once().await;
    assert!(again.complete(), "{}", again.describe());
    assert_eq!(again.forwarded(), 0, "{}", again.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_at_once_on_an_s3_checkpoint() {
    two_runners_at_once(Backend::S3, 541).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_at_once_on_a_file_checkpoint() {
    two_runners_at_once(Backend::File, 542).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_at_once_on_an_oci_checkpoint() {
    two_runners_at_once(Backend::Oci, 543).await;
}
