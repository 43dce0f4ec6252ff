//! `discard-receiver`: a syslog receiver for throughput benchmarks that reads octet-counted
//! frames (RFC 6587 §3.4.1, `MSG-LEN SP SYSLOG-MSG`, what auditfwd's `tcp://` sends by default)
//! on loopback TCP, counts them and throws them away.
//!
//! It exists because rsyslog (and any receiver that writes what it gets) is slower than the
//! sender a throughput benchmark measures: this one does no work per message beyond finding
//! where it ends, so it takes well over a million small messages a second on two shared cores
//! and the figure measured is the sender's. It still checks every frame (a length, a space,
//! a message starting with `<`), so a desynchronised stream is reported, not counted.
//!
//! Each connection is read on its own thread as fast as the kernel delivers: `tcp://` waits
//! for the kernel's acknowledgement of every byte, so a receiver that lagged would slow the
//! sender it measures. Totals are written to the `--status` file (atomically: written beside
//! it, then renamed) whenever a connection opens or closes, as one line:
//!
//! ```text
//! messages=1000000 bytes=3800000000 open=0 closed=4 malformed=0 truncated=0
//! ```
//!
//! A benchmark waits for its sender to exit, then for `open=0`, then reads `messages`.
//!
//! ```text
//! discard-receiver --port 0 --status /tmp/discard.status
//! listening on 127.0.0.1:40123
//! ```
#![allow(clippy::print_stdout)] // printing the port is this binary's job

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes read per `read` call: large, so a fast sender costs few system calls.
const READ_BUFFER: usize = 1 << 20;

/// The longest `MSG-LEN` accepted, in digits (RFC 5425 allows any length; 10 digits is 10 GB).
const MAX_LEN_DIGITS: u32 = 10;

fn usage() -> ! {
    eprintln!("usage: discard-receiver [--port PORT] [--status FILE]");
    eprintln!("  --port PORT    loopback port to listen on (0, the default, picks a free one)");
    eprintln!("  --status FILE  where to write the totals when a connection opens or closes");
    std::process::exit(2);
}

fn main() {
    let mut port: u16 = 0;
    let mut status: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--status" => status = Some(args.next().map_or_else(|| usage(), PathBuf::from)),
            _ => usage(),
        }
    }
    let listener = match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("discard-receiver: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let totals = Arc::new(Totals::new(status));
    totals.publish();
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => {
            eprintln!("discard-receiver: {e}");
            std::process::exit(1);
        }
    }
    let _ = std::io::stdout().flush();
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                totals.open.fetch_add(1, Ordering::SeqCst);
                totals.publish();
                let totals = totals.clone();
                std::thread::spawn(move || serve(stream, &totals));
            }
            Err(e) => eprintln!("discard-receiver: accept failed: {e}"),
        }
    }
}

/// Reads one connection to its end, then adds what it counted to the totals.
fn serve(mut stream: TcpStream, totals: &Totals) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut frames = FrameCounter::default();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if frames.feed(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    totals.messages.fetch_add(frames.messages, Ordering::SeqCst);
    totals.bytes.fetch_add(frames.bytes, Ordering::SeqCst);
    if frames.malformed {
        totals.malformed.fetch_add(1, Ordering::SeqCst);
    } else if !frames.at_frame_boundary() {
        totals.truncated.fetch_add(1, Ordering::SeqCst);
    }
    totals.closed.fetch_add(1, Ordering::SeqCst);
    totals.open.fetch_sub(1, Ordering::SeqCst);
    totals.publish();
}

/// Counts over every connection so far, and where to publish them.
#[derive(Debug)]
struct Totals {
    messages: AtomicU64,
    bytes: AtomicU64,
    open: AtomicU64,
    closed: AtomicU64,
    /// Connections dropped at a frame that was not `MSG-LEN SP <...`.
    malformed: AtomicU64,
    /// Connections that ended inside a frame.
    truncated: AtomicU64,
    /// The status file; the lock also keeps two writers from interleaving.
    status: Mutex<Option<PathBuf>>,
}

impl Totals {
    fn new(status: Option<PathBuf>) -> Self {
        Totals {
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            open: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            status: Mutex::new(status),
        }
    }

    fn line(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        format!(
            "messages={} bytes={} open={} closed={} malformed={} truncated={}\n",
            get(&self.messages),
            get(&self.bytes),
            get(&self.open),
            get(&self.closed),
            get(&self.malformed),
            get(&self.truncated)
        )
    }

    /// Writes the totals to the status file (if any) atomically.
    fn publish(&self) {
        let Ok(status) = self.status.lock() else {
            return;
        };
        let Some(path) = status.as_deref() else {
            return;
        };
        if let Err(e) = write_atomically(path, self.line().as_bytes()) {
            eprintln!("discard-receiver: writing {}: {e}", path.display());
        }
    }
}

fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

