//! Both readings of the Audit API's time range: `startTime`/`endTime` select events by
//! `eventTime` (what collectors assumed) or by processing time (what Oracle's reference says).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use http::Method;
use oci_emulator::{
    DelayDistribution, Emulator, EmulatorHandle, ManualClock, NewEvents, TimeSelection,
};
use serde_json::json;

use crate::support::{Client, control, minute_floor, rfc3339, t0};

fn ids(events: Vec<oci_emulator::EventInfo>) -> Vec<String> {
    events.into_iter().map(|e| e.event_id).collect()
}

#[tokio::test]
async fn a_late_event_is_in_the_window_it_was_processed_in() {
    let clock = ManualClock::new(t0());
    let emu = Emulator::builder()
        .seed(31)
        .compartments(1)
        .events_per_minute(0.0)
        .live(false)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    // 11:00 and 11:05 event times; the first is processed 12 minutes late, the second at once.
    let w = minute_floor(t0()) - Duration::minutes(60);
    let add = |id: &str, time: DateTime<Utc>, visible: DateTime<Utc>| {
        emu.add_events(NewEvents {
            compartment_id: root.clone(),
            event_time: time,
            visible_at: Some(visible),
            delay_ms: None,
            count: None,
            event: Some(json!({"eventId": id, "eventType": "com.example.Test", "data": {}})),
        })
        .unwrap()
    };
    add("late", w, w + Duration::minutes(12));
    add(
        "on-time",
        w + Duration::minutes(5),
        w + Duration::minutes(5),
    );
    let first = (w, w + Duration::minutes(10));
    let second = (w + Duration::minutes(10), w + Duration::minutes(20));

    assert_eq!(emu.time_selection(), TimeSelection::Event);
    assert_eq!(
        c.list_event_ids(&root, first.0, first.1).await,
        ["late", "on-time"]
    );
    assert!(c.list_event_ids(&root, second.0, second.1).await.is_empty());

    let r = control(
        &emu,
        Method::PUT,
        "/_emulator/settings",
        Some(json!({"timeSelection": "processed"})),
    )
    .await;
    assert_eq!(r.json()["timeSelection"], "processed");
    assert_eq!(emu.time_selection(), TimeSelection::Processed);
    assert_eq!(c.list_event_ids(&root, first.0, first.1).await, ["on-time"]);
    assert_eq!(c.list_event_ids(&root, second.0, second.1).await, ["late"]);

    // Ground truth over HTTP by processing time, with both times.
    let r = control(
        &emu,
        Method::GET,
        &format!(
            "/_emulator/events?timeSelection=processed&start={}&end={}",
            rfc3339(second.0),
            rfc3339(second.1)
        ),
        None,
    )
    .await;
    let truth = r.json()["events"].as_array().unwrap().clone();
    assert_eq!(truth.len(), 1);
    assert_eq!(truth[0]["eventId"], "late");
    assert_eq!(truth[0]["eventTime"], "2026-03-10T11:00:00.000Z");
    assert_eq!(truth[0]["visibleAt"], "2026-03-10T11:12:00.000Z");
    let r = control(&emu, Method::GET, "/_emulator/events?timeSelection=x", None).await;
    assert_eq!(r.status, 400);

    // Until it is processed, the late event is in no window at all.
    clock.set(w + Duration::minutes(11));
    assert!(c.list_event_ids(&root, second.0, second.1).await.is_empty());
    assert_eq!(
        ids(emu
            .ground_truth_by(TimeSelection::Processed, None, second, false)
            .unwrap()),
        ["late"],
        "the ground truth holds it, not yet visible"
    );
    clock.set(w + Duration::minutes(12));
    assert_eq!(c.list_event_ids(&root, second.0, second.1).await, ["late"]);
}

async fn busy(clock: &ManualClock) -> EmulatorHandle {
    Emulator::builder()
        .seed(32)
        .compartments(1)
        .events_per_minute(6.0)
        .delay(DelayDistribution::oci_like())
        .backlog(Duration::minutes(90))
        .page_size(5)
        .clock(clock.clone())
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn pages_are_stable_in_both_selections_while_events_turn_visible() {
    for selection in [TimeSelection::Event, TimeSelection::Processed] {
        let clock = ManualClock::new(t0());
        let emu = busy(&clock).await;
        emu.set_time_selection(selection);
        let c = Client::new(&emu);
        let root = emu.tenancy_id();
        // From half an hour ago to ten minutes ahead: in either selection, events keep turning
        // visible inside the window while the listing goes on.
        let now = minute_floor(t0());
        let window = (now - Duration::minutes(30), now + Duration::minutes(10));
        let at_start: BTreeSet<String> = emu
            .ground_truth_by(selection, Some(&root), window, true)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        let hidden_at_start = emu
            .ground_truth_by(selection, Some(&root), window, false)
            .unwrap()
            .len()
            - at_start.len();
        assert!(hidden_at_start > 0, "{selection:?}: some events in flight");

        // Each next page 20 s later, so events keep turning visible during the listing.
        let got = c
            .list_event_ids_with(&root, window, || clock.advance(Duration::seconds(20)))
            .await;
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "{selection:?}: an event came twice"
        );
        assert!(
            unique.is_superset(&at_start),
            "{selection:?}: an event visible from the start was skipped"
        );
        let at_end = emu
            .ground_truth_by(selection, Some(&root), window, true)
            .unwrap();
        let at_end_ids: BTreeSet<String> = at_end.iter().map(|e| e.event_id.clone()).collect();
        assert!(unique.is_subset(&at_end_ids));
        if selection == TimeSelection::Processed {
            // An event turning visible is processed after everything already returned, so it
            // sorts after the page token: one pass in processing order misses nothing.
            assert_eq!(
                got,
                ids(at_end),
                "processed: the listing is the final truth, in order"
            );
        }
    }
}

#[tokio::test]
async fn a_page_token_does_not_cross_time_selections() {
    let clock = ManualClock::new(t0());
    let emu = busy(&clock).await;
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let end = minute_floor(t0()) - Duration::minutes(30);
    let (s, e) = (rfc3339(end - Duration::minutes(30)), rfc3339(end));
    let path = |page: Option<&str>| {
        let mut pairs = vec![
            ("compartmentId", root.as_str()),
            ("startTime", s.as_str()),
            ("endTime", e.as_str()),
        ];
        if let Some(p) = page {
            pairs.push(("page", p));
        }
        Client::query("/20190901/auditEvents", &pairs)
    };
    let token = c.get(&path(None)).await.header("opc-next-page").unwrap();
    emu.set_time_selection(TimeSelection::Processed);
    let r = c.get(&path(Some(&token))).await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidParameter"));
    let processed_token = c.get(&path(None)).await.header("opc-next-page").unwrap();
    assert_eq!(c.get(&path(Some(&processed_token))).await.status, 200);
    emu.set_time_selection(TimeSelection::Event);
    assert_eq!(c.get(&path(Some(&processed_token))).await.status, 400);
    assert_eq!(c.get(&path(Some(&token))).await.status, 200);
}
