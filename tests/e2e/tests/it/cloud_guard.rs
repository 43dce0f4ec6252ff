//! Issue 16, "must show", for the Cloud Guard source: every version of every problem (a new
//! detection, a change of state) reaches real rsyslog exactly once, alongside the tenancy's
//! audit events, under a storm of faults on the Cloud Guard API, and across a SIGKILL (nothing
//! lost; a re-send only of what was sent before the kill and not yet committed). A problem
//! resolved after its window was listed is forwarded again, once, in its new state: by the
//! settle pass while its window has one to come, by the sweep after that; a new detection is
//! forwarded in the window of its new `timeLastDetected`.

use std::collections::{BTreeMap, BTreeSet};

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint};
use auditfwd_e2e::rsyslog::{Rsyslog, problem_version_id};
use auditfwd_e2e::tenancy::{
    STORM_FAULTS, Tenancy, assert_exactly_once, assert_faults_produced, assert_none_lost,
    assert_resent_only_what_was_in_flight, due_at, ids_before, only,
};
use chrono::{DateTime, Utc};
use oci_emulator::{Api, FaultKind, FaultRule, ProblemUpdate};

/// The fresh lag the tests run with (the harness's default).
const FRESH: chrono::Duration = chrono::Duration::minutes(1);

/// A tenancy with audit events and `problems` Cloud Guard problems detected over its backlog.
async fn tenancy(seed: u64, problems: usize) -> Tenancy {
    Tenancy::backlog(seed, |b| {
        b.compartments(3)
            .max_depth(1)
            .events_per_minute(1.0)
            .backlog(chrono::Duration::minutes(30))
            .problems(problems)
    })
    .await
}

/// `auditfwd` for `tenancy`'s audit events and its Cloud Guard problems (listed in the
/// emulator's region, its reporting region here).
fn auditfwd(tenancy: &Tenancy, rsyslog: &Rsyslog, checkpoint: &Checkpoint) -> Auditfwd {
    let mut auditfwd = Auditfwd::new(tenancy, &rsyslog.relp_url(), checkpoint);
    auditfwd.set("AUDITFWD_CLOUD_GUARD_REGION", tenancy.emu.region());
    auditfwd
}

/// Audit events and the current version of every problem (id, time), every one the emulator
/// holds.
fn everything(tenancy: &Tenancy) -> Vec<(String, DateTime<Utc>)> {
    let mut all: Vec<(String, DateTime<Utc>)> = tenancy
        .truth()
        .into_iter()
        .map(|e| (e.id, e.time))
        .collect();
    all.extend(
        tenancy
            .emu
            .problems()
            .iter()
            .map(|p| (problem_version_id(p), p.time_last_detected)),
    );
    all
}

/// The problem versions among `received`.
fn problem_versions(received: &BTreeMap<String, usize>) -> usize {
    received
        .keys()
        .filter(|id| id.starts_with("ocid1.cloudguardproblem."))
        .count()
}

