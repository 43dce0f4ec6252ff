//! A RELP client, written from the RELP specification (rsyslog's `relp.html`,
//! librelp's `doc/relp.html`).
//!
//! A frame is `TXNR SP COMMAND SP DATALEN [SP DATA] LF`. The client opens a session with
//! `open` (offering `commands=syslog`), sends each message as a `syslog` transaction and
//! counts it delivered only when the server answers `rsp` with code 200 for that TXNR.
//! Up to `window` transactions may be outstanding. `close` ends the session; the server
//! may announce its own shutdown with `serverclose` (TXNR 0). Transaction numbers start
//! at 1 in each session and wrap from 999,999,999 to 1.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stream::{Stream, with_timeout, write_flushed};
use crate::error::TransportError;
use crate::messages::Messages;
use crate::sender::Progress;

const MAX_TXNR: u32 = 999_999_999;
/// A write buffer that grew past this (a window of large messages) is not kept.
const KEEP_WRITE_BUFFER: usize = 1 << 20;
/// The server only ever sends short responses; anything larger is a protocol violation.
const MAX_RESPONSE: usize = 64 * 1024;

const OFFERS: &str = concat!(
    "relp_version=0\nrelp_software=auditfwd,",
    env!("CARGO_PKG_VERSION"),
    ",https://example.invalid/auditfwd\ncommands=syslog"
);

/// One frame received from the server, borrowed from the read buffer (an answer costs no
/// allocation: there is one per message sent).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) txnr: u32,
    pub(crate) command: &'a str,
    pub(crate) data: &'a [u8],
}

impl<'a> Frame<'a> {
    /// `rsp` data is `RSP-CODE [SP HUMANMSG] [LF CMDDATA]`: the code, and the message as text.
    fn status(&self) -> (u16, Cow<'a, str>) {
        let line = self.data.split(|&b| b == b'\n').next().unwrap_or_default();
        let (code, text) = match line.iter().position(|&b| b == b' ') {
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &b""[..]),
        };
        let code = std::str::from_utf8(code)
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, String::from_utf8_lossy(text))
    }
}

/// What an answer to a `syslog` transaction says, owned, once its frame is consumed.
enum Answer {
    Accepted(u32),
    Rejected {
        txnr: u32,
        status: u16,
        text: String,
    },
    ServerClose,
    Unexpected(String),
}

impl Answer {
    fn of(f: Frame<'_>) -> Self {
        match f.command {
            "serverclose" => Answer::ServerClose,
            "rsp" => match f.status() {
                (200, _) => Answer::Accepted(f.txnr),
                (status, text) => Answer::Rejected {
                    txnr: f.txnr,
                    status,
                    text: text.into_owned(),
                },
            },
            other => Answer::Unexpected(other.to_owned()),
        }
    }
}

fn proto(msg: impl Into<String>) -> TransportError {
    TransportError::RelpProtocol(msg.into())
}

