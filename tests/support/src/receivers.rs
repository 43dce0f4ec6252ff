//! Misbehaving syslog receivers for the delivery tests, each on its own port of 127.0.0.1,
//! plain TCP or TLS: a sender must never count as delivered what such a receiver did not take.
//!
//! - [`Misbehaviour::AcceptAndClose`]: a collector that rejects the peer, a load balancer with
//!   no healthy backend, an mTLS receiver refusing a client without a certificate;
//! - [`Misbehaviour::CloseAfter`]: one that reads part of the stream, then hangs up;
//! - [`Misbehaviour::NeverRead`]: a stalled receiver (connection accepted, TLS handshake done,
//!   nothing ever read).
//!
//! Each listens with the smallest receive buffer the kernel allows (about 2 KB, less than one
//! audit event), so its TCP stack never holds more than a message its process has not read:
//! what a stalled receiver looks like once its buffers are full, and what keeps these tests
//! deterministic. A receiver whose kernel still had room for a whole batch would acknowledge it
//! without its process reading a byte: the documented limit of TCP confirmation (see
//! `docs/syslog.md`), which the syslog crate's tests show separately.
//!
//! Threads, not tasks: the receivers work the same under any runtime, and a test that blocks
//! cannot starve them. Stopped (port freed, connections dropped) on [`MisbehavingReceiver::stop`]
//! or drop.

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a receiver misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Accepts each connection and closes it at once (before any TLS handshake).
    AcceptAndClose,
    /// Reads this many bytes of syslog data on each connection (after TLS), then closes it.
    /// Over TLS the process reads whole records, so it may hold decrypted data past the limit:
    /// that counts as read (its kernel acknowledged it and no reset follows; TCP confirmation
    /// cannot tell it from data the receiver keeps), and is recorded before the close.
    CloseAfter(usize),
    /// Accepts each connection (and completes the TLS handshake), then never reads.
    NeverRead,
}

/// How often the threads look at the stop flag.
const TICK: Duration = Duration::from_millis(20);

/// A running misbehaving receiver.
#[derive(Debug)]
pub struct MisbehavingReceiver {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    read: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl MisbehavingReceiver {
    /// Starts on a free port; TLS (with `tls`'s certificate) when given.
    pub fn start(how: Misbehaviour, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self::start_on(0, how, tls)
    }

    /// Starts on `port` (0: a free one).
    pub fn start_on(port: u16, how: Misbehaviour, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        // The port is handed to a real receiver afterwards: no TIME_WAIT may hold it.
        socket.set_reuse_address(true).unwrap();
        // Inherited by accepted connections, and announced in the handshake's window.
        socket.set_recv_buffer_size(1).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
            .unwrap();
        socket.listen(64).unwrap();
        socket.set_nonblocking(true).unwrap();
        let listener: TcpListener = socket.into();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let read = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, accepted, read) = (stop.clone(), accepted.clone(), read.clone());
            std::thread::spawn(move || {
                let mut handlers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            if how == Misbehaviour::AcceptAndClose {
                                drop(conn);
                                continue;
                            }
                            let (stop, read, tls) = (stop.clone(), read.clone(), tls.clone());
                            handlers.push(std::thread::spawn(move || {
                                serve(conn, how, tls, &stop, &read);
                            }));
                        }
                        Err(_) => std::thread::sleep(TICK / 4),
                    }
                }
                drop(listener);
                for h in handlers {
                    let _ = h.join();
                }
            })
        };
        MisbehavingReceiver {
            port,
            stop,
            accepted,
            read,
            thread: Some(thread),
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Syslog bytes (after TLS) its process read, over all connections.
    pub fn bytes_read(&self) -> usize {
        self.read_streams().iter().map(Vec::len).sum()
    }

    /// What its process read (after TLS), one byte string per connection, in accept order.
    pub fn read_streams(&self) -> Vec<Vec<u8>> {
        self.read.lock().unwrap().clone()
    }

    /// Stops: the port is free and every connection closed when this returns.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MisbehavingReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves one connection (not `AcceptAndClose`) until it is done or the receiver stops.
fn serve(
    tcp: TcpStream,
    how: Misbehaviour,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: &AtomicBool,
    read: &Mutex<Vec<Vec<u8>>>,
) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_read_timeout(Some(TICK));
    let mut stream = match tls {
        None => Stream::Plain(tcp),
        Some(config) => {
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            let mut tcp = tcp;
            while conn.is_handshaking() {
                match conn.complete_io(&mut tcp) {
                    Ok(_) => {}
                    Err(e) if is_tick(&e) && !stop.load(Ordering::Relaxed) => {}
                    Err(_) => return,
                }
            }
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        }
    };
    match how {
        Misbehaviour::CloseAfter(limit) => {
            let slot = {
                let mut all = read.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            };
            let mut buf = vec![0u8; 16 * 1024];
            let mut got = 0;
            while got < limit && !stop.load(Ordering::Relaxed) {
                let want = (limit - got).min(buf.len());
                match stream.read(&mut buf[..want]) {
                    Ok(0) => return,
                    Ok(n) => {
                        got += n;
                        read.lock().unwrap()[slot].extend_from_slice(&buf[..n]);
                    }
                    Err(e) if is_tick(&e) => {}
                    Err(_) => return,
                }
            }
            // TLS reads whole records off the socket: what the process already took from its
            // kernel and decrypted beyond the limit was read too (its kernel acknowledged it,
            // and no reset will follow for it). Count it, then discard it with the connection.
            let rest = stream.decrypted_unread();
            read.lock().unwrap()[slot].extend_from_slice(&rest);
            // Dropped with unread data: the kernel answers with a reset.
        }
        Misbehaviour::NeverRead => {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
            }
        }
        Misbehaviour::AcceptAndClose => {}
    }
}

/// One accepted connection, after the TLS handshake when there is one.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    /// Plaintext the process has already taken off the socket but not yet read: the rest of
    /// TLS records read whole. Reads nothing more from the socket.
    fn decrypted_unread(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Stream::Tls(tls) = self {
            // Complete records already read off the socket but not yet decrypted.
            if tls.conn.process_new_packets().is_err() {
                return out;
            }
            let _ = tls.conn.reader().read_to_end(&mut out);
        }
        out
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

fn is_tick(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
