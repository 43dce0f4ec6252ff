//! The wire protocol through a real HTTP client: Audit, Identity, Object Storage, Cloud Guard,
//! Logging Search,
//! auth, errors.

use chrono::Duration;
use http::Method;
use oci_emulator::{
    Access, DelayDistribution, Emulator, EmulatorHandle, ManualClock, NewEvents, Operation, TestKey,
};
use serde_json::json;

use crate::support::{Client, control, minute_floor, rfc3339, t0};

async fn start(clock: &ManualClock) -> EmulatorHandle {
    Emulator::builder()
        .seed(11)
        .compartments(6)
        .events_per_minute(5.0)
        .backlog(Duration::hours(2))
        .page_size(7)
        .compartment_page_size(4)
        .clock(clock.clone())
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn list_events_pages_equal_ground_truth_per_compartment() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let end = minute_floor(t0()) - Duration::minutes(30);
    let start = end - Duration::minutes(60);
    let mut total = 0;
    for id in emu.compartment_ids() {
        let got = c.list_event_ids(&id, start, end).await;
        let truth: Vec<String> = emu
            .ground_truth(Some(&id), start, end)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(got, truth, "compartment {id}");
        total += got.len();
    }
    // 7 compartments x 60 minutes x 5/min, give or take Poisson noise.
    assert!(total > 1500, "{total}");
    let log = emu.request_log();
    assert!(log.iter().all(|r| r.status == 200 && r.key_id.is_some()));
    assert!(log.iter().filter(|r| r.operation == "ListEvents").count() > total / 7);
}

#[tokio::test]
async fn late_events_appear_only_after_their_ingestion_delay() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let end = minute_floor(t0());
    let start = end - Duration::minutes(10);
    let root = emu.tenancy_id();
    let all = emu.ground_truth(None, start, end).unwrap();
    let hidden = all.iter().filter(|e| !e.visible).count();
    assert!(
        hidden > 0,
        "some of the last 10 minutes must still be in flight"
    );

    let mut seen_early = 0;
    for id in emu.compartment_ids() {
        let got = c.list_event_ids(&id, start, end).await;
        let visible: Vec<String> = emu
            .visible_ground_truth(Some(&id), start, end)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(got, visible);
        seen_early += got.len();
    }
    assert_eq!(seen_early + hidden, all.len());

    // After the longest delay every event of the window is visible.
    clock.advance(Duration::minutes(21));
    let got = c.list_event_ids(&root, start, end).await;
    let truth: Vec<String> = emu
        .ground_truth(Some(&root), start, end)
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(got, truth);
    assert!(emu.visible_ground_truth(None, start, end).unwrap().len() == all.len());
}

#[tokio::test]
async fn live_mode_generates_new_minutes_and_added_events_are_served() {
    let clock = ManualClock::new(t0());
    let emu = Emulator::builder()
        .seed(3)
        .compartments(2)
        .events_per_minute(4.0)
        .backlog(Duration::minutes(5))
        .delay(DelayDistribution::None)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let c = Client::new(&emu);
    let start = minute_floor(t0()) + Duration::minutes(1);
    let end = start + Duration::minutes(10);
    assert!(emu.ground_truth(None, start, end).unwrap().is_empty());
    clock.advance(Duration::minutes(12));
    let generated = emu.ground_truth(None, start, end).unwrap();
    assert!(generated.len() > 30, "{}", generated.len());

    let root = emu.tenancy_id();
    let added = emu
        .add_events(NewEvents {
            compartment_id: root.clone(),
            event_time: start + Duration::seconds(5),
            visible_at: None,
            delay_ms: Some(0),
            count: Some(3),
            event: None,
        })
        .unwrap();
    let custom = emu
        .add_events(NewEvents {
            compartment_id: root.clone(),
            event_time: start + Duration::seconds(6),
            visible_at: None,
            delay_ms: Some(0),
            count: None,
            event: Some(json!({"eventId": "custom-1", "eventType": "com.example.Custom", "data": {"message": "hi"}})),
        })
        .unwrap();
    assert_eq!(custom[0].event_id, "custom-1");
    let got = c.list_event_ids(&root, start, end).await;
    for e in added.iter().chain(&custom) {
        assert!(got.contains(&e.event_id));
    }
    let stored = emu.event_json("custom-1").unwrap();
    assert_eq!(stored["data"]["compartmentId"], root.as_str());

    // A compartment added now gets events from now on, and shows up in Identity.
    let new = emu.add_compartment(&root, Some("added-later")).unwrap();
    clock.advance(Duration::minutes(3));
    let r = c
        .get(&Client::query(
            "/20160918/compartments",
            &[("compartmentId", &root), ("name", "added-later")],
        ))
        .await;
    assert_eq!(r.json()[0]["id"], new.id.as_str());
    let fresh = emu
        .ground_truth(Some(&new.id), t0(), t0() + Duration::hours(1))
        .unwrap();
    assert!(!fresh.is_empty());
    assert!(
        fresh
            .iter()
            .all(|e| e.event_time.as_str() > new.time_created.as_str())
    );
}

