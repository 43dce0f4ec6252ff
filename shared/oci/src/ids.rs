//! Identifiers and time windows that cannot hold an invalid value ("parse, don't validate").

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Oracle Cloud ID: `ocid1.<type>.<realm>.[region][.future].<unique>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ocid(String);

/// Why a string is not an OCID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an OCID ({reason}); expected ocid1.<type>.<realm>.[region].<unique id>")]
pub struct InvalidOcid {
    value: String,
    reason: &'static str,
}

impl Ocid {
    /// Parses and checks the shape of an OCID.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidOcid> {
        let value = value.into();
        let fail = |reason| {
            Err(InvalidOcid {
                value: value.clone(),
                reason,
            })
        };
        if value.len() > 255 {
            return fail("longer than 255 characters");
        }
        if !value.starts_with("ocid1.") {
            return fail("does not start with \"ocid1.\"");
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return fail("contains characters other than letters, digits, '.', '-', '_'");
        }
        let parts: Vec<&str> = value.split('.').collect();
        if parts.len() < 5 || parts[1].is_empty() || parts[2].is_empty() {
            return fail("too few dot-separated parts");
        }
        if parts.last().is_none_or(|p| p.is_empty()) {
            return fail("empty unique id");
        }
        Ok(Ocid(value))
    }

    /// The OCID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The resource type part, e.g. `tenancy`, `compartment`, `user`.
    pub fn resource_type(&self) -> &str {
        self.0.split('.').nth(1).unwrap_or_default()
    }
}

impl fmt::Display for Ocid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Ocid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ocid({})", self.0)
    }
}

impl FromStr for Ocid {
    type Err = InvalidOcid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ocid::parse(s)
    }
}

impl AsRef<str> for Ocid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Ocid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Ocid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ocid::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A UTC instant with zero seconds and zero sub-seconds: the only kind of bound the Audit
/// API accepts for `startTime` / `endTime`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinuteTimestamp(DateTime<Utc>);

/// Why a time cannot be a window bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The time has non-zero seconds or sub-seconds.
    #[error("{0} is not on a whole minute (the Audit API needs seconds and milliseconds to be 0)")]
    NotMinuteAligned(String),
    /// The text is not an RFC 3339 time.
    #[error("{value:?} is not an RFC 3339 time: {reason}")]
    Unparsable {
        /// The text.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A window whose end is not after its start.
    #[error("empty window: end {end} is not after start {start}")]
    EmptyWindow {
        /// Start bound.
        start: MinuteTimestamp,
        /// End bound.
        end: MinuteTimestamp,
    },
    /// Arithmetic left chrono's range.
    #[error("time out of range")]
    OutOfRange,
}

impl MinuteTimestamp {
    /// Accepts `t` only when it is exactly on a minute.
    pub fn new(t: DateTime<Utc>) -> Result<Self, TimeError> {
        if t.second() != 0 || t.nanosecond() != 0 {
            return Err(TimeError::NotMinuteAligned(
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ));
        }
        Ok(MinuteTimestamp(t))
    }

    /// The minute that contains `t` (rounds down).
    pub fn floor(t: DateTime<Utc>) -> Self {
        // duration_trunc only fails for out-of-range values, which a DateTime<Utc> is not
        // for a one-minute step; fall back to manual truncation all the same.
        match t.duration_trunc(ChronoDuration::minutes(1)) {
            Ok(m) => MinuteTimestamp(m),
            Err(_) => MinuteTimestamp(
                t.with_nanosecond(0)
                    .and_then(|t| t.with_second(0))
                    .unwrap_or(t),
            ),
        }
    }

    /// Parses an RFC 3339 time that must be on a whole minute.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let t = DateTime::parse_from_rfc3339(s).map_err(|e| TimeError::Unparsable {
            value: s.to_owned(),
            reason: e.to_string(),
        })?;
        Self::new(t.with_timezone(&Utc))
    }

    /// The instant.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// `n` minutes later (earlier when negative).
    pub fn plus_minutes(&self, n: i64) -> Result<Self, TimeError> {
        ChronoDuration::try_minutes(n)
            .and_then(|d| self.0.checked_add_signed(d))
            .map(MinuteTimestamp)
            .ok_or(TimeError::OutOfRange)
    }

    /// RFC 3339 as the Audit API wants it: `2026-11-22T14:05:00Z`.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

impl fmt::Display for MinuteTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for MinuteTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MinuteTimestamp({})", self.to_rfc3339())
    }
}

impl TryFrom<DateTime<Utc>> for MinuteTimestamp {
    type Error = TimeError;
    fn try_from(t: DateTime<Utc>) -> Result<Self, TimeError> {
        Self::new(t)
    }
}

impl From<MinuteTimestamp> for DateTime<Utc> {
    fn from(m: MinuteTimestamp) -> Self {
        m.0
    }
}

impl Serialize for MinuteTimestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for MinuteTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MinuteTimestamp::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A half-open, minute-aligned, non-empty time range `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "WindowRepr", into = "WindowRepr")]
pub struct Window {
    start: MinuteTimestamp,
    end: MinuteTimestamp,
}

