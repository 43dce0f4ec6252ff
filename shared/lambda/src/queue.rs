//! The work queue: a narrow trait over SQS `SendMessageBatch` ([`WorkQueue`]), its
//! `aws-sdk-sqs` implementation ([`SqsQueue`]), and [`send_all`], which cuts messages into
//! batches of 10, retries the entries SQS failed on its side, and reports what could not be
//! sent.
//!
//! Retry rules: the SDK retries a whole call that failed in transit or was throttled (its
//! standard retry mode). A batch that succeeds can still fail single entries; those SQS marks
//! as not the sender's fault (`SenderFault: false`, e.g. an internal error) are sent again, up
//! to [`ENTRY_ATTEMPTS`] times with capped, jittered backoff. Sender faults (a body SQS refuses)
//! are not retried: the same bytes would fail again.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::message::WorkMessage;

/// Entries in one `SendMessageBatch` (SQS's limit).
pub const BATCH_ENTRIES: usize = 10;
/// Bytes of message bodies in one `SendMessageBatch` (SQS's limit for the batch).
pub const BATCH_BYTES: usize = 256 * 1024;
/// Attempts per entry (the first included).
pub const ENTRY_ATTEMPTS: u32 = 3;

/// One message to send: an id unique within its batch, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique within the batch (SQS: letters, digits, `-`, `_`; at most 80 characters).
    pub id: String,
    /// The message body.
    pub body: String,
}

/// An entry SQS did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// The entry's id.
    pub id: String,
    /// SQS's error code.
    pub code: String,
    /// SQS's message.
    pub message: String,
    /// Whether SQS says the request was at fault (then retrying cannot help).
    pub sender_fault: bool,
}

/// Why a whole `SendMessageBatch` call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SQS SendMessageBatch failed: {message}")]
pub struct QueueError {
    /// What happened.
    pub message: String,
    /// Whether trying again can help (transport failures, throttling, 5xx).
    pub retryable: bool,
}

impl QueueError {
    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// The work queue's one operation.
pub trait WorkQueue: Send + Sync {
    /// Sends at most [`BATCH_ENTRIES`] entries in one call; returns the entries that failed.
    fn send_batch(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Vec<EntryFailure>, QueueError>> + Send;
}

/// [`WorkQueue`] on an SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, through `client`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl WorkQueue for SqsQueue {
    async fn send_batch(&self, entries: &[Entry]) -> Result<Vec<EntryFailure>, QueueError> {
        let mut request = self.client.send_message_batch().queue_url(&self.url);
        for e in entries {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(&e.id)
                .message_body(&e.body)
                .build()
                .map_err(|err| QueueError {
                    message: format!("entry {}: {err}", e.id),
                    retryable: false,
                })?;
            request = request.entries(entry);
        }
        let out = request.send().await.map_err(classify)?;
        Ok(out
            .failed()
            .iter()
            .map(|f| EntryFailure {
                id: f.id().to_owned(),
                code: f.code().to_owned(),
                message: f.message().unwrap_or_default().to_owned(),
                sender_fault: f.sender_fault(),
            })
            .collect())
    }
}

/// The retry classifier for SQS calls.
fn classify<E, R>(err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            code.contains("Throttl")
                || code == "RequestThrottled"
                || code.starts_with("InternalError")
                || code == "ServiceUnavailable"
                || code == "KmsThrottled"
        }
        _ => false,
    };
    let message = match &err {
        SdkError::ServiceError(s) => format!(
            "{}: {}",
            s.err().code().unwrap_or("unknown error"),
            s.err().message().unwrap_or_default()
        ),
        other => {
            // The SDK's Display is terse; its source chain says what happened.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    };
    QueueError { message, retryable }
}

/// What [`send_all`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// Messages sent.
    pub sent: usize,
    /// Messages not sent, by index into the input, with the reason.
    pub failed: Vec<(usize, String)>,
    /// Whether every failure might pass on another try.
    pub retryable: bool,
}

impl SendReport {
    /// Whether everything was sent.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Sends `messages` in batches of at most [`BATCH_ENTRIES`] (and [`BATCH_BYTES`]), retrying
/// entries that failed on SQS's side; never gives up on one batch because another failed.
pub async fn send_all<Q: WorkQueue>(queue: &Q, messages: &[WorkMessage]) -> SendReport {
    let mut report = SendReport {
        retryable: true,
        ..SendReport::default()
    };
    let mut bodies = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match m.to_body() {
            Ok(b) => bodies.push((i, b)),
            Err(e) => {
                report.failed.push((i, e.to_string()));
                report.retryable = false;
            }
        }
    }
    for chunk in batches(&bodies) {
        send_batch_with_retries(queue, &chunk, &mut report).await;
    }
    report.failed.sort_by_key(|(i, _)| *i);
    report
}

/// Cuts `(index, body)` pairs into SQS batches.
fn batches(bodies: &[(usize, String)]) -> Vec<Vec<(usize, String)>> {
    let mut out: Vec<Vec<(usize, String)>> = Vec::new();
    let mut bytes = 0;
    for (i, b) in bodies {
        let full = out
            .last()
            .is_none_or(|c| c.len() >= BATCH_ENTRIES || bytes + b.len() > BATCH_BYTES);
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += b.len();
        if let Some(c) = out.last_mut() {
            c.push((*i, b.clone()));
        }
    }
    out
}

