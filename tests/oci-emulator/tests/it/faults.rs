//! Each injected fault is visible to a client the way a real network or OCI failure would be.

use chrono::Duration;
use oci_emulator::{Api, Emulator, EmulatorHandle, FaultKind, FaultRule, ManualClock};

use crate::support::{Client, minute_floor, rfc3339, t0};

async fn start() -> EmulatorHandle {
    Emulator::builder()
        .seed(21)
        .compartments(3)
        .events_per_minute(5.0)
        .backlog(Duration::hours(1))
        .clock(ManualClock::new(t0()))
        .start()
        .await
        .unwrap()
}

fn window(emu: &EmulatorHandle) -> String {
    let end = minute_floor(t0()) - Duration::minutes(25);
    let start = end - Duration::minutes(20);
    Client::query(
        "/20190901/auditEvents",
        &[
            ("compartmentId", &emu.tenancy_id()),
            ("startTime", &rfc3339(start)),
            ("endTime", &rfc3339(end)),
        ],
    )
}

#[tokio::test]
async fn every_fault_kind_reaches_the_client() {
    let emu = start().await;
    let c = Client::new(&emu);
    let path = window(&emu);
    let healthy = c.get(&path).await;
    assert_eq!(healthy.status, 200);
    assert!(healthy.json().as_array().unwrap().len() > 10);

    let once =
        |f: FaultKind| emu.set_faults(vec![FaultRule::always(f).times(1).for_api(Api::Audit)]);

    once(FaultKind::RateLimited {
        retry_after_secs: 7,
    });
    let r = c.get(&path).await;
    assert_eq!(
        (
            r.status,
            r.code().as_str(),
            r.header("retry-after").as_deref()
        ),
        (429, "TooManyRequests", Some("7"))
    );
    assert!(r.header("opc-request-id").is_some());
    assert_eq!(c.get(&path).await.status, 200, "times(1) is spent");

    for (status, code) in [(500, "InternalServerError"), (503, "ServiceUnavailable")] {
        once(FaultKind::ServerError { status });
        let r = c.get(&path).await;
        assert_eq!((r.status, r.code().as_str()), (status, code));
    }

    once(FaultKind::TruncatedJson);
    let r = c.get(&path).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert!(healthy.body.starts_with(&r.body) && r.body.len() < healthy.body.len());

    once(FaultKind::MalformedJson);
    let r = c.get(&path).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());

    once(FaultKind::IncompleteBody);
    let err = c
        .try_send(http::Method::GET, &path, None, &[], true)
        .await
        .unwrap_err();
    assert!(
        err.is_body() || err.is_decode() || err.is_request(),
        "{err:?}"
    );

    once(FaultKind::ConnectionReset);
    let err = c
        .try_send(http::Method::GET, &path, None, &[], true)
        .await
        .unwrap_err();
    assert!(err.is_request() || err.is_connect(), "{err:?}");

    once(FaultKind::Slow { delay_ms: 30 });
    assert_eq!(c.get(&path).await.body, healthy.body);

    // Scoping: an Identity-only rule leaves Audit alone.
    emu.set_faults(vec![
        FaultRule::always(FaultKind::ServerError { status: 503 }).for_api(Api::Identity),
    ]);
    assert_eq!(c.get(&path).await.status, 200);
    let r = c
        .get(&Client::query(
            "/20160918/compartments",
            &[("compartmentId", &emu.tenancy_id())],
        ))
        .await;
    assert_eq!(r.status, 503);
    emu.set_faults(Vec::new());
    assert_eq!(c.get(&path).await.status, 200);

    let faults: Vec<String> = emu
        .request_log()
        .iter()
        .filter_map(|r| r.fault.clone())
        .collect();
    assert_eq!(
        faults,
        [
            "rate_limited",
            "server_error_500",
            "server_error_503",
            "truncated_json",
            "malformed_json",
            "incomplete_body",
            "connection_reset",
            "slow",
            "server_error_503"
        ]
    );
    let reset = emu
        .request_log()
        .into_iter()
        .find(|r| r.fault.as_deref() == Some("connection_reset"))
        .unwrap();
    assert_eq!(reset.status, 0);
}

#[tokio::test]
async fn probabilistic_faults_let_a_retrying_client_finish() {
    let emu = start().await;
    let c = Client::new(&emu);
    let path = window(&emu);
    let expected = c.get(&path).await.body;
    emu.set_faults(vec![
        FaultRule::always(FaultKind::RateLimited {
            retry_after_secs: 0,
        })
        .with_probability(0.3),
        FaultRule::always(FaultKind::ServerError { status: 500 }).with_probability(0.2),
    ]);
    let mut attempts = 0;
    let body = loop {
        attempts += 1;
        assert!(attempts < 50);
        let r = c.get(&path).await;
        if r.status == 200 {
            break r.body;
        }
        assert!(r.status == 429 || r.status == 500);
    };
    assert_eq!(body, expected);
}
