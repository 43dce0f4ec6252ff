//! Cloud Guard `ListProblems` against the OCI emulator: filters, subtree scope, pages,
//! parameter errors, retried faults and signature rejection, all checked against the
//! emulator's own record of its problems.

use std::collections::BTreeSet;

use auditfwd_oci::auth::{ApiKeyCredentials, PrivateKeySource};
use auditfwd_oci::cloud_guard::{
    self, ProblemLifecycleDetail, ProblemLifecycleState, ProblemSummary, RiskLevel,
};
use auditfwd_oci::{Config, Endpoint, Error, Ocid, Region, RetryConfig, TimeoutConfig};
use chrono::{DateTime, Duration, Utc};
use oci_emulator::{
    Api, EmulatorHandle, FaultKind, FaultRule, NewProblem, ProblemUpdate, TEST_USER_ID,
};

use crate::support::{FIXTURES, KEY_2048, SAMPLE_KEY, fast_retries};

fn key_pem(file: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap()
}

/// A config signing with fixture `key_file` (not registered here).
fn config_with(emu: &EmulatorHandle, key_file: &str, retry: RetryConfig) -> Config {
    let credentials = ApiKeyCredentials::builder()
        .tenancy(emu.tenancy_id())
        .user(TEST_USER_ID)
        .private_key(PrivateKeySource::Pem(key_pem(key_file).into()))
        .build()
        .unwrap();
    Config::builder()
        .credentials(credentials)
        .region(Region::parse(&emu.region()).unwrap())
        .endpoint_override_all(Endpoint::parse(&emu.base_url()).unwrap())
        .retry_config(retry)
        .timeout_config(TimeoutConfig::default())
        .build()
        .unwrap()
}

/// An emulator with 40 seeded problems over 9 compartments, and a client it trusts.
async fn setup(retry: RetryConfig) -> (EmulatorHandle, cloud_guard::Client) {
    let emu = oci_emulator::Emulator::builder()
        .seed(31)
        .compartments(8)
        .max_depth(3)
        .events_per_minute(0.0)
        .live(false)
        .backlog(Duration::hours(6))
        .problems(40)
        .start()
        .await
        .unwrap();
    emu.register_key_pem(&key_pem(KEY_2048), None).unwrap();
    let client = cloud_guard::Client::new(&config_with(&emu, KEY_2048, retry));
    (emu, client)
}

fn ocid(s: &str) -> Ocid {
    Ocid::parse(s).unwrap()
}

async fn all(
    builder: cloud_guard::ListProblemsFluentBuilder,
) -> Result<Vec<ProblemSummary>, Error> {
    let mut pages = builder.into_paginator();
    let mut out = Vec::new();
    while let Some(page) = pages.next_page().await {
        out.extend(page?.items);
    }
    Ok(out)
}

fn ids(ps: &[ProblemSummary]) -> BTreeSet<String> {
    ps.iter().map(|p| p.id.clone()).collect()
}

