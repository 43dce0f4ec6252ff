//! Client hot paths: signing one request (RSA-2048, the size OCI requires for real API keys)
//! and decoding a ListEvents page of realistic events.
//!
//! The signing group splits a signed request into its parts, so a change to one shows where
//! the CPU goes: the RSA primitive alone (the `rsa` crate and AWS-LC on the same key and
//! signing string, side by side in one run), the signing string alone, and `sign_request` as
//! the transport calls it (date, host, signing string, signature and `Authorization` header).
//!
//! Every figure is the CPU time of the benchmarking thread, not wall time: the question is
//! what a request costs in CPU (what Lambda bills), and on a machine whose cores other work
//! shares, wall time mostly measures the neighbours.
//!
//! Run: `cargo bench -p auditfwd-oci --bench client`. Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::SystemTime;

use auditfwd_oci::audit::AuditEvent;
use auditfwd_oci::auth::{ApiKeyCredentials, PrivateKeySource};
use auditfwd_oci::signer::{BodySigning, sign_request, signing_string};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, Method};
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rsa::signature::{SignatureEncoding as _, Signer as _};

/// CPU time of the calling thread, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
struct ThreadCpuTime;

static NANOSECONDS: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }
    fn end(&self, started: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(started)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as wall time's are, so its formatter prints them right.
        NANOSECONDS.formatter()
    }
}

fn thread_cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const LIST_EVENTS_URL: &str = "https://audit.us-ashburn-1.oraclecloud.com/20190901/auditEvents?compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&startTime=2026-11-22T10%3A00%3A00Z&endTime=2026-11-22T10%3A05%3A00Z";
const PUT_OBJECT_URL: &str = "https://objectstorage.us-ashburn-1.oraclecloud.com/n/ns/b/auditfwd-state/o/state%2Fv1%2Fshard-0007.json";

fn credentials(key_file: &str) -> ApiKeyCredentials {
    ApiKeyCredentials::builder()
        .tenancy("ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq")
        .user("ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq")
        .private_key(PrivateKeySource::File(
            format!("{FIXTURES}/{key_file}").into(),
        ))
        .build()
        .unwrap()
}

/// What the transport does to sign one request: fresh headers, `sign_request`.
fn sign(
    creds: &ApiKeyCredentials,
    method: &Method,
    url: &url::Url,
    body: Option<&[u8]>,
    body_signing: BodySigning,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    sign_request(
        creds,
        method,
        url,
        &mut headers,
        body,
        body_signing,
        SystemTime::now(),
    )
    .unwrap();
    headers
}

fn signing(c: &mut Criterion<ThreadCpuTime>) {
    let creds = credentials("bench-key-2048.pem");
    let url = url::Url::parse(LIST_EVENTS_URL).unwrap();
    let signed = sign(&creds, &Method::GET, &url, None, BodySigning::Standard);
    let names = ["date", "(request-target)", "host"];
    let text = signing_string(&Method::GET, &url, &signed, &names).unwrap();

    let mut group = c.benchmark_group("sign");
    let pem = std::fs::read_to_string(format!("{FIXTURES}/bench-key-2048.pem")).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let rust_crypto = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    group.bench_function("RSA-2048 signature alone, rsa 0.9", |b| {
        b.iter(|| black_box(rust_crypto.sign(black_box(text.as_bytes())).to_vec()))
    });
    let aws_lc =
        aws_lc_rs::rsa::KeyPair::from_pkcs8(key.to_pkcs8_der().unwrap().as_bytes()).unwrap();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    group.bench_function("RSA-2048 signature alone, aws-lc-rs", |b| {
        b.iter(|| {
            let mut signature = vec![0; aws_lc.public_modulus_len()];
            aws_lc
                .sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    black_box(text.as_bytes()),
                    &mut signature,
                )
                .unwrap();
            black_box(signature)
        })
    });
    group.bench_function("signing string of a ListEvents GET", |b| {
        b.iter(|| black_box(signing_string(&Method::GET, &url, &signed, &names).unwrap()))
    });
    group.bench_function("sign ListEvents GET (RSA-2048)", |b| {
        b.iter(|| {
            black_box(sign(
                &creds,
                &Method::GET,
                &url,
                None,
                BodySigning::Standard,
            ))
        })
    });
    let put = url::Url::parse(PUT_OBJECT_URL).unwrap();
    let body = vec![b'x'; 4096];
    group.bench_function("sign PutObject 4 KiB (RSA-2048)", |b| {
        b.iter(|| {
            black_box(sign(
                &creds,
                &Method::PUT,
                &put,
                Some(&body),
                BodySigning::Exclude,
            ))
        })
    });
    let oracle = credentials("oracle-sample-key.pem");
    group.bench_function("sign ListEvents GET (RSA-1024, Oracle's sample key)", |b| {
        b.iter(|| {
            black_box(sign(
                &oracle,
                &Method::GET,
                &url,
                None,
                BodySigning::Standard,
            ))
        })
    });
    group.finish();
}

fn decoding(c: &mut Criterion<ThreadCpuTime>) {
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
    group.bench_function(
        format!("1000 events, {} KiB, typed", body.len() / 1024),
        |b| {
            b.iter(|| {
                black_box(serde_json::from_slice::<Vec<AuditEvent>>(black_box(&body)).unwrap())
            })
        },
    );
    // What ListEvents does: each event's text kept, only its head read.
    let raw = serde_json::to_vec(&page).unwrap().into();
    group.bench_function(
        format!("1000 events, {} KiB, raw", body.len() / 1024),
        |b| b.iter(|| black_box(auditfwd_oci::audit::parse_page(black_box(&raw)).unwrap())),
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = signing, decoding
}
criterion_main!(benches);
