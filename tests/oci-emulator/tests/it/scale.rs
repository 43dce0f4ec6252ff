//! The measuring instruments of a scale benchmark: request counters per operation, added latency
//! per service, and a tenancy of thousands of mostly idle compartments.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::Duration;
use http::Method;
use oci_emulator::{
    Api, DelayDistribution, Emulator, FaultKind, FaultRule, Latency, ManualClock, Operation,
    OperationCounts, RequestStats, TestKey,
};
use serde_json::json;

use crate::support::{Client, control, minute_floor, rfc3339, t0};

/// How long to wait for the server to reach a state before failing (not a timing assertion).
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

async fn stats_over_http(emu: &oci_emulator::EmulatorHandle) -> RequestStats {
    let r = control(emu, Method::GET, "/_emulator/stats", None).await;
    assert_eq!(r.status, 200);
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn stats_count_every_operation_with_refusals_and_faults_apart() {
    let clock = ManualClock::new(t0());
    let emu = Emulator::builder()
        .seed(41)
        .compartments(3)
        .backlog(Duration::minutes(30))
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let ns = emu.namespace();
    let end = minute_floor(t0());
    let events = Client::query(
        "/20190901/auditEvents",
        &[
            ("compartmentId", root.as_str()),
            ("startTime", &rfc3339(end - Duration::minutes(10))),
            ("endTime", &rfc3339(end)),
        ],
    );
    let object = format!("/n/{ns}/b/bench/o/state.json");
    assert_eq!(c.get(&events).await.status, 200);
    assert_eq!(c.get(&events).await.status, 200);
    let compartments = Client::query("/20160918/compartments", &[("compartmentId", &root)]);
    assert_eq!(c.get(&compartments).await.status, 200);
    assert_eq!(
        c.get(&format!("/20160918/compartments/{root}"))
            .await
            .status,
        200
    );
    assert_eq!(c.get("/n/").await.status, 200);
    let put = c
        .try_send(Method::PUT, &object, Some(b"{}"), &[], false)
        .await
        .unwrap();
    assert_eq!(put.status, 200);
    // A miss is still a request the service answered.
    assert_eq!(c.get(&format!("{object}-missing")).await.status, 404);
    assert_eq!(c.get(&object).await.status, 200);
    let head = c
        .try_send(Method::HEAD, &object, None, &[], true)
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(c.get(&format!("/n/{ns}/b/bench/o")).await.status, 200);
    // One injected fault, one stranger's signature.
    emu.set_faults(vec![
        FaultRule::always(FaultKind::ServerError { status: 503 })
            .times(1)
            .for_api(Api::ObjectStorage),
    ]);
    let del = c
        .try_send(Method::DELETE, &object, None, &[], true)
        .await
        .unwrap();
    assert_eq!(del.status, 503);
    let stranger = TestKey::generate().unwrap();
    let key_id = stranger.key_id(&root, oci_emulator::TEST_USER_ID);
    assert_eq!(c.get_signed_by(&stranger, &key_id, &events).await, 401);

    let stats = stats_over_http(&emu).await;
    assert_eq!(stats, emu.stats(), "HTTP and in-process agree");
    let served = |n| OperationCounts {
        authenticated: n,
        refused: 0,
        faulted: 0,
    };
    assert_eq!(
        stats.of(Operation::ListEvents),
        OperationCounts {
            authenticated: 2,
            refused: 1,
            faulted: 0
        }
    );
    assert_eq!(stats.of(Operation::ListCompartments), served(1));
    assert_eq!(stats.of(Operation::GetCompartment), served(1));
    assert_eq!(stats.of(Operation::GetNamespace), served(1));
    assert_eq!(stats.of(Operation::PutObject), served(1));
    assert_eq!(stats.of(Operation::GetObject), served(2));
    assert_eq!(stats.of(Operation::HeadObject), served(1));
    assert_eq!(stats.of(Operation::ListObjects), served(1));
    assert_eq!(
        stats.of(Operation::DeleteObject),
        OperationCounts {
            authenticated: 1,
            refused: 0,
            faulted: 1
        }
    );
    assert_eq!(stats.since, t0());
    // Control calls are not counted; the request log agrees with the counters.
    let log = emu.request_log();
    let authenticated: u64 = stats.operations.values().map(|c| c.authenticated).sum();
    assert_eq!(
        log.iter().filter(|r| r.key_id.is_some()).count() as u64,
        authenticated
    );

    clock.advance(Duration::minutes(1));
    let r = control(&emu, Method::DELETE, "/_emulator/stats", None).await;
    let reset: RequestStats = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(reset.since, t0() + Duration::minutes(1));
    assert!(
        reset
            .operations
            .values()
            .all(|c| *c == OperationCounts::default())
    );
    assert_eq!(c.get(&events).await.status, 200);
    assert_eq!(emu.stats().of(Operation::ListEvents), served(1));
}

#[tokio::test]
async fn latency_holds_each_request_without_holding_up_others() {
    let emu = Emulator::builder()
        .seed(42)
        .compartments(2)
        .backlog(Duration::minutes(10))
        .latency(Latency::uniform(3_600_000))
        .start()
        .await
        .unwrap();
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let end = minute_floor(emu.now());
    let events = Client::query(
        "/20190901/auditEvents",
        &[
            ("compartmentId", root.as_str()),
            ("startTime", &rfc3339(end - Duration::minutes(5))),
            ("endTime", &rfc3339(end)),
        ],
    );
    let compartments = Client::query("/20160918/compartments", &[("compartmentId", &root)]);
    // One request per service, each held for an hour.
    let held = async {
        tokio::join!(c.get(&events), c.get(&compartments), c.get("/n/"));
    };
    let meanwhile = async {
        // The control API answers at once, and shows the three arrived and passed
        // authentication.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let s = stats_over_http(&emu).await;
            let arrived: u64 = s.operations.values().map(|c| c.authenticated).sum();
            if arrived == 3 {
                break;
            }
            assert!(Instant::now() < deadline, "the held requests never arrived");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Audit without latency: a second ListEvents is answered while the first still waits.
        let r = control(
            &emu,
            Method::PUT,
            "/_emulator/settings",
            Some(json!({"latencyMs": {"audit": 0}})),
        )
        .await;
        assert_eq!(
            r.json()["latencyMs"],
            json!({"audit": 0, "identity": 3_600_000, "objectStorage": 3_600_000, "cloudGuard": 3_600_000, "loggingSearch": 3_600_000})
        );
        assert_eq!(c.get(&events).await.status, 200);
        assert_eq!(emu.stats().of(Operation::ListEvents).authenticated, 2);
        // Only that one was answered: the request log records a request when it is answered.
        let answered: Vec<String> = emu
            .request_log()
            .into_iter()
            .map(|r| r.operation)
            .filter(|op| op != "Control")
            .collect();
        assert_eq!(answered, ["ListEvents"]);
    };
    tokio::select! {
        () = held => panic!("a request was answered before its latency passed"),
        () = meanwhile => {}
    }
    emu.set_latency(Latency::uniform(0));
    let r = control(
        &emu,
        Method::PUT,
        "/_emulator/settings",
        Some(json!({"latencyMs": 30})),
    )
    .await;
    assert_eq!(r.json()["latencyMs"]["objectStorage"], 30);
    assert_eq!(emu.latency(), Latency::uniform(30));
    // A misspelt setting is refused, and nothing changes.
    for bad in [
        json!({"latencyMs": {"audt": 5}}),
        json!({"timeSelection": "ingested"}),
        json!({"pageSize": 0}),
        json!({"latency": 5}),
    ] {
        let r = control(&emu, Method::PUT, "/_emulator/settings", Some(bad.clone())).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(emu.latency(), Latency::uniform(30));
}

#[tokio::test]
async fn five_thousand_compartments_with_a_thin_stream_are_cheap_to_serve() {
    let clock = ManualClock::new(t0());
    let emu = Emulator::builder()
        .seed(43)
        .compartments(5_000)
        .max_depth(3)
        .tenancy_events_per_minute(20.0)
        .delay(DelayDistribution::None)
        .backlog(Duration::minutes(30))
        .request_log_capacity(0)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let all = emu.compartment_ids();
    assert_eq!(all.len(), 5_001);

    // The whole tree in pages of 1000.
    let subtree = [
        ("compartmentId", root.as_str()),
        ("compartmentIdInSubtree", "true"),
        ("limit", "1000"),
    ];
    let listed = c
        .collect_pages("/20160918/compartments", &subtree, "id", || {})
        .await;
    assert_eq!(listed, all[1..]);

    // A thin stream: in the last ten minutes most compartments had nothing.
    let end = minute_floor(t0());
    let window = (end - Duration::minutes(10), end);
    let truth = emu.ground_truth(None, window.0, window.1).unwrap();
    let busy: BTreeSet<&str> = truth.iter().map(|e| e.compartment_id.as_str()).collect();
    assert!(
        (100..=300).contains(&truth.len()),
        "about 200 events: {}",
        truth.len()
    );
    assert!(busy.len() < 500, "{} busy compartments", busy.len());

    // Busy compartments answer their events, idle ones (every tenth, to keep signing cheap) an
    // empty page.
    let (mut got, mut asked) = (0, 0);
    for (i, id) in all.iter().enumerate() {
        let is_busy = busy.contains(id.as_str());
        if !is_busy && i % 10 != 0 {
            continue;
        }
        let ids = c.list_event_ids(id, window.0, window.1).await;
        assert_eq!(ids.is_empty(), !is_busy, "{id}");
        got += ids.len();
        asked += 1;
    }
    assert_eq!(got, truth.len());
    let stats = emu.stats();
    assert_eq!(stats.of(Operation::ListEvents).authenticated, asked);
    assert_eq!(stats.of(Operation::ListCompartments).authenticated, 5);

    // Minutes keep coming at the tenancy's rate as the clock moves.
    clock.advance(Duration::minutes(10));
    let next = emu
        .ground_truth(None, end, end + Duration::minutes(10))
        .unwrap();
    assert!((100..=300).contains(&next.len()), "{}", next.len());
}
