//! Encoder throughput on realistic 2.1 KB and 2.8 KB audit events (one core, pure CPU).
//!
//! `cargo bench -p auditfwd-syslog --bench encode`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use auditfwd_syslog::{
    Encoder, EncoderConfig, Framing, Payload, SyslogFormat, SyslogRecord, Window,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn record(text: &str) -> SyslogRecord {
    let window = Window {
        start: "2026-11-22T14:00:00Z".parse().unwrap(),
        end: "2026-11-22T14:05:00Z".parse().unwrap(),
    };
    SyslogRecord::from_event(serde_json::from_str(text).unwrap(), window, false).unwrap()
}

/// A 2.1 KB GetInstance read (the most common kind of audit event).
fn typical() -> SyslogRecord {
    record(include_str!("../tests/fixtures/get_instance.json"))
}

/// A 2.8 KB TerminateInstance with state change and request/response payloads.
fn fixture() -> SyslogRecord {
    record(include_str!("../tests/fixtures/terminate_instance.json"))
}

fn encoders(c: &mut Criterion) {
    let record = fixture();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    let typical = typical();
    let enc = Encoder::new(EncoderConfig::default()).unwrap();
    let mut buf = Vec::with_capacity(8192);
    group.bench_function("rfc5424_json_2.1KB_get", |b| {
        b.iter(|| {
            buf.clear();
            enc.encode_into(black_box(&typical), &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    for (name, format, payload) in [
        ("rfc5424_json_2.8KB", SyslogFormat::Rfc5424, Payload::Json),
        ("rfc5424_cef", SyslogFormat::Rfc5424, Payload::Cef),
        ("rfc3164_leef", SyslogFormat::Rfc3164, Payload::Leef),
        ("rfc3164_json", SyslogFormat::Rfc3164, Payload::Json),
    ] {
        let enc = Encoder::new(EncoderConfig {
            format,
            payload,
            ..Default::default()
        })
        .unwrap();
        let mut buf = Vec::with_capacity(8192);
        group.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                enc.encode_into(black_box(&record), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
    }
    // Reference: serde_json alone writing the same event from a parsed value (what the
    // encoder did before it sent the event's own text).
    let value = record.body.to_value().unwrap();
    let mut json = Vec::with_capacity(8192);
    group.bench_function("serde_json_body_only", |b| {
        b.iter(|| {
            json.clear();
            serde_json::to_writer(&mut json, black_box(&value)).unwrap();
            black_box(json.len())
        })
    });
    // Encode plus octet-counting framing into one send buffer, as the TCP path does.
    let enc = Encoder::new(EncoderConfig::default()).unwrap();
    let mut msg = Vec::with_capacity(8192);
    let mut out = Vec::with_capacity(8192);
    group.bench_function("rfc5424_json_framed", |b| {
        b.iter(|| {
            msg.clear();
            out.clear();
            enc.encode_into(black_box(&record), &mut msg).unwrap();
            Framing::OctetCounting.frame_into(&msg, &mut out);
            black_box(out.len())
        })
    });
    group.finish();

    let mut big = record.clone();
    big.edit_body(|b| {
        b["data"]["additionalDetails"]["blob"] = serde_json::json!("A".repeat(1 << 20))
    })
    .unwrap();
    let mut group = c.benchmark_group("shrink");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.bench_function("1mb_event_to_default_limit", |b| {
        b.iter(|| black_box(enc.encode(black_box(&big)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, encoders);
criterion_main!(benches);