/// Where the parser is inside the stream of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading `MSG-LEN`: the digits so far and how many.
    Length { value: u64, digits: u32 },
    /// Inside a message: bytes left, and whether its first byte is still to come.
    Message { left: u64, first: bool },
}

/// Counts octet-counted frames across reads that split them anywhere.
#[derive(Debug)]
struct FrameCounter {
    state: State,
    messages: u64,
    /// Message bytes (without the length prefixes).
    bytes: u64,
    malformed: bool,
}

impl Default for FrameCounter {
    fn default() -> Self {
        FrameCounter {
            state: State::Length {
                value: 0,
                digits: 0,
            },
            messages: 0,
            bytes: 0,
            malformed: false,
        }
    }
}

/// The stream is not octet-counted syslog from here on.
#[derive(Debug, PartialEq, Eq)]
struct Malformed;

impl FrameCounter {
    /// Consumes the next bytes of the stream; after an error it accepts nothing more.
    fn feed(&mut self, mut data: &[u8]) -> Result<(), Malformed> {
        if self.malformed {
            return Err(Malformed);
        }
        while !data.is_empty() {
            match self.state {
                State::Length { value, digits } => {
                    let b = data[0];
                    data = &data[1..];
                    match b {
                        b'0'..=b'9' if digits < MAX_LEN_DIGITS => {
                            self.state = State::Length {
                                value: value * 10 + u64::from(b - b'0'),
                                digits: digits + 1,
                            };
                        }
                        // A syslog message is never empty: it starts with `<PRI>`.
                        b' ' if digits > 0 && value > 0 => {
                            self.state = State::Message {
                                left: value,
                                first: true,
                            };
                        }
                        _ => return self.fail(),
                    }
                }
                State::Message { left, first } => {
                    if first && data[0] != b'<' {
                        return self.fail();
                    }
                    let take = usize::try_from(left).map_or(data.len(), |l| l.min(data.len()));
                    data = &data[take..];
                    let left = left - take as u64;
                    self.bytes += take as u64;
                    if left == 0 {
                        self.messages += 1;
                        self.state = State::Length {
                            value: 0,
                            digits: 0,
                        };
                    } else {
                        self.state = State::Message { left, first: false };
                    }
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self) -> Result<(), Malformed> {
        self.malformed = true;
        Err(Malformed)
    }

    /// Whether the stream so far ends exactly after a whole frame.
    fn at_frame_boundary(&self) -> bool {
        self.state
            == State::Length {
                value: 0,
                digits: 0,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(msg: &str) -> Vec<u8> {
        format!("{} {msg}", msg.len()).into_bytes()
    }

    #[test]
    fn counts_frames_split_at_every_byte() {
        let messages = ["<13>1 - - - - - - a", "<14>1 - - - - - - héllo", "<15>x"];
        let stream: Vec<u8> = messages.iter().flat_map(|m| frame(m)).collect();
        for cut in 0..=stream.len() {
            let mut c = FrameCounter::default();
            c.feed(&stream[..cut]).unwrap();
            c.feed(&stream[cut..]).unwrap();
            assert_eq!(c.messages, 3, "cut at {cut}");
            assert!(c.at_frame_boundary());
        }
        let mut one_by_one = FrameCounter::default();
        for b in &stream {
            one_by_one.feed(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(one_by_one.messages, 3);
        let message_bytes: usize = messages.iter().map(|m| m.len()).sum();
        assert_eq!(one_by_one.bytes, message_bytes as u64);
    }

    #[test]
    fn a_partial_frame_is_not_counted() {
        let mut c = FrameCounter::default();
        c.feed(b"20 <13>1 - - - - - ").unwrap();
        assert_eq!(c.messages, 0);
        assert!(!c.at_frame_boundary());
    }

    #[test]
    fn rejects_what_is_not_octet_counted_syslog() {
        for bad in [
            &b"<13>1 - - - - - - lf framed\n"[..],
            b"5 hello",
            b"0 ",
            b" 5 <13>x",
            b"12345678901 <",
        ] {
            let mut c = FrameCounter::default();
            assert_eq!(
                c.feed(bad),
                Err(Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(c.feed(b"5 <13>x"), Err(Malformed));
            assert_eq!(c.messages, 0);
        }
    }

    #[test]
    fn counts_over_a_real_connection_and_publishes_the_totals() {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        let totals = Arc::new(Totals::new(Some(status.clone())));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = {
            let totals = totals.clone();
            std::thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                totals.open.fetch_add(1, Ordering::SeqCst);
                serve(stream, &totals);
            })
        };
        let mut client = TcpStream::connect(addr).unwrap();
        for i in 0..10_000 {
            client
                .write_all(&frame(&format!("<13>1 - - - - - - {i}")))
                .unwrap();
        }
        drop(client);
        server.join().unwrap();
        let line = std::fs::read_to_string(&status).unwrap();
        assert!(
            line.starts_with("messages=10000 ")
                && line.contains(" open=0 closed=1 malformed=0 truncated=0"),
            "{line}"
        );
    }
}
