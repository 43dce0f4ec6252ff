//! A batch as the sender sees it: messages produced one at a time, on demand, and again when a
//! transport must send one again.
//!
//! The sender never needs a whole encoded batch in memory: it asks for each message as it
//! fills its write buffer (a stream's 256 KiB chunk, a RELP window, one datagram) and asks again
//! for the messages it resends after a broken connection or a RELP rejection. For a pipeline
//! batch ([`crate::SyslogSink`]) producing a message means encoding its record, so memory per
//! connection is one write buffer and one message, whatever the batch's size.

/// The messages of one batch, by index.
pub trait Messages {
    /// How many messages the batch has.
    fn len(&self) -> usize;

    /// Whether the batch has none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends message `i` (unframed) to `out`, and returns `true`; or returns `false`, with
    /// `out` unchanged, when message `i` has no bytes to send (a record that cannot be
    /// encoded). The sender skips such a message and leaves reporting it to whoever made the
    /// batch. Asked again for the same `i`, it must give the same answer.
    fn write_to(&mut self, i: usize, out: &mut Vec<u8>) -> bool;
}

/// Messages already encoded, as a slice.
#[derive(Debug)]
pub struct Slice<'a, M>(pub &'a [M]);

impl<M: AsRef<[u8]>> Messages for Slice<'_, M> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn write_to(&mut self, i: usize, out: &mut Vec<u8>) -> bool {
        match self.0.get(i) {
            Some(m) => {
                out.extend_from_slice(m.as_ref());
                true
            }
            None => false,
        }
    }
}