#[tokio::test]
async fn windows_must_be_whole_minutes_and_parameters_are_checked() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let q = |s: &str, e: &str| {
        Client::query(
            "/20190901/auditEvents",
            &[("compartmentId", &root), ("startTime", s), ("endTime", e)],
        )
    };
    let r = c
        .get(&q("2026-03-10T10:00:30Z", "2026-03-10T11:00:00Z"))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidParameter"));
    let r = c
        .get(&q("2026-03-10T10:00:00.500Z", "2026-03-10T11:00:00Z"))
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .get(&q("2026-03-10T11:00:00Z", "2026-03-10T10:00:00Z"))
        .await;
    assert_eq!(r.status, 400);
    // Offsets other than Z are fine when they land on a minute.
    let r = c
        .get(&q("2026-03-10T11:00:00+01:00", "2026-03-10T11:30:00+01:00"))
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .get(&Client::query(
            "/20190901/auditEvents",
            &[("compartmentId", &root)],
        ))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "MissingParameter"));
    let r = c
        .get(
            &q("2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z")
                .replace(&root, "ocid1.compartment.oc1..nope"),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "NotAuthorizedOrNotFound")
    );
    let r = c.get("/20190901/auditEvents/nothing").await;
    assert_eq!((r.status, r.code().as_str()), (404, "NotFound"));
    let r = c
        .get(&Client::query(
            "/20190901/configuration",
            &[("compartmentId", &root)],
        ))
        .await;
    assert_eq!(r.json()["retentionPeriodDays"], 90);
}

#[tokio::test]
async fn authentication_failures_are_401_not_authenticated_with_request_ids() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let path = Client::query(
        "/20160918/compartments",
        &[("compartmentId", &emu.tenancy_id())],
    );
    assert_eq!(c.get(&path).await.status, 200);

    // Unsigned.
    let r = reqwest::get(format!("{}{path}", emu.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("opc-request-id"));
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["code"], "NotAuthenticated");

    // Date 6 minutes off either way; 4 minutes is tolerated.
    for (shift, status) in [(6, 401), (-6, 401), (4, 200)] {
        emu.set_clock_shift(Duration::minutes(shift));
        let mut req = c.http.get(format!("{}{path}", emu.base_url()));
        for (k, v) in c.signer.sign(&Method::GET, &path, None, t0(), true) {
            req = req.header(k, v);
        }
        assert_eq!(req.send().await.unwrap().status(), status, "shift {shift}");
    }
    emu.set_clock_shift(Duration::zero());

    // A key the emulator does not know, and a tampered target.
    let stranger =
        TestKey::from_private_pem(include_str!("../fixtures/oracle-sample-key.pem"), None).unwrap();
    let key_id = stranger.key_id(&emu.tenancy_id(), oci_emulator::TEST_USER_ID);
    assert_eq!(c.get_signed_by(&stranger, &key_id, &path).await, 401);
    let mut req = c.http.get(format!("{}{path}&limit=1", emu.base_url()));
    for (k, v) in c.signer.sign(&Method::GET, &path, None, emu.now(), true) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);

    // Registering the key makes it work.
    emu.register_key(stranger.public_key()).unwrap();
    assert_eq!(c.get_signed_by(&stranger, &key_id, &path).await, 200);
    let codes: Vec<_> = emu
        .request_log()
        .iter()
        .filter_map(|r| r.error_code.clone())
        .collect();
    assert!(
        codes.iter().all(|c| c == "NotAuthenticated") && codes.len() == 5,
        "{codes:?}"
    );
}