fn received_twice(received: &BTreeMap<String, usize>) -> Vec<&String> {
    received
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_arrive_exactly_once_under_a_fault_storm_and_each_change_once_more() {
    let tenancy = tenancy(1801, 300).await;
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = auditfwd(&tenancy, &rsyslog, &checkpoint);
    // Every kind of fault, each on the next listings in turn: the client retries 429 and 5xx,
    // the pipeline fetches a damaged page again, and later runs retry what still failed.
    let cg = |f: FaultKind, n: u32| FaultRule::always(f).times(n).for_api(Api::CloudGuard);
    tenancy.emu.set_faults(vec![
        cg(
            FaultKind::RateLimited {
                retry_after_secs: 0,
            },
            2,
        ),
        cg(FaultKind::ServerError { status: 500 }, 2),
        cg(FaultKind::ServerError { status: 503 }, 1),
        cg(FaultKind::TruncatedJson, 2),
        cg(FaultKind::MalformedJson, 2),
    ]);
    let runs = auditfwd.run_until_complete(5).await;
    let (last_started, last) = runs.last().expect("a run");
    let last_started = *last_started;
    assert_faults_produced(&tenancy.emu, &STORM_FAULTS);

    // Both sources, each problem and event exactly once; nothing that was not due yet.
    let items = everything(&tenancy);
    let due = ids_before(&items, due_at(last_started, FRESH));
    let could = ids_before(
        &items,
        due_at(last_started, FRESH) + chrono::Duration::minutes(1),
    );
    let received = rsyslog.counts();
    let extra: Vec<&String> = received.keys().filter(|id| !could.contains(*id)).collect();
    assert!(extra.is_empty(), "received what was never due: {extra:?}");
    assert_exactly_once(&due, &only(&due, &received));
    assert!(
        problem_versions(&received) > 250,
        "too few problems were due to show anything: {}",
        problem_versions(&received)
    );
    assert!(
        received_twice(&received).is_empty(),
        "{:?}",
        received_twice(&received)
    );
    assert!(
        last.stdout.contains("== tenancy default cloud-guard"),
        "{}",
        last.describe()
    );

    // `check` reads a recent minute of each lifecycle state; `status` shows them as rows.
    let check = auditfwd.command(&["check"]).await;
    assert_eq!(check.code, Some(0), "{}", check.describe());
    for state in ["active", "inactive"] {
        assert!(
            check.stdout.contains(&format!(
                "PASS  OCI Cloud Guard problems cloud-guard/{state} in "
            )),
            "{}",
            check.describe()
        );
    }
    let status = auditfwd.command(&["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.describe());
    assert!(
        status.stdout.contains("cloud-guard/inactive"),
        "{}",
        status.describe()
    );

    // Two changes after the listing: one problem is resolved (its `timeLastDetected` stays in
    // a window already listed), another, the oldest, is detected again (a new
    // `timeLastDetected`, three minutes ago).
    let settled_before = last_started - chrono::Duration::minutes(4);
    let mut listed: Vec<_> = tenancy
        .emu
        .problems()
        .into_iter()
        .filter(|p| p.time_last_detected < settled_before)
        .collect();
    listed.sort_by_key(|p| std::cmp::Reverse(p.time_last_detected));
    let (resolved, detected) = (
        listed.first().expect("a problem to resolve"),
        listed.last().expect("a problem to detect again"),
    );
    assert_ne!(resolved.id, detected.id);
    let resolved = tenancy
        .emu
        .update_problem(
            &resolved.id,
            ProblemUpdate {
                lifecycle_state: Some("INACTIVE".into()),
                lifecycle_detail: Some("RESOLVED".into()),
                ..Default::default()
            },
        )
        .expect("resolve a problem");
    let detected_again = tenancy
        .emu
        .update_problem(
            &detected.id,
            ProblemUpdate {
                time_last_detected: Some(Utc::now() - chrono::Duration::minutes(3)),
                ..Default::default()
            },
        )
        .expect("detect a problem again");
    // A second listing of every window up to two minutes ago (the settle pass) sees the
    // resolution; the new detection is in a minute listed now, for the first or second time.
    auditfwd.set("AUDITFWD_SETTLE_LAG", "2m");
    let run = auditfwd.run_once().await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let counts = rsyslog.counts();
    for p in [&resolved, &detected_again] {
        let id = problem_version_id(p);
        assert_eq!(counts.get(&id), Some(&1), "{id}, once: {}", run.describe());
    }
    assert!(run.late_arrivals() >= 1, "{}", run.describe());
    // The sweep found the resolution too, and did not send it again.
    assert!(
        run.stdout.contains(" open, 0 changes forwarded"),
        "{}",
        run.describe()
    );

    // Every window older than two minutes has had its settle pass now. A problem dismissed in
    // one of them is shown by no listing by time: the sweep (what was open at the last run and
    // is not now) finds it.
    let dismissed = listed
        .iter()
        .find(|p| {
            p.id != detected.id
                && p.id != resolved.id
                && p.time_last_detected < last_started - chrono::Duration::minutes(10)
        })
        .expect("a problem whose window is settled");
    let dismissed = tenancy
        .emu
        .update_problem(
            &dismissed.id,
            ProblemUpdate {
                lifecycle_state: Some("INACTIVE".into()),
                lifecycle_detail: Some("DISMISSED".into()),
                ..Default::default()
            },
        )
        .expect("dismiss a problem");
    let run = auditfwd.run_once().await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stdout.contains(" open, 1 changes forwarded"),
        "{}",
        run.describe()
    );
    assert_eq!(run.late_arrivals(), 0, "{}", run.describe());
    let counts = rsyslog.counts();
    let id = problem_version_id(&dismissed);
    assert_eq!(counts.get(&id), Some(&1), "{id}, once: {}", run.describe());
    assert!(
        received_twice(&counts).is_empty(),
        "sent again: {:?}",
        received_twice(&counts)
    );

    // `replay --source cloud-guard` sends the problems of a range again, as they are now,
    // marked as replay: each current version once more, nothing else.
    let from = tenancy.emu.backlog_start() - chrono::Duration::minutes(1);
    let replay = auditfwd
        .command(&[
            "replay",
            "--source",
            "cloud-guard",
            "--from",
            &from.to_rfc3339(),
            "--to",
            &due_at(last_started, FRESH).to_rfc3339(),
        ])
        .await;
    assert_eq!(replay.code, Some(0), "{}", replay.describe());
    let after = rsyslog.counts();
    let current: BTreeSet<String> = tenancy
        .emu
        .problems()
        .iter()
        .filter(|p| p.time_last_detected < due_at(last_started, FRESH))
        .map(problem_version_id)
        .collect();
    for id in &current {
        assert_eq!(
            after.get(id),
            Some(&(counts.get(id).copied().unwrap_or(0) + 1)),
            "{id}: replayed once more"
        );
    }
    let audit_sent_again: Vec<&String> = after
        .iter()
        .filter(|(id, n)| !id.starts_with("ocid1.cloudguardproblem.") && counts.get(*id) != Some(n))
        .map(|(id, _)| id)
        .collect();
    assert!(audit_sent_again.is_empty(), "{audit_sent_again:?}");
    // A source the tenancy does not collect is a usage error.
    let none = auditfwd
        .command(&["replay", "--source", "log-search", "--from", "10m"])
        .await;
    assert_eq!(none.code, Some(2), "{}", none.describe());
    assert!(none.stderr.contains("not collected"), "{}", none.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_killed_mid_run_lose_nothing_and_resend_only_what_was_in_flight() {
    let tenancy = tenancy(1802, 1500).await;
    // Slow pages, so the listing is in flight when the process dies.
    tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 150 }).for_api(Api::CloudGuard),
    ]);
    let problems: BTreeSet<String> = tenancy
        .emu
        .problems()
        .iter()
        .map(problem_version_id)
        .collect();
    let audit = tenancy.truth_ids();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = auditfwd(&tenancy, &rsyslog, &checkpoint);
    let at_kill = auditfwd.kill_mid_run(&rsyslog, audit.len() + 50).await;
    let problems_at_kill = problems
        .iter()
        .filter(|id| at_kill.contains_key(*id))
        .count();
    assert!(
        problems_at_kill < problems.len() / 2,
        "the kill came too late to interrupt the listing: {problems_at_kill} of {} sent",
        problems.len()
    );

    // The next run finds the killed process's lease lapsed and delivers the rest.
    let last_started = auditfwd.finish_after_kill().await;
    let counts = rsyslog.counts();
    let due = ids_before(&everything(&tenancy), due_at(last_started, FRESH));
    assert_none_lost(&due, &only(&due, &counts));
    // A re-send is only of what was sent before the process died and not yet committed: at
    // most once more, and never anything sent for the first time after the restart.
    assert_resent_only_what_was_in_flight(&at_kill, &counts);
}