async fn send_batch_with_retries<Q: WorkQueue>(
    queue: &Q,
    chunk: &[(usize, String)],
    report: &mut SendReport,
) {
    // Entry ids are the message's index in the input: unique, short, and they map back.
    let mut pending: Vec<Entry> = chunk
        .iter()
        .map(|(i, body)| Entry {
            id: format!("m{i}"),
            body: body.clone(),
        })
        .collect();
    let index_of = |id: &str| id.strip_prefix('m').and_then(|n| n.parse::<usize>().ok());
    for attempt in 1..=ENTRY_ATTEMPTS {
        let last = attempt == ENTRY_ATTEMPTS;
        match queue.send_batch(&pending).await {
            Ok(failures) => {
                let (mut again, mut failed_now) = (Vec::new(), 0);
                for f in failures {
                    let Some(entry) = pending.iter().find(|e| e.id == f.id) else {
                        continue;
                    };
                    let Some(i) = index_of(&f.id) else { continue };
                    if f.sender_fault || last {
                        report
                            .failed
                            .push((i, format!("{}: {}", f.code, f.message)));
                        failed_now += 1;
                        if f.sender_fault {
                            report.retryable = false;
                        }
                    } else {
                        again.push(entry.clone());
                    }
                }
                report.sent += pending.len() - again.len() - failed_now;
                if again.is_empty() {
                    return;
                }
                tracing::warn!(
                    entries = again.len(),
                    attempt,
                    "SQS failed some entries; sending them again"
                );
                pending = again;
            }
            Err(e) if e.is_retryable() && !last => {
                tracing::warn!(error = %e, attempt, "SQS SendMessageBatch failed; trying again");
            }
            Err(e) => {
                for entry in &pending {
                    if let Some(i) = index_of(&entry.id) {
                        report.failed.push((i, e.to_string()));
                    }
                }
                report.retryable &= e.is_retryable();
                return;
            }
        }
        let base = Duration::from_millis(100 * 2_u64.pow(attempt));
        let jitter = Duration::from_millis(fastrand::u64(..=base.as_millis() as u64 / 2));
        tokio::time::sleep((base + jitter).min(Duration::from_secs(2))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditfwd_checkpoint::Scope;
    use auditfwd_oci::{MinuteTimestamp, Ocid};
    use auditfwd_pipeline::WorkItem;
    use std::sync::Mutex;

    fn messages(n: usize) -> Vec<WorkMessage> {
        (0..n)
            .map(|i| {
                let item = WorkItem {
                    scope: Scope::new(
                        Ocid::parse("ocid1.tenancy.oc1..aaaa").unwrap(),
                        "r",
                        Ocid::parse(format!("ocid1.compartment.oc1..c{i}")).unwrap(),
                    ),
                    name: format!("root/c{i}"),
                };
                WorkMessage::live(
                    &crate::runners::RunnerId::new("default", "audit"),
                    &item.scope.tenancy,
                    &item.scope.region,
                    None,
                    std::slice::from_ref(&item),
                    MinuteTimestamp::parse("2026-11-22T14:04:00Z").unwrap(),
                    chrono::Utc::now(),
                    "test",
                )
            })
            .collect()
    }

    /// Records every call; fails entries as told.
    #[derive(Default)]
    struct FakeQueue {
        calls: Mutex<Vec<Vec<String>>>,
        /// (entry id, sender fault, times to fail it)
        fail: Mutex<Vec<(String, bool, u32)>>,
        broken: bool,
    }

    impl WorkQueue for FakeQueue {
        async fn send_batch(&self, entries: &[Entry]) -> Result<Vec<EntryFailure>, QueueError> {
            assert!(entries.len() <= BATCH_ENTRIES);
            self.calls
                .lock()
                .unwrap()
                .push(entries.iter().map(|e| e.id.clone()).collect());
            if self.broken {
                return Err(QueueError {
                    message: "AccessDenied".into(),
                    retryable: false,
                });
            }
            let mut fail = self.fail.lock().unwrap();
            let mut out = Vec::new();
            for e in entries {
                if let Some(f) = fail.iter_mut().find(|f| f.0 == e.id && f.2 > 0) {
                    f.2 -= 1;
                    out.push(EntryFailure {
                        id: e.id.clone(),
                        code: "InternalError".into(),
                        message: "try again".into(),
                        sender_fault: f.1,
                    });
                }
            }
            Ok(out)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sends_in_batches_of_ten() {
        let q = FakeQueue::default();
        let r = send_all(&q, &messages(23)).await;
        assert_eq!(r.sent, 23);
        assert!(r.is_complete());
        let sizes: Vec<usize> = q.calls.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_entries_that_failed_on_the_queue_side_only() {
        let q = FakeQueue::default();
        q.fail.lock().unwrap().extend([
            ("m3".to_owned(), false, 1), // fails once, then goes through
            ("m4".to_owned(), true, 1),  // the sender's fault: not retried
            ("m5".to_owned(), false, 9), // fails every time
        ]);
        let r = send_all(&q, &messages(6)).await;
        assert_eq!(r.sent, 4, "{r:?}");
        let failed: Vec<usize> = r.failed.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, vec![4, 5]);
        assert!(!r.retryable, "a sender fault cannot pass");
        let calls = q.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls[1], vec!["m3", "m5"]);
        assert_eq!(calls[2], vec!["m5"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_call_fails_its_batch_only_once() {
        let q = FakeQueue {
            broken: true,
            ..FakeQueue::default()
        };
        let r = send_all(&q, &messages(12)).await;
        assert_eq!(r.sent, 0);
        assert_eq!(r.failed.len(), 12);
        assert!(!r.retryable);
        assert_eq!(
            q.calls.lock().unwrap().len(),
            2,
            "not retried: not retryable"
        );
    }
}
