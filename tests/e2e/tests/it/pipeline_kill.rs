//! Issue 5, "must show": `auditfwd` killed (SIGKILL) in the middle of a window and started
//! again loses nothing, and re-sends only events of the ranges that were in flight: what its
//! shard delivered after the shard's last state write (a busy window is written as soon as it
//! is delivered, idle ranges with the shard's end-of-cycle write), never anything committed.
//! With each checkpoint backend, and in the middle of a shard whose compartments are listed
//! side by side.

use std::collections::{BTreeMap, BTreeSet};

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{
    Backend, Checkpoint, Cursors, Interrupted, assert_cursor_not_ahead,
    assert_duplicates_within_interrupted_ranges,
};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_none_lost};
use auditfwd_oci::Ocid;
use oci_emulator::{Api, FaultKind, FaultRule};

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

async fn killed_mid_window_loses_nothing(backend: Backend, seed: u64) {
    let tenancy = slow_tenancy(seed).await;
    let expected = tenancy.truth_ids();
    let scopes = tenancy.scopes();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(backend, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    let mut running = auditfwd.spawn();
    rsyslog.wait_mid_run(&mut running, expected.len() / 4).await;
    running.kill();
    let at_kill = checkpoint.states(&scopes).await;
    let at_kill_received = rsyslog.counts_once_settled().await;
    assert!(
        at_kill_received.len() < expected.len(),
        "killed too late to matter"
    );
    assert_cursor_not_ahead(&tenancy, &at_kill, &at_kill_received);
    let stale = checkpoint.leases(&scopes).await;
    assert!(
        !stale.is_empty(),
        "a process killed mid-window leaves its shard leases behind"
    );

    // The next runner finds those leases expired (the TTL, AUDITFWD_LEASE_TTL, is 5 minutes by
    // default; not waited for here).
    assert_eq!(checkpoint.expire_leases(&scopes).await, stale.len());
    tenancy.emu.set_faults(Vec::new());
    let restart = auditfwd.run_once().await;
    assert!(restart.complete(), "restart: {}", restart.describe());
    let received = rsyslog.counts();
    assert_none_lost(&expected, &received);
    let duplicated = assert_duplicates_within_interrupted_ranges(
        &tenancy,
        &at_kill,
        &received,
        Interrupted::SinceLastCommit,
    );
    let in_flight: BTreeSet<&String> = stale.iter().flat_map(|l| &l.compartments).collect();
    assert!(
        duplicated.keys().all(|c| in_flight.contains(&c)),
        "duplicates {duplicated:?} outside the compartments of the shards in flight at the kill {in_flight:?}"
    );
    assert_resent_only_in_flight(
        &uncommitted(&tenancy, &at_kill, &at_kill_received),
        &received,
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
    rsyslog.wait_mid_run(&mut running, expected.len() / 4).await;
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

/// Ids received that their compartment's cursor has not passed: delivered by the run in
/// flight, not committed yet.
fn uncommitted(
    tenancy: &Tenancy,
    states: &Cursors,
    received: &BTreeMap<String, usize>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in tenancy.truth() {
        let committed = states
            .get(&e.compartment)
            .and_then(Option::as_ref)
            .is_some_and(|c| e.time < c.delivered_until.as_datetime());
        if received.contains_key(&e.id) && !committed {
            out.entry(e.compartment).or_default().insert(e.id);
        }
    }
    out
}

/// Fails unless every id received more than once (`after`) was delivered and uncommitted at
/// the kill (`in_flight`, from [`uncommitted`]). Returns how many were re-sent.
fn assert_resent_only_in_flight(
    in_flight: &BTreeMap<String, BTreeSet<String>>,
    after: &BTreeMap<String, usize>,
) -> usize {
    let resent: BTreeSet<&String> = after
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    let may_resend: BTreeSet<&String> = in_flight.values().flatten().collect();
    assert!(
        resent.is_subset(&may_resend),
        "re-sent ids that were committed or not delivered before the kill: {:?}",
        resent.difference(&may_resend).take(5).collect::<Vec<_>>()
    );
    resent.len()
}

/// SIGKILL while one shard has several compartments in flight at once, after it wrote busy
/// windows in the middle of its cycle: the restart re-sends only what was delivered and not
/// written (never a committed event), loses nothing, and the next run has nothing to send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_shard_with_several_compartments_in_flight() {
    // Five compartments and the root: one shard. About 17 events a compartment per 10-minute
    // window, pages of 10: every window is busy, and is written as soon as it is delivered.
    let tenancy = Tenancy::backlog(515, |b| {
        b.compartments(5)
            .max_depth(1)
            .events_per_minute(10.0)
            .backlog(chrono::Duration::minutes(40))
            .page_size(10)
    })
    .await;
    tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 150 }).for_api(Api::Audit),
    ]);
    let expected = tenancy.truth_ids();
    let scopes = tenancy.scopes();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    let mut running = auditfwd.spawn();
    rsyslog.wait_mid_run(&mut running, expected.len() / 3).await;
    running.kill();
    let shards = checkpoint.shards(&scopes).await;
    let at_kill = shards.cursors(&scopes);
    let received = rsyslog.counts_once_settled().await;
    assert!(received.len() < expected.len(), "killed too late to matter");
    assert_cursor_not_ahead(&tenancy, &at_kill, &received);
    assert_eq!(
        shards.states.len(),
        1,
        "one shard: {:?}",
        shards.states.keys()
    );
    let stale = checkpoint.leases(&scopes).await;
    assert_eq!(
        stale.len(),
        1,
        "the killed process's shard lease: {stale:?}"
    );
    assert_eq!(stale[0].compartments.len(), scopes.len());
    assert!(
        at_kill.values().any(Option::is_some),
        "no busy window was written while the shard was leased: {at_kill:?}"
    );
    let in_flight = uncommitted(&tenancy, &at_kill, &received);
    assert!(
        in_flight.len() >= 2,
        "several compartments of the shard had delivered uncommitted events at the kill: {:?}",
        in_flight
            .iter()
            .map(|(c, ids)| (c, ids.len()))
            .collect::<Vec<_>>()
    );

    assert_eq!(checkpoint.expire_leases(&scopes).await, 1);
    tenancy.emu.set_faults(Vec::new());
    let restart = auditfwd.run_once().await;
    assert!(restart.complete(), "restart: {}", restart.describe());
    let after = rsyslog.counts();
    assert_none_lost(&expected, &after);
    assert_duplicates_within_interrupted_ranges(
        &tenancy,
        &at_kill,
        &after,
        Interrupted::SinceLastCommit,
    );
    let resent = assert_resent_only_in_flight(&in_flight, &after);
    eprintln!(
        "in flight at the kill: {} events in {} compartments; re-sent {resent}",
        in_flight.values().map(BTreeSet::len).sum::<usize>(),
        in_flight.len(),
    );
    let again = auditfwd.run_once().await;
    assert!(again.complete(), "{}", again.describe());
    assert_eq!(again.forwarded(), 0, "{}", again.describe());
    checkpoint
        .assert_intact(&Ocid::parse(tenancy.emu.tenancy_id()).unwrap(), &scopes)
        .await;
}
