//! Delivery throughput to an in-process loopback receiver that reads and discards:
//! TCP with octet counting, and RELP with a receiver that acknowledges every message.
//! Messages are pre-encoded (see the `encode` bench for encoding cost).
//!
//! `cargo bench -p auditfwd-syslog --bench tcp`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use auditfwd_syslog::{
    Encoder, EncoderConfig, Framing, SenderConfig, SyslogRecord, SyslogSender, Transport, Window,
};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const BATCH: usize = 1000;

fn messages() -> Vec<Bytes> {
    let window = Window {
        start: "2026-11-22T14:00:00Z".parse().unwrap(),
        end: "2026-11-22T14:05:00Z".parse().unwrap(),
    };
    let text = include_str!("../tests/fixtures/terminate_instance.json");
    let record =
        SyslogRecord::from_event(serde_json::from_str(text).unwrap(), window, false).unwrap();
    let enc = Encoder::new(EncoderConfig::default()).unwrap();
    (0..BATCH)
        .map(|_| enc.encode(&record).unwrap().bytes)
        .collect()
}

async fn discard_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Minimal RELP receiver: answers open, acknowledges every syslog transaction.
async fn relp_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::with_capacity(1 << 20, r);
                let mut out = Vec::with_capacity(1 << 16);
                let mut field = Vec::new();
                loop {
                    let mut parts = [String::new(), String::new(), String::new()];
                    for p in parts.iter_mut() {
                        field.clear();
                        if r.read_until(b' ', &mut field).await.unwrap_or(0) == 0 {
                            return;
                        }
                        *p = String::from_utf8_lossy(&field).trim().to_owned();
                    }
                    let len: usize = parts[2].parse().unwrap();
                    let mut data = vec![0u8; len + 1];
                    r.read_exact(&mut data).await.unwrap();
                    let reply = if parts[1] == "open" {
                        "200 OK\ncommands=syslog"
                    } else {
                        "200 OK"
                    };
                    out.extend_from_slice(
                        format!("{} rsp {} {reply}\n", parts[0], reply.len()).as_bytes(),
                    );
                    // Answer in batches like librelp does when input is pipelined.
                    if r.buffer().is_empty() {
                        w.write_all(&out).await.unwrap();
                        out.clear();
                    }
                }
            });
        }
    });
    addr
}

fn delivery(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let batch = messages();
    let bytes: u64 = batch.iter().map(|m| m.len() as u64).sum();
    let mut group = c.benchmark_group("deliver");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);

    let addr = rt.block_on(discard_server());
    let mut tcp = SyslogSender::new(SenderConfig::new(
        addr,
        Transport::Tcp {
            framing: Framing::OctetCounting,
        },
    ))
    .unwrap();
    group.bench_function("tcp_octet_counted_1000x2.8KB", |b| {
        b.iter(|| rt.block_on(tcp.send(&batch)).unwrap());
    });

    let addr = rt.block_on(relp_server());
    let mut relp = SyslogSender::new(SenderConfig::new(
        addr,
        Transport::Relp {
            tls: None,
            window: 128,
        },
    ))
    .unwrap();
    group.bench_function("relp_window128_1000x2.8KB", |b| {
        b.iter(|| rt.block_on(relp.send(&batch)).unwrap());
    });
    group.finish();
    eprintln!("batch payload: {bytes} bytes");
}

criterion_group!(benches, delivery);
criterion_main!(benches);
