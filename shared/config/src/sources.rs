//! Where values come from: the process environment merged with an optional config file
//! (`NAME=value` lines, as in `.env.example`), remembering each value's source. The
//! environment wins over the file, so a deployment can override one value without editing it.
//!
//! A name the table does not know is a typo more often than not. In the file it is an error
//! (the file is auditfwd's alone); in the environment, which other programs share, it is a
//! warning ([`Sources::unknown`]). Both name the closest known variable.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::var::{ReadBy, Variable, variable, variables};

/// `AUDITFWD_*` variables read by the project's test harnesses and scripts, not by auditfwd:
/// never warned about.
pub const DEVELOPMENT_VARIABLES: [&str; 4] = [
    "AUDITFWD_BLESS",
    "AUDITFWD_CARGO_LAMBDA",
    "AUDITFWD_MOTO_SERVER",
    "AUDITFWD_OCI_CLI",
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Not set: the default applies.
    Default,
    /// The process environment.
    Environment,
    /// A config file.
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Environment => f.write_str("environment"),
            Source::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Unreadable.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not `NAME=value`, a comment or blank.
    #[error("config file {path} line {line}: expected NAME=value, a # comment or a blank line")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A name auditfwd does not read (most often a typo).
    #[error("config file {path} line {line}: {unknown} (see docs/configuration.md)")]
    Unknown {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The name, and the closest known one.
        unknown: Unknown,
    },
    /// A variable that only the environment may set.
    #[error("config file {path} line {line}: {name} can only be set in the environment")]
    EnvironmentOnly {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The name.
        name: String,
    },
}

impl FileError {
    /// Whether trying again can help: only a read error may be transient.
    pub fn is_retryable(&self) -> bool {
        matches!(self, FileError::Read { .. })
    }
}

/// A name that looks like auditfwd's but is not in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// The name as given.
    pub name: String,
    /// The known variable it is closest to, when one is close.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.suggestion == Some(TENANCIES_NAME) {
            return write!(
                f,
                "{} is a per-tenancy variable of a tenancy {TENANCIES_NAME} does not name",
                self.name
            );
        }
        write!(f, "{} is not an auditfwd variable", self.name)?;
        match self.suggestion {
            Some(s) => write!(f, "; did you mean {s}?"),
            None => Ok(()),
        }
    }
}

impl Unknown {
    /// `Some` when `name` is not a table variable: the name and the closest known one.
    pub fn check(name: &str) -> Option<Unknown> {
        if variable(name).is_some() || per_tenancy(name).is_some() {
            return None;
        }
        Some(Unknown {
            name: name.to_owned(),
            suggestion: closest(name),
        })
    }
}

const TENANCIES_NAME: &str = crate::table::TENANCIES.name();

/// `AUDITFWD_TENANCY_<NAME>_<rest>` where `AUDITFWD_<rest>` may be given per tenancy: the
/// tenancy part of the name (`<NAME>`) and that variable.
pub fn per_tenancy(name: &str) -> Option<(&str, &'static Variable)> {
    let rest = name.strip_prefix("AUDITFWD_TENANCY_")?;
    // The tenancy part may hold `_`: try every split.
    rest.match_indices('_').find_map(|(i, _)| {
        let v = variable(&format!("AUDITFWD_{}", &rest[i + 1..]))?;
        (i > 0 && v.per_tenancy()).then(|| (&rest[..i], v))
    })
}

/// The known variable closest to `name` in edit distance, if it is close enough to be a typo
/// (at most a quarter of the name's length, and at least two edits allowed).
fn closest(name: &str) -> Option<&'static str> {
    let limit = (name.len() / 4).max(2);
    variables()
        .iter()
        .map(|v| (edit_distance(name, v.name), v.name))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
/// of neighbours each cost one (the typos people make).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The variables auditfwd parses, and where each came from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    values: BTreeMap<String, (String, Source)>,
}

impl Sources {
    /// The environment alone.
    pub fn from_env(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut s = Sources::default();
        for (k, v) in env {
            s.values.insert(k, (v, Source::Environment));
        }
        s
    }

