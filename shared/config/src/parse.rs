//! The parsers the table's entries name: each turns a variable's (trimmed, non-empty) text into
//! its type, or says what was wrong and what is expected. They never echo a value that could
//! be secret.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use auditfwd_checkpoint::{CheckpointLocation, StoreError};
use auditfwd_oci::{Endpoint, Ocid, Region};
use auditfwd_pipeline::compartments::CompartmentRule;
use auditfwd_pipeline::glob::Glob;
use auditfwd_pipeline::limits::TypeCap;
use secrecy::SecretString;

/// Any text.
pub(crate) fn text(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

/// A secret: wrapped at once, never echoed.
pub(crate) fn secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_owned()))
}

/// A file path.
pub(crate) fn path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

/// An OCID.
pub(crate) fn ocid(s: &str) -> Result<Ocid, String> {
    Ocid::parse(s).map_err(|e| e.to_string())
}

/// Regions (ids or keys), comma-separated; duplicates dropped, order kept.
pub(crate) fn regions(s: &str) -> Result<Vec<Region>, String> {
    let mut regions = Vec::new();
    let mut bad = Vec::new();
    for r in items(s) {
        match Region::parse(r) {
            Ok(region) if !regions.contains(&region) => regions.push(region),
            Ok(_) => {}
            Err(e) => bad.push(e.to_string()),
        }
    }
    if bad.is_empty() {
        Ok(regions)
    } else {
        Err(bad.join("; "))
    }
}

/// One region, an id or a key.
pub(crate) fn region(s: &str) -> Result<Region, String> {
    Region::parse(s.trim()).map_err(|e| e.to_string())
}

/// An endpoint base URL (`https://`, or `http://` to loopback only).
pub(crate) fn endpoint(s: &str) -> Result<Endpoint, String> {
    Endpoint::parse(s).map_err(|e| e.to_string())
}

fn items(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|i| !i.is_empty())
}

/// Compartment rules (OCIDs, names or paths), comma-separated.
pub(crate) fn compartments(s: &str) -> Result<Vec<CompartmentRule>, String> {
    Ok(items(s).map(CompartmentRule::new).collect())
}

