//! Syslog delivery for auditfwd: what the SIEM sees on the wire, and when an event counts
//! as delivered.
//!
//! Encoding is separate from transport. [`record`] defines the input ([`SyslogRecord`]);
//! [`severity`] derives PRI from the event; [`encode`] turns a record into one syslog
//! message (RFC 5424 or 3164 header, JSON/CEF/LEEF payload, size limit with
//! deterministic shrinking), as pure functions tested byte for byte; [`framing`] wraps
//! messages for streams (octet counting or escaped LF).
//!
//! Delivery is asynchronous on tokio. [`transport`] holds the destination configuration
//! and the protocols (UDP, TCP, TLS via [`tls`], and a RELP client); [`messages`] is a batch as a
//! sender reads it (produced a message at a time, again on a resend); [`sender`] implements
//! the delivery contract (`send(batch)` confirms every message as far as the transport
//! can, or lists exactly which are unconfirmed, reconnecting with capped backoff);
//! [`sink`] joins an encoder and a sender for the pipeline; [`profile`] holds receiver
//! presets (rsyslog, syslog-ng, QRadar, ArcSight, Splunk). Errors are in [`error`], each
//! with `is_retryable()`; typed telemetry, logged once per batch, is in [`events`].
pub mod encode;
pub mod error;
pub mod events;
pub mod framing;
pub mod messages;
pub mod profile;
pub mod record;
pub mod sender;
pub mod severity;
pub mod sink;
pub mod tls;
pub mod transport;

pub use encode::{BomPolicy, Encoded, Encoder, EncoderConfig, Payload, SyslogFormat};
pub use error::{ConfigError, EncodeError, SendError, TransportError};
pub use framing::Framing;
pub use messages::Messages;
pub use profile::ReceiverProfile;
pub use record::{JsonText, RecordKind, SyslogRecord, Window};
pub use sender::{Confirmation, Delivery, SyslogSender};
pub use severity::{Facility, Severity, SeverityPolicy};
pub use sink::{SinkError, SyslogSink};
pub use tls::{ClientIdentity, Pem, Roots, TlsConfig};
pub use transport::{RetryPolicy, SenderConfig, Transport};
