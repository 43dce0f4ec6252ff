//! Byte-level helpers shared by the encoders: escaping, header tokens and timestamps.
//! Written by hand (no `format!`) because they run once per field per event.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

/// Appends `s` as an RFC 5424 PARAM-VALUE body: `"`, `\` and `]` are backslash-escaped
/// (§6.3.3). CR, LF and NUL become `\r`, `\n`, `\0` so that no SD value can ever break a
/// line, whatever the framing; the RFC would allow them raw, but receivers mangle them.
pub(crate) fn push_sd_value(out: &mut Vec<u8>, s: &str) {
    if !s
        .bytes()
        .any(|b| matches!(b, b'"' | b'\\' | b']' | b'\r' | b'\n' | 0))
    {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' | b']' => out.extend_from_slice(&[b'\\', b]),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

/// The characters JavaScript and many log viewers treat as line breaks although JSON allows
/// them raw inside strings: NEXT LINE (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH
/// SEPARATOR (U+2029). The payload encoders (JSON, CEF, LEEF) never emit them raw.
pub(crate) const UNICODE_LINE_BREAKS: [char; 3] = ['\u{85}', '\u{2028}', '\u{2029}'];

/// True when `s` may contain one of [`UNICODE_LINE_BREAKS`] (none is ASCII): a test
/// (word at a time) that lets almost every string be copied in one go.
pub(crate) fn may_have_unicode_line_break(s: &str) -> bool {
    !s.is_ascii()
}

/// serde_json's compact output, except that [`UNICODE_LINE_BREAKS`] inside strings are
/// written as `\u0085`, `\u2028`, `\u2029` (still the same JSON value).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JsonFormatter;

impl serde_json::ser::Formatter for JsonFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if !may_have_unicode_line_break(fragment) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(i) = rest.find(UNICODE_LINE_BREAKS) {
            writer.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            writer.write_all(match c {
                '\u{85}' => b"\\u0085",
                '\u{2028}' => b"\\u2028",
                _ => b"\\u2029",
            })?;
            rest = &rest[i + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// Appends JSON text as it came, with the same guarantees as [`write_json`]: no CR or LF (in
/// valid JSON they can only be whitespace between tokens, so they are dropped) and no raw
/// [`UNICODE_LINE_BREAKS`] (in valid JSON they can only be inside strings, so they are
/// escaped). Text that is ASCII without CR or LF, nearly every audit event, is copied in one
/// go. `text` must be valid JSON; anything else is copied with the same replacements.
pub(crate) fn write_json_text(out: &mut Vec<u8>, text: &[u8]) {
    if text.is_ascii() && memchr::memchr2(b'\n', b'\r', text).is_none() {
        out.extend_from_slice(text);
        return;
    }
    out.reserve(text.len());
    // Copy the runs between candidates: CR, LF and the lead bytes of U+0085 (C2 85) and
    // U+2028/2029 (E2 80 A8/A9).
    let mut rest = text;
    let mut next_c2 = memchr::memchr(0xC2, rest);
    loop {
        let other = memchr::memchr3(b'\n', b'\r', 0xE2, rest);
        let at = match (other, next_c2) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => {
                out.extend_from_slice(rest);
                return;
            }
        };
        out.extend_from_slice(&rest[..at]);
        let tail = &rest[at..];
        let (with, len): (&[u8], usize) = match tail {
            [b'\n' | b'\r', ..] => (b"", 1),
            [0xC2, 0x85, ..] => (b"\\u0085", 2),
            [0xE2, 0x80, 0xA8, ..] => (b"\\u2028", 3),
            [0xE2, 0x80, 0xA9, ..] => (b"\\u2029", 3),
            [b, ..] => (std::slice::from_ref(b), 1),
            [] => (b"", 1),
        };
        out.extend_from_slice(with);
        rest = rest.get(at + len..).unwrap_or_default();
        next_c2 = match next_c2 {
            Some(c2) if c2 >= at + len => Some(c2 - at - len),
            _ => memchr::memchr(0xC2, rest),
        };
    }
}

/// Writes `value` as compact JSON with [`JsonFormatter`].
pub(crate) fn write_json<W: std::io::Write>(writer: W, value: &serde_json::Value) {
    use serde::Serialize;
    let mut ser = serde_json::Serializer::with_formatter(writer, JsonFormatter);
    // A `Value` always serialises; the writers used here (Vec, counters) cannot fail.
    let _ = value.serialize(&mut ser);
}

/// Appends a header token (HOSTNAME, APP-NAME, MSGID, TAG): printable US-ASCII only
/// (`!`..=`~`), anything else replaced by `_`, cut to `max` characters; `-` (the NILVALUE)
/// when empty.
pub(crate) fn push_token(out: &mut Vec<u8>, s: &str, max: usize) {
    if is_token(s, max) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let start = out.len();
    for c in s.chars().take(max) {
        out.push(if c.is_ascii_graphic() { c as u8 } else { b'_' });
    }
    if out.len() == start {
        out.push(b'-');
    }
}

/// True when `s` is a valid header token of at most `max` printable US-ASCII characters.
pub(crate) fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

fn push_2(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

fn push_4(out: &mut Vec<u8>, n: i32) {
    let n = n.clamp(0, 9999) as u32;
    push_2(out, n / 100);
    push_2(out, n % 100);
}

/// RFC 3339 / RFC 5424 TIMESTAMP in UTC: milliseconds, or microseconds when the time
/// has them (RFC 5424 allows at most six fractional digits).
pub(crate) fn push_rfc3339(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    push_rfc3339_precision(out, t, false);
}

/// As [`push_rfc3339`] but always exactly milliseconds (for LEEF's fixed `devTimeFormat`).
pub(crate) fn push_rfc3339_millis(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    push_rfc3339_precision(out, t, true);
}

fn push_rfc3339_precision(out: &mut Vec<u8>, t: &DateTime<Utc>, millis_only: bool) {
    // Field accessors on a naive time are plain arithmetic; on DateTime each one
    // re-applies the offset.
    let t = &t.naive_utc();
    push_4(out, t.year());
    out.push(b'-');
    push_2(out, t.month());
    out.push(b'-');
    push_2(out, t.day());
    out.push(b'T');
    push_2(out, t.hour());
    out.push(b':');
    push_2(out, t.minute());
    out.push(b':');
    push_2(out, t.second());
    out.push(b'.');
    // A leap second shows as nanosecond >= 1e9 in chrono; clamp into the last ms.
    let nanos = t.nanosecond().min(999_999_999);
    if millis_only || nanos.is_multiple_of(1_000_000) {
        push_3(out, nanos / 1_000_000);
    } else {
        let micros = nanos / 1000;
        push_3(out, micros / 1000);
        push_3(out, micros % 1000);
    }
    out.push(b'Z');
}

fn push_3(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 100 % 10) as u8);
    push_2(out, n % 100);
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn push_month(out: &mut Vec<u8>, t: &NaiveDateTime) {
    let m = MONTHS.get(t.month0() as usize).copied().unwrap_or(b"Jan");
    out.extend_from_slice(m);
}

fn push_hms(out: &mut Vec<u8>, t: &NaiveDateTime) {
    push_2(out, t.hour());
    out.push(b':');
    push_2(out, t.minute());
    out.push(b':');
    push_2(out, t.second());
}

/// RFC 3164 TIMESTAMP `Mmm dd hh:mm:ss`: no year, day padded with a space (§4.1.2).
pub(crate) fn push_rfc3164(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    let t = &t.naive_utc();
    push_month(out, t);
    out.push(b' ');
    let d = t.day();
    out.push(if d < 10 { b' ' } else { b'0' + (d / 10) as u8 });
    out.push(b'0' + (d % 10) as u8);
    out.push(b' ');
    push_hms(out, t);
}

/// CEF/LEEF date `MMM dd yyyy HH:mm:ss.SSS UTC`: full date, milliseconds and zone.
pub(crate) fn push_cef_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    let t = &t.naive_utc();
    push_month(out, t);
    out.push(b' ');
    push_2(out, t.day());
    out.push(b' ');
    push_4(out, t.year());
    out.push(b' ');
    push_hms(out, t);
    out.push(b'.');
    push_3(out, t.nanosecond().min(999_999_999) / 1_000_000);
    out.extend_from_slice(b" UTC");
}

/// The value at a path of object keys. Unlike `Value::pointer`, allocates nothing
/// (this runs for every mapped field of every event).
pub(crate) fn at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

/// Decimal digits of `n`.
pub(crate) fn push_usize(out: &mut Vec<u8>, n: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn sd_values_escape_the_three_specials_and_line_breaks() {
        assert_eq!(s(|o| push_sd_value(o, r#"a"b\c]d"#)), r#"a\"b\\c\]d"#);
        assert_eq!(s(|o| push_sd_value(o, "x\r\n\0y")), r"x\r\n\0y");
        assert_eq!(s(|o| push_sd_value(o, "é[=")), "é[=");
    }

    #[test]
    fn tokens_are_printable_ascii_and_bounded() {
        assert_eq!(s(|o| push_token(o, "a b\nc", 48)), "a_b_c");
        assert_eq!(s(|o| push_token(o, "", 48)), "-");
        assert_eq!(s(|o| push_token(o, "héllo", 3)), "h_l");
        assert!(is_token("auditfwd", 48));
        assert!(!is_token("audit fwd", 48));
        assert!(!is_token("", 48));
    }

    #[test]
    fn timestamps() {
        let t: DateTime<Utc> = "2026-03-05T04:03:02.007Z".parse().unwrap();
        assert_eq!(s(|o| push_rfc3339(o, &t)), "2026-03-05T04:03:02.007Z");
        assert_eq!(s(|o| push_rfc3164(o, &t)), "Mar  5 04:03:02");
        assert_eq!(s(|o| push_cef_time(o, &t)), "Mar 05 2026 04:03:02.007 UTC");
        let t: DateTime<Utc> = "2026-12-25T23:59:59.123456789Z".parse().unwrap();
        assert_eq!(s(|o| push_rfc3339(o, &t)), "2026-12-25T23:59:59.123456Z");
        assert_eq!(s(|o| push_rfc3164(o, &t)), "Dec 25 23:59:59");
        let t: DateTime<Utc> = "2026-12-25T23:59:59Z".parse().unwrap();
        assert_eq!(s(|o| push_rfc3339(o, &t)), "2026-12-25T23:59:59.000Z");
    }

    #[test]
    fn numbers() {
        assert_eq!(s(|o| push_usize(o, 0)), "0");
        assert_eq!(s(|o| push_usize(o, 1_048_576)), "1048576");
    }
}
