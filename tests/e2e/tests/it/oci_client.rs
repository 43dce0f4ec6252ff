//! The OCI client against the emulator: the two are written independently (the emulator
//! verifies signatures and serves pages with its own code), so agreement here means the client
//! speaks real OCI, not just what its own unit tests expect.

use std::collections::BTreeSet;

use auditfwd_e2e::{client_config, emulator};
use auditfwd_oci::{Error, MinuteTimestamp, Ocid, RetryConfig, Window, audit, identity};
use oci_emulator::{Api, EmulatorHandle, FaultKind, FaultRule};

/// Every event id `ListEvents` returns for `compartment` over the whole backlog, window by window.
async fn list_all(
    config: &auditfwd_oci::Config,
    emu: &EmulatorHandle,
    compartment: &str,
) -> Result<Vec<String>, Error> {
    let client = audit::Client::new(config);
    let span = Window::new(
        MinuteTimestamp::floor(emu.backlog_start()),
        MinuteTimestamp::floor(emu.now()),
    )
    .unwrap();
    let mut ids = Vec::new();
    for window in span.split(30) {
        let mut pages = client
            .list_events()
            .compartment_id(Ocid::parse(compartment).unwrap())
            .window(window)
            .into_paginator();
        while let Some(page) = pages.next_page().await {
            ids.extend(page?.items.into_iter().map(|e| e.into_parts().1.event_id));
        }
    }
    Ok(ids)
}

fn truth(emu: &EmulatorHandle, compartment: &str) -> Vec<String> {
    let start = MinuteTimestamp::floor(emu.backlog_start()).as_datetime();
    let end = MinuteTimestamp::floor(emu.now()).as_datetime();
    let mut ids: Vec<String> = emu
        .visible_ground_truth(Some(compartment), start, end)
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_client_sees_exactly_the_emulators_tree_and_events() {
    let (builder, _clock) = emulator(21);
    let emu = builder
        .compartments(12)
        .max_depth(3)
        .events_per_minute(4.0)
        .backlog(chrono::Duration::minutes(90))
        .page_size(7)
        .compartment_page_size(4)
        .start()
        .await
        .unwrap();
    let config = client_config(&emu, RetryConfig::disabled());

    let tree = identity::Client::new(&config)
        .compartment_tree(Ocid::parse(emu.tenancy_id()).unwrap())
        .send()
        .await
        .unwrap();
    let listed: BTreeSet<String> = tree.iter().map(|c| c.id.clone()).collect();
    let expected: BTreeSet<String> = emu.compartment_ids().into_iter().collect();
    assert_eq!(listed, expected);
    assert_eq!(tree.root().id, emu.tenancy_id());
    for c in emu.compartments().iter().filter(|c| c.depth > 0) {
        let path = tree.path(&c.compartment.id).unwrap();
        assert_eq!(path.len(), c.depth + 1, "path of {}", c.compartment.id);
    }

    let mut total = 0;
    for c in tree.iter() {
        let mut got = list_all(&config, &emu, &c.id).await.unwrap();
        let n = got.len();
        got.sort();
        assert_eq!(got, truth(&emu, &c.id), "compartment {}", c.id);
        got.dedup();
        assert_eq!(got.len(), n, "no event listed twice in {}", c.id);
        total += n;
    }
    assert!(
        total > 200,
        "the backlog should hold a few hundred events, got {total}"
    );
}

#[tokio::test]
async fn throttling_server_errors_and_resets_are_retried_to_completion() {
    let (builder, _clock) = emulator(5);
    let emu = builder
        .compartments(3)
        .events_per_minute(3.0)
        .backlog(chrono::Duration::minutes(60))
        .page_size(5)
        .start()
        .await
        .unwrap();
    emu.set_faults(vec![
        FaultRule::always(FaultKind::RateLimited {
            retry_after_secs: 0,
        })
        .with_probability(0.15)
        .for_api(Api::Audit),
        FaultRule::always(FaultKind::ServerError { status: 503 })
            .with_probability(0.1)
            .for_api(Api::Audit),
        FaultRule::always(FaultKind::ConnectionReset)
            .with_probability(0.05)
            .for_api(Api::Audit),
        FaultRule::always(FaultKind::IncompleteBody)
            .with_probability(0.05)
            .for_api(Api::Audit),
    ]);
    let retry = RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(std::time::Duration::from_millis(5))
        .with_max_backoff(std::time::Duration::from_millis(50));
    let config = client_config(&emu, retry);
    for id in emu.compartment_ids() {
        let mut got = list_all(&config, &emu, &id).await.unwrap();
        got.sort();
        assert_eq!(got, truth(&emu, &id));
    }
}

#[tokio::test]
async fn a_malformed_page_is_a_decode_error_and_is_not_retried() {
    let (builder, _clock) = emulator(6);
    let emu = builder
        .compartments(1)
        .backlog(chrono::Duration::minutes(30))
        .start()
        .await
        .unwrap();
    emu.set_faults(vec![
        FaultRule::always(FaultKind::TruncatedJson)
            .for_api(Api::Audit)
            .times(1),
    ]);
    let config = client_config(&emu, RetryConfig::standard());
    let err = list_all(&config, &emu, &emu.tenancy_id())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { status: 200, .. }), "{err}");
    assert!(
        err.request_id().is_some(),
        "the request id is kept for support: {err}"
    );
}

#[tokio::test]
async fn an_unknown_key_gets_401_with_a_request_id() {
    let (builder, _clock) = emulator(7);
    let emu = builder.compartments(1).start().await.unwrap();
    let config = client_config(&emu, RetryConfig::standard());
    let fingerprint = config.credentials().fingerprint().as_str().to_owned();
    assert!(emu.remove_key(&fingerprint));
    let err = list_all(&config, &emu, &emu.tenancy_id())
        .await
        .unwrap_err();
    let service = err.service_error().expect("a service error");
    assert_eq!(
        (service.status, service.code.as_str()),
        (401, "NotAuthenticated")
    );
    assert!(service.request_id.is_some());
    assert!(!err.is_retryable());
}