#[tokio::test]
async fn identity_lists_children_or_the_whole_tree_without_root() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let all: Vec<_> = emu.compartments();

    let list = |pairs: Vec<(&'static str, String)>| {
        let c = &c;
        async move {
            let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.collect_pages("/20160918/compartments", &p, "id", || {})
                .await
        }
    };
    let subtree = list(vec![
        ("compartmentId", root.clone()),
        ("compartmentIdInSubtree", "true".into()),
        ("accessLevel", "ANY".into()),
    ])
    .await;
    let expected: Vec<String> = all[1..].iter().map(|c| c.compartment.id.clone()).collect();
    assert_eq!(subtree, expected);
    let children = list(vec![("compartmentId", root.clone())]).await;
    let direct: Vec<String> = all
        .iter()
        .filter(|c| c.depth == 1)
        .map(|c| c.compartment.id.clone())
        .collect();
    assert_eq!(children, direct);

    // Subtree is only allowed on the tenancy.
    let deep = all
        .iter()
        .find(|c| c.depth >= 1)
        .unwrap()
        .compartment
        .id
        .clone();
    let r = c
        .get(&Client::query(
            "/20160918/compartments",
            &[("compartmentId", &deep), ("compartmentIdInSubtree", "true")],
        ))
        .await;
    assert_eq!(r.status, 400);

    // GetCompartment on the tenancy returns the root compartment with its name.
    let r = c.get(&format!("/20160918/compartments/{root}")).await;
    assert_eq!(r.json()["name"], emu.tenancy().name.as_str());

    // Inaccessible compartments: ACCESSIBLE hides them, ANY marks them; requests get 404/403.
    emu.set_compartment_access(&deep, Access::NotFound).unwrap();
    let accessible = list(vec![
        ("compartmentId", root.clone()),
        ("compartmentIdInSubtree", "true".into()),
        ("accessLevel", "ACCESSIBLE".into()),
    ])
    .await;
    assert!(!accessible.contains(&deep) && accessible.len() == expected.len() - 1);
    let window = [
        ("compartmentId", deep.as_str()),
        ("startTime", "2026-03-10T10:00:00Z"),
        ("endTime", "2026-03-10T11:00:00Z"),
    ];
    let r = c
        .get(&Client::query("/20190901/auditEvents", &window))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "NotAuthorizedOrNotFound")
    );
    assert_eq!(
        c.get(&format!("/20160918/compartments/{deep}"))
            .await
            .status,
        404
    );
    emu.set_compartment_access(&deep, Access::Forbidden)
        .unwrap();
    let r = c
        .get(&Client::query("/20190901/auditEvents", &window))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "NotAuthorized"));
    emu.set_compartment_access(&deep, Access::Normal).unwrap();
    assert_eq!(
        c.get(&Client::query("/20190901/auditEvents", &window))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn object_storage_supports_etags_and_conditional_writes() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let ns = emu.namespace();
    let r = c.get("/n/").await;
    assert_eq!(r.json(), serde_json::Value::from(ns.clone()));
    let obj = format!("/n/{ns}/b/checkpoints/o/auditfwd%2Fstate%20v1.json");

    // PutObject may be signed without body headers (as the SDKs do), or with them.
    let put = |body: &'static [u8], extra: Vec<(&'static str, String)>, sign_body: bool| {
        let c = &c;
        let obj = obj.clone();
        async move {
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.try_send(Method::PUT, &obj, Some(body), &extra, sign_body)
                .await
                .unwrap()
        }
    };
    let first = put(b"{\"v\":1}", vec![("if-none-match", "*".into())], false).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let etag1 = first.header("etag").unwrap();
    let again = put(b"{\"v\":1}", vec![("if-none-match", "*".into())], true).await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (412, "IfNoneMatchFailed")
    );
    let stale = put(
        b"{\"v\":2}",
        vec![("if-match", "not-the-etag".into())],
        false,
    )
    .await;
    assert_eq!((stale.status, stale.code().as_str()), (412, "NoEtagMatch"));
    let second = put(b"{\"v\":2}", vec![("if-match", etag1.clone())], true).await;
    assert_eq!(second.status, 200);
    let etag2 = second.header("etag").unwrap();
    assert_ne!(etag1, etag2);

    let got = c.get(&obj).await;
    assert_eq!(
        (&got.body[..], got.header("etag").unwrap()),
        (&b"{\"v\":2}"[..], etag2.clone())
    );
    let head = c
        .try_send(Method::HEAD, &obj, None, &[], true)
        .await
        .unwrap();
    assert_eq!(
        (head.status, head.header("content-length").as_deref()),
        (200, Some("7"))
    );
    assert_eq!(
        emu.objects("checkpoints").unwrap()[0].name,
        "auditfwd/state v1.json"
    );

    let del = c
        .try_send(Method::DELETE, &obj, None, &[("if-match", &etag1)], true)
        .await
        .unwrap();
    assert_eq!(del.status, 412);
    let del = c
        .try_send(Method::DELETE, &obj, None, &[], true)
        .await
        .unwrap();
    assert_eq!(del.status, 204);
    let gone = c.get(&obj).await;
    assert_eq!((gone.status, gone.code().as_str()), (404, "ObjectNotFound"));
    assert!(gone.header("opc-request-id").is_some());

    // A body that does not match its signed hash is rejected.
    let path = format!("/n/{ns}/b/checkpoints/o/x");
    let url = format!("{}{path}", emu.base_url());
    let mut req = c.http.put(url).body("tampered");
    for (k, v) in c
        .signer
        .sign(&Method::PUT, &path, Some(b"original"), emu.now(), true)
    {
        if k != "content-length" {
            req = req.header(k, v);
        }
    }
    assert_eq!(req.send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn list_objects_pages_with_next_start_with_and_an_inclusive_start() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let ns = emu.namespace();
    let names = [
        "m/a b/1.json",
        "m/a b/2.json",
        "m/a b/3.json",
        "m/a b/4.json",
        "m/a b/5.json",
        "m/a b+/x.json",
        "n/1.json",
    ];
    for name in names {
        let path = format!(
            "/n/{ns}/b/checkpoints/o/{}",
            url::form_urlencoded::byte_serialize(name.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        );
        let r = c
            .try_send(Method::PUT, &path, Some(b"{}"), &[], false)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{name}");
    }
    let list_path = format!("/n/{ns}/b/checkpoints/o");
    let page = |pairs: Vec<(&'static str, String)>| {
        let c = &c;
        let list_path = list_path.clone();
        async move {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = c.get(&Client::query(&list_path, &pairs)).await;
            assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
            assert!(r.header("opc-request-id").is_some());
            r.json()
        }
    };
    let names_of = |v: &serde_json::Value| -> Vec<String> {
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };

    // Follow nextStartWith, two at a time, as the SDKs do.
    let mut got = Vec::new();
    let mut start: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut pairs = vec![("prefix", "m/a b/".to_string()), ("limit", "2".to_string())];
        if let Some(s) = &start {
            pairs.push(("start", s.clone()));
        }
        let v = page(pairs).await;
        pages += 1;
        got.extend(names_of(&v));
        match v.get("nextStartWith").and_then(|n| n.as_str()) {
            Some(next) => start = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(got, &names[..5]);

    // Names sort by bytes ('+' before '/'); no limit lists everything in one page.
    let v = page(vec![]).await;
    let mut sorted = names.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(names_of(&v)[0], "m/a b+/x.json");
    assert_eq!(names_of(&v), sorted);
    assert!(v.get("nextStartWith").is_none());
    // `start` is inclusive, `startAfter` exclusive.
    let v = page(vec![("start", "m/a b/3.json".into())]).await;
    assert_eq!(
        names_of(&v),
        ["m/a b/3.json", "m/a b/4.json", "m/a b/5.json", "n/1.json"]
    );
    let v = page(vec![
        ("startAfter", "m/a b/3.json".into()),
        ("prefix", "m/".into()),
    ])
    .await;
    assert_eq!(names_of(&v), ["m/a b/4.json", "m/a b/5.json"]);

    // Bad parameters and a missing bucket are OCI errors.
    let r = c
        .get(&Client::query(&list_path, &[("limit", "5000")]))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidParameter"));
    let r = c.get(&format!("/n/{ns}/b/nope/o")).await;
    assert_eq!(
        r.status, 200,
        "buckets are auto-created: an unknown one is empty"
    );
    assert_eq!(names_of(&r.json()), Vec::<String>::new());
    assert!(
        emu.request_log()
            .iter()
            .any(|r| r.operation == "ListObjects" && r.status == 200)
    );
}

#[tokio::test]
async fn control_api_over_http() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let r = control(&emu, Method::GET, "/_emulator/tenancy", None).await;
    assert_eq!(r.json()["tenancyId"], emu.tenancy_id().as_str());
    assert!(r.header("opc-request-id").is_some());
    let root = emu.tenancy_id();
    let r = control(&emu, Method::GET, &format!("/_emulator/events?compartmentId={root}&start=2026-03-10T11:00:00Z&end=2026-03-10T11:30:00Z"), None).await;
    let n = r.json()["events"].as_array().unwrap().len();
    assert_eq!(
        n,
        emu.ground_truth(
            Some(&root),
            t0() - Duration::minutes(60),
            t0() - Duration::minutes(30)
        )
        .unwrap()
        .len()
    );
    let r = control(
        &emu,
        Method::POST,
        "/_emulator/events",
        Some(json!({"compartmentId": root, "eventTime": "2026-03-10T11:00:00Z", "count": 2})),
    )
    .await;
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 2);
    let r = control(
        &emu,
        Method::PUT,
        "/_emulator/faults",
        Some(
            json!({"rules": [{"fault": {"kind": "rateLimited", "retryAfterSecs": 3}, "times": 1}]}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(emu.faults().len(), 1);
    let key = TestKey::shared().unwrap();
    let r = control(
        &emu,
        Method::POST,
        "/_emulator/keys",
        Some(json!({"pem": key.public_pem()})),
    )
    .await;
    assert_eq!(r.json()["fingerprint"], key.fingerprint());
    let r = control(
        &emu,
        Method::PUT,
        "/_emulator/clock",
        Some(json!({"shiftMs": 60000})),
    )
    .await;
    assert_eq!(r.json()["now"], "2026-03-10T12:01:30.000Z");
    let r = control(
        &emu,
        Method::PUT,
        "/_emulator/settings",
        Some(json!({"pageSize": 3})),
    )
    .await;
    assert_eq!(r.json()["pageSize"], 3);
    let r = control(
        &emu,
        Method::POST,
        "/_emulator/compartments",
        Some(json!({"parentId": root, "name": "via-http"})),
    )
    .await;
    assert_eq!(r.json()["name"], "via-http");
    let r = control(
        &emu,
        Method::POST,
        "/_emulator/compartments",
        Some(json!({"parentId": "nope"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = control(&emu, Method::GET, "/_emulator/requests", None).await;
    assert!(r.json()["requests"].as_array().unwrap().len() >= 8);
    let r = control(&emu, Method::GET, "/_emulator/nothing", None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn events_carry_unicode_control_characters_and_large_payloads() {
    let clock = ManualClock::new(t0());
    let emu = Emulator::builder()
        .seed(5)
        .compartments(1)
        .events_per_minute(10.0)
        .backlog(Duration::minutes(30))
        .unicode_probability(0.5)
        .large_payloads(0.05, 300 * 1024)
        .page_size(1000)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let end = minute_floor(t0()) - Duration::minutes(2);
    let start = end - Duration::minutes(25);
    let r = c
        .get(&Client::query(
            "/20190901/auditEvents",
            &[
                ("compartmentId", &root),
                ("startTime", &rfc3339(start)),
                ("endTime", &rfc3339(end)),
            ],
        ))
        .await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        text.contains("\\u0000") && text.contains("\\u001b"),
        "control characters are JSON-escaped"
    );
    assert!(text.contains('\u{1f680}') || text.contains('\u{65e5}'));
    let events = r.json();
    let big = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().len() > 300 * 1024)
        .count();
    assert!(big > 0);
    for e in events.as_array().unwrap() {
        assert!(e["data"]["request"]["headers"]["Authorization"].is_array());
        assert!(e["data"]["request"]["headers"]["opc-principal"].is_array());
        assert_eq!(e["eventTypeVersion"], "2.0");
    }
}

#[tokio::test]
async fn problems_change_through_the_control_api_and_the_listing_follows() {
    let rfc3339_ms =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let clock = ManualClock::new(t0());
    let emu = Emulator::builder()
        .seed(12)
        .compartments(4)
        .events_per_minute(0.0)
        .live(false)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let c = Client::new(&emu);
    let root = emu.tenancy_id();
    let child = emu.compartment_ids()[1].clone();
    let list = |pairs: Vec<(&'static str, String)>| {
        let mut q: Vec<(&str, String)> = vec![
            ("compartmentId", root.clone()),
            ("compartmentIdInSubtree", "true".into()),
        ];
        q.extend(pairs);
        q
    };
    let path = |q: &[(&str, String)]| {
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Client::query("/20200131/problems", &pairs)
    };
    let r = c.get(&path(&list(vec![]))).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"items": []}),
        "no problems unless seeded or added"
    );

    let r = control(
        &emu,
        Method::POST,
        "/_emulator/problems",
        Some(json!({"compartmentId": child, "riskLevel": "HIGH", "labels": ["CIS"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let added = r.json();
    let id = added["id"].as_str().unwrap().to_string();
    assert_eq!(added["timeFirstDetected"], rfc3339_ms(t0()));
    assert_eq!(added["lifecycleDetail"], "OPEN");

    clock.advance(Duration::minutes(5));
    let later = t0() + Duration::minutes(5);
    let r = control(
        &emu,
        Method::PUT,
        &format!("/_emulator/problems/{id}"),
        Some(json!({"timeLastDetected": rfc3339(later)})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Listed with its new detection time, inside an inclusive window starting at it.
    let r = c
        .get(&path(&list(vec![(
            "timeLastDetectedGreaterThanOrEqualTo",
            rfc3339(later),
        )])))
        .await;
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["timeLastDetected"], rfc3339_ms(later));
    assert_eq!(items[0]["labels"], json!(["CIS"]));
    assert!(r.header("opc-request-id").is_some());

    let r = control(
        &emu,
        Method::PUT,
        &format!("/_emulator/problems/{id}"),
        Some(json!({"lifecycleState": "INACTIVE", "lifecycleDetail": "DISMISSED"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = c.get(&path(&list(vec![]))).await;
    assert_eq!(
        r.json()["items"],
        json!([]),
        "INACTIVE is not listed by default"
    );
    let r = c
        .get(&path(&list(vec![("lifecycleState", "INACTIVE".into())])))
        .await;
    assert_eq!(r.json()["items"][0]["lifecycleDetail"], "DISMISSED");

    // Ground truth keeps the three versions in order.
    let r = control(&emu, Method::GET, "/_emulator/problems/versions", None).await;
    let versions = r.json()["versions"].as_array().unwrap().clone();
    let seen: Vec<(u64, String)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["problem"]["lifecycleDetail"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, "OPEN".to_string()),
            (2, "OPEN".to_string()),
            (3, "DISMISSED".to_string())
        ]
    );
    let r = control(
        &emu,
        Method::PUT,
        "/_emulator/problems/ocid1.cloudguardproblem.oc1..nope",
        Some(json!({"lifecycleDetail": "RESOLVED"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = control(
        &emu,
        Method::PUT,
        &format!("/_emulator/problems/{id}"),
        Some(json!({"lifecycleDetail": "GONE"})),
    )
    .await;
    assert_eq!(r.status, 400);

    // Wire errors: OCI's shape; an inaccessible child under RESTRICTED refuses the subtree,
    // ACCESSIBLE skips it.
    let r = c
        .get(&path(&list(vec![("sortBy", "timeCreated".into())])))
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter".to_string()));
    emu.set_compartment_access(&child, Access::Forbidden)
        .unwrap();
    let r = c.get(&path(&list(vec![]))).await;
    assert_eq!((r.status, r.code()), (403, "NotAuthorized".to_string()));
    let r = c
        .get(&path(&list(vec![("accessLevel", "ACCESSIBLE".into())])))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(emu.stats().of(Operation::ListProblems).authenticated, 7);
}

#[tokio::test]
async fn logging_search_through_the_control_api_pages_without_gaps_or_repeats() {
    let clock = ManualClock::new(t0());
    let emu = start(&clock).await;
    let c = Client::new(&emu);
    let compartment = emu.compartment_ids()[2].clone();
    let group = control(
        &emu,
        Method::POST,
        "/_emulator/logs/groups",
        Some(json!({"compartmentId": compartment, "displayName": "app"})),
    )
    .await
    .json();
    let log = control(
        &emu,
        Method::POST,
        "/_emulator/logs",
        Some(json!({"logGroupId": group["id"], "displayName": "custom"})),
    )
    .await
    .json();
    assert_eq!(log["isEnabled"], true);
    let log_id = log["id"].as_str().unwrap().to_string();
    let add = |at: chrono::DateTime<chrono::Utc>, body: serde_json::Value| {
        let mut b = body;
        b["logId"] = json!(log_id);
        b["datetime"] = json!(rfc3339(at));
        control(&emu, Method::POST, "/_emulator/logs/records", Some(b))
    };
    let start = t0() - Duration::minutes(30);
    for i in 0..25 {
        let r = add(start + Duration::seconds(i * 60), json!({"count": 2})).await;
        assert_eq!(r.status, 200);
    }
    // A custom record, kept verbatim (unknown fields and their order), ingested in 2 minutes.
    let custom = json!({"zeta": [3, 1], "id": "custom-1", "type": "com.example.custom",
        "data": {"message": "héllo \u{1b} world", "level": "WARN"}, "alpha": null});
    let r = add(
        t0() - Duration::minutes(1),
        json!({"logContent": custom, "delayMs": 120_000}),
    )
    .await;
    assert_eq!(r.json()["records"][0]["ingested"], false);

    let search = |query: String, page: Option<String>| {
        let body = json!({
            "timeStart": rfc3339(start),
            "timeEnd": rfc3339(t0()),
            "searchQuery": query,
        })
        .to_string();
        let mut pairs = vec![("limit", "6".to_string())];
        if let Some(p) = page {
            pairs.push(("page", p));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = Client::query("/20190909/search", &pairs);
        let c = &c;
        async move {
            c.try_send(Method::POST, &path, Some(body.as_bytes()), &[], true)
                .await
                .unwrap()
        }
    };
    let query = format!("search \"{compartment}/app/custom\"");
    // Page through, adding two records after every page: one before the cursor (not listed in
    // this pass: a collector's second read of the window finds it), one after it (listed).
    let mut seen: Vec<String> = Vec::new();
    let mut page = None;
    let mut after_cursor = Vec::new();
    loop {
        let r = search(query.clone(), page.clone()).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        for x in v["results"].as_array().unwrap() {
            seen.push(x["data"]["logContent"]["id"].as_str().unwrap().to_string());
        }
        let Some(next) = r.header("opc-next-page") else {
            break;
        };
        page = Some(next);
        add(start, json!({})).await;
        // Later than anything listed so far (a same-time record could sort before the cursor).
        let at = t0() - Duration::seconds(60) + Duration::seconds(after_cursor.len() as i64);
        let late = add(at, json!({})).await;
        after_cursor.push(
            late.json()["records"][0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats");
    assert_eq!(seen.len(), 50 + after_cursor.len(), "no gaps");
    assert!(after_cursor.iter().all(|id| seen.contains(id)));
    assert!(!seen.contains(&"custom-1".to_string()), "not ingested yet");

    // Two minutes on, the custom record is searchable, byte for byte as given.
    clock.advance(Duration::minutes(2));
    let r = search(format!("{query} | where type = 'com.example.custom'"), None).await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        text.contains(r#""logContent":{"zeta":[3,1],"id":"custom-1","type":"com.example.custom","data":{"message":"héllo \u001b world","level":"WARN"},"alpha":null}"#),
        "{text}"
    );
    assert_eq!(r.json()["summary"]["resultCount"], 1);

    // Disabled: nothing; the ground truth still has every record with its ingestion time.
    let r = control(
        &emu,
        Method::PUT,
        &format!("/_emulator/logs/{log_id}"),
        Some(json!({"isEnabled": false})),
    )
    .await;
    assert_eq!(r.json()["isEnabled"], false);
    let r = search(query.clone(), None).await;
    assert_eq!(r.json()["results"], json!([]));
    let truth = control(&emu, Method::GET, "/_emulator/logs/records", None)
        .await
        .json();
    let records = truth["records"].as_array().unwrap();
    assert_eq!(records.len(), 51 + 2 * after_cursor.len());
    assert!(
        records
            .iter()
            .all(|r| r["ingestedAt"].is_string() && r["logId"] == log_id)
    );
    // Unknown log: the control API's 404; a search of an unknown log group: OCI's 404.
    let r = control(
        &emu,
        Method::PUT,
        "/_emulator/logs/ocid1.log.oc1..nope",
        Some(json!({"isEnabled": true})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = search(format!("search \"{compartment}/nope\""), None).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "NotAuthorizedOrNotFound".to_string())
    );
    assert_eq!(emu.stats().of(Operation::SearchLogs).refused, 0);
    assert!(emu.stats().of(Operation::SearchLogs).authenticated >= 10);
}
