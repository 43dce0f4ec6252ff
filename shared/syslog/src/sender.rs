//! The delivery contract: [`SyslogSender::send`] takes a batch of encoded messages and
//! either confirms all of them (as far as the transport can, see [`Confirmation`]) or says
//! exactly which ones are unconfirmed. [`SyslogSender::send_messages`] does the same for a
//! batch whose messages are produced as they are written ([`Messages`]): memory per
//! connection is one write buffer and one message, whatever the batch's size.
//!
//! Within one `send`, a failed attempt drops the connection, waits a capped exponential
//! backoff with jitter, reconnects, and sends again only what is still unconfirmed
//! (for RELP: every message without `rsp 200`, including those in flight when the
//! session broke; for TCP and TLS: the whole batch, since bytes written into a connection
//! that then failed prove nothing). Nothing is dropped silently: after `max_attempts`, or at
//! once on an error that retrying cannot fix, `send` returns a [`SendError`] listing the
//! unconfirmed indices, and the caller keeps them for later.

use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;

use crate::error::{ConfigError, SendError, TransportError};
use crate::events::{SyslogBatchDelivered, SyslogBatchFailed, SyslogReconnecting};
use crate::framing::Framing;
use crate::messages::{Messages, Slice};
use crate::tls::TlsClient;
use crate::transport::stream::{with_timeout, write_flushed};
use crate::transport::{SenderConfig, StreamConn, Transport, connect_stream, relp, split_host};

/// Stream writes are grouped into chunks of about this size, each flushed to the kernel.
const CHUNK: usize = 256 * 1024;
/// A chunk or message buffer that grew past this (a message larger than [`CHUNK`]) is not
/// kept.
const KEEP_CHUNK: usize = 2 * CHUNK;

/// How far `send` could confirm a batch: what each transport can prove, and no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// UDP: every datagram was handed to the kernel. Proves nothing about receipt: a
    /// datagram may be dropped anywhere, silently.
    Sent,
    /// TCP and TLS: the receiver's TCP stack acknowledged every byte of the batch (the
    /// socket's unacknowledged send queue drained), and the connection was still open
    /// afterwards (no EOF, reset or TLS alert). Proves the bytes reached the receiving
    /// machine's kernel on a connection the receiver had not given up. Cannot prove that the
    /// receiving process read them: a receiver that crashes, or is restarted, after its kernel
    /// acknowledged them loses them, and so does one that reads and discards (or cuts)
    /// messages. RELP closes that gap.
    TcpAcked,
    /// RELP: the receiver acknowledged every message with `rsp 200` (the application took
    /// it; with a direct queue, it was written).
    Acknowledged,
}

/// A successful `send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// What "delivered" means for this transport.
    pub confirmation: Confirmation,
    /// Failed attempts (each followed by a reconnect) before success.
    pub retries: u32,
}

#[derive(Debug)]
enum Conn {
    Udp(UdpSocket),
    Stream(Box<StreamConn>),
    Relp(relp::Session),
}

/// Sends batches of encoded messages to one destination over one connection, which it
/// opens lazily and re-opens after failures.
pub struct SyslogSender {
    config: SenderConfig,
    tls: Option<TlsClient>,
    conn: Option<Conn>,
    /// Framed messages on their way to a stream, [`CHUNK`] at a time (kept between batches).
    chunk: Vec<u8>,
    /// The message being produced (kept between batches).
    message: Vec<u8>,
}

