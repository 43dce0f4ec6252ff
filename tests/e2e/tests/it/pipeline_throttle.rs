//! Issue 13, "must show": a 429 storm against the adaptive request budget. The emulator
//! enforces a rate limit on the Audit API far below auditfwd's default budget (200 requests a
//! second), as a tenancy with a lower real limit would. auditfwd's budget halves on each 429
//! (at most once a second) and waits out `Retry-After`, so it settles near the limit instead of
//! storming it: the run completes, every event arrives exactly once, and most requests are
//! served rather than refused.

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};
use oci_emulator::Operation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_below_the_budget_is_converged_to_not_stormed() {
    let tenancy = Tenancy::backlog(541, |b| {
        b.compartments(24)
            .max_depth(1)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(60))
            .page_size(20)
    })
    .await;
    let emu = &tenancy.emu;
    emu.set_audit_rate_limit(Some(15));
    emu.reset_stats();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);
    // The whole backlog is due (it starts an hour back; the default look-back is one hour).
    auditfwd.set("AUDITFWD_INITIAL_LOOKBACK", "2h");

    let run = auditfwd.run_once().await;
    assert!(run.complete(), "{}", run.describe());
    let expected = tenancy.truth_ids();
    rsyslog.wait_for(expected.len()).await;
    assert_exactly_once(&expected, &rsyslog.counts());

    let stats = emu.stats().of(Operation::ListEvents);
    let (requests, refused) = (stats.authenticated, stats.faulted);
    eprintln!("ListEvents: {requests} requests, {refused} answered 429");
    assert!(
        refused > 0,
        "the limit was never reached: {requests} requests"
    );
    // Measured: 165 of 579 (28%); a growth of 5% a second instead of 1% gave 345 of 755.
    assert!(
        refused * 3 < requests,
        "the budget stormed the limit: {refused} of {requests} requests refused"
    );
}
