//! Issue 5, "must show": `auditfwd` killed (SIGKILL) in the middle of a window and started
//! again loses nothing, and re-sends at most the events of the windows that were in flight.
//! With each checkpoint backend.

use std::time::{Duration, Instant};

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{
    Backend, Checkpoint, assert_cursor_not_ahead, assert_duplicates_within_interrupted_windows,
};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_none_lost};
use auditfwd_oci::Ocid;
use oci_emulator::{Api, FaultKind, FaultRule};

/// Windows are at most 10 minutes (the default `AUDITFWD_MAX_WINDOW`).
const MAX_WINDOW_MINUTES: i64 = 10;

/// A tenancy whose Audit API answers slowly, in small pages, so that every window takes
/// several round trips and is in flight for a while.
async fn slow_tenancy(seed: u64) -> Tenancy {
    let tenancy = Tenancy::backlog(seed, |b| {
        b.compartments(8)
            .max_depth(2)
            .events_per_minute(4.0)
            .backlog(chrono::Duration::minutes(40))
            .page_size(10)
    })
    .await;
    tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 150 }).for_api(Api::Audit),
    ]);
    tenancy
}

/// Waits until rsyslog has `n` messages, while `auditfwd` still runs.
async fn wait_mid_run(rsyslog: &Rsyslog, running: &mut auditfwd_e2e::auditfwd::Running, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while rsyslog.received().len() < n {
        assert!(
            !running.has_exited(),
            "auditfwd finished before it could be interrupted: {:?}",
            running.output()
        );
        assert!(Instant::now() < deadline, "no events arrived in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn killed_mid_window_loses_nothing(backend: Backend, seed: u64) {
    let tenancy = slow_tenancy(seed).await;
    let expected = tenancy.truth_ids();
    let scopes = tenancy.scopes();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(backend, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    let mut running = auditfwd.spawn();
    wait_mid_run(&rsyslog, &mut running, expected.len() / 4).await;
    running.kill();
    let at_kill = checkpoint.states(&scopes).await;
    let received = rsyslog.counts();
    assert!(received.len() < expected.len(), "killed too late to matter");
    assert_cursor_not_ahead(&tenancy, &at_kill, &received);
    let stale = checkpoint.leases(&scopes).await;
    assert!(
        !stale.is_empty(),
        "a process killed mid-window leaves its leases behind"
    );

    // The next runner finds those leases expired (the TTL, AUDITFWD_LEASE_TTL, is 5 minutes by
    // default; not waited for here).
    checkpoint.expire_leases(&scopes).await;
    tenancy.emu.set_faults(Vec::new());
    let restart = auditfwd.run_once().await;
    assert!(restart.complete(), "restart: {}", restart.describe());
    let received = rsyslog.counts();
    assert_none_lost(&expected, &received);
    let duplicated = assert_duplicates_within_interrupted_windows(
        &tenancy,
        &at_kill,
        &received,
        MAX_WINDOW_MINUTES,
    );
    let in_flight: Vec<&String> = stale.iter().map(|(c, _)| c).collect();
    assert!(
        duplicated.keys().all(|c| in_flight.contains(&c)),
        "duplicates {duplicated:?} outside the compartments in flight at the kill {in_flight:?}"
    );
    let again = auditfwd.run_once().await;
    assert!(again.complete(), "{}", again.describe());
    assert_eq!(again.forwarded(), 0, "{}", again.describe());
    checkpoint
        .assert_intact(&Ocid::parse(tenancy.emu.tenancy_id()).unwrap(), &scopes)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_window_with_a_file_checkpoint() {
    killed_mid_window_loses_nothing(Backend::File, 511).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_window_with_an_s3_checkpoint() {
    killed_mid_window_loses_nothing(Backend::S3, 512).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_window_with_an_oci_checkpoint() {
    killed_mid_window_loses_nothing(Backend::Oci, 513).await;
}

/// Restarted straight away (before the killed process's leases lapse), the new process
/// cannot work the compartments the killed one held, and must not exit 0 while their events
/// are undelivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_right_after_sigkill_does_not_report_success_while_events_are_undelivered() {
    let tenancy = slow_tenancy(514).await;
    let expected = tenancy.truth_ids();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);
    let mut running = auditfwd.spawn();
    wait_mid_run(&rsyslog, &mut running, expected.len() / 4).await;
    running.kill();
    tenancy.emu.set_faults(Vec::new());

    let restart = auditfwd.run_once().await;
    let received = rsyslog.counts();
    let missing = expected
        .iter()
        .filter(|id| !received.contains_key(*id))
        .count();
    assert!(
        missing == 0 || !restart.complete(),
        "the restart exited 0 with {missing} of {} events undelivered: {}",
        expected.len(),
        restart.describe()
    );
}