    /// Adds the `AUDITFWD_*` lines of a config file for every variable the environment does
    /// not set. Values may be quoted ('…' or "…"); a `#` after whitespace starts a comment.
    pub fn with_file(mut self, path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: path.to_owned(),
            source,
        })?;
        for (name, value) in parse_file(&text, path)? {
            let set_in_env = self
                .values
                .get(&name)
                .is_some_and(|(v, _)| !v.trim().is_empty());
            if !set_in_env {
                self.values
                    .insert(name, (value, Source::File(path.to_owned())));
            }
        }
        Ok(self)
    }

    /// The (name, value) pairs, for [`crate::Config::from_vars`].
    pub fn vars(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// One value, trimmed; empty counts as unset (the logging set-up reads through this, so
    /// `AUDITFWD_LOG` works from the file too).
    pub fn get(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .map(|(v, _)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Replaces a value (a secret fetched at start-up), keeping its source.
    pub fn set(&mut self, name: &str, value: String) {
        let source = self
            .values
            .get(name)
            .map_or(Source::Environment, |(_, s)| s.clone());
        self.values.insert(name.to_owned(), (value, source));
    }

    /// The `AUDITFWD_*` names in the environment the table does not know (the file refuses
    /// them when read), each with the closest known name: for a warning.
    pub fn unknown(&self) -> Vec<Unknown> {
        self.values
            .iter()
            .filter(|(name, (value, source))| {
                name.starts_with("AUDITFWD_")
                    && *source == Source::Environment
                    && !value.trim().is_empty()
                    && !DEVELOPMENT_VARIABLES.contains(&name.as_str())
            })
            .filter_map(|(name, _)| Unknown::check(name).or_else(|| self.of_unnamed_tenancy(name)))
            .collect()
    }

    /// A per-tenancy variable whose tenancy `AUDITFWD_TENANCIES` does not name (a typo in
    /// the tenancy part would otherwise go unnoticed).
    fn of_unnamed_tenancy(&self, name: &str) -> Option<Unknown> {
        let (tenancy, _) = per_tenancy(name)?;
        let named = self
            .get(TENANCIES_NAME)
            .and_then(|t| crate::parse::tenancy_names(&t).ok())
            .unwrap_or_default();
        let known = named
            .iter()
            .any(|n| n.prefix() == format!("AUDITFWD_TENANCY_{tenancy}_"));
        (!known).then(|| Unknown {
            name: name.to_owned(),
            suggestion: Some(TENANCIES_NAME),
        })
    }

    /// A copy in which every secret given in another form (`_KMS`, `_SECRET_ARN`,
    /// `_SSM_PARAMETER`) and not yet fetched has a placeholder value, so the rest of the
    /// configuration can be checked without calling AWS (`auditfwd config`).
    pub fn with_placeholder_secrets(&self) -> Sources {
        let mut out = self.clone();
        for v in variables() {
            if let Some((plain, _)) = v.form_of()
                && self.get(v.name).is_some()
                && self.get(plain).is_none()
            {
                out.set(plain, "<fetched at start-up>".to_owned());
            }
        }
        for name in self.values.keys() {
            if let Some((_, v)) = per_tenancy(name)
                && let Some((_, form)) = v.form_of()
                && let Some(plain) = name.strip_suffix(form.suffix())
                && self.get(name).is_some()
                && self.get(plain).is_none()
            {
                out.set(plain, "<fetched at start-up>".to_owned());
            }
        }
        out
    }

    /// One line per variable of the reference: name, value (secrets redacted, and any user or
    /// password in a URL) and source.
    pub fn effective(&self) -> Vec<Effective> {
        variables()
            .iter()
            .map(|v| {
                let set = self
                    .values
                    .get(v.name)
                    .filter(|(value, _)| !value.trim().is_empty());
                let (value, source) = match set {
                    Some((_, source)) if v.secret() => ("<redacted>".to_owned(), source.clone()),
                    Some((value, source)) => (redact_userinfo(value.trim()), source.clone()),
                    None => (v.default.unwrap_or_default().to_owned(), Source::Default),
                };
                let problem = match set {
                    Some((value, _)) if v.read_by() != ReadBy::Secrets => {
                        v.check(value.trim()).err().map(|e| {
                            if v.secret() {
                                "not usable".to_owned()
                            } else {
                                e
                            }
                        })
                    }
                    _ => None,
                };
                Effective {
                    name: v.name.to_owned(),
                    variable: v,
                    value,
                    source,
                    problem,
                }
            })
            .chain(self.per_tenancy_rows())
            .collect()
    }

    /// The per-tenancy variables that are set, each after its group's shared ones would be
    /// confusing in a long list: they come last, in name order, secrets redacted.
    fn per_tenancy_rows(&self) -> impl Iterator<Item = Effective> + '_ {
        self.values.iter().filter_map(|(name, (value, source))| {
            let (_, v) = per_tenancy(name)?;
            if value.trim().is_empty() {
                return None;
            }
            let shown = if v.secret() {
                "<redacted>".to_owned()
            } else {
                redact_userinfo(value.trim())
            };
            let problem = (v.read_by() != ReadBy::Secrets)
                .then(|| v.check(value.trim()).err())
                .flatten()
                .map(|e| {
                    if v.secret() {
                        "not usable".to_owned()
                    } else {
                        e
                    }
                });
            Some(Effective {
                name: name.clone(),
                variable: v,
                value: shown,
                source: source.clone(),
                problem,
            })
        })
    }
}

/// `scheme://user:password@host…` with the user and password replaced; anything else as is.
fn redact_userinfo(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("<redacted>");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => value.to_owned(),
    }
}