#[derive(Serialize, Deserialize)]
struct WindowRepr {
    start: MinuteTimestamp,
    end: MinuteTimestamp,
}

impl TryFrom<WindowRepr> for Window {
    type Error = TimeError;
    fn try_from(r: WindowRepr) -> Result<Self, TimeError> {
        Window::new(r.start, r.end)
    }
}

impl From<Window> for WindowRepr {
    fn from(w: Window) -> Self {
        WindowRepr {
            start: w.start,
            end: w.end,
        }
    }
}

impl Window {
    /// A window from `start` (inclusive) to `end` (exclusive); `end` must be after `start`.
    pub fn new(start: MinuteTimestamp, end: MinuteTimestamp) -> Result<Self, TimeError> {
        if end <= start {
            return Err(TimeError::EmptyWindow { start, end });
        }
        Ok(Window { start, end })
    }

    /// A window from two RFC 3339 texts, each on a whole minute.
    pub fn parse(start: &str, end: &str) -> Result<Self, TimeError> {
        Self::new(MinuteTimestamp::parse(start)?, MinuteTimestamp::parse(end)?)
    }

    /// A window from two instants, each on a whole minute.
    pub fn from_datetimes(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, TimeError> {
        Self::new(MinuteTimestamp::new(start)?, MinuteTimestamp::new(end)?)
    }

    /// Inclusive start.
    pub fn start(&self) -> MinuteTimestamp {
        self.start
    }

    /// Exclusive end.
    pub fn end(&self) -> MinuteTimestamp {
        self.end
    }

    /// Length in whole minutes (at least 1).
    pub fn minutes(&self) -> i64 {
        (self.end.0 - self.start.0).num_minutes()
    }

    /// Whether `t` falls inside `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start.0 <= t && t < self.end.0
    }

    /// Whether `other` lies wholly inside this window.
    pub fn contains_window(&self, other: &Window) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Consecutive sub-windows of at most `max_minutes` each, covering this window exactly.
    pub fn split(&self, max_minutes: u32) -> Vec<Window> {
        let step = i64::from(max_minutes.max(1));
        let mut out = Vec::new();
        let mut start = self.start;
        while start < self.end {
            let end = start
                .plus_minutes(step)
                .map_or(self.end, |e| e.min(self.end));
            out.push(Window { start, end });
            start = end;
        }
        out
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Window{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ocid_accepts_real_shapes_and_rejects_typos() {
        for ok in [
            "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq",
            "ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q",
        ] {
            assert_eq!(Ocid::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            Ocid::parse("ocid1.tenancy.oc1..aaaa")
                .unwrap()
                .resource_type(),
            "tenancy"
        );
        for bad in [
            "",
            "mytenancy",
            "ocid1.tenancy",
            "ocid1.tenancy.oc1..",
            "ocid1.a.b. .c",
            "ocid2.x.y..z",
        ] {
            let err = Ocid::parse(bad).unwrap_err();
            assert!(err.to_string().contains("is not an OCID"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_window_with_seconds_cannot_be_built() {
        assert!(matches!(
            Window::parse("2026-11-22T10:00:30Z", "2026-11-22T10:05:00Z"),
            Err(TimeError::NotMinuteAligned(_))
        ));
        assert!(matches!(
            Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:05:00.001Z"),
            Err(TimeError::NotMinuteAligned(_))
        ));
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 1).unwrap();
        assert!(MinuteTimestamp::new(t).is_err());
        assert!(MinuteTimestamp::try_from(t).is_err());
        // serde goes through the same check
        let json = r#"{"start":"2026-11-22T10:00:00Z","end":"2026-11-22T10:00:59Z"}"#;
        assert!(serde_json::from_str::<Window>(json).is_err());
    }

    #[test]
    fn windows_are_non_empty_and_render_as_the_api_wants() {
        let w = Window::parse("2026-11-22T10:00:00+01:00", "2026-11-22T09:05:00Z").unwrap();
        assert_eq!(w.start().to_rfc3339(), "2026-11-22T09:00:00Z");
        assert_eq!(w.minutes(), 5);
        assert!(matches!(
            Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            Err(TimeError::EmptyWindow { .. })
        ));
        let back: Window = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back, w);
    }

    #[test]
    fn floor_and_split_cover_exactly() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 10, 7, 59).unwrap();
        assert_eq!(
            MinuteTimestamp::floor(t).to_rfc3339(),
            "2026-11-22T10:07:00Z"
        );
        let w = Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:25:00Z").unwrap();
        let parts = w.split(10);
        assert_eq!(
            parts.iter().map(Window::minutes).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        assert_eq!(parts[0].start(), w.start());
        assert_eq!(parts[2].end(), w.end());
        assert!(parts.windows(2).all(|p| p[0].end() == p[1].start()));
        assert!(w.contains(w.start().as_datetime()));
        assert!(!w.contains(w.end().as_datetime()));
    }
}
