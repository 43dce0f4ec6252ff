//! Connecting a TCP or TLS stream, with timeouts and error classification, and the checks
//! that make a stream delivery a confirmation: every byte acknowledged by the receiver's TCP
//! stack (see [`super::acked`]) and the connection still healthy afterwards.

use std::io;
use std::time::Duration;

use super::acked::{AckProbe, Queue, probe_for};

use futures::FutureExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::error::TransportError;
use crate::tls::TlsClient;

/// A connected stream: plain TCP or TLS over TCP.
pub(crate) type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// Acknowledges the receiver's next segments at once instead of delaying the ACK (Linux
/// `TCP_QUICKACK`; elsewhere nothing). RELP needs it: a receiver that sends its `rsp` frames
/// with Nagle on (librelp does) holds every response after the first until that one is
/// acknowledged, and a delayed ACK then costs up to 40 ms per batch. The kernel leaves
/// quick-ack mode on its own, so this is set again before every read.
pub(crate) fn quick_ack(stream: &Stream) {
    #[cfg(target_os = "linux")]
    {
        let tcp: &TcpStream = match stream {
            Either::Left(tcp) => tcp,
            Either::Right(tls) => tls.get_ref().0,
        };
        let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

fn timeout_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) async fn with_timeout<T>(
    d: Duration,
    op: &'static str,
    f: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(d, f)
        .await
        .map_err(|_| TransportError::Timeout {
            op,
            after_ms: timeout_ms(d),
        })?
}

/// Writes all of `buf` and flushes it (through TLS, to the kernel), within `d`; `op` names the
/// operation in a timeout.
pub(crate) async fn write_flushed(
    stream: &mut Stream,
    buf: &[u8],
    d: Duration,
    op: &'static str,
) -> Result<(), TransportError> {
    use tokio::io::AsyncWriteExt;
    with_timeout(d, op, async {
        stream
            .write_all(buf)
            .await
            .map_err(|e| TransportError::io("writing", e))?;
        stream
            .flush()
            .await
            .map_err(|e| TransportError::io("flushing", e))
    })
    .await
}

/// How long a connection whose server asked for a client certificate we do not have is watched
/// for a hang-up before anything is sent on it.
const CLIENT_CERT_VERDICT: Duration = Duration::from_millis(500);

/// Resolves `address` and connects to the first address that answers, then runs the
/// TLS handshake when `tls` is given.
pub(crate) async fn connect_stream(
    address: &str,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> Result<Stream, TransportError> {
    with_timeout(timeout, "connect", async {
        let addrs =
            tokio::net::lookup_host(address)
                .await
                .map_err(|source| TransportError::Resolve {
                    addr: address.to_owned(),
                    source,
                })?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or_else(|| TransportError::Connect {
            addr: address.to_owned(),
            source: last,
        })?;
        // Messages are batched into large writes by the sender; Nagle would only delay
        // RELP's small frames and the final partial chunk.
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(Either::Left(tcp)),
            Some(t) => match t.connector.connect(t.server_name.clone(), tcp).await {
                Ok(mut s) if t.client_certificate_missing() => {
                    // Asked for a certificate we do not have: a server that requires one (rsyslog
                    // with `x509/certvalid`) completes the TLS 1.3 handshake and hangs up right
                    // after; one that only asks (rsyslog's gtls always asks) keeps talking. Wait
                    // to see which before sending anything its kernel could acknowledge.
                    let mut probe = [0u8; 512];
                    match tokio::time::timeout(CLIENT_CERT_VERDICT, s.read(&mut probe)).await {
                        Err(_) | Ok(Ok(1..)) => Ok(Either::Right(Box::new(s))),
                        Ok(_) => Err(TransportError::ClientCertificateRequired {
                            addr: address.to_owned(),
                        }),
                    }
                }
                Ok(s) => Ok(Either::Right(Box::new(s))),
                Err(source) => Err(classify_tls(address, source)),
            },
        }
    })
    .await
}

/// Certificate problems need a human; other handshake failures may pass on retry. A server
/// certificate that is itself a CA certificate (`openssl req -x509` makes those) gets its own
/// error, which says how to fix it.
pub(crate) fn classify_tls(address: &str, source: io::Error) -> TransportError {
    let rustls_error = source
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    if rustls_error.is_some_and(crate::tls::is_ca_used_as_end_entity) {
        return TransportError::ServerCertificateIsCa {
            addr: address.to_owned(),
        };
    }
    let cert = rustls_error.is_some_and(|e| {
        use rustls::AlertDescription as A;
        matches!(
            e,
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(
                    A::BadCertificate
                        | A::UnsupportedCertificate
                        | A::CertificateRevoked
                        | A::CertificateExpired
                        | A::CertificateUnknown
                        | A::UnknownCA
                        | A::AccessDenied
                        | A::CertificateRequired
                )
        )
    });
    if cert {
        TransportError::Certificate {
            addr: address.to_owned(),
            source,
        }
    } else {
        TransportError::TlsHandshake {
            addr: address.to_owned(),
            source,
        }
    }
}

/// Whether the receiver has already closed or reset the connection, or sent a TLS alert,
/// checked without waiting. Syslog receivers never send data on these streams, so a readable
/// stream means EOF or an error (data, should a receiver send any, is read and ignored).
fn peer_closed(address: &str, stream: &mut Stream) -> Option<TransportError> {
    let mut probe = [0u8; 512];
    // Bounded: a receiver that keeps sending cannot keep the sender here.
    for _ in 0..16 {
        match stream.read(&mut probe).now_or_never() {
            None => return None,
            Some(Ok(0)) => return Some(TransportError::Closed),
            Some(Ok(_)) => {}
            Some(Err(e)) if e.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
                return Some(classify_tls(address, e));
            }
            Some(Err(e)) => return Some(TransportError::io("checking the connection", e)),
        }
    }
    None
}