/// A variable's effective value.
#[derive(Debug, Clone)]
pub struct Effective {
    /// Its name: the table variable's, or a tenancy's own (`AUDITFWD_TENANCY_<NAME>_…`).
    pub name: String,
    /// Which table variable it is (for a tenancy's own, the shared one it stands for).
    pub variable: &'static Variable,
    /// Its value (`<redacted>` for a set secret; the default text when unset).
    pub value: String,
    /// Where it came from.
    pub source: Source,
    /// What its parser says is wrong with it (for a secret, only that it is unusable).
    pub problem: Option<String>,
}

fn parse_file(text: &str, path: &Path) -> Result<Vec<(String, String)>, FileError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(FileError::Syntax {
                path: path.to_owned(),
                line: i + 1,
            });
        };
        let name = name.trim();
        if let Some(unknown) = Unknown::check(name) {
            return Err(FileError::Unknown {
                path: path.to_owned(),
                line: i + 1,
                unknown,
            });
        }
        if variable(name).is_some_and(|v| v.read_by() == ReadBy::Command) {
            return Err(FileError::EnvironmentOnly {
                path: path.to_owned(),
                line: i + 1,
                name: name.to_owned(),
            });
        }
        let value = value.trim();
        let value = if let Some(q) = value
            .strip_prefix('"')
            .and_then(|v| v.split_once('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.split_once('\'')))
        {
            q.0.to_owned()
        } else {
            // An unquoted value ends at a comment.
            let end = value
                .char_indices()
                .find(|&(j, c)| c == '#' && value[..j].ends_with(char::is_whitespace))
                .map_or(value.len(), |(j, _)| j);
            value[..end].trim().to_owned()
        };
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_environment_wins_over_the_file_and_secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auditfwd.env");
        std::fs::write(
            &file,
            "# comment\nAUDITFWD_INTERVAL=10m   # every ten minutes\nAUDITFWD_CONCURRENCY=\"8\"\nexport AUDITFWD_OCI_KEY_PASSPHRASE='hunter2'\nAUDITFWD_LOG=debug\nAUDITFWD_LOG_FORMAT=json\n",
        )
        .unwrap();
        let env = vec![("AUDITFWD_INTERVAL".to_owned(), "1m".to_owned())];
        let s = Sources::from_env(env).with_file(&file).unwrap();
        let eff = s.effective();
        let get = |n: &str| eff.iter().find(|e| e.variable.name == n).unwrap().clone();
        assert_eq!(get("AUDITFWD_INTERVAL").value, "1m");
        assert_eq!(get("AUDITFWD_INTERVAL").source, Source::Environment);
        assert_eq!(get("AUDITFWD_CONCURRENCY").value, "8");
        assert_eq!(
            get("AUDITFWD_CONCURRENCY").source,
            Source::File(file.clone())
        );
        assert_eq!(get("AUDITFWD_OCI_KEY_PASSPHRASE").value, "<redacted>");
        assert_eq!(get("AUDITFWD_MAX_WINDOW").value, "10m");
        assert_eq!(get("AUDITFWD_MAX_WINDOW").source, Source::Default);
        let vars = s.vars();
        assert!(vars.contains(&("AUDITFWD_OCI_KEY_PASSPHRASE".into(), "hunter2".into())));
        assert!(vars.contains(&("AUDITFWD_INTERVAL".into(), "1m".into())));
        // The logging variables are accepted in the file, and read through `get`.
        assert_eq!(s.get("AUDITFWD_LOG").as_deref(), Some("debug"));
        assert_eq!(s.get("AUDITFWD_LOG_FORMAT").as_deref(), Some("json"));
    }

    #[test]
    fn a_typo_in_the_file_is_an_error_naming_the_line_and_the_closest_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.env");
        std::fs::write(&file, "AUDITFWD_INTERVAL=5m\nAUDITFWD_INTERVALL=6m\n").unwrap();
        let e = Sources::default().with_file(&file).unwrap_err().to_string();
        assert!(
            e.contains("line 2")
                && e.contains("AUDITFWD_INTERVALL is not an auditfwd variable; did you mean AUDITFWD_INTERVAL?"),
            "{e}"
        );
        std::fs::write(&file, "just words\n").unwrap();
        let e = Sources::default().with_file(&file).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        std::fs::write(&file, "AUDITFWD_CONFIG_FILE=/etc/other\n").unwrap();
        let e = Sources::default().with_file(&file).unwrap_err();
        assert!(matches!(e, FileError::EnvironmentOnly { .. }), "{e}");
    }

    #[test]
    fn a_tenancys_own_variables_are_known_shown_redacted_and_a_wrong_tenancy_is_named() {
        let s = Sources::from_env(
            [
                ("AUDITFWD_TENANCIES", "acme,globex-eu"),
                (
                    "AUDITFWD_TENANCY_ACME_OCI_KEY",
                    "-----BEGIN PRIVATE KEY-----hunter2",
                ),
                ("AUDITFWD_TENANCY_GLOBEX_EU_OCI_REGIONS", "eu-frankfurt-1"),
                (
                    "AUDITFWD_TENANCY_GLOBEX_EU_OCI_KEY_SSM_PARAMETER",
                    "/globex/key",
                ),
                // A typo in the tenancy part, and a variable that is never per tenancy.
                ("AUDITFWD_TENANCY_ACEM_OCI_USER", "ocid1.user.oc1..x"),
                ("AUDITFWD_TENANCY_ACME_SYSLOG_URL", "tcp://127.0.0.1:514"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let unknown: Vec<String> = s.unknown().iter().map(ToString::to_string).collect();
        assert_eq!(unknown.len(), 2, "{unknown:?}");
        assert!(
            unknown[0].contains("AUDITFWD_TENANCY_ACEM_OCI_USER")
                && unknown[0].contains("a tenancy AUDITFWD_TENANCIES does not name"),
            "{unknown:?}"
        );
        assert!(
            unknown[1].starts_with("AUDITFWD_TENANCY_ACME_SYSLOG_URL is not an auditfwd variable"),
            "{unknown:?}"
        );
        let rows = s.effective();
        let row = |name: &str| {
            rows.iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("no row {name}"))
        };
        assert_eq!(row("AUDITFWD_TENANCY_ACME_OCI_KEY").value, "<redacted>");
        assert_eq!(
            row("AUDITFWD_TENANCY_GLOBEX_EU_OCI_REGIONS").variable.name,
            "AUDITFWD_OCI_REGIONS"
        );
        assert!(!format!("{rows:?}").contains("hunter2"));
        // `auditfwd config` checks the rest without fetching: the SSM form stands in.
        let placeholders = s.with_placeholder_secrets();
        assert!(
            placeholders
                .get("AUDITFWD_TENANCY_GLOBEX_EU_OCI_KEY")
                .is_some()
        );
    }

    #[test]
    fn an_unknown_variable_in_the_environment_is_named_with_the_closest_known_one() {
        let s = Sources::from_env(
            [
                ("AUDITFWD_FAN_OUT_TRESHOLD", "5"),
                ("AUDITFWD_INTERVAL", "5m"),
                ("AUDITFWD_OCI_KEY_SECRET_ARN", "arn:aws:secretsmanager:x"),
                ("AUDITFWD_SOMETHING_ELSE_ENTIRELY", "1"),
                ("AUDITFWD_MOTO_SERVER", "/usr/bin/moto_server"),
                ("AUDITFWD_EMPTY_TYPO", ""),
                ("HOME", "/root"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let unknown = s.unknown();
        assert_eq!(
            unknown,
            [
                Unknown {
                    name: "AUDITFWD_FAN_OUT_TRESHOLD".into(),
                    suggestion: Some("AUDITFWD_FAN_OUT_THRESHOLD"),
                },
                Unknown {
                    name: "AUDITFWD_SOMETHING_ELSE_ENTIRELY".into(),
                    suggestion: None,
                },
            ]
        );
        assert_eq!(
            unknown[0].to_string(),
            "AUDITFWD_FAN_OUT_TRESHOLD is not an auditfwd variable; did you mean AUDITFWD_FAN_OUT_THRESHOLD?"
        );
        assert_eq!(
            Unknown::check("AUDITFWD_OCI_KY_KMS").unwrap().suggestion,
            Some("AUDITFWD_OCI_KEY_KMS")
        );
        assert_eq!(
            Unknown::check("AUDITFWD_SYSLOG_TLS_KEY_SSM_PARAMETR")
                .unwrap()
                .suggestion,
            Some("AUDITFWD_SYSLOG_TLS_KEY_SSM_PARAMETER")
        );
    }

    #[test]
    fn config_never_shows_a_password_in_a_url() {
        let s = Sources::from_env(
            [
                ("AUDITFWD_SYSLOG_URL", "relp://admin:hunter2@siem:2514"),
                ("AUDITFWD_WORK_QUEUE_URL", "https://sqs.example/123/q"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let eff = s.effective();
        let row = eff
            .iter()
            .find(|e| e.variable.name == "AUDITFWD_SYSLOG_URL")
            .unwrap();
        assert!(
            !row.value.contains("hunter2") && !row.value.contains("admin"),
            "{row:?}"
        );
        assert!(
            row.problem.as_deref().unwrap().contains("user or password"),
            "{row:?}"
        );
        assert!(
            eff.iter().all(|e| !format!("{e:?}").contains("hunter2")),
            "a password leaked"
        );
    }
}
