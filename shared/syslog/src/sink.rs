//! Encoder plus sender: what the pipeline's `Sink` implementation wraps.

use crate::encode::Encoder;
use crate::error::{EncodeError, SendError};
use crate::events::SyslogEventsShrunk;
use crate::messages::Messages;
use crate::record::SyslogRecord;
use crate::sender::{Delivery, SyslogSender};

/// A batch of records could not be fully delivered.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Some records could not be encoded (the others were still sent).
    #[error("{} of {batch_len} records unconfirmed; record {index} cannot be encoded: {source}", unconfirmed.len())]
    Encode {
        /// Record indices not confirmed (the unencodable ones and any the send missed).
        unconfirmed: Vec<usize>,
        /// Size of the batch.
        batch_len: usize,
        /// The first record that could not be encoded.
        index: usize,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// Sending failed; indices are record indices.
    #[error(transparent)]
    Send(#[from] SendError),
}

impl SinkError {
    /// Indices (into the record batch) of the records that were not confirmed.
    pub fn unconfirmed(&self) -> &[usize] {
        match self {
            Self::Encode { unconfirmed, .. } => unconfirmed,
            Self::Send(e) => &e.unconfirmed,
        }
    }

    /// Whether sending the unconfirmed records again can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Encode { .. } => false,
            Self::Send(e) => e.is_retryable(),
        }
    }
}

/// Encodes records and delivers them to one destination.
#[derive(Debug)]
pub struct SyslogSink {
    encoder: Encoder,
    sender: SyslogSender,
}

impl SyslogSink {
    /// Combines an encoder and a sender.
    pub fn new(encoder: Encoder, sender: SyslogSender) -> Self {
        Self { encoder, sender }
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Encodes and delivers `records`; on error, [`SinkError::unconfirmed`] lists the
    /// records the caller must keep. Each record is encoded as the sender writes it (and again
    /// if it is resent), so no whole encoded batch is held.
    pub async fn send(&mut self, records: &[SyslogRecord]) -> Result<Delivery, SinkError> {
        let mut batch = Encoding {
            encoder: &self.encoder,
            records,
            first_seen: vec![true; records.len()],
            failed: Vec::new(),
            shrunk: 0,
            largest: 0,
        };
        let sent = self.sender.send_messages(&mut batch).await;
        let Encoding {
            failed,
            shrunk,
            largest,
            ..
        } = batch;
        if shrunk > 0 {
            SyslogEventsShrunk {
                events: shrunk,
                largest_bytes: largest,
                limit_bytes: self.encoder.config().max_message_size,
            }
            .emit();
        }
        let mut unconfirmed: Vec<usize> = failed.iter().map(|(i, _)| *i).collect();
        let result = match sent {
            Ok(d) => Ok(d),
            Err(e) => {
                unconfirmed.extend(&e.unconfirmed);
                unconfirmed.sort_unstable();
                unconfirmed.dedup();
                Err(SendError {
                    unconfirmed: unconfirmed.clone(),
                    batch_len: records.len(),
                    source: e.source,
                })
            }
        };
        match (failed.into_iter().next(), result) {
            (None, Ok(d)) => Ok(d),
            (None, Err(e)) => Err(SinkError::Send(e)),
            (Some((index, source)), _) => Err(SinkError::Encode {
                unconfirmed,
                batch_len: records.len(),
                index,
                source,
            }),
        }
    }

    /// Closes the connection politely.
    pub async fn close(&mut self) {
        self.sender.close().await;
    }
}

/// A batch of records as the sender reads it: each encoded when asked for.
struct Encoding<'a> {
    encoder: &'a Encoder,
    records: &'a [SyslogRecord],
    /// Whether record `i` has not been encoded yet (shrinking and failures count once).
    first_seen: Vec<bool>,
    /// Records that cannot be encoded, in index order, with why.
    failed: Vec<(usize, EncodeError)>,
    shrunk: usize,
    largest: usize,
}

impl Messages for Encoding<'_> {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn write_to(&mut self, i: usize, out: &mut Vec<u8>) -> bool {
        let Some(record) = self.records.get(i) else {
            return false;
        };
        let first = std::mem::replace(&mut self.first_seen[i], false);
        let start = out.len();
        match self.encoder.encode_into(record, out) {
            Ok(truncated_from) => {
                if first && let Some(from) = truncated_from {
                    self.shrunk += 1;
                    self.largest = self.largest.max(from);
                }
                true
            }
            Err(e) => {
                out.truncate(start);
                if first {
                    let at = self.failed.partition_point(|(j, _)| *j < i);
                    self.failed.insert(at, (i, e));
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::encode::{EncoderConfig, MIN_MESSAGE_SIZE};
    use crate::framing::Framing;
    use crate::record::Window;
    use crate::transport::{RetryPolicy, SenderConfig, Transport};

    fn record(id: &str) -> SyslogRecord {
        let t = "2026-11-22T14:00:00Z".parse().unwrap();
        SyslogRecord {
            event_id: id.into(),
            event_type: "t".into(),
            event_time: t,
            compartment_id: "c".into(),
            event_name: None,
            response_status: None,
            window: Window { start: t, end: t },
            replay: false,
            kind: Default::default(),
            body: crate::JsonText::from_value(&json!({"eventId": id})),
        }
    }

    /// A sink with the smallest allowed messages, LF framing over TCP, and no retries.
    fn lf_sink_without_retries(addr: String) -> SyslogSink {
        let enc = Encoder::new(EncoderConfig {
            max_message_size: MIN_MESSAGE_SIZE,
            ..Default::default()
        })
        .unwrap();
        let mut cfg = SenderConfig::new(
            addr,
            Transport::Tcp {
                framing: Framing::Lf,
            },
        );
        cfg.retry = RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        };
        SyslogSink::new(enc, SyslogSender::new(cfg).unwrap())
    }

    #[tokio::test]
    async fn an_unencodable_record_is_reported_and_the_rest_still_delivered() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let mut all = String::new();
            l.accept()
                .await
                .unwrap()
                .0
                .read_to_string(&mut all)
                .await
                .unwrap();
            all
        });
        let mut sink = lf_sink_without_retries(addr);
        let records = [record("a"), record(&"x".repeat(600)), record("c")];
        let err = sink.send(&records).await.unwrap_err();
        assert_eq!(err.unconfirmed(), &[1]);
        assert!(!err.is_retryable());
        assert!(matches!(
            err,
            SinkError::Encode {
                index: 1,
                batch_len: 3,
                ..
            }
        ));
        sink.close().await;
        let got = server.await.unwrap();
        assert_eq!(got.lines().count(), 2);
        assert!(got.contains(r#"{"eventId":"a"}"#) && got.contains(r#"{"eventId":"c"}"#));
    }

    #[tokio::test]
    async fn send_failures_map_back_to_record_indices() {
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sink = lf_sink_without_retries(format!("127.0.0.1:{port}"));
        let records = [record("a"), record(&"x".repeat(600)), record("c")];
        let err = sink.send(&records).await.unwrap_err();
        // Nobody listens: the unencodable record and both others are unconfirmed.
        assert_eq!(err.unconfirmed(), &[0, 1, 2]);
    }
}