/// Parses one frame from the start of `buf`; `Ok(None)` when more bytes are needed.
pub(crate) fn parse_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, TransportError> {
    fn field(
        buf: &[u8],
        from: usize,
        max: usize,
        what: &str,
    ) -> Result<Option<(usize, usize)>, TransportError> {
        // Returns (end of field, index of its terminator) once a terminator is seen.
        for (i, &b) in buf[from..].iter().enumerate() {
            if b == b' ' || b == b'\n' {
                if i == 0 {
                    return Err(proto(format!("empty {what}")));
                }
                return Ok(Some((from + i, from + i)));
            }
            if i >= max {
                return Err(proto(format!("{what} too long")));
            }
        }
        Ok(None)
    }
    let Some((txnr_end, _)) = field(buf, 0, 9, "TXNR")? else {
        return Ok(None);
    };
    let txnr_s = &buf[..txnr_end];
    if buf[txnr_end] != b' ' || !txnr_s.iter().all(u8::is_ascii_digit) {
        return Err(proto(format!(
            "bad TXNR {:?}",
            String::from_utf8_lossy(txnr_s)
        )));
    }
    let Some((cmd_end, _)) = field(buf, txnr_end + 1, 32, "command")? else {
        return Ok(None);
    };
    let command = &buf[txnr_end + 1..cmd_end];
    let command = match std::str::from_utf8(command) {
        Ok(c) if buf[cmd_end] == b' ' && c.bytes().all(|b| b.is_ascii_alphabetic()) => c,
        _ => {
            return Err(proto(format!(
                "bad command {:?}",
                String::from_utf8_lossy(command)
            )));
        }
    };
    let Some((len_end, _)) = field(buf, cmd_end + 1, 9, "DATALEN")? else {
        return Ok(None);
    };
    let len_s = &buf[cmd_end + 1..len_end];
    if !len_s.iter().all(u8::is_ascii_digit) {
        return Err(proto(format!(
            "bad DATALEN {:?}",
            String::from_utf8_lossy(len_s)
        )));
    }
    let parse = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
    };
    let datalen = parse(len_s).ok_or_else(|| proto("bad DATALEN"))?;
    if datalen > MAX_RESPONSE {
        return Err(proto(format!("response of {datalen} bytes")));
    }
    let txnr = parse(txnr_s)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| proto("bad TXNR"))?;
    let (data_start, data_end) = if buf[len_end] == b'\n' {
        if datalen != 0 {
            return Err(proto("LF where data was expected"));
        }
        (len_end, len_end)
    } else {
        (len_end + 1, len_end + 1 + datalen)
    };
    // Some servers send "0 serverclose 0 \n"; tolerate the empty SP DATA.
    if buf.len() <= data_end {
        return Ok(None);
    }
    if buf[data_end] != b'\n' {
        return Err(proto("missing LF trailer"));
    }
    let frame = Frame {
        txnr,
        command,
        data: &buf[data_start..data_end],
    };
    Ok(Some((frame, data_end + 1)))
}

/// The transaction number after `t`.
fn following(t: u32) -> u32 {
    if t >= MAX_TXNR { 1 } else { t + 1 }
}

