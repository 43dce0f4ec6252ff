//! rsyslog stopped and restarted in the middle of a RELP stream: every message arrives at
//! least once, and `send` never reports success for a message that was not acknowledged.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use auditfwd_syslog::{RetryPolicy, SenderConfig, SyslogSender, Transport};

use crate::harness::Rsyslog;

const TOTAL: usize = 3000;
const BATCH: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relp_stream_survives_a_receiver_restart() {
    let mut rs = Rsyslog::start();
    let mut cfg = SenderConfig::new(
        format!("127.0.0.1:{}", rs.ports.relp),
        Transport::Relp {
            tls: None,
            window: 32,
        },
    );
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
    };
    let mut sender = SyslogSender::new(cfg).unwrap();
    let messages: Vec<Vec<u8>> = (0..TOTAL)
        .map(|i| {
            format!("<134>1 2026-11-22T14:01:02.345Z auditfwd auditfwd - t - m{i:05}").into_bytes()
        })
        .collect();

    let feeder = tokio::spawn(async move {
        // Like the pipeline: a batch is retried until confirmed; only unconfirmed
        // messages are sent again.
        let mut confirmed: Vec<usize> = Vec::new();
        let mut failures = 0;
        for chunk_start in (0..TOTAL).step_by(BATCH) {
            let mut pending: Vec<usize> = (chunk_start..(chunk_start + BATCH).min(TOTAL)).collect();
            while !pending.is_empty() {
                let batch: Vec<&[u8]> = pending.iter().map(|&i| &messages[i][..]).collect();
                match sender.send(&batch).await {
                    Ok(d) => {
                        failures += d.retries as usize;
                        confirmed.extend(&pending);
                        pending.clear();
                    }
                    Err(e) => {
                        failures += 1;
                        let still: HashSet<usize> =
                            e.unconfirmed.iter().map(|&k| pending[k]).collect();
                        confirmed.extend(pending.iter().filter(|i| !still.contains(i)));
                        pending.retain(|i| still.contains(i));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            // A paced stream (about 2.4 s in all), so the restarts below land mid-stream.
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        sender.close().await;
        (confirmed, failures)
    });

    // Restart gracefully once the stream is well under way, then crash it (SIGKILL)
    // later: with rsyslog's direct queues, an acknowledged message is already written.
    rs.wait_for(TOTAL / 5).await;
    rs.stop();
    let during_outage = rs.received().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    rs.restart();
    rs.wait_for(TOTAL * 3 / 5).await;
    rs.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rs.restart();

    let (confirmed, failures) = feeder.await.unwrap();
    assert!(during_outage < TOTAL, "the restart happened mid-stream");
    let got = rs.wait_for(TOTAL).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in &got {
        *counts.entry(m.msg.clone()).or_default() += 1;
    }
    // Every message was confirmed, and every confirmed message is at the receiver.
    let confirmed: HashSet<usize> = confirmed.into_iter().collect();
    assert_eq!(confirmed.len(), TOTAL);
    for i in 0..TOTAL {
        assert!(counts.contains_key(&format!("m{i:05}")), "m{i:05} lost");
    }
    let duplicates = got.len() - counts.len();
    eprintln!(
        "restart: {failures} failed attempts, {duplicates} duplicates, {} lines",
        got.len()
    );
    assert!(failures >= 2, "both outages interrupted the stream");
    assert!(got.len() >= TOTAL);
}
