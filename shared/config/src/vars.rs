//! Reading variables: each parse records a problem naming the variable instead of stopping,
//! so a user sees every mistake in one go.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One unusable variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable.
    pub variable: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order the variables are read.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

pub(crate) struct Vars {
    map: BTreeMap<String, String>,
    pub(crate) problems: Vec<Problem>,
}

impl Vars {
    pub(crate) fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Vars {
            map: vars.into_iter().collect(),
            problems: Vec::new(),
        }
    }

    /// The trimmed value; an empty value counts as unset.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn problem(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable: name.to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn required(&mut self, name: &str, what: &str) -> Option<String> {
        let v = self.get(name).map(str::to_owned);
        if v.is_none() {
            self.problem(name, format!("required: {what}"));
        }
        v
    }

    /// Parses `name` with `f` when set; a failure is recorded and gives `None`.
    pub(crate) fn parse<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.get(name)?.to_owned();
        match f(&raw) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem(name, message);
                None
            }
        }
    }

    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn duration(&mut self, name: &str, default: Duration) -> Duration {
        self.parse(name, parse_duration).unwrap_or(default)
    }

    pub(crate) fn boolean(&mut self, name: &str, default: bool) -> bool {
        self.parse(name, |v| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(format!("{v:?} is not a boolean (expected true or false)")),
        })
        .unwrap_or(default)
    }

    pub(crate) fn number<T: std::str::FromStr>(&mut self, name: &str, what: &str) -> Option<T> {
        self.parse(name, |v| {
            v.parse::<T>().map_err(|_| format!("{v:?} is not {what}"))
        })
    }
}

/// `90s`, `20m`, `1h30m`, `2d`, `500ms`, or `0`. A bare number is refused: the unit matters.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("20m"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["90", "m", "1x", "-1m", "1.5h", "1h 30m", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
