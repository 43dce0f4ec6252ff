//! Typed telemetry: each struct logs itself once per batch (never per event), with
//! low-cardinality fields first and a short sentence. The `event` field is a stable
//! name a metrics pipeline can count on.

use crate::sender::Confirmation;

/// A batch was confirmed as far as the transport allows.
#[derive(Debug, Clone, Copy)]
pub struct SyslogBatchDelivered<'a> {
    /// Destination `host:port`.
    pub destination: &'a str,
    /// Messages in the batch.
    pub messages: usize,
    /// Bytes of the messages, unframed.
    pub bytes: usize,
    /// What "delivered" means on this transport.
    pub confirmation: Confirmation,
    /// Failed attempts before success.
    pub retries: u32,
}

impl SyslogBatchDelivered<'_> {
    /// Logs the event (debug level: this is the normal path).
    pub fn emit(&self) {
        tracing::debug!(
            event = "syslog_batch_delivered",
            destination = self.destination,
            messages = self.messages,
            bytes = self.bytes,
            confirmation = ?self.confirmation,
            retries = self.retries,
            "syslog batch delivered"
        );
    }
}

/// A send attempt failed and the sender will reconnect after `delay_ms`.
#[derive(Debug)]
pub struct SyslogReconnecting<'a> {
    /// Destination `host:port`.
    pub destination: &'a str,
    /// Messages of the batch still unconfirmed.
    pub unconfirmed: usize,
    /// Consecutive failed attempts so far.
    pub attempt: u32,
    /// Backoff before the next attempt, in milliseconds.
    pub delay_ms: u64,
    /// The cause.
    pub error: &'a crate::error::TransportError,
}

impl SyslogReconnecting<'_> {
    /// Logs the event.
    pub fn emit(&self) {
        tracing::info!(
            event = "syslog_reconnecting",
            destination = self.destination,
            unconfirmed = self.unconfirmed,
            attempt = self.attempt,
            delay_ms = self.delay_ms,
            error = %self.error,
            "syslog send failed; reconnecting"
        );
    }
}

/// `send` gave up: the listed messages stay with the caller.
#[derive(Debug)]
pub struct SyslogBatchFailed<'a> {
    /// Destination `host:port`.
    pub destination: &'a str,
    /// Messages not confirmed.
    pub unconfirmed: usize,
    /// Messages in the batch.
    pub batch_len: usize,
    /// Whether a later retry can succeed.
    pub retryable: bool,
    /// The cause.
    pub error: &'a crate::error::TransportError,
}

impl SyslogBatchFailed<'_> {
    /// Logs the event.
    pub fn emit(&self) {
        tracing::warn!(
            event = "syslog_batch_failed",
            destination = self.destination,
            unconfirmed = self.unconfirmed,
            batch_len = self.batch_len,
            retryable = self.retryable,
            error = %self.error,
            "syslog delivery failed; messages stay unconfirmed"
        );
    }
}

/// Events of a batch that exceeded the size limit and were shrunk.
#[derive(Debug, Clone, Copy)]
pub struct SyslogEventsShrunk {
    /// How many events of the batch were shrunk.
    pub events: usize,
    /// Largest pre-shrink size among them, in bytes.
    pub largest_bytes: usize,
    /// The size limit, in bytes.
    pub limit_bytes: usize,
}

impl SyslogEventsShrunk {
    /// Logs the event.
    pub fn emit(&self) {
        tracing::info!(
            event = "syslog_events_shrunk",
            events = self.events,
            largest_bytes = self.largest_bytes,
            limit_bytes = self.limit_bytes,
            "events over the message size limit were shrunk"
        );
    }
}
