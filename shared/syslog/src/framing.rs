//! Stream framing (RFC 6587): how a receiver finds where one message ends on TCP or TLS.
//! UDP needs none (one datagram, one message) and RELP frames its own transactions.

/// Framing of messages on a TCP or TLS stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// `MSG-LEN SP SYSLOG-MSG` (RFC 5425 §4.3, RFC 6587 §3.4.1), the default: any byte
    /// may appear in a message and nothing in it can end the frame early.
    #[default]
    OctetCounting,
    /// Non-transparent framing: each message followed by LF (RFC 6587 §3.4.2), for
    /// receivers that only split on newlines. CR, LF and NUL inside the message are
    /// written as `\r`, `\n` and `\0` so a message can never forge a second one.
    /// (The encoders already never emit those bytes; this is defence in depth for
    /// messages built elsewhere.)
    Lf,
}

impl Framing {
    /// Appends one framed message to `out`.
    pub fn frame_into(self, msg: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::OctetCounting => {
                crate::encode::text::push_usize(out, msg.len());
                out.push(b' ');
                out.extend_from_slice(msg);
            }
            Self::Lf => {
                let mut rest = msg;
                while let Some(i) = rest.iter().position(|b| matches!(b, b'\r' | b'\n' | 0)) {
                    out.extend_from_slice(&rest[..i]);
                    out.extend_from_slice(match rest[i] {
                        b'\r' => b"\\r",
                        b'\n' => b"\\n",
                        _ => b"\\0",
                    });
                    rest = &rest[i + 1..];
                }
                out.extend_from_slice(rest);
                out.push(b'\n');
            }
        }
    }

    /// Upper bound of the framed size of a message of `len` bytes (for buffer sizing).
    pub fn framed_len_hint(self, len: usize) -> usize {
        match self {
            Self::OctetCounting => len + 21,
            Self::Lf => len + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(f: Framing, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        f.frame_into(msg, &mut out);
        out
    }

    #[test]
    fn octet_counting_prefixes_the_byte_length() {
        assert_eq!(
            framed(Framing::OctetCounting, b"<13>1 - - - - - - hi"),
            b"20 <13>1 - - - - - - hi"
        );
        assert_eq!(
            framed(Framing::OctetCounting, "é".as_bytes()),
            b"2 \xc3\xa9"
        );
        assert_eq!(framed(Framing::OctetCounting, b""), b"0 ");
    }

    #[test]
    fn lf_framing_terminates_and_escapes_line_breaks() {
        assert_eq!(framed(Framing::Lf, b"abc"), b"abc\n");
        let forged = b"<134>1 x - - - - a\n<13>1 2020-01-01T00:00:00Z forged - - - - injected\r\0";
        let out = framed(Framing::Lf, forged);
        assert_eq!(
            out,
            b"<134>1 x - - - - a\\n<13>1 2020-01-01T00:00:00Z forged - - - - injected\\r\\0\n"
                .to_vec()
        );
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            1,
            "exactly one line"
        );
        assert!(!out.contains(&b'\r') && !out.contains(&0));
    }

    proptest::proptest! {
        #[test]
        fn lf_framing_always_yields_exactly_one_line(msg in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let out = framed(Framing::Lf, &msg);
            proptest::prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
            proptest::prop_assert_eq!(out.last(), Some(&b'\n'));
            proptest::prop_assert!(!out.contains(&b'\r') && !out.contains(&0));
        }

        #[test]
        fn octet_counting_is_parseable_back(msg in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let out = framed(Framing::OctetCounting, &msg);
            let sp = out.iter().position(|&b| b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&out[..sp]).unwrap().parse().unwrap();
            proptest::prop_assert_eq!(&out[sp + 1..], &msg[..]);
            proptest::prop_assert_eq!(len, msg.len());
        }
    }
}
