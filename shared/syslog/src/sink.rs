//! Encoder plus sender: what the pipeline's `Sink` implementation wraps.

use crate::encode::Encoder;
use crate::error::{EncodeError, SendError};
use crate::events::SyslogEventsShrunk;
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
    /// One batch's messages, back to back (reused: no allocation per message or per batch).
    encoded: Vec<u8>,
}

/// A batch buffer larger than this is not kept between batches.
const KEEP_BUFFER: usize = 8 << 20;

impl SyslogSink {
    /// Combines an encoder and a sender.
    pub fn new(encoder: Encoder, sender: SyslogSender) -> Self {
        Self {
            encoder,
            sender,
            encoded: Vec::new(),
        }
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Encodes and delivers `records`; on error, [`SinkError::unconfirmed`] lists the
    /// records the caller must keep.
    pub async fn send(&mut self, records: &[SyslogRecord]) -> Result<Delivery, SinkError> {
        let buf = &mut self.encoded;
        buf.clear();
        let mut spans = Vec::with_capacity(records.len());
        let mut origin = Vec::with_capacity(records.len());
        let mut failed: Vec<(usize, EncodeError)> = Vec::new();
        let (mut shrunk, mut largest) = (0, 0);
        for (i, r) in records.iter().enumerate() {
            let start = buf.len();
            match self.encoder.encode_into(r, buf) {
                Ok(truncated_from) => {
                    if let Some(from) = truncated_from {
                        shrunk += 1;
                        largest = largest.max(from);
                    }
                    spans.push(start..buf.len());
                    origin.push(i);
                }
                Err(e) => {
                    buf.truncate(start);
                    failed.push((i, e));
                }
            }
        }
        if shrunk > 0 {
            SyslogEventsShrunk {
                events: shrunk,
                largest_bytes: largest,
                limit_bytes: self.encoder.config().max_message_size,
            }
            .emit();
        }
        let messages: Vec<&[u8]> = spans.iter().map(|s| &buf[s.clone()]).collect();
        let sent = self.sender.send(&messages).await;
        drop(messages);
        if buf.capacity() > KEEP_BUFFER {
            *buf = Vec::new();
        }
        let mut unconfirmed: Vec<usize> = failed.iter().map(|(i, _)| *i).collect();
        let result = match sent {
            Ok(d) => Ok(d),
            Err(e) => {
                unconfirmed.extend(e.unconfirmed.iter().map(|&m| origin[m]));
                unconfirmed.sort_unstable();
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