impl std::fmt::Debug for SyslogSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSender")
            .field("config", &self.config)
            .field("server_name", &self.tls.as_ref().map(|t| &t.server_name))
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl SyslogSender {
    /// Validates the configuration and loads TLS material. Does not connect.
    pub fn new(config: SenderConfig) -> Result<Self, ConfigError> {
        split_host(&config.address)?;
        let tls_config = match &config.transport {
            Transport::Tls { tls, .. } | Transport::Relp { tls: Some(tls), .. } => Some(tls),
            _ => None,
        };
        let tls = match tls_config {
            Some(t) => Some(t.client(&config.address)?),
            None => None,
        };
        Ok(Self {
            config,
            tls,
            conn: None,
            chunk: Vec::new(),
            message: Vec::new(),
        })
    }

    /// A sender to the same destination with the same TLS set-up and no connection yet: one
    /// per concurrent task, without loading certificates again.
    pub fn new_connection(&self) -> Self {
        Self {
            config: self.config.clone(),
            tls: self.tls.clone(),
            conn: None,
            chunk: Vec::new(),
            message: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    fn confirmation(&self) -> Confirmation {
        match self.config.transport {
            Transport::Udp => Confirmation::Sent,
            Transport::Tcp { .. } | Transport::Tls { .. } => Confirmation::TcpAcked,
            Transport::Relp { .. } => Confirmation::Acknowledged,
        }
    }

    /// Delivers `batch` (encoded, unframed messages). See the module docs for the
    /// contract.
    pub async fn send<M: AsRef<[u8]>>(&mut self, batch: &[M]) -> Result<Delivery, SendError> {
        self.send_messages(&mut Slice(batch)).await
    }

    /// Delivers `batch`, producing each message when it is written (and again when it is
    /// resent): no whole encoded batch is held. A message `batch` cannot produce is skipped;
    /// its index is neither confirmed nor listed unconfirmed by the sender (its producer
    /// reports it). See the module docs for the contract.
    pub async fn send_messages<B: Messages + ?Sized>(
        &mut self,
        batch: &mut B,
    ) -> Result<Delivery, SendError> {
        let len = batch.len();
        if len == 0 {
            return Ok(Delivery {
                confirmation: self.confirmation(),
                retries: 0,
            });
        }
        let mut progress = Progress::new(len);
        let mut failures = 0u32;
        loop {
            let result = match self.connected().await {
                Ok(()) => self.attempt(batch, &mut progress).await,
                Err(e) => Err(e),
            };
            // An event far over the size limit is encoded whole before it is shrunk.
            if self.message.capacity() > KEEP_CHUNK {
                self.message = Vec::new();
            }
            match result {
                Ok(()) if progress.unconfirmed().next().is_none() => {
                    SyslogBatchDelivered {
                        destination: &self.config.address,
                        messages: len - progress.skipped(),
                        bytes: progress.bytes(),
                        confirmation: self.confirmation(),
                        retries: failures,
                    }
                    .emit();
                    return Ok(Delivery {
                        confirmation: self.confirmation(),
                        retries: failures,
                    });
                }
                // An attempt that ends without error always confirms everything; keep
                // the loop honest anyway.
                Ok(()) => {}
                Err(source) => {
                    self.conn = None;
                    failures += 1;
                    let unconfirmed = progress.unconfirmed().count();
                    if !source.is_retryable() || failures >= self.config.retry.max_attempts {
                        SyslogBatchFailed {
                            destination: &self.config.address,
                            unconfirmed,
                            batch_len: len,
                            retryable: source.is_retryable(),
                            error: &source,
                        }
                        .emit();
                        return Err(SendError {
                            unconfirmed: progress.unconfirmed().collect(),
                            batch_len: len,
                            source,
                        });
                    }
                    let delay = self.config.retry.backoff(failures);
                    SyslogReconnecting {
                        destination: &self.config.address,
                        unconfirmed,
                        attempt: failures,
                        delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error: &source,
                    }
                    .emit();
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Closes the connection (RELP: a `close` transaction). Safe to call at any time.
    pub async fn close(&mut self) {
        match self.conn.take() {
            Some(Conn::Relp(s)) => s.close(self.config.io_timeout).await,
            Some(Conn::Stream(mut s)) => {
                let _ = tokio::time::timeout(self.config.io_timeout, s.stream.shutdown()).await;
            }
            Some(Conn::Udp(_)) | None => {}
        }
    }

    async fn connected(&mut self) -> Result<(), TransportError> {
        if let Some(Conn::Stream(s)) = &mut self.conn
            && let Some(e) = s.peer_closed()
        {
            tracing::info!(address = %self.config.address, error = %e, "receiver closed the connection; reconnecting");
            self.conn = None;
        }
        if self.conn.is_some() {
            return Ok(());
        }
        let c = &self.config;
        let conn = match &c.transport {
            Transport::Udp => {
                let udp = with_timeout(c.connect_timeout, "connect", async {
                    let target = tokio::net::lookup_host(&c.address)
                        .await
                        .map_err(|source| TransportError::Resolve {
                            addr: c.address.clone(),
                            source,
                        })?
                        .next()
                        .ok_or_else(|| TransportError::Resolve {
                            addr: c.address.clone(),
                            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
                        })?;
                    let local = if target.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let connect_err = |source| TransportError::Connect {
                        addr: c.address.clone(),
                        source,
                    };
                    let sock = UdpSocket::bind(local).await.map_err(connect_err)?;
                    sock.connect(target).await.map_err(connect_err)?;
                    Ok(sock)
                })
                .await?;
                Conn::Udp(udp)
            }
            Transport::Tcp { .. } | Transport::Tls { .. } => {
                let stream =
                    connect_stream(&c.address, self.tls.as_ref(), c.connect_timeout).await?;
                Conn::Stream(Box::new(StreamConn::new(stream, &c.address)?))
            }
            Transport::Relp { .. } => {
                let stream =
                    connect_stream(&c.address, self.tls.as_ref(), c.connect_timeout).await?;
                Conn::Relp(relp::Session::open(stream, c.connect_timeout).await?)
            }
        };
        tracing::debug!(address = %c.address, "syslog connection open");
        self.conn = Some(conn);
        Ok(())
    }

    async fn attempt<B: Messages + ?Sized>(
        &mut self,
        batch: &mut B,
        progress: &mut Progress,
    ) -> Result<(), TransportError> {
        let io_timeout = self.config.io_timeout;
        let framing = match self.config.transport {
            Transport::Tcp { framing } | Transport::Tls { framing, .. } => framing,
            _ => Framing::OctetCounting,
        };
        let window = match self.config.transport {
            Transport::Relp { window, .. } => window,
            _ => 1,
        };
        let message = &mut self.message;
        match &mut self.conn {
            None => Err(TransportError::Closed),
            Some(Conn::Relp(session)) => {
                session
                    .send(batch, progress, message, window, io_timeout)
                    .await
            }
            Some(Conn::Udp(sock)) => {
                for i in 0..batch.len() {
                    if !progress.is_unconfirmed(i) || !progress.produce(batch, i, message) {
                        continue;
                    }
                    with_timeout(io_timeout, "UDP send", async {
                        sock.send(message)
                            .await
                            .map_err(|e| TransportError::io("sending a datagram", e))
                    })
                    .await?;
                    progress.confirm(i);
                }
                Ok(())
            }
            Some(Conn::Stream(conn)) => {
                // The batch is confirmed as a whole: written, every byte acknowledged by the
                // receiver's TCP stack, and the connection healthy afterwards. Any failure
                // leaves all of it unconfirmed (it is produced and sent again on a new
                // connection).
                let buf = &mut self.chunk;
                buf.clear();
                for i in 0..batch.len() {
                    if !progress.produce(batch, i, message) {
                        continue;
                    }
                    if !buf.is_empty() && buf.len() + message.len() > CHUNK {
                        write_flushed(&mut conn.stream, buf, io_timeout, "write").await?;
                        buf.clear();
                    }
                    framing.frame_into(message, buf);
                }
                if !buf.is_empty() {
                    write_flushed(&mut conn.stream, buf, io_timeout, "write").await?;
                }
                if buf.capacity() > KEEP_CHUNK {
                    *buf = Vec::new();
                }
                conn.acknowledged(io_timeout).await?;
                (0..batch.len()).for_each(|i| progress.confirm(i));
                Ok(())
            }
        }
    }
}

/// Where one `send` stands with each message of its batch.
#[derive(Debug)]
pub(crate) struct Progress {
    state: Vec<State>,
    /// Unframed size of each message once produced (for the delivery event).
    sizes: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unconfirmed,
    Confirmed,
    /// The batch has no bytes for it: not the sender's to confirm or report.
    Skipped,
}

impl Progress {
    fn new(len: usize) -> Self {
        Self {
            state: vec![State::Unconfirmed; len],
            sizes: vec![0; len],
        }
    }

    /// Produces message `i` into `out` (cleared first); `false`, and `i` marked skipped,
    /// when the batch has no bytes for it.
    pub(crate) fn produce<B: Messages + ?Sized>(
        &mut self,
        batch: &mut B,
        i: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        if self.state.get(i) == Some(&State::Skipped) || !batch.write_to(i, out) {
            out.clear();
            if let Some(s) = self.state.get_mut(i) {
                *s = State::Skipped;
            }
            return false;
        }
        if let Some(size) = self.sizes.get_mut(i) {
            *size = u32::try_from(out.len()).unwrap_or(u32::MAX);
        }
        true
    }

    pub(crate) fn is_unconfirmed(&self, i: usize) -> bool {
        self.state.get(i) == Some(&State::Unconfirmed)
    }

    /// Marks `i` confirmed (a skipped message stays skipped).
    pub(crate) fn confirm(&mut self, i: usize) {
        if let Some(s) = self.state.get_mut(i)
            && *s == State::Unconfirmed
        {
            *s = State::Confirmed;
        }
    }

    pub(crate) fn unconfirmed(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.state.len()).filter(|&i| self.is_unconfirmed(i))
    }

    fn skipped(&self) -> usize {
        self.state.iter().filter(|s| **s == State::Skipped).count()
    }

    fn bytes(&self) -> usize {
        self.sizes.iter().map(|&n| n as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::transport::{DEFAULT_RELP_WINDOW, RetryPolicy};

    fn fast(mut c: SenderConfig) -> SenderConfig {
        c.retry = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        };
        c.io_timeout = Duration::from_secs(5);
        c.connect_timeout = Duration::from_secs(5);
        c
    }

    fn msgs(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("<134>1 - - - - m{i} - hello {i}").into_bytes())
            .collect()
    }

    /// Reads octet-counted frames until EOF.
    async fn read_octet_counted(mut s: TcpStream) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        let mut out = Vec::new();
        let mut rest = &all[..];
        while !rest.is_empty() {
            let sp = rest.iter().position(|&b| b == b' ').unwrap();
            let n: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
            out.push(rest[sp + 1..sp + 1 + n].to_vec());
            rest = &rest[sp + 1 + n..];
        }
        out
    }

    /// A TCP sender with octet counting, and the frames its receiver reads until EOF.
    async fn octet_counted_tcp() -> (SyslogSender, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server =
            tokio::spawn(async move { read_octet_counted(l.accept().await.unwrap().0).await });
        let s = SyslogSender::new(fast(SenderConfig::new(
            addr,
            Transport::Tcp {
                framing: Framing::OctetCounting,
            },
        )))
        .unwrap();
        (s, server)
    }

    #[tokio::test]
    async fn tcp_octet_counted_batch_arrives_in_order() {
        let (mut s, server) = octet_counted_tcp().await;
        let batch = msgs(1000);
        let d = s.send(&batch).await.unwrap();
        assert_eq!(
            d,
            Delivery {
                confirmation: Confirmation::TcpAcked,
                retries: 0
            }
        );
        s.close().await;
        assert_eq!(server.await.unwrap(), batch);
    }

    #[tokio::test]
    async fn tcp_lf_framing_writes_one_line_per_message() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let mut lines = BufReader::new(l.accept().await.unwrap().0).lines();
            let mut out = Vec::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                out.push(line);
            }
            out
        });
        let mut s = SyslogSender::new(fast(SenderConfig::new(
            addr,
            Transport::Tcp {
                framing: Framing::Lf,
            },
        )))
        .unwrap();
        s.send(&[&b"a\nb"[..], b"c"]).await.unwrap();
        s.close().await;
        assert_eq!(
            server.await.unwrap(),
            vec!["a\\nb".to_owned(), "c".to_owned()]
        );
    }

    #[tokio::test]
    async fn unreachable_receiver_reports_every_message_unconfirmed() {
        // Bind then drop to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = fast(SenderConfig::new(
            format!("127.0.0.1:{port}"),
            Transport::Tcp {
                framing: Framing::OctetCounting,
            },
        ));
        let mut s = SyslogSender::new(cfg).unwrap();
        let err = s.send(&msgs(3)).await.unwrap_err();
        assert_eq!(err.unconfirmed, vec![0, 1, 2]);
        assert!(err.is_retryable());
        assert!(matches!(err.source, TransportError::Connect { .. }));
    }

    #[tokio::test]
    async fn a_receiver_that_closed_between_batches_is_detected_before_writing() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let mut s = SyslogSender::new(fast(SenderConfig::new(
            addr,
            Transport::Tcp {
                framing: Framing::OctetCounting,
            },
        )))
        .unwrap();
        let server = tokio::spawn(async move {
            // First connection: read one frame worth, then close.
            let (mut c1, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 64];
            let n = c1.read(&mut buf).await.unwrap();
            drop(c1);
            let second = read_octet_counted(l.accept().await.unwrap().0).await;
            (n, second)
        });
        s.send(&[b"first".to_vec()]).await.unwrap();
        // Let the server close its end and the FIN arrive.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let d = s.send(&[b"second".to_vec()]).await.unwrap();
        assert_eq!(
            d.retries, 0,
            "reconnected before writing, not after a failure"
        );
        s.close().await;
        let (n, second) = server.await.unwrap();
        assert_eq!(n, 7);
        assert_eq!(second, vec![b"second".to_vec()]);
    }

    #[tokio::test]
    async fn udp_sends_one_datagram_per_message() {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap().to_string();
        let mut s = SyslogSender::new(fast(SenderConfig::new(addr, Transport::Udp))).unwrap();
        let batch = msgs(3);
        assert_eq!(
            s.send(&batch).await.unwrap().confirmation,
            Confirmation::Sent
        );
        let mut buf = vec![0u8; 2048];
        for m in &batch {
            let n = sock.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &m[..]);
        }
    }

    /// A scripted in-process RELP server.
    #[derive(Default)]
    struct Script {
        /// In the first session, stop answering and close after this many syslog frames.
        break_after: Option<usize>,
        /// Answer 500 the first time this message is seen.
        reject_once: Option<Vec<u8>>,
    }

    async fn relp_server(l: TcpListener, script: Script, seen: Arc<Mutex<Vec<Vec<u8>>>>) {
        let mut session = 0;
        let mut rejected = false;
        loop {
            let Ok((sock, _)) = l.accept().await else {
                return;
            };
            session += 1;
            let (r, mut w) = sock.into_split();
            let mut r = BufReader::new(r);
            let mut count = 0;
            loop {
                let mut head = Vec::new();
                if r.read_until(b' ', &mut head).await.unwrap() == 0 {
                    break;
                }
                let txnr = String::from_utf8(head.clone()).unwrap().trim().to_owned();
                let mut cmd = Vec::new();
                r.read_until(b' ', &mut cmd).await.unwrap();
                let cmd = String::from_utf8(cmd).unwrap().trim().to_owned();
                // DATALEN ends with SP (data follows) or LF (no data, as in "close 0").
                let mut len = String::new();
                let ended_with_lf = loop {
                    match r.read_u8().await.unwrap() {
                        b' ' => break false,
                        b'\n' => break true,
                        d => len.push(d as char),
                    }
                };
                let n: usize = len.parse().unwrap();
                let mut data = vec![0u8; n];
                if !ended_with_lf {
                    r.read_exact(&mut data).await.unwrap();
                    let mut lf = [0u8; 1];
                    r.read_exact(&mut lf).await.unwrap();
                }
                let reply = match cmd.as_str() {
                    "open" => "200 OK\nrelp_version=0\ncommands=syslog".to_owned(),
                    "close" => {
                        w.write_all(format!("{txnr} rsp 0\n").as_bytes())
                            .await
                            .unwrap();
                        break;
                    }
                    _ => {
                        count += 1;
                        if session == 1 && script.break_after == Some(count) {
                            // Received but never acknowledged.
                            seen.lock().unwrap().push(data);
                            break;
                        }
                        if !rejected && script.reject_once.as_deref() == Some(&data[..]) {
                            rejected = true;
                            "500 queue full".to_owned()
                        } else {
                            seen.lock().unwrap().push(data);
                            "200 OK".to_owned()
                        }
                    }
                };
                w.write_all(format!("{txnr} rsp {} {reply}\n", reply.len()).as_bytes())
                    .await
                    .unwrap();
            }
        }
    }

    async fn relp_sender(script: Script) -> (SyslogSender, Arc<Mutex<Vec<Vec<u8>>>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(relp_server(l, script, seen.clone()));
        let cfg = fast(SenderConfig::new(
            addr,
            Transport::Relp {
                tls: None,
                window: 8,
            },
        ));
        (SyslogSender::new(cfg).unwrap(), seen)
    }

    #[tokio::test]
    async fn relp_confirms_every_message() {
        let (mut s, seen) = relp_sender(Script::default()).await;
        let batch = msgs(100);
        let d = s.send(&batch).await.unwrap();
        assert_eq!(
            d,
            Delivery {
                confirmation: Confirmation::Acknowledged,
                retries: 0
            }
        );
        s.close().await;
        assert_eq!(*seen.lock().unwrap(), batch);
    }

    #[tokio::test]
    async fn relp_resends_unacknowledged_messages_after_a_broken_session() {
        let (mut s, seen) = relp_sender(Script {
            break_after: Some(20),
            ..Default::default()
        })
        .await;
        let batch = msgs(50);
        let d = s.send(&batch).await.unwrap();
        assert_eq!(d.retries, 1);
        let seen = seen.lock().unwrap().clone();
        // Everything arrived, message 19 (received, never acknowledged) possibly twice.
        for m in &batch {
            assert!(seen.contains(m), "{}", String::from_utf8_lossy(m));
        }
        assert!(
            seen.len() >= batch.len() && seen.len() <= batch.len() + 8,
            "{}",
            seen.len()
        );
    }

    /// Messages that count how often each is produced; one has no bytes.
    struct Counting {
        msgs: Vec<Vec<u8>>,
        without_bytes: usize,
        produced: Vec<usize>,
    }

    impl Messages for Counting {
        fn len(&self) -> usize {
            self.msgs.len()
        }

        fn write_to(&mut self, i: usize, out: &mut Vec<u8>) -> bool {
            self.produced[i] += 1;
            if i == self.without_bytes {
                return false;
            }
            out.extend_from_slice(&self.msgs[i]);
            true
        }
    }

    #[tokio::test]
    async fn relp_produces_again_only_what_it_resends_and_skips_a_message_without_bytes() {
        let (mut s, seen) = relp_sender(Script {
            break_after: Some(20),
            ..Default::default()
        })
        .await;
        let mut batch = Counting {
            msgs: msgs(50),
            without_bytes: 30,
            produced: vec![0; 50],
        };
        let d = s.send_messages(&mut batch).await.unwrap();
        assert_eq!(d.retries, 1);
        let seen = seen.lock().unwrap().clone();
        for (i, m) in batch.msgs.iter().enumerate() {
            assert_eq!(seen.contains(m), i != 30, "message {i}");
        }
        // Asked once, and remembered as having no bytes when the batch was resent.
        assert_eq!(batch.produced[30], 1);
        // Produced twice: only what was in flight, unacknowledged, when the session broke (at
        // most the window of 8, message 19 among them); everything else once.
        assert!(batch.produced.iter().all(|&n| n == 1 || n == 2));
        let resent: Vec<usize> = (0..50).filter(|&i| batch.produced[i] == 2).collect();
        assert!(
            resent.contains(&19) && resent.len() <= 8,
            "produced twice: {resent:?}"
        );
    }

    #[tokio::test]
    async fn tcp_skips_a_message_without_bytes_and_confirms_the_rest() {
        let (mut s, server) = octet_counted_tcp().await;
        let mut batch = Counting {
            msgs: msgs(2000),
            without_bytes: 7,
            produced: vec![0; 2000],
        };
        s.send_messages(&mut batch).await.unwrap();
        s.close().await;
        let mut expected = batch.msgs.clone();
        expected.remove(7);
        assert_eq!(server.await.unwrap(), expected);
        assert!(batch.produced.iter().all(|&n| n == 1));
    }

    #[tokio::test]
    async fn relp_rejection_is_retried_not_dropped() {
        let batch = msgs(10);
        let (mut s, seen) = relp_sender(Script {
            reject_once: Some(batch[4].clone()),
            ..Default::default()
        })
        .await;
        let d = s.send(&batch).await.unwrap();
        assert_eq!(d.retries, 1);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.iter().filter(|m| **m == batch[4]).count(), 1);
        assert_eq!(seen.len(), 10, "only the rejected message was sent again");
    }

    #[tokio::test]
    async fn relp_gives_up_with_exactly_the_unacknowledged_indices() {
        // A server that acknowledges the first 5 messages of each session, then hangs up.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut acked_total = 0;
            loop {
                let Ok((sock, _)) = l.accept().await else {
                    return;
                };
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r);
                let mut n = 0;
                let mut frame = Vec::new();
                while lines.read_until(b'\n', &mut frame).await.unwrap() > 0 {
                    let txnr = String::from_utf8_lossy(&frame)
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_owned();
                    let open = frame.windows(4).any(|w| w == b"open");
                    frame.clear();
                    if open {
                        // The offer data contains LFs; read the rest of it.
                        let mut rest = Vec::new();
                        lines.read_until(b'\n', &mut rest).await.unwrap();
                        lines.read_until(b'\n', &mut rest).await.unwrap();
                        let r = "200 OK\ncommands=syslog";
                        w.write_all(format!("{txnr} rsp {} {r}\n", r.len()).as_bytes())
                            .await
                            .unwrap();
                        continue;
                    }
                    if n == 5 || acked_total == 5 {
                        break;
                    }
                    n += 1;
                    acked_total += 1;
                    w.write_all(format!("{txnr} rsp 6 200 OK\n").as_bytes())
                        .await
                        .unwrap();
                }
            }
        });
        let cfg = fast(SenderConfig::new(
            addr,
            Transport::Relp {
                tls: None,
                window: DEFAULT_RELP_WINDOW,
            },
        ));
        let mut s = SyslogSender::new(cfg).unwrap();
        let err = s.send(&msgs(12)).await.unwrap_err();
        assert_eq!(err.unconfirmed, (5..12).collect::<Vec<_>>());
        assert_eq!(err.batch_len, 12);
        assert!(err.is_retryable());
    }
}
