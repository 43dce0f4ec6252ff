//! Connecting a TCP or TLS stream, with timeouts and error classification.

use std::io;
use std::time::Duration;

use futures::FutureExt;
use rustls_pki_types::ServerName;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::error::TransportError;

/// A connected stream: plain TCP or TLS over TCP.
pub(crate) type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

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

/// Resolves `address` and connects to the first address that answers, then runs the
/// TLS handshake when `tls` is given.
pub(crate) async fn connect_stream(
    address: &str,
    tls: Option<&(TlsConnector, ServerName<'static>)>,
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
            Some((connector, name)) => match connector.connect(name.clone(), tcp).await {
                Ok(s) => Ok(Either::Right(Box::new(s))),
                Err(source) => Err(classify_tls(address, source)),
            },
        }
    })
    .await
}

/// Certificate problems need a human; other handshake failures may pass on retry.
fn classify_tls(address: &str, source: io::Error) -> TransportError {
    let cert = source
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
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

/// Whether the receiver has already closed (or reset) the connection, checked without
/// waiting. Syslog receivers never send data on these streams, so a readable stream
/// means EOF or an error. Catches the common case of a receiver restarted between
/// batches, before any message is written into a dead connection.
pub(crate) fn peer_closed(stream: &mut Stream) -> Option<TransportError> {
    let mut probe = [0u8; 512];
    match stream.read(&mut probe).now_or_never() {
        None => None,
        Some(Ok(0)) => Some(TransportError::Closed),
        Some(Ok(_)) => None,
        Some(Err(e)) => Some(TransportError::io("checking the connection", e)),
    }
}
