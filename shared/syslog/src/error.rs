//! Typed errors. Each says whether retrying the same operation can succeed, so the
//! pipeline can tell "try again later" from "a human must fix the configuration".

use std::io;

/// A destination or encoder configuration that cannot be used.
///
/// Never retryable: the same configuration fails the same way.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// HOSTNAME must be 1..=255 printable US-ASCII characters (RFC 5424 §6.2.4).
    #[error("invalid syslog hostname {0:?}: 1 to 255 printable US-ASCII characters, no spaces")]
    InvalidHostname(String),
    /// APP-NAME must be 1..=48 printable US-ASCII characters (RFC 5424 §6.2.5).
    #[error("invalid syslog app name {0:?}: 1 to 48 printable US-ASCII characters, no spaces")]
    InvalidAppName(String),
    /// SD-ID must be 1..=32 printable US-ASCII characters other than `=`, `]`, `"` and space.
    #[error(
        "invalid structured-data id {0:?}: 1 to 32 printable US-ASCII characters except = ] \" and space"
    )]
    InvalidSdId(String),
    /// The maximum message size is too small to hold even a fully truncated event.
    #[error("max message size {got} is below the minimum of {min} bytes")]
    MaxSizeTooSmall {
        /// Configured size.
        got: usize,
        /// Smallest accepted size.
        min: usize,
    },
    /// The destination address is not `host:port`.
    #[error("invalid destination address {0:?}: expected host:port")]
    InvalidAddress(String),
    /// A PEM file (CA bundle, client certificate or key) could not be read or parsed.
    #[error("cannot load {what} from {path}: {reason}")]
    Pem {
        /// Which item ("CA bundle", "client certificate", "client key").
        what: &'static str,
        /// Where it was read from.
        path: String,
        /// Why it failed (never contains key material).
        reason: String,
    },
    /// No trusted root certificate was found.
    #[error("no trusted root certificates: {0}")]
    NoRoots(String),
    /// The TLS server name is not a valid DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    /// rustls refused the configuration (for example a client key that does not match).
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),
}

