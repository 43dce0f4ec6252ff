//! Issue 5, "must show": the syslog receiver goes down in the middle of a run and stays down
//! for several cycles, then comes back. Every run while it is down exits non-zero, no cursor
//! is ever ahead of what rsyslog acknowledged, and once it is back everything arrives.

use std::time::{Duration, Instant};

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{
    Backend, Checkpoint, Interrupted, assert_cursor_not_ahead,
    assert_duplicates_within_interrupted_ranges,
};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_none_lost};
use auditfwd_oci::Ocid;
use oci_emulator::{Api, FaultKind, FaultRule};

/// The emulator's page size (small, so listings page and take a while).
const PAGE_SIZE: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_down_for_several_cycles_loses_nothing_and_never_moves_a_cursor_past_delivery() {
    let tenancy = Tenancy::backlog(521, |b| {
        b.compartments(6)
            .max_depth(2)
            .events_per_minute(4.0)
            .backlog(chrono::Duration::minutes(30))
            .page_size(PAGE_SIZE)
    })
    .await;
    // Slow pages, so the receiver can be stopped while windows are in flight.
    tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 150 }).for_api(Api::Audit),
    ]);
    let expected = tenancy.truth_ids();
    let scopes = tenancy.scopes();
    let mut rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::Oci, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    let mut running = auditfwd.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rsyslog.received().len() < expected.len() / 4 {
        assert!(
            !running.has_exited(),
            "auditfwd finished before rsyslog could be stopped: {:?}",
            running.output()
        );
        assert!(Instant::now() < deadline, "no events arrived in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rsyslog.stop();
    let interrupted = running.wait().await;
    assert_eq!(
        interrupted.code,
        Some(1),
        "the run that lost its receiver: {}",
        interrupted.describe()
    );
    assert!(
        interrupted.stdout.contains("syslog"),
        "the summary says the receiver failed: {}",
        interrupted.describe()
    );
    let received = rsyslog.counts();
    assert!(
        received.len() < expected.len(),
        "stopped too late to matter"
    );
    let at_outage = checkpoint.states(&scopes).await;
    assert_cursor_not_ahead(&tenancy, &at_outage, &received);

    tenancy.emu.set_faults(Vec::new());
    for cycle in 1..=2 {
        let down = auditfwd.run_once().await;
        assert_eq!(
            down.code,
            Some(1),
            "cycle {cycle} with rsyslog down: {}",
            down.describe()
        );
        assert_eq!(down.forwarded(), 0, "{}", down.describe());
        assert_cursor_not_ahead(&tenancy, &checkpoint.states(&scopes).await, &received);
    }
    assert_eq!(
        rsyslog.counts(),
        received,
        "nothing arrives while it is down"
    );

    rsyslog.start_again();
    let back = auditfwd.run_once().await;
    assert!(back.complete(), "rsyslog back: {}", back.describe());
    let received = rsyslog.counts();
    assert_none_lost(&expected, &received);
    assert_duplicates_within_interrupted_ranges(
        &tenancy,
        &at_outage,
        &received,
        Interrupted::OneListing {
            max_window_minutes: 10,
            page_size: PAGE_SIZE,
        },
    );
    assert_cursor_not_ahead(&tenancy, &checkpoint.states(&scopes).await, &received);
    let after = auditfwd.run_once().await;
    assert!(after.complete(), "{}", after.describe());
    assert_eq!(after.forwarded(), 0, "{}", after.describe());
    checkpoint
        .assert_intact(&Ocid::parse(tenancy.emu.tenancy_id()).unwrap(), &scopes)
        .await;
}