fn push_frame(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    crate::encode::text::push_usize(out, txnr as usize);
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    crate::encode::text::push_usize(out, data.len());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// An open RELP session.
#[derive(Debug)]
pub(crate) struct Session {
    stream: Stream,
    rbuf: BytesMut,
    next_txnr: u32,
    wbuf: Vec<u8>,
}

impl Session {
    /// Runs the `open` handshake on a connected stream.
    pub(crate) async fn open(stream: Stream, timeout: Duration) -> Result<Self, TransportError> {
        let mut s = Self {
            stream,
            rbuf: BytesMut::with_capacity(4096),
            next_txnr: 1,
            wbuf: Vec::new(),
        };
        let txnr = s.take_txnr();
        let mut frame = Vec::new();
        push_frame(&mut frame, txnr, "open", OFFERS.as_bytes());
        with_timeout(timeout, "RELP open", async {
            s.stream
                .write_all(&frame)
                .await
                .map_err(|e| TransportError::io("sending RELP open", e))?;
            s.stream
                .flush()
                .await
                .map_err(|e| TransportError::io("sending RELP open", e))?;
            s.fill().await?;
            s.take_frame(|rsp| {
                if rsp.command != "rsp" || rsp.txnr != txnr {
                    return Err(proto(format!(
                        "expected rsp {txnr} to open, got {} {}",
                        rsp.command, rsp.txnr
                    )));
                }
                let (status, text) = rsp.status();
                if status != 200 {
                    return Err(TransportError::RelpRejected {
                        command: "open",
                        status,
                        text: text.into_owned(),
                    });
                }
                let offers = String::from_utf8_lossy(rsp.data);
                let commands = offers
                    .lines()
                    .find_map(|l| l.strip_prefix("commands="))
                    .unwrap_or_default();
                if !commands.split(',').any(|c| c.trim() == "syslog") {
                    return Err(TransportError::RelpNoSyslog {
                        offered: commands.to_owned(),
                    });
                }
                Ok(())
            })?
            .unwrap_or_else(|| Err(proto("no answer to open")))
        })
        .await?;
        Ok(s)
    }

    fn take_txnr(&mut self) -> u32 {
        let t = self.next_txnr;
        self.next_txnr = following(t);
        t
    }

    /// Consumes the frame at the front of the read buffer, if a whole one is there, passing it
    /// to `read` (it borrows the buffer).
    fn take_frame<R>(
        &mut self,
        read: impl FnOnce(Frame<'_>) -> R,
    ) -> Result<Option<R>, TransportError> {
        let Some((frame, used)) = parse_frame(&self.rbuf)? else {
            return Ok(None);
        };
        let out = read(frame);
        self.rbuf.advance(used);
        Ok(Some(out))
    }

    /// Reads until a whole frame is at the front of the read buffer.
    async fn fill(&mut self) -> Result<(), TransportError> {
        loop {
            if parse_frame(&self.rbuf)?.is_some() {
                return Ok(());
            }
            super::stream::quick_ack(&self.stream);
            // Room for many answers per read (a drained buffer would grow 64 bytes at a time).
            self.rbuf.reserve(4096);
            let n = self
                .stream
                .read_buf(&mut self.rbuf)
                .await
                .map_err(|e| TransportError::io("reading RELP responses", e))?;
            if n == 0 {
                return Err(TransportError::Closed);
            }
        }
    }

    /// Sends every message of `batch` still unconfirmed in `progress` (producing each into
    /// `message` as it goes), keeping at most `window` unacknowledged, and confirms each one
    /// whose `rsp 200` arrives. On error the session must be dropped; the messages left
    /// unconfirmed are exactly those not acknowledged.
    pub(crate) async fn send<B: Messages + ?Sized>(
        &mut self,
        batch: &mut B,
        progress: &mut Progress,
        message: &mut Vec<u8>,
        window: usize,
        io_timeout: Duration,
    ) -> Result<(), TransportError> {
        let todo: Vec<usize> = progress.unconfirmed().collect();
        let window = window.max(1);
        let mut pos = 0;
        let mut inflight: VecDeque<(u32, usize)> = VecDeque::with_capacity(window);
        let mut rejected = None;
        loop {
            self.wbuf.clear();
            while inflight.len() < window && pos < todo.len() {
                let idx = todo[pos];
                pos += 1;
                if !progress.produce(batch, idx, message) {
                    continue;
                }
                let txnr = self.take_txnr();
                push_frame(&mut self.wbuf, txnr, "syslog", message);
                inflight.push_back((txnr, idx));
            }
            if !self.wbuf.is_empty() {
                write_flushed(&mut self.stream, &self.wbuf, io_timeout, "RELP write").await?;
            }
            if self.wbuf.capacity() > KEEP_WRITE_BUFFER {
                self.wbuf = Vec::new();
            }
            if inflight.is_empty() {
                if pos < todo.len() {
                    continue;
                }
                break;
            }
            // Take answers until the window is half free, so that the refill goes out as one
            // large write rather than a write (and a read) per answer; once everything is
            // written, until every answer is in.
            let refill_at = if pos < todo.len() { window / 2 } else { 0 };
            while inflight.len() > refill_at {
                self.take_answers(&mut inflight, progress, &mut rejected, io_timeout)
                    .await?;
            }
        }
        rejected.map_or(Ok(()), Err)
    }

    /// Waits for at least one answer, then takes every answer already buffered, marking each
    /// `rsp 200` confirmed and remembering the last rejection.
    async fn take_answers(
        &mut self,
        inflight: &mut VecDeque<(u32, usize)>,
        progress: &mut Progress,
        rejected: &mut Option<TransportError>,
        io_timeout: Duration,
    ) -> Result<(), TransportError> {
        with_timeout(io_timeout, "RELP acknowledgement", self.fill()).await?;
        while let Some(answer) = self.take_frame(Answer::of)? {
            let (txnr, rejection) = match answer {
                Answer::Accepted(txnr) => (txnr, None),
                Answer::Rejected { txnr, status, text } => (
                    txnr,
                    Some(TransportError::RelpRejected {
                        command: "syslog",
                        status,
                        text,
                    }),
                ),
                Answer::ServerClose => return Err(TransportError::Closed),
                Answer::Unexpected(command) => {
                    return Err(proto(format!("unexpected command {command:?} from server")));
                }
            };
            let at = inflight
                .iter()
                .position(|(t, _)| *t == txnr)
                .ok_or_else(|| proto(format!("rsp for unknown transaction {txnr}")))?;
            let (_, idx) = inflight.remove(at).unwrap_or_default();
            match rejection {
                None => progress.confirm(idx),
                Some(e) => *rejected = Some(e),
            }
        }
        Ok(())
    }

    /// Ends the session politely. Errors are ignored: everything sent was already
    /// acknowledged or is still unconfirmed, so nothing depends on the close.
    pub(crate) async fn close(mut self, timeout: Duration) {
        let txnr = self.take_txnr();
        let mut frame = Vec::new();
        push_frame(&mut frame, txnr, "close", b"");
        let _ = with_timeout(timeout, "RELP close", async {
            self.stream
                .write_all(&frame)
                .await
                .map_err(|e| TransportError::io("closing", e))?;
            self.stream
                .flush()
                .await
                .map_err(|e| TransportError::io("closing", e))?;
            loop {
                self.fill().await?;
                let closed = self.take_frame(|f| f.command == "rsp" && f.txnr == txnr)?;
                if closed == Some(true) {
                    break;
                }
            }
            self.stream
                .shutdown()
                .await
                .map_err(|e| TransportError::io("closing", e))
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Option<(Frame<'_>, usize)>, TransportError> {
        parse_frame(s)
    }

    #[test]
    fn builds_frames_per_spec() {
        let mut out = Vec::new();
        push_frame(&mut out, 2, "syslog", b"<13>1 - - - - - - hi");
        push_frame(&mut out, 3, "close", b"");
        assert_eq!(out, b"2 syslog 20 <13>1 - - - - - - hi\n3 close 0\n");
        assert!(OFFERS.starts_with("relp_version=0\nrelp_software=auditfwd,"));
        assert!(OFFERS.ends_with("\ncommands=syslog"));
    }

    #[test]
    fn parses_responses() {
        let (f, used) = parse(b"2 rsp 6 200 OK\n3 rsp").unwrap().unwrap();
        assert_eq!(used, 15);
        assert_eq!(
            f,
            Frame {
                txnr: 2,
                command: "rsp",
                data: b"200 OK"
            }
        );
        assert_eq!(f.status(), (200, "OK".into()));
        let (f, used) = parse(b"0 serverclose 0\n").unwrap().unwrap();
        assert_eq!((f.txnr, f.command, used), (0, "serverclose", 16));
        let (f, _) = parse(b"0 serverclose 0 \n").unwrap().unwrap();
        assert_eq!(f.command, "serverclose");
        let open = b"1 rsp 37 200 OK\nrelp_version=0\ncommands=syslog\n";
        let (f, used) = parse(open).unwrap().unwrap();
        assert_eq!(used, open.len());
        assert_eq!(f.status(), (200, "OK".into()));
        assert_eq!(
            parse(b"4 rsp 21 500 error: queue full\n")
                .unwrap()
                .unwrap()
                .0
                .status()
                .0,
            500
        );
    }

    #[test]
    fn waits_for_incomplete_frames() {
        for partial in [
            &b"2"[..],
            b"2 rsp",
            b"2 rsp 6",
            b"2 rsp 6 200",
            b"2 rsp 6 200 OK",
        ] {
            assert!(parse(partial).unwrap().is_none(), "{partial:?}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"x rsp 6 200 OK\n"[..],
            b"2 r5p 6 200 OK\n",
            b"2 rsp six 200 OK\n",
            b"2 rsp 2 200 OK\n",
            b"1234567890123 rsp",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.is_retryable(), "{bad:?}");
        }
        assert!(parse(b"2 rsp 99999999 x").is_err());
    }

    #[test]
    fn txnr_wraps_to_one() {
        assert_eq!(following(1), 2);
        assert_eq!(following(MAX_TXNR - 1), MAX_TXNR);
        assert_eq!(following(MAX_TXNR), 1);
    }
}
