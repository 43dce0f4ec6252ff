//! The syslog edge of the pipeline: [`Sink`], implemented by `auditfwd-syslog`'s
//! [`SyslogSink`] and by test fakes. A sink either confirms a whole batch or says which
//! records it could not confirm; the runner commits nothing it did not confirm.

use std::future::Future;

use auditfwd_checkpoint::manifest::Confirmation;
use auditfwd_syslog::{Delivery, SinkError, SyslogRecord, SyslogSink};

/// Where records go.
pub trait Sink: Send {
    /// Delivers `records`, confirmed as far as the transport can.
    fn send(
        &mut self,
        records: &[SyslogRecord],
    ) -> impl Future<Output = Result<Delivery, SinkError>> + Send;

    /// Closes the connection politely (end of run).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

impl Sink for SyslogSink {
    async fn send(&mut self, records: &[SyslogRecord]) -> Result<Delivery, SinkError> {
        SyslogSink::send(self, records).await
    }

    async fn close(&mut self) {
        SyslogSink::close(self).await;
    }
}

/// The manifest's name for how a batch was confirmed.
pub fn confirmation(d: &Delivery) -> Confirmation {
    match d.confirmation {
        auditfwd_syslog::Confirmation::Acknowledged => Confirmation::ReceiverAck,
        auditfwd_syslog::Confirmation::TcpAcked => Confirmation::Flushed,
        auditfwd_syslog::Confirmation::Sent => Confirmation::Sent,
    }
}

/// The weaker of two confirmations (a window is only as confirmed as its weakest batch).
pub fn weakest(a: Confirmation, b: Confirmation) -> Confirmation {
    let rank = |c: Confirmation| match c {
        Confirmation::NothingToSend => 3,
        Confirmation::ReceiverAck => 2,
        Confirmation::Flushed => 1,
        Confirmation::Sent => 0,
    };
    if rank(a) <= rank(b) { a } else { b }
}