/// Tenancy names, comma-separated, each once (also once as variable names: `a-b` and `A_B`
/// would share `AUDITFWD_TENANCY_A_B_`).
pub(crate) fn tenancy_names(s: &str) -> Result<Vec<crate::tenancy::TenancyName>, String> {
    let mut names: Vec<crate::tenancy::TenancyName> = Vec::new();
    for item in items(s) {
        let name = crate::tenancy::TenancyName::parse(item)?;
        if let Some(other) = names.iter().find(|n| n.prefix() == name.prefix()) {
            return Err(format!(
                "{name:?} and {other:?} would both be configured by {}…",
                name.prefix()
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// Log searches, `;`-separated, each `NAME[@REGION]=QUERY`; names once each.
pub(crate) fn log_searches(s: &str) -> Result<Vec<auditfwd_pipeline::LogSearch>, String> {
    let mut out: Vec<auditfwd_pipeline::LogSearch> = Vec::new();
    for entry in s.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((label, query)) = entry.split_once('=') else {
            return Err(format!(
                "{entry:?}: expected NAME[@REGION]=QUERY, e.g. flow=search \"<compartment>/<log group>\""
            ));
        };
        let (name, region) = match label.trim().split_once('@') {
            Some((n, r)) => (n.trim(), Some(r.trim())),
            None => (label.trim(), None),
        };
        let name = crate::tenancy::TenancyName::parse(name)
            .map_err(|e| format!("log search name {}", e.replace("tenancy name", "name")))?
            .as_str()
            .to_owned();
        let region = match region {
            Some(r) => Some(Region::parse(r).map_err(|e| e.to_string())?.id().to_owned()),
            None => None,
        };
        let query = query.trim();
        if query.is_empty() {
            return Err(format!("log search {name}: the query is empty"));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(format!("log search {name} is given twice"));
        }
        out.push(auditfwd_pipeline::LogSearch {
            name,
            query: query.to_owned(),
            region,
        });
    }
    Ok(out)
}

/// Wildcard patterns, comma-separated.
pub(crate) fn globs(s: &str) -> Result<Vec<Glob>, String> {
    Ok(items(s).map(Glob::new).collect())
}

/// Header names, comma-separated, compared without case.
pub(crate) fn headers(s: &str) -> Result<BTreeSet<String>, String> {
    Ok(items(s).map(str::to_ascii_lowercase).collect())
}

/// Per-event-type caps, `pattern=rate[:delay|:drop]`, comma-separated.
pub(crate) fn type_caps(s: &str) -> Result<Vec<TypeCap>, String> {
    items(s).map(TypeCap::parse).collect()
}

/// `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`).
pub(crate) fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean (expected true or false)")),
    }
}

/// A whole number from `MIN` to `MAX`.
pub(crate) fn count<const MIN: u64, const MAX: u64>(s: &str) -> Result<usize, String> {
    match s.parse::<u64>() {
        Ok(n) if (MIN..=MAX).contains(&n) => {
            usize::try_from(n).map_err(|_| format!("{n} is too large"))
        }
        _ => Err(format!("{s:?} is not a whole number from {MIN} to {MAX}")),
    }
}

/// A rate above 0, per second.
pub(crate) fn rate(s: &str) -> Result<NonZeroU32, String> {
    s.parse::<NonZeroU32>()
        .map_err(|_| format!("{s:?} is not a whole number above 0"))
}

/// `90s`, `20m`, `1h30m`, `2d`, `500ms`, or `0`. A bare number is refused: the unit matters.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (expected e.g. 90s, 20m, 1h30m, or 0)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(unit);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A duration from `MIN` to `MAX` seconds.
pub(crate) fn duration_within<const MIN: u64, const MAX: u64>(
    text: &str,
) -> Result<Duration, String> {
    let d = duration(text)?;
    if d < Duration::from_secs(MIN) || d > Duration::from_secs(MAX) {
        return Err(format!(
            "{text:?} is outside {}..{}",
            human(Duration::from_secs(MIN)),
            human(Duration::from_secs(MAX))
        ));
    }
    Ok(d)
}

/// A duration of whole minutes, from one minute to a day.
pub(crate) fn whole_minutes(text: &str) -> Result<Duration, String> {
    let d = duration_within::<60, 86_400>(text)?;
    if d.as_secs().is_multiple_of(60) && d.subsec_nanos() == 0 {
        Ok(d)
    } else {
        Err(format!(
            "{text:?} is not whole minutes (the Audit API works in minutes)"
        ))
    }
}

/// `host:port` (`127.0.0.1:9464`, `[::1]:9464`), or `off` for none.
pub(crate) fn listen(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse::<SocketAddr>().map(Some).map_err(|_| {
        format!(
            "{s:?} is not an address: expected host:port such as 127.0.0.1:9464 or [::1]:9464, or off"
        )
    })
}

/// One of `choices`, case-insensitive; returns it as written in `choices`.
pub(crate) fn choice(s: &str, choices: &[&'static str]) -> Result<&'static str, String> {
    choices
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("{s:?}: expected {}", choices.join(" or ")))
}

/// `text` or `json`.
pub(crate) fn log_format(s: &str) -> Result<String, String> {
    choice(s, &["text", "json"]).map(str::to_owned)
}

/// A checkpoint URL (the checkpoint crate's parser; its message names the variable already).
pub(crate) fn checkpoint(s: &str) -> Result<CheckpointLocation, String> {
    CheckpointLocation::parse(s).map_err(|e| match e {
        StoreError::InvalidUrl { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// A duration as the shortest text in the units `duration` reads (`30s`, `5m`, `24h`, `90d`).
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return "0".into();
    }
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s.is_multiple_of(len) {
            return format!("{}{unit}", s / len);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("20m"), Ok(Duration::from_secs(1200)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        for bad in ["90", "m", "1x", "-1m", "1.5h", "1h 30m", ""] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bounded_values_say_their_bounds() {
        assert_eq!(
            duration_within::<30, 86_400>("0"),
            Err("\"0\" is outside 30s..1d".into())
        );
        assert!(duration_within::<30, 86_400>("99999999999d").is_err());
        assert_eq!(
            duration_within::<30, 86_400>("24h"),
            Ok(Duration::from_secs(86_400))
        );
        assert_eq!(
            count::<1, 10>("0"),
            Err("\"0\" is not a whole number from 1 to 10".into())
        );
        assert_eq!(count::<1, 10>("10"), Ok(10));
        assert!(whole_minutes("90s").unwrap_err().contains("whole minutes"));
        assert_eq!(human(Duration::from_secs(5400)), "90m");
    }
}
