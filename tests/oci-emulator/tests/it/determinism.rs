//! With a fixed seed, two runs produce the same tenancy, events and fault sequence.

use chrono::Duration;
use oci_emulator::{Emulator, EmulatorHandle, FaultKind, FaultRule, ManualClock};

use crate::support::{Client, minute_floor, rfc3339, t0};

async fn run(seed: u64) -> EmulatorHandle {
    Emulator::builder()
        .seed(seed)
        .compartments(9)
        .max_depth(3)
        .events_per_minute(3.0)
        .backlog(Duration::hours(1))
        .page_size(10)
        .clock(ManualClock::new(t0()))
        .start()
        .await
        .unwrap()
}

/// The same sequence of requests against an emulator: (status, fault, body) for each.
async fn replay(emu: &EmulatorHandle) -> Vec<(u16, Option<String>, bytes::Bytes)> {
    emu.set_faults(vec![
        FaultRule::always(FaultKind::RateLimited {
            retry_after_secs: 1,
        })
        .with_probability(0.15),
        FaultRule::always(FaultKind::ServerError { status: 503 }).with_probability(0.15),
        FaultRule::always(FaultKind::TruncatedJson).with_probability(0.1),
    ]);
    let c = Client::new(emu);
    let end = minute_floor(t0()) - Duration::minutes(21);
    let start = end - Duration::minutes(30);
    let mut out = Vec::new();
    for id in emu.compartment_ids() {
        for _ in 0..4 {
            let r = c
                .get(&Client::query(
                    "/20190901/auditEvents",
                    &[
                        ("compartmentId", &id),
                        ("startTime", &rfc3339(start)),
                        ("endTime", &rfc3339(end)),
                    ],
                ))
                .await;
            out.push((r.status, None, r.body));
        }
    }
    for (o, rec) in out.iter_mut().zip(emu.request_log()) {
        o.1 = rec.fault;
    }
    out
}

#[tokio::test]
async fn same_seed_same_tenancy_events_and_faults() {
    let (a, b, other) = (run(77).await, run(77).await, run(78).await);
    assert_eq!(a.tenancy(), b.tenancy());
    assert_ne!(a.tenancy_id(), other.tenancy_id());

    let (start, end) = (a.backlog_start(), t0());
    let ea = a.ground_truth(None, start, end).unwrap();
    assert!(ea.len() > 1000);
    assert_eq!(ea, b.ground_truth(None, start, end).unwrap());
    for e in ea.iter().step_by(97) {
        assert_eq!(a.event_json(&e.event_id), b.event_json(&e.event_id));
    }

    let (ra, rb) = (replay(&a).await, replay(&b).await);
    assert_eq!(ra, rb);
    let faults = ra.iter().filter(|r| r.1.is_some()).count();
    assert!(
        faults > 3 && faults < ra.len() - 3,
        "{faults} of {}",
        ra.len()
    );
    assert_ne!(
        ra.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        replay(&other)
            .await
            .iter()
            .map(|r| r.1.clone())
            .collect::<Vec<_>>()
    );
    // Request ids are part of the reproducible output too.
    let ids = |e: &EmulatorHandle| {
        e.request_log()
            .into_iter()
            .map(|r| r.opc_request_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
}
