//! CPU cost of the in-process per-event path, for one `ListEvents` page of 1,000 realistic
//! 2.8 KB events: split the page into events and read each one's head, dedupe (the window's
//! id set and the in-process cache, full as in a long run and confirmed afterwards as a
//! delivered batch is), filter, scrub, and encode as RFC 5424 + JSON into one buffer. The
//! references are serde_json alone parsing the same bytes: into `serde_json::Value`, and only
//! validating them (`IgnoredAny`, the floor of any parse).
//!
//! `cargo bench -p auditfwd-pipeline --bench per_event`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use auditfwd_checkpoint::EventIdSet;
use auditfwd_checkpoint::ids::IdHash;
use auditfwd_oci::Window;
use auditfwd_oci::audit::parse_page;
use auditfwd_pipeline::Outbound;
use auditfwd_pipeline::clock::SystemClock;
use auditfwd_pipeline::dedupe::RecentIds;
use auditfwd_pipeline::filter::EventFilter;
use auditfwd_pipeline::glob::Glob;
use auditfwd_pipeline::scrub::ScrubPolicy;
use auditfwd_syslog::{Encoder, EncoderConfig, SyslogRecord};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: usize = 1000;

fn page() -> Bytes {
    let one: serde_json::Value = serde_json::from_str(include_str!(
        "../../syslog/tests/fixtures/terminate_instance.json"
    ))
    .unwrap();
    let events: Vec<serde_json::Value> = (0..EVENTS)
        .map(|i| {
            let mut e = one.clone();
            e["eventId"] = format!("ocid1.auditevent.oc1.phx.{i:06}").into();
            e
        })
        .collect();
    serde_json::to_vec(&events).unwrap().into()
}

fn per_event(c: &mut Criterion) {
    let body = page();
    let window = Window::parse("2026-11-22T14:00:00Z", "2026-11-22T14:05:00Z").unwrap();
    // A filter that inspects type and principal of every event and lets it through.
    let filter = EventFilter {
        exclude_types: vec![Glob::new("*.ListAuditEvents")],
        exclude_principals: vec![Glob::new("svc-nobody-*")],
        ..EventFilter::default()
    };
    let scrub = ScrubPolicy::default();
    let encoder = Encoder::new(EncoderConfig::default()).unwrap();

    let mut group = c.benchmark_group("per_event");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function(
        format!("serde_json_value_{}KiB_page", body.len() / 1024),
        |b| b.iter(|| black_box(serde_json::from_slice::<Vec<serde_json::Value>>(&body).unwrap())),
    );
    group.bench_function("serde_json_validate_only", |b| {
        b.iter(|| black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&body).unwrap()))
    });
    let mut out = Vec::with_capacity(4 << 20);
    let earlier: Vec<IdHash> = (0..16_384)
        .map(|i| IdHash::of(&format!("earlier-{i}")))
        .collect();
    group.bench_function("parse_dedupe_filter_scrub_encode", |b| {
        b.iter_batched(
            || {
                // A full cache, as in a long run: each page's ids push out as many old ones.
                let recent = RecentIds::new(
                    16_384,
                    Duration::from_secs(3600),
                    std::sync::Arc::new(SystemClock),
                );
                recent.confirmed(&earlier);
                (recent, EventIdSet::new())
            },
            |(recent, mut seen)| {
                out.clear();
                let mut hashes = Vec::with_capacity(EVENTS);
                for event in parse_page(&body).unwrap() {
                    let head = event.head();
                    let hash = IdHash::of(&head.event_id);
                    if !seen.insert_hash(&hash) || recent.contains(&hash) {
                        continue;
                    }
                    if filter.check(head).is_err() {
                        continue;
                    }
                    let (text, _) = scrub.scrub(&event);
                    let (_, head) = event.into_parts();
                    let record = SyslogRecord::from(Outbound::new(head, text, window, false));
                    encoder.encode_into(&record, &mut out).unwrap();
                    hashes.push(hash);
                }
                recent.confirmed(hashes.iter());
                assert_eq!(hashes.len(), EVENTS);
                (recent, seen)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(8));
    targets = per_event
}
criterion_main!(benches);
