//! The syslog edge of the pipeline, in the pipeline's own terms: a [`Sink`] takes a batch of
//! [`Outbound`] events and either confirms all of them, saying how ([`Confirmation`], the
//! manifest's own type), or fails with a [`SinkFailure`]; the runner commits nothing it did
//! not confirm. `auditfwd-syslog`'s [`SyslogSink`] is adapted here, in one place, so neither the
//! runner nor a test fake ever handles a syslog transport error.

use std::future::Future;

use auditfwd_checkpoint::manifest::Confirmation;
use auditfwd_oci::Window;
use auditfwd_oci::audit::{EventHead, RecordKind};
use auditfwd_syslog::{JsonText, SyslogRecord, SyslogSink};
use chrono::{DateTime, Utc};

/// One event on its way out: the envelope fields the SIEM dedupes and sorts on, and the
/// (scrubbed) event itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// `eventId`.
    pub event_id: String,
    /// `eventType`.
    pub event_type: String,
    /// `eventTime`.
    pub event_time: DateTime<Utc>,
    /// `data.compartmentId` (empty when OCI left it out).
    pub compartment_id: String,
    /// `data.eventName`.
    pub event_name: Option<String>,
    /// `data.response.status`, as a number.
    pub response_status: Option<u16>,
    /// The window it was listed in.
    pub window: Window,
    /// Sent again on an operator's request (`auditfwd replay`).
    pub replay: bool,
    /// What it is (an audit event, a log record, a Cloud Guard problem).
    pub kind: RecordKind,
    /// The whole event as it goes out: OCI's JSON text, scrubbed (the credential values are
    /// replaced as it is encoded). Always valid JSON (parsed when its page arrived; scrubbing
    /// replaces whole values with JSON values).
    pub text: JsonText,
}

impl Outbound {
    /// An event read from OCI (`head`), going out as `text` (its scrubbed JSON text), listed in
    /// `window`; `replay` when an operator asked for it again.
    pub fn new(head: EventHead, text: JsonText, window: Window, replay: bool) -> Self {
        Outbound {
            event_id: head.event_id,
            event_type: head.event_type,
            event_time: head.event_time,
            compartment_id: head.compartment_id.unwrap_or_default(),
            event_name: head.event_name,
            response_status: head.response_status,
            window,
            replay,
            kind: head.kind,
            text,
        }
    }
}

/// The syslog crate's record of an outgoing event.
impl From<Outbound> for SyslogRecord {
    fn from(o: Outbound) -> Self {
        SyslogRecord {
            event_id: o.event_id,
            event_type: o.event_type,
            event_time: o.event_time,
            compartment_id: o.compartment_id,
            event_name: o.event_name,
            response_status: o.response_status,
            window: auditfwd_syslog::Window {
                start: o.window.start().as_datetime(),
                end: o.window.end().as_datetime(),
            },
            replay: o.replay,
            kind: match o.kind {
                RecordKind::AuditEvent => auditfwd_syslog::RecordKind::AuditEvent,
                RecordKind::LogRecord => auditfwd_syslog::RecordKind::LogRecord,
                RecordKind::CloudGuardProblem { risk_level } => {
                    auditfwd_syslog::RecordKind::CloudGuardProblem {
                        risk_level: risk_level.map(String::from),
                    }
                }
            },
            body: o.text,
        }
    }
}

/// A batch the sink could not confirm. Every event of it counts as undelivered: the window is
/// not committed and is listed again later (duplicates, never gaps).
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct SinkFailure {
    /// Events of the batch left unconfirmed.
    pub unconfirmed: usize,
    retryable: bool,
    #[source]
    cause: Box<dyn std::error::Error + Send + Sync>,
}

impl SinkFailure {
    /// A failure with its cause.
    pub fn new(
        unconfirmed: usize,
        retryable: bool,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        SinkFailure {
            unconfirmed,
            retryable,
            cause: cause.into(),
        }
    }

    /// Whether the destination may accept the batch later (it was down, or timed out), as
    /// opposed to refusing it for good (a certificate it rejects, an event too large).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Where events go.
pub trait Sink: Send {
    /// Delivers `batch`, confirmed as far as the transport can.
    fn send(
        &mut self,
        batch: Vec<Outbound>,
    ) -> impl Future<Output = Result<Confirmation, SinkFailure>> + Send;

    /// Closes the connection politely (end of run).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

impl Sink for SyslogSink {
    async fn send(&mut self, batch: Vec<Outbound>) -> Result<Confirmation, SinkFailure> {
        let len = batch.len();
        let records: Vec<SyslogRecord> = batch.into_iter().map(SyslogRecord::from).collect();
        match SyslogSink::send(self, &records).await {
            Ok(delivery) => {
                if delivery.retries > 0 {
                    metrics::counter!(auditfwd_telemetry::names::SINK_RECONNECTS)
                        .increment(u64::from(delivery.retries));
                }
                Ok(confirmation(delivery.confirmation))
            }
            Err(e) => {
                let retryable = e.is_retryable();
                let unconfirmed = e.unconfirmed().len().min(len);
                Err(SinkFailure::new(unconfirmed, retryable, e))
            }
        }
    }

    async fn close(&mut self) {
        SyslogSink::close(self).await;
    }
}

/// What the manifest records for a transport's confirmation: the one mapping between the
/// syslog crate's words and the checkpoint's.
fn confirmation(c: auditfwd_syslog::Confirmation) -> Confirmation {
    match c {
        auditfwd_syslog::Confirmation::Acknowledged => Confirmation::ReceiverAck,
        auditfwd_syslog::Confirmation::TcpAcked => Confirmation::TcpAcked,
        auditfwd_syslog::Confirmation::Sent => Confirmation::Sent,
    }
}

/// The weaker of two confirmations (a window is only as confirmed as its weakest batch).
pub fn weakest(a: Confirmation, b: Confirmation) -> Confirmation {
    let rank = |c: Confirmation| match c {
        Confirmation::NothingToSend => 3,
        Confirmation::ReceiverAck => 2,
        Confirmation::TcpAcked => 1,
        Confirmation::Sent => 0,
    };
    if rank(a) <= rank(b) { a } else { b }
}
