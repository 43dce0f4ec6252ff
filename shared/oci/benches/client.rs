//! Client hot paths: signing one request (RSA-2048, the size OCI requires for real API keys)
//! and decoding a ListEvents page of realistic events.
//!
//! Run: `cargo bench -p auditfwd-oci --bench client`. Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::SystemTime;

use auditfwd_oci::audit::AuditEvent;
use auditfwd_oci::auth::{ApiKeyCredentials, PrivateKeySource};
use auditfwd_oci::signer::{BodySigning, sign_request};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, Method};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn credentials() -> ApiKeyCredentials {
    ApiKeyCredentials::builder()
        .tenancy("ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq")
        .user("ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq")
        .private_key(PrivateKeySource::File(
            format!("{FIXTURES}/bench-key-2048.pem").into(),
        ))
        .build()
        .unwrap()
}

fn signing(c: &mut Criterion) {
    let creds = credentials();
    let url = url::Url::parse(
        "https://audit.us-ashburn-1.oraclecloud.com/20190901/auditEvents?compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&startTime=2026-11-22T10%3A00%3A00Z&endTime=2026-11-22T10%3A05%3A00Z",
    )
    .unwrap();
    c.bench_function("sign ListEvents GET (RSA-2048)", |b| {
        b.iter(|| {
            let mut headers = HeaderMap::new();
            sign_request(
                &creds,
                &Method::GET,
                &url,
                &mut headers,
                None,
                BodySigning::Standard,
                SystemTime::now(),
            )
            .unwrap();
            black_box(headers)
        })
    });
}

fn decoding(c: &mut Criterion) {
    let one: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/audit-event.json")).unwrap();
    let page: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            let mut e = one.clone();
            e["eventId"] = format!("event-{i:06}").into();
            e
        })
        .collect();
    let body = serde_json::to_vec(&page).unwrap();
    let mut group = c.benchmark_group("decode ListEvents page");
    group.throughput(Throughput::Elements(1000));
    group.bench_function(format!("1000 events, {} KiB", body.len() / 1024), |b| {
        b.iter(|| black_box(serde_json::from_slice::<Vec<AuditEvent>>(black_box(&body)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, signing, decoding);
criterion_main!(benches);
