//! How fast the emulator serves `ListEvents` pages from a pre-built backlog, measured through a
//! real HTTP client that signs every request (as auditfwd does). Run with
//! `cargo bench -p oci-emulator --bench throughput`; the figure goes in docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Method;
use oci_emulator::{Emulator, EmulatorHandle, ManualClock, RequestSigner};

const COMPARTMENTS: usize = 4;
const EVENTS_PER_MINUTE: f64 = 250.0;

fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(60), 0).unwrap()
}

/// Pages through one compartment's window; returns (events, bytes). Events are counted only
/// when `count` is set (once, at set-up): the timed loop measures the server, not a JSON scan.
async fn drain_one(
    http: &reqwest::Client,
    emu: &EmulatorHandle,
    signer: &RequestSigner,
    c: &str,
    (start, end): (&str, &str),
    count: bool,
) -> (usize, usize) {
    let (mut events, mut bytes) = (0, 0);
    {
        let mut page: Option<String> = None;
        loop {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.extend_pairs([("compartmentId", c), ("startTime", start), ("endTime", end)]);
            if let Some(p) = &page {
                q.append_pair("page", p);
            }
            let target = format!("/20190901/auditEvents?{}", q.finish());
            let mut req = http.get(format!("{}{target}", emu.base_url()));
            for (k, v) in signer.sign(&Method::GET, &target, None, emu.now(), true) {
                req = req.header(k, v);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let n: usize = resp
                .headers()
                .get("opc-next-page")
                .map(|v| v.to_str().unwrap().to_string())
                .map_or(0, |p| {
                    page = Some(p);
                    1
                });
            let body = resp.bytes().await.unwrap();
            bytes += body.len();
            if count {
                events += serde_json::from_slice::<Vec<serde_json::Value>>(&body)
                    .unwrap()
                    .len();
            }
            if n == 0 {
                break;
            }
        }
    }
    (events, bytes)
}

/// Every compartment, one after another (one client stream).
async fn drain_sequential(
    http: &reqwest::Client,
    emu: &EmulatorHandle,
    signer: &RequestSigner,
    w: (&str, &str),
    count: bool,
) -> (usize, usize) {
    let mut total = (0, 0);
    for c in emu.compartment_ids() {
        let (e, b) = drain_one(http, emu, signer, &c, w, count).await;
        total = (total.0 + e, total.1 + b);
    }
    total
}

/// Every compartment at once (one stream per compartment, as a collector fans out).
async fn drain_concurrent(
    http: &reqwest::Client,
    emu: &EmulatorHandle,
    signer: &RequestSigner,
    w: (&str, &str),
) -> usize {
    let ids = emu.compartment_ids();
    let all = futures::future::join_all(
        ids.iter()
            .map(|c| drain_one(http, emu, signer, c, w, false)),
    )
    .await;
    all.iter().map(|(_, b)| b).sum()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let (emu, signer, http, start, end, events) = rt.block_on(async {
        let emu = Emulator::builder()
            .seed(1)
            .compartments(COMPARTMENTS)
            .max_depth(1)
            .events_per_minute(EVENTS_PER_MINUTE)
            .backlog(chrono::Duration::minutes(120))
            .live(false)
            .large_payloads(0.0, 0)
            .page_size(1000)
            .clock(ManualClock::new(now))
            .start()
            .await
            .unwrap();
        let signer = emu.test_signer().unwrap();
        let http = reqwest::Client::new();
        let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (start, end) = (
            fmt(minute(now) - chrono::Duration::minutes(120)),
            fmt(minute(now) - chrono::Duration::minutes(21)),
        );
        let (events, bytes) = drain_sequential(&http, &emu, &signer, (&start, &end), true).await;
        eprintln!(
            "backlog: {} events stored; one pass serves {events} events, {} MB",
            emu.event_count(),
            bytes / 1_000_000
        );
        (emu, signer, http, start, end, events)
    });
    let mut g = c.benchmark_group("list_events");
    g.throughput(Throughput::Elements(events as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let w = (start.as_str(), end.as_str());
    g.bench_function("sequential_page_1000", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(drain_sequential(&http, &emu, &signer, w, false).await) });
    });
    g.bench_function("concurrent_5_streams_page_1000", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(drain_concurrent(&http, &emu, &signer, w).await) });
    });
    // OCI-sized pages: per-request costs (the client's RSA signing above all) now dominate.
    emu.set_page_size(100);
    g.bench_function("sequential_page_100", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(drain_sequential(&http, &emu, &signer, w, false).await) });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