/// The TCP socket under a stream (for TLS, under the TLS session).
fn tcp_of(stream: &Stream) -> &TcpStream {
    match stream {
        Either::Left(tcp) => tcp,
        Either::Right(tls) => tls.get_ref().0,
    }
}

/// While the receiver keeps acknowledging (the unacknowledged count falls between two
/// questions), the sender asks again after yielding to the runtime: on a LAN or loopback the
/// last bytes are acknowledged microseconds after the receiver reads them, and a sleep (1 ms at
/// least, tokio's timer) would cost more than the transfer. Once nothing has moved for [`SPIN`]
/// (a receiver waiting for a CPU, say), it sleeps 1 ms between questions; once nothing has
/// moved for [`STEADY_POLLING`] (a stalled or distant receiver), the sleeps double up to
/// [`SLOWEST_POLL`].
const SPIN: Duration = Duration::from_micros(500);
const STEADY_POLLING: Duration = Duration::from_millis(20);
const SLOWEST_POLL: Duration = Duration::from_millis(50);

/// A TCP or TLS connection that can prove delivery: the stream, and the kernel's view of the
/// TCP socket under it.
#[derive(Debug)]
pub(crate) struct StreamConn {
    pub(crate) stream: Stream,
    acks: Box<dyn AckProbe>,
    address: String,
}

impl StreamConn {
    /// Wraps a connected stream. Fails when the kernel cannot be asked about the connection
    /// (then nothing sent on it could ever be confirmed).
    pub(crate) fn new(stream: Stream, address: &str) -> Result<Self, TransportError> {
        let tcp = tcp_of(&stream);
        let unavailable = |source| TransportError::AckStateUnavailable { source };
        let local = tcp.local_addr().map_err(unavailable)?;
        let peer = tcp.peer_addr().map_err(unavailable)?;
        Ok(Self {
            acks: probe_for(local, peer).map_err(unavailable)?,
            stream,
            address: address.to_owned(),
        })
    }

    /// Whether the receiver closed the connection (or sent an alert) since it was last used.
    pub(crate) fn peer_closed(&mut self) -> Option<TransportError> {
        peer_closed(&self.address, &mut self.stream)
    }

    /// Waits, at most `timeout`, until the receiver's TCP stack has acknowledged every byte
    /// written so far, then checks the connection is still open and healthy. Call after the
    /// writes were flushed (for TLS the check is on the TCP socket under the session, so every
    /// TLS record must have left rustls).
    pub(crate) async fn acknowledged(&mut self, timeout: Duration) -> Result<(), TransportError> {
        let started = tokio::time::Instant::now();
        let mut moved = started;
        let mut last = u32::MAX;
        let mut pause = Duration::from_millis(1);
        loop {
            let queue = self
                .acks
                .queue()
                .map_err(|source| TransportError::AckStateUnavailable { source })?;
            let now = tokio::time::Instant::now();
            match queue {
                Queue::Open { unacked: 0 } => break,
                Queue::Open { unacked } if unacked < last => {
                    last = unacked;
                    moved = now;
                    pause = Duration::from_millis(1);
                }
                Queue::Open { .. } => {}
                // Say why when the stream can (a TLS alert, a reset); closed otherwise.
                Queue::Closed => return Err(self.peer_closed().unwrap_or(TransportError::Closed)),
            }
            let waited = now - started;
            if waited >= timeout {
                return Err(TransportError::Timeout {
                    op: "the receiver's TCP acknowledgement",
                    after_ms: timeout_ms(timeout),
                });
            }
            if now - moved < SPIN {
                tokio::task::yield_now().await;
            } else {
                // A receiver that stopped reading, or one far away: look for a close too.
                if let Some(e) = self.peer_closed() {
                    return Err(e);
                }
                tokio::time::sleep(pause.min(timeout - waited)).await;
                if now - moved > STEADY_POLLING {
                    pause = (pause * 2).min(SLOWEST_POLL);
                }
            }
        }
        match self.peer_closed() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