impl ConfigError {
    /// Always false: configuration errors need a change, not a retry.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// An event that cannot be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Even with every free-form part of the event replaced by a truncation marker, the
    /// message does not fit. Only possible with absurd identifiers or a tiny size limit.
    #[error("event {event_id} cannot be shrunk below {size} bytes (limit {max})")]
    TooLarge {
        /// The event that did not fit.
        event_id: String,
        /// Smallest size reached.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// The event's JSON text could not be parsed for a payload that needs its fields (CEF,
    /// LEEF) or for shrinking. Cannot happen for events the pipeline read from OCI, whose
    /// text was parsed on arrival.
    #[error("event {event_id} is not valid JSON: {source}")]
    InvalidJson {
        /// The event.
        event_id: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
}

impl EncodeError {
    /// Always false: encoding the same event again gives the same result.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A failure to move bytes to the receiver.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The destination host name did not resolve.
    #[error("cannot resolve {addr}: {source}")]
    Resolve {
        /// `host:port` as configured.
        addr: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` as configured.
        addr: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed for a reason a retry may fix (network, reset).
    #[error("TLS handshake with {addr} failed: {source}")]
    TlsHandshake {
        /// `host:port` as configured.
        addr: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The peer's certificate was rejected, or it rejected ours. Retrying will not help
    /// until someone changes a certificate or the trust configuration.
    #[error("TLS certificate verification with {addr} failed: {source}")]
    Certificate {
        /// `host:port` as configured.
        addr: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The server presented a certificate that is itself a certificate authority (CA:TRUE),
    /// as `openssl req -x509` makes by default, and it is not pinned. Needs a human.
    #[error(
        "TLS certificate verification with {addr} failed: the server's certificate is a CA certificate \
         (basicConstraints CA:TRUE) used as a server certificate. Either put that exact certificate \
         in the CA bundle (AUDITFWD_SYSLOG_TLS_CA), which pins it, or give the server a certificate \
         with CA:FALSE signed by the CA in the bundle"
    )]
    ServerCertificateIsCa {
        /// `host:port` as configured.
        addr: String,
    },
    /// The server asked for a client certificate (mutual TLS), none is configured, and it
    /// hung up right after the handshake. Nothing was sent. Needs a human.
    #[error(
        "{addr} requires a TLS client certificate (mutual TLS) and none is configured: it hung up \
         after the handshake. Set AUDITFWD_SYSLOG_TLS_CERT and AUDITFWD_SYSLOG_TLS_KEY"
    )]
    ClientCertificateRequired {
        /// `host:port` as configured.
        addr: String,
    },
    /// The kernel could not be asked whether the receiver acknowledged the bytes of a TCP or
    /// TLS connection (Linux sock_diag), so nothing sent on it can be confirmed.
    #[error(
        "cannot read the TCP acknowledgement state of the connection from the kernel: {source}; \
         tcp:// and tls:// confirmation needs Linux with sock_diag (use relp:// elsewhere)"
    )]
    AckStateUnavailable {
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// An operation took longer than its timeout.
    #[error("{op} timed out after {after_ms} ms")]
    Timeout {
        /// What was being done ("connect", "write", "RELP acknowledgement", ...).
        op: &'static str,
        /// The timeout that expired.
        after_ms: u64,
    },
    /// Reading or writing the connection failed.
    #[error("I/O error while {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The receiver closed the connection.
    #[error("receiver closed the connection")]
    Closed,
    /// The RELP server answered a transaction with something other than `200`.
    #[error("RELP server answered {status} {text:?} to {command}")]
    RelpRejected {
        /// The command that was refused (`open`, `syslog`).
        command: &'static str,
        /// The RSP-CODE.
        status: u16,
        /// The human-readable part of the answer.
        text: String,
    },
    /// The RELP server does not offer the `syslog` command.
    #[error("RELP server does not offer the syslog command (offers: {offered:?})")]
    RelpNoSyslog {
        /// The `commands=` the server listed.
        offered: String,
    },
    /// The RELP server sent bytes that are not a RELP frame, or a response to a
    /// transaction we never sent. Decode errors are not retried (see STYLE.md).
    #[error("RELP protocol violation: {0}")]
    RelpProtocol(String),
}

impl TransportError {
    /// Whether a later attempt (after reconnecting) can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Resolve { .. }
            | Self::Connect { .. }
            | Self::TlsHandshake { .. }
            | Self::Timeout { .. }
            | Self::Io { .. }
            | Self::Closed
            | Self::RelpRejected { .. } => true,
            // A refused netlink socket or an unsupported platform stays so; anything else
            // (out of memory for the answer, say) may pass.
            Self::AckStateUnavailable { source } => !matches!(
                source.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
            ),
            Self::Certificate { .. }
            | Self::ServerCertificateIsCa { .. }
            | Self::ClientCertificateRequired { .. }
            | Self::RelpNoSyslog { .. }
            | Self::RelpProtocol(_) => false,
        }
    }

    pub(crate) fn io(op: &'static str, source: io::Error) -> Self {
        Self::Io { op, source }
    }
}

/// `send` could not confirm every message of a batch.
///
/// `unconfirmed` lists, in ascending order, the indices (into the batch given to `send`)
/// of the messages that were not confirmed; all other messages of the batch were. The
/// caller must not advance its checkpoint past an unconfirmed message.
#[derive(Debug, thiserror::Error)]
#[error("{} of {batch_len} messages unconfirmed: {source}", unconfirmed.len())]
pub struct SendError {
    /// Batch indices of the messages that were not confirmed, ascending.
    pub unconfirmed: Vec<usize>,
    /// Size of the batch.
    pub batch_len: usize,
    /// The last error seen.
    #[source]
    pub source: TransportError,
}

impl SendError {
    /// Whether sending the unconfirmed messages again later can succeed.
    pub fn is_retryable(&self) -> bool {
        self.source.is_retryable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_the_cause() {
        let retry = TransportError::Closed;
        let fatal = TransportError::RelpProtocol("garbage".into());
        assert!(retry.is_retryable());
        assert!(!fatal.is_retryable());
        let e = SendError {
            unconfirmed: vec![1, 2],
            batch_len: 3,
            source: fatal,
        };
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "2 of 3 messages unconfirmed: RELP protocol violation: garbage"
        );
        assert!(!ConfigError::InvalidAppName("a b".into()).is_retryable());
    }
}