#[tokio::test]
async fn the_subtree_listing_pages_through_every_problem_newest_first() {
    let (emu, client) = setup(RetryConfig::disabled()).await;
    let listed = all(client
        .list_problems()
        .compartment_id(ocid(&emu.tenancy_id()))
        .compartment_id_in_subtree(true)
        .limit(7))
    .await
    .unwrap();
    let truth: BTreeSet<String> = emu.problems().into_iter().map(|p| p.id).collect();
    assert_eq!(truth.len(), 40);
    assert_eq!(listed.len(), 40, "each problem exactly once");
    assert_eq!(ids(&listed), truth);
    let times: Vec<DateTime<Utc>> = listed
        .iter()
        .map(|p| p.time_last_detected.unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let pages = emu
        .request_log()
        .iter()
        .filter(|r| r.operation == "ListProblems" && r.status == 200)
        .count();
    assert_eq!(pages, 40usize.div_ceil(7));
    // Typed fields agree with the emulator's record, and unmodelled fields are kept.
    let first = &listed[0];
    let same = emu
        .problems()
        .into_iter()
        .find(|p| p.id == first.id)
        .unwrap();
    assert_eq!(
        first.compartment_id.as_deref(),
        Some(same.compartment_id.as_str())
    );
    assert_eq!(
        first.resource_name.as_deref(),
        Some(same.resource_name.as_str())
    );
    assert_eq!(first.lifecycle_state, Some(ProblemLifecycleState::Active));
    assert_eq!(first.extra.get("locks"), Some(&serde_json::json!([])));

    // Without the subtree, only the named compartment's own problems.
    let child = emu.compartment_ids()[1].clone();
    let own = all(client
        .list_problems()
        .compartment_id(ocid(&child))
        .limit(1000))
    .await
    .unwrap();
    let expected: BTreeSet<String> = emu
        .problems()
        .into_iter()
        .filter(|p| p.compartment_id == child)
        .map(|p| p.id)
        .collect();
    assert_eq!(ids(&own), expected);
}

#[tokio::test]
async fn filters_select_what_the_emulator_holds_and_updates_show_up() {
    let (emu, client) = setup(RetryConfig::disabled()).await;
    let tenancy = ocid(&emu.tenancy_id());
    let now = emu.now();
    let from = now - Duration::hours(2);
    let listed = all(client
        .list_problems()
        .compartment_id(tenancy.clone())
        .compartment_id_in_subtree(true)
        .time_last_detected_from(from)
        .time_last_detected_to(now)
        .limit(5))
    .await
    .unwrap();
    let expected: BTreeSet<String> = emu
        .problems()
        .into_iter()
        .filter(|p| p.time_last_detected >= from && p.time_last_detected <= now)
        .map(|p| p.id)
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < 40,
        "{}",
        expected.len()
    );
    assert_eq!(ids(&listed), expected);

    let high = all(client
        .list_problems()
        .compartment_id(tenancy.clone())
        .compartment_id_in_subtree(true)
        .risk_level(RiskLevel::High)
        .limit(1000))
    .await
    .unwrap();
    assert!(high.iter().all(|p| p.risk_level == Some(RiskLevel::High)));
    assert_eq!(
        high.len(),
        emu.problems()
            .iter()
            .filter(|p| p.risk_level == "HIGH")
            .count()
    );

    // A new problem and a resolution: the listing follows the emulator's state.
    let added = emu
        .add_problem(NewProblem {
            compartment_id: emu.compartment_ids()[2].clone(),
            risk_level: Some("CRITICAL".into()),
            ..NewProblem::default()
        })
        .unwrap();
    let resolved = emu.problems()[0].id.clone();
    emu.update_problem(
        &resolved,
        ProblemUpdate {
            lifecycle_state: Some("INACTIVE".into()),
            lifecycle_detail: Some("RESOLVED".into()),
            ..ProblemUpdate::default()
        },
    )
    .unwrap();
    let active = all(client
        .list_problems()
        .compartment_id(tenancy.clone())
        .compartment_id_in_subtree(true)
        .limit(1000))
    .await
    .unwrap();
    assert!(ids(&active).contains(&added.id));
    assert!(!ids(&active).contains(&resolved));
    let inactive = all(client
        .list_problems()
        .compartment_id(tenancy)
        .compartment_id_in_subtree(true)
        .lifecycle_state(ProblemLifecycleState::Inactive)
        .lifecycle_detail(ProblemLifecycleDetail::Resolved))
    .await
    .unwrap();
    assert_eq!(ids(&inactive), BTreeSet::from([resolved.clone()]));
    let versions: Vec<u32> = emu
        .problem_versions()
        .into_iter()
        .filter(|v| v.problem.id == resolved)
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [1, 2]);
}

#[tokio::test]
async fn a_bad_parameter_is_a_400_service_error_not_retried() {
    let (emu, client) = setup(fast_retries()).await;
    // A compartment the tenancy does not have: OCI's 404.
    let err = client
        .list_problems()
        .compartment_id(ocid("ocid1.compartment.oc1..doesnotexist"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    // The emulator checks what the client lets through: a page token it never issued.
    let err = client
        .list_problems()
        .compartment_id(ocid(&emu.tenancy_id()))
        .page("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.service_error().unwrap().code, "InvalidParameter");
    assert!(!err.is_retryable());
    assert!(err.request_id().is_some());
    let sent = emu
        .request_log()
        .iter()
        .filter(|r| r.operation == "ListProblems" && r.status == 400)
        .count();
    assert_eq!(sent, 1, "a 400 is not retried");
    // Out-of-range limits never reach the network.
    let err = client
        .list_problems()
        .compartment_id(ocid(&emu.tenancy_id()))
        .limit(1001)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Construction { .. }), "{err}");
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried_to_success() {
    let (emu, client) = setup(fast_retries()).await;
    for fault in [
        FaultKind::RateLimited {
            retry_after_secs: 0,
        },
        FaultKind::ServerError { status: 503 },
    ] {
        emu.reset_stats();
        emu.set_faults(vec![
            FaultRule::always(fault.clone())
                .times(1)
                .for_api(Api::CloudGuard),
        ]);
        let page = client
            .list_problems()
            .compartment_id(ocid(&emu.tenancy_id()))
            .compartment_id_in_subtree(true)
            .send()
            .await
            .unwrap();
        assert_eq!(page.items.len(), 10, "the default page size");
        assert!(page.next_page.is_some());
        let stats = emu.stats().of(oci_emulator::Operation::ListProblems);
        assert_eq!((stats.authenticated, stats.faulted), (2, 1), "{fault:?}");
    }
    // A fault aimed at Audit leaves Cloud Guard alone.
    emu.reset_stats();
    emu.set_faults(vec![
        FaultRule::always(FaultKind::ServerError { status: 503 }).for_api(Api::Audit),
    ]);
    client
        .list_problems()
        .compartment_id(ocid(&emu.tenancy_id()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        emu.stats()
            .of(oci_emulator::Operation::ListProblems)
            .faulted,
        0
    );
}

#[tokio::test]
async fn an_unknown_key_is_refused_with_401() {
    let (emu, _) = setup(RetryConfig::disabled()).await;
    let stranger = cloud_guard::Client::new(&config_with(&emu, SAMPLE_KEY, fast_retries()));
    let err = stranger
        .list_problems()
        .compartment_id(ocid(&emu.tenancy_id()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.is_auth_failure());
    assert!(!err.is_retryable());
    assert_eq!(
        emu.stats()
            .of(oci_emulator::Operation::ListProblems)
            .refused,
        1
    );
}
