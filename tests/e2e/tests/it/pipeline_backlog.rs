//! Issue 5, "must show": 20 compartments over 3 tree levels and a few thousand events; after
//! `auditfwd run --once` every event of the emulator's ground truth is at rsyslog exactly once
//! (RELP: every message acknowledged), and a second run sends nothing. With each checkpoint
//! backend.

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint, assert_cursor_not_ahead};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};
use auditfwd_oci::Ocid;

async fn backlog_is_delivered_exactly_once(backend: Backend, seed: u64) {
    let tenancy = Tenancy::backlog(seed, |b| {
        b.compartments(20)
            .max_depth(3)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(50))
    })
    .await;
    let depth = tenancy
        .emu
        .compartments()
        .iter()
        .map(|c| c.depth)
        .max()
        .unwrap();
    assert_eq!(depth, 3, "the tree should have 3 levels below the root");
    let expected = tenancy.truth_ids();
    assert!(
        expected.len() >= 2000,
        "a few thousand events: {}",
        expected.len()
    );
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(backend, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);
    let scopes = tenancy.scopes();
    assert_eq!(scopes.len(), 21, "20 compartments and the root");

    let first = auditfwd.run_once().await;
    assert!(first.complete(), "first run: {}", first.describe());
    assert_eq!(
        first.forwarded(),
        expected.len() as u64,
        "{}",
        first.describe()
    );
    let received = rsyslog.counts();
    assert_exactly_once(&expected, &received);
    assert!(
        rsyslog.received().iter().all(|r| r.input == "imrelp"),
        "every message came over RELP"
    );
    assert_cursor_not_ahead(&tenancy, &checkpoint.states(&scopes).await, &received);
    let tenancy_id = Ocid::parse(tenancy.emu.tenancy_id()).unwrap();
    checkpoint.assert_intact(&tenancy_id, &scopes).await;

    let second = auditfwd.run_once().await;
    assert!(second.complete(), "second run: {}", second.describe());
    assert_eq!(second.forwarded(), 0, "{}", second.describe());
    assert_eq!(
        rsyslog.received().len(),
        expected.len(),
        "the second run sent something"
    );
    checkpoint.assert_intact(&tenancy_id, &scopes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_exactly_once_with_a_file_checkpoint() {
    backlog_is_delivered_exactly_once(Backend::File, 501).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_exactly_once_with_an_s3_checkpoint() {
    backlog_is_delivered_exactly_once(Backend::S3, 502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_exactly_once_with_an_oci_checkpoint() {
    backlog_is_delivered_exactly_once(Backend::Oci, 503).await;
}
