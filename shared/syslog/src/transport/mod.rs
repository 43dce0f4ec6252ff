//! Transports: how bytes reach the receiver, and how much each can confirm.
//!
//! | transport | framing                | `send` succeeds when                         |
//! |-----------|------------------------|----------------------------------------------|
//! | UDP       | one message per datagram | the datagram was handed to the kernel (lossy) |
//! | TCP, TLS  | octet counting or LF   | the receiver's TCP stack acknowledged every byte of the batch and the connection is still open afterwards ([`acked`]) |
//! | RELP      | RELP transactions      | the receiver answered `rsp 200` for it       |
//!
//! A TCP acknowledgement proves the receiver's kernel holds the bytes, not that the receiving
//! process read or kept them (see [`crate::Confirmation`]). Only RELP confirms each message
//! at the application.

pub(crate) mod acked;
pub(crate) mod relp;
pub(crate) mod stream;

use std::time::Duration;

pub(crate) use stream::{StreamConn, connect_stream};

use crate::error::ConfigError;
use crate::framing::Framing;
use crate::tls::TlsConfig;

/// The transport of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// UDP (RFC 5426): fire and forget; lossy, documented as such.
    Udp,
    /// Plain TCP (RFC 6587) with the given framing.
    Tcp {
        /// Stream framing.
        framing: Framing,
    },
    /// TLS over TCP (RFC 5425).
    Tls {
        /// Stream framing (RFC 5425 mandates octet counting).
        framing: Framing,
        /// TLS settings.
        tls: TlsConfig,
    },
    /// RELP, plain or over TLS: every message acknowledged by the receiver.
    Relp {
        /// TLS settings; `None` for plain RELP.
        tls: Option<TlsConfig>,
        /// Maximum transactions sent but not yet acknowledged.
        window: usize,
    },
}

/// Capped exponential backoff with jitter between attempts of one `send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per `send` (the first one included) before it reports failure.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Delay after the `failures`-th consecutive failure: half fixed, half random
    /// ("equal jitter"), so concurrent senders do not reconnect in lockstep.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let full = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Where and how to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Receiver as `host:port` (IPv6 as `[::1]:514`).
    pub address: String,
    /// Transport and its settings.
    pub transport: Transport,
    /// Timeout of a TCP connect plus TLS handshake plus RELP open.
    pub connect_timeout: Duration,
    /// Timeout of one write, flush, wait for the TCP acknowledgement of a batch, or wait for
    /// a RELP acknowledgement.
    pub io_timeout: Duration,
    /// Reconnection policy within one `send`.
    pub retry: RetryPolicy,
}

/// Default RELP window, as rsyslog's omrelp uses.
pub const DEFAULT_RELP_WINDOW: usize = 128;

impl SenderConfig {
    /// A configuration with default timeouts and retry policy.
    pub fn new(address: impl Into<String>, transport: Transport) -> Self {
        Self {
            address: address.into(),
            transport,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// The host part of `host:port` / `[v6]:port`.
pub(crate) fn split_host(address: &str) -> Result<&str, ConfigError> {
    let bad = || ConfigError::InvalidAddress(address.to_owned());
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad());
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_split_from_port() {
        assert_eq!(split_host("siem:514").unwrap(), "siem");
        assert_eq!(split_host("[::1]:6514").unwrap(), "::1");
        assert!(split_host("siem").is_err());
        assert!(split_host(":514").is_err());
        assert!(split_host("siem:http").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = p.backoff(3);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            let late = p.backoff(30);
            assert!(
                late >= Duration::from_millis(500) && late <= Duration::from_millis(1000),
                "{late:?}"
            );
        }
    }
}
