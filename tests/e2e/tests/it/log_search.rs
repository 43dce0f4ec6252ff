//! Issue 16, "must show", for the Logging search source: the records of a configured search
//! reach real rsyslog exactly once, alongside the tenancy's audit events, under a storm of
//! faults on the Logging API, and across a SIGKILL (nothing lost; a re-send only of what was
//! sent before the kill and not yet committed). Records that Logging ingests late are caught by the settle pass, like audit
//! events.

use std::collections::{BTreeMap, BTreeSet};

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{
    STORM_FAULTS, Tenancy, assert_exactly_once, assert_faults_produced, assert_none_lost,
    assert_resent_only_what_was_in_flight, due_at, ids_before, only,
};
use chrono::{DateTime, Utc};
use oci_emulator::{Api, FaultKind, FaultRule};

/// The fresh lag the tests run with: longer than Logging's seeded ingestion delay (at most
/// 90 s), so every record of a window is searchable when the window is first listed.
pub(crate) const FRESH_LAG: &str = "2m";

/// The same, as a duration.
const FRESH: chrono::Duration = chrono::Duration::minutes(2);

/// A tenancy with audit events and a VCN flow log of `records` records over its backlog.
async fn tenancy(seed: u64, records: usize) -> Tenancy {
    Tenancy::backlog(seed, |b| {
        b.compartments(2)
            .max_depth(1)
            .events_per_minute(1.0)
            .backlog(chrono::Duration::minutes(30))
            .log_records(records)
    })
    .await
}

/// `AUDITFWD_LOG_SEARCHES` for the seeded flow log: `flow=search "<compartment>/<group>/<log>"`.
fn flow_search(tenancy: &Tenancy) -> String {
    let log = tenancy.emu.logs().into_iter().next().expect("a seeded log");
    format!(
        "flow=search \"{}/{}/{}\"",
        log.compartment_id, log.log_group_id, log.id
    )
}

/// `auditfwd` for `tenancy`'s audit events and its flow log search.
fn auditfwd(tenancy: &Tenancy, rsyslog: &Rsyslog, checkpoint: &Checkpoint) -> Auditfwd {
    let mut auditfwd = Auditfwd::new(tenancy, &rsyslog.relp_url(), checkpoint);
    auditfwd.set("AUDITFWD_LOG_SEARCHES", flow_search(tenancy));
    auditfwd.set("AUDITFWD_FRESH_LAG", FRESH_LAG);
    auditfwd
}

/// Audit events and flow log records (id, time), every one the emulator holds.
pub(crate) fn everything(tenancy: &Tenancy) -> Vec<(String, DateTime<Utc>)> {
    let mut all: Vec<(String, DateTime<Utc>)> = tenancy
        .truth()
        .into_iter()
        .map(|e| (e.id, e.time))
        .collect();
    all.extend(tenancy.emu.log_records().into_iter().map(|r| {
        let at = DateTime::parse_from_rfc3339(&r.datetime)
            .expect("record datetime")
            .with_timezone(&Utc);
        (r.id, at)
    }));
    all
}

/// Every record and event due when the last run started was received exactly once, and
/// nothing else but what became due during it (one more minute at most), nothing twice.
pub(crate) fn assert_due_exactly_once(
    items: &[(String, DateTime<Utc>)],
    last_started: DateTime<Utc>,
    received: &BTreeMap<String, usize>,
) {
    let due = ids_before(items, due_at(last_started, FRESH));
    let could = ids_before(
        items,
        due_at(last_started, FRESH) + chrono::Duration::minutes(1),
    );
    let extra: Vec<&String> = received.keys().filter(|id| !could.contains(*id)).collect();
    assert!(extra.is_empty(), "received what was never due: {extra:?}");
    assert_exactly_once(&due, &only(&due, received));
    let twice: Vec<&String> = received
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(twice.is_empty(), "received twice: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_records_arrive_exactly_once_under_a_fault_storm_with_the_audit_events() {
    let tenancy = tenancy(1701, 400).await;
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = auditfwd(&tenancy, &rsyslog, &checkpoint);
    // Every kind of fault, each on the next searches in turn: the client retries 429 and 5xx,
    // the pipeline fetches a damaged page again, and later runs retry what still failed.
    let search = |f: FaultKind, n: u32| FaultRule::always(f).times(n).for_api(Api::LoggingSearch);
    tenancy.emu.set_faults(vec![
        search(
            FaultKind::RateLimited {
                retry_after_secs: 0,
            },
            2,
        ),
        search(FaultKind::ServerError { status: 500 }, 2),
        search(FaultKind::ServerError { status: 503 }, 1),
        search(FaultKind::TruncatedJson, 2),
        search(FaultKind::MalformedJson, 2),
    ]);
    let runs = auditfwd.run_until_complete(5).await;
    let (last_started, last) = runs.last().expect("a run");
    let last_started = *last_started;
    assert_faults_produced(&tenancy.emu, &STORM_FAULTS);
    // Both sources, each record and event exactly once; the search ran as its own runner.
    let items = everything(&tenancy);
    assert!(
        ids_before(&items, due_at(last_started, FRESH)).len() > 400,
        "too little was due to show anything"
    );
    assert_due_exactly_once(&items, last_started, &rsyslog.counts());
    assert!(
        last.stdout.contains("== tenancy default log-search"),
        "{}",
        last.describe()
    );

    // `check` reads a recent window of the search too.
    let check = auditfwd.command(&["check"]).await;
    assert_eq!(check.code, Some(0), "{}", check.describe());
    assert!(
        check
            .stdout
            .contains("PASS  OCI log search log-search/flow in "),
        "{}",
        check.describe()
    );
    assert!(
        check.stdout.contains("PASS  OCI audit events in "),
        "{}",
        check.describe()
    );

    // `status` shows the search as a row of its own runner.
    let status = auditfwd.command(&["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.describe());
    assert!(
        status.stdout.contains("log-search/flow"),
        "{}",
        status.describe()
    );

    // A record Logging ingests late, in a window already listed: the settle pass forwards it.
    let log = tenancy.emu.logs().into_iter().next().expect("log");
    let late = tenancy
        .emu
        .add_log_records(oci_emulator::NewLogRecords {
            log_id: log.id.clone(),
            count: Some(1),
            datetime: Some(due_at(last_started, FRESH) - chrono::Duration::seconds(30)),
            delay_ms: Some(0),
            ..Default::default()
        })
        .expect("add a late record");
    auditfwd.set("AUDITFWD_SETTLE_LAG", "2m");
    let run = auditfwd.run_once().await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let counts = rsyslog.counts();
    assert_eq!(counts.get(&late[0].id), Some(&1), "the late record, once");
    assert!(run.late_arrivals() >= 1, "{}", run.describe());
    let twice: Vec<&String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(twice.is_empty(), "the settle pass sent again: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_killed_mid_run_loses_nothing_and_resends_only_what_was_in_flight() {
    let tenancy = tenancy(1702, 1500).await;
    // Slow pages, so the search is in flight when the process dies.
    tenancy.emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 150 }).for_api(Api::LoggingSearch),
    ]);
    let records: BTreeSet<String> = tenancy
        .emu
        .log_records()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let audit = tenancy.truth_ids();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = auditfwd(&tenancy, &rsyslog, &checkpoint);
    let at_kill = auditfwd.kill_mid_run(&rsyslog, audit.len() + 50).await;
    let records_at_kill = records
        .iter()
        .filter(|id| at_kill.contains_key(*id))
        .count();
    assert!(
        records_at_kill < records.len() / 2,
        "the kill came too late to interrupt the search: {records_at_kill} of {} sent",
        records.len()
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
