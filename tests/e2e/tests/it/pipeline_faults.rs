//! Issue 5, "must show": 429 and 5xx storms and damaged pages from OCI still deliver every
//! event exactly once; a compartment that turns inaccessible lands in the gap ledger, the run
//! exits non-zero naming it, and once access is back the next run delivers the gap.

use std::collections::BTreeSet;

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{
    Backend, Checkpoint, Cursors, assert_cursor_not_ahead, assert_gaps_closed,
};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{STORM_FAULTS, Tenancy, assert_exactly_once, assert_faults_produced};
use auditfwd_oci::Ocid;
use oci_emulator::{Access, Api, FaultKind, FaultRule};

/// The events before each compartment's cursor.
fn before_cursors(tenancy: &Tenancy, states: &Cursors) -> BTreeSet<String> {
    tenancy
        .truth()
        .into_iter()
        .filter(|e| {
            states
                .get(&e.compartment)
                .and_then(Option::as_ref)
                .is_some_and(|s| e.time < s.delivered_until.as_datetime())
        })
        .map(|e| e.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storms_and_damaged_pages_lose_nothing_and_an_inaccessible_compartment_becomes_a_gap() {
    let tenancy = Tenancy::backlog(531, |b| {
        b.compartments(8)
            .max_depth(2)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(40))
            .page_size(25)
    })
    .await;
    let emu = &tenancy.emu;
    let scopes = tenancy.scopes();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::S3, &tenancy).await;
    let mut auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    // 1. Storms on Audit and Identity (Object Storage, the checkpoint, is left alone here).
    //    A fresh lag of 5 minutes leaves the backlog's last 4 minutes for step 2.
    let audit = |f: FaultKind, p: f64| FaultRule::always(f).with_probability(p).for_api(Api::Audit);
    let identity = |f: FaultKind, p: f64| {
        FaultRule::always(f)
            .with_probability(p)
            .for_api(Api::Identity)
    };
    emu.set_faults(vec![
        audit(
            FaultKind::RateLimited {
                retry_after_secs: 0,
            },
            0.2,
        ),
        audit(FaultKind::ServerError { status: 500 }, 0.1),
        audit(FaultKind::ServerError { status: 503 }, 0.05),
        audit(FaultKind::TruncatedJson, 0.06),
        audit(FaultKind::MalformedJson, 0.06),
        identity(
            FaultKind::RateLimited {
                retry_after_secs: 0,
            },
            0.3,
        ),
        identity(FaultKind::ServerError { status: 500 }, 0.2),
    ]);
    auditfwd.set("AUDITFWD_FRESH_LAG", "5m");
    auditfwd.run_until_complete(4).await;
    assert_faults_produced(emu, &STORM_FAULTS);
    let states = checkpoint.states(&scopes).await;
    let expected = before_cursors(&tenancy, &states);
    assert!(
        expected.len() > 800,
        "events delivered under the storm: {}",
        expected.len()
    );
    assert_exactly_once(&expected, &rsyslog.counts());

    // 2. A leaf compartment turns inaccessible; the remaining minutes come due.
    emu.set_faults(Vec::new());
    let parents: BTreeSet<String> = emu
        .compartments()
        .iter()
        .map(|c| c.compartment.compartment_id.clone())
        .collect();
    let remaining = |id: &str| {
        let cursor = states[id].as_ref().unwrap().delivered_until.as_datetime();
        tenancy
            .truth()
            .into_iter()
            .filter(|e| e.compartment == id && e.time >= cursor)
            .count()
    };
    let lost = emu
        .compartments()
        .into_iter()
        .filter(|c| c.depth > 0 && !parents.contains(&c.compartment.id))
        .max_by_key(|c| remaining(&c.compartment.id))
        .unwrap()
        .compartment;
    let lost_events = remaining(&lost.id);
    assert!(
        lost_events > 0,
        "the chosen compartment has nothing left to deliver"
    );
    emu.set_compartment_access(&lost.id, Access::NotFound)
        .unwrap();
    auditfwd.set("AUDITFWD_FRESH_LAG", "1m");
    let refused = auditfwd.run_once().await;
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    let gap_line = refused
        .stdout
        .lines()
        .find(|l| l.starts_with("GAP ") && l.contains(&lost.id))
        .unwrap_or_else(|| panic!("no GAP line for {}: {}", lost.id, refused.describe()));
    assert!(
        gap_line.contains(&lost.name),
        "the GAP line names the compartment: {gap_line}"
    );
    let states = checkpoint.states(&scopes).await;
    let lost_state = states[&lost.id].as_ref().unwrap();
    assert_eq!(lost_state.gaps.len(), 1, "{lost_state:?}");
    let received = rsyslog.counts();
    assert_cursor_not_ahead(&tenancy, &states, &received);
    let undelivered: BTreeSet<String> = tenancy
        .truth()
        .into_iter()
        .filter(|e| e.compartment == lost.id && !received.contains_key(&e.id))
        .map(|e| e.id)
        .collect();
    assert_eq!(
        undelivered.len(),
        lost_events,
        "the inaccessible compartment's events wait"
    );
    let mut expected = before_cursors(&tenancy, &states);
    expected.retain(|id| !undelivered.contains(id));
    assert_exactly_once(&expected, &received);

    // 3. Access is back: the next run delivers the gap and closes it.
    emu.set_compartment_access(&lost.id, Access::Normal)
        .unwrap();
    let healed = auditfwd.run_once().await;
    assert!(healed.complete(), "{}", healed.describe());
    let states = checkpoint.states(&scopes).await;
    assert!(states.values().all(Option::is_some), "{states:?}");
    assert_gaps_closed(&states);
    let received = rsyslog.counts();
    assert!(undelivered.iter().all(|id| received.contains_key(id)));
    assert_exactly_once(&before_cursors(&tenancy, &states), &received);
    checkpoint
        .assert_intact(&Ocid::parse(emu.tenancy_id()).unwrap(), &scopes)
        .await;
}
