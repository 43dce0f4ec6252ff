//! Every variable auditfwd reads, with its default and whether it is secret: the source of
//! `auditfwd config`, of `docs/configuration.md` (a test regenerates and compares it), and of
//! the checks that `.env.example` and the parser never drift from it (a test reads this
//! crate's sources and fails on any `AUDITFWD_*` name the table does not list).
//!
//! [`Sources`] merges the process environment with an optional config file (`KEY=value`
//! lines, as in `.env.example`) and remembers where each value came from.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One configuration variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Section in the reference.
    pub group: &'static str,
    /// The default, as text (`""`: none; see `summary`).
    pub default: &'static str,
    /// Never printed: only whether it is set.
    pub secret: bool,
    /// What it does.
    pub summary: &'static str,
}

const fn var(
    name: &'static str,
    group: &'static str,
    default: &'static str,
    secret: bool,
    summary: &'static str,
) -> Variable {
    Variable {
        name,
        group,
        default,
        secret,
        summary,
    }
}

const OCI: &str = "OCI";
const COMP: &str = "Compartments";
const SYSLOG: &str = "Syslog destination";
const CKPT: &str = "Checkpoint";
const WIN: &str = "Windows";
const FILTER: &str = "Filters and scrubbing";
const LIMITS: &str = "Limits";
const DAEMON: &str = "The auditfwd run daemon";
const LAMBDA: &str = "Lambda fan-out";

/// Every variable, in reference order (see [`variables`]).
const TABLE: &[Variable] = &[
    var(
        "AUDITFWD_OCI_TENANCY",
        OCI,
        "",
        false,
        "Tenancy OCID (required unless AUDITFWD_OCI_CONFIG_FILE is used).",
    ),
    var(
        "AUDITFWD_OCI_USER",
        OCI,
        "",
        false,
        "OCID of the user the API key belongs to.",
    ),
    var(
        "AUDITFWD_OCI_FINGERPRINT",
        OCI,
        "",
        false,
        "Key fingerprint; when set it must match the key.",
    ),
    var(
        "AUDITFWD_OCI_KEY_FILE",
        OCI,
        "",
        false,
        "Path of the PEM private key (or AUDITFWD_OCI_KEY, never both).",
    ),
    var(
        "AUDITFWD_OCI_KEY",
        OCI,
        "",
        true,
        "The PEM private key itself.",
    ),
    var(
        "AUDITFWD_OCI_KEY_KMS",
        OCI,
        "",
        true,
        "AUDITFWD_OCI_KEY as base64 AWS KMS ciphertext, decrypted at start-up.",
    ),
    var(
        "AUDITFWD_OCI_KEY_PASSPHRASE",
        OCI,
        "",
        true,
        "Passphrase of an encrypted key.",
    ),
    var(
        "AUDITFWD_OCI_KEY_PASSPHRASE_KMS",
        OCI,
        "",
        true,
        "The passphrase as KMS ciphertext.",
    ),
    var(
        "AUDITFWD_OCI_CONFIG_FILE",
        OCI,
        "",
        false,
        "An OCI CLI config file to take credentials from instead of the variables above.",
    ),
    var(
        "AUDITFWD_OCI_PROFILE",
        OCI,
        "DEFAULT",
        false,
        "Profile in AUDITFWD_OCI_CONFIG_FILE.",
    ),
    var(
        "AUDITFWD_OCI_REGIONS",
        OCI,
        "",
        false,
        "Regions to collect, ids or keys, comma-separated (required).",
    ),
    var(
        "AUDITFWD_OCI_AUDIT_ENDPOINT",
        OCI,
        "",
        false,
        "Audit API endpoint override (https://, or http:// to loopback only).",
    ),
    var(
        "AUDITFWD_OCI_IDENTITY_ENDPOINT",
        OCI,
        "",
        false,
        "Identity API endpoint override.",
    ),
    var(
        "AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT",
        OCI,
        "",
        false,
        "Object Storage endpoint override.",
    ),
    var(
        "AUDITFWD_COMPARTMENTS_INCLUDE",
        COMP,
        "",
        false,
        "Compartments to collect (OCIDs, names or paths, each with its subtree); empty: the whole tenancy.",
    ),
    var(
        "AUDITFWD_COMPARTMENTS_EXCLUDE",
        COMP,
        "",
        false,
        "Compartments never collected, with their subtrees.",
    ),
    var(
        "AUDITFWD_SYSLOG_URL",
        SYSLOG,
        "",
        false,
        "udp://, tcp://, tls://, relp:// or relp+tls://host:port (required).",
    ),
    var(
        "AUDITFWD_SYSLOG_PROFILE",
        SYSLOG,
        "",
        false,
        "Receiver profile: rsyslog, syslog-ng, qradar, arcsight, splunk.",
    ),
    var(
        "AUDITFWD_SYSLOG_FORMAT",
        SYSLOG,
        "rfc5424",
        false,
        "rfc5424 or rfc3164 (a profile's default wins when unset).",
    ),
    var(
        "AUDITFWD_SYSLOG_PAYLOAD",
        SYSLOG,
        "json",
        false,
        "json, cef or leef.",
    ),
    var(
        "AUDITFWD_SYSLOG_FRAMING",
        SYSLOG,
        "octet-counting",
        false,
        "octet-counting or lf (tcp:// and tls:// only).",
    ),
    var(
        "AUDITFWD_SYSLOG_FACILITY",
        SYSLOG,
        "local0",
        false,
        "Syslog facility.",
    ),
    var(
        "AUDITFWD_SYSLOG_HOSTNAME",
        SYSLOG,
        "auditfwd",
        false,
        "HOSTNAME field.",
    ),
    var(
        "AUDITFWD_SYSLOG_APP_NAME",
        SYSLOG,
        "auditfwd",
        false,
        "APP-NAME field.",
    ),
    var(
        "AUDITFWD_SYSLOG_MAX_MESSAGE_SIZE",
        SYSLOG,
        "",
        false,
        "Largest whole syslog message in bytes (header, structured data and payload); default 8096 on streams (what a stock rsyslog accepts), 2048 on UDP, or the profile's.",
    ),
    var(
        "AUDITFWD_SYSLOG_RELP_WINDOW",
        SYSLOG,
        "128",
        false,
        "RELP messages in flight before waiting for acknowledgements.",
    ),
    var(
        "AUDITFWD_SYSLOG_TLS_CA",
        SYSLOG,
        "",
        false,
        "CA bundle (file path or PEM text); default: the system store.",
    ),
    var(
        "AUDITFWD_SYSLOG_TLS_CERT",
        SYSLOG,
        "",
        false,
        "Client certificate for mutual TLS (path or PEM).",
    ),
    var(
        "AUDITFWD_SYSLOG_TLS_KEY",
        SYSLOG,
        "",
        true,
        "Client key for mutual TLS (path or PEM).",
    ),
    var(
        "AUDITFWD_SYSLOG_TLS_KEY_KMS",
        SYSLOG,
        "",
        true,
        "The client key as KMS ciphertext.",
    ),
    var(
        "AUDITFWD_SYSLOG_TLS_SERVER_NAME",
        SYSLOG,
        "",
        false,
        "Name the server certificate must carry; default: the URL's host.",
    ),
    var(
        "AUDITFWD_CHECKPOINT_URL",
        CKPT,
        "",
        false,
        "file:///dir, s3://bucket/prefix or oci://namespace/bucket/prefix (required).",
    ),
    var(
        "AUDITFWD_S3_FORCE_PATH_STYLE",
        CKPT,
        "false",
        false,
        "Path-style S3 addressing, for S3-compatible stores.",
    ),
    var(
        "AUDITFWD_FRESH_LAG",
        WIN,
        "1m",
        false,
        "Wait after a minute ends before its first listing.",
    ),
    var(
        "AUDITFWD_SETTLE_LAG",
        WIN,
        "20m",
        false,
        "List each window again this long after it ends (0: never).",
    ),
    var(
        "AUDITFWD_INITIAL_LOOKBACK",
        WIN,
        "1h",
        false,
        "Where a compartment seen for the first time starts.",
    ),
    var(
        "AUDITFWD_MAX_WINDOW",
        WIN,
        "10m",
        false,
        "Longest window listed in one go (whole minutes).",
    ),
    var(
        "AUDITFWD_AUDIT_RETENTION",
        WIN,
        "90d",
        false,
        "The tenancy's audit retention (90d to 365d).",
    ),
    var(
        "AUDITFWD_EVENT_TYPES_INCLUDE",
        FILTER,
        "",
        false,
        "Event types to forward (wildcards); empty: all.",
    ),
    var(
        "AUDITFWD_EVENT_TYPES_EXCLUDE",
        FILTER,
        "",
        false,
        "Event types never forwarded (wildcards).",
    ),
    var(
        "AUDITFWD_PRINCIPALS_INCLUDE",
        FILTER,
        "",
        false,
        "Principals (names or OCIDs, wildcards) to forward; empty: all.",
    ),
    var(
        "AUDITFWD_PRINCIPALS_EXCLUDE",
        FILTER,
        "",
        false,
        "Principals never forwarded.",
    ),
    var(
        "AUDITFWD_DROP_SERVICE_PRINCIPALS",
        FILTER,
        "false",
        false,
        "Drop events of service principals (never natv user logins).",
    ),
    var(
        "AUDITFWD_SCRUB_ALLOW",
        FILTER,
        "",
        false,
        "Credential headers kept unredacted.",
    ),
    var(
        "AUDITFWD_SCRUB_DISABLE",
        FILTER,
        "false",
        false,
        "Turn credential-header scrubbing off.",
    ),
    var(
        "AUDITFWD_EVENTS_PER_SECOND",
        LIMITS,
        "",
        false,
        "Events per second to syslog; sending waits, never drops (unset: unlimited).",
    ),
    var(
        "AUDITFWD_OCI_REQUESTS_PER_SECOND",
        LIMITS,
        "10",
        false,
        "OCI requests per second, shared by every task.",
    ),
    var(
        "AUDITFWD_CONCURRENCY",
        LIMITS,
        "4",
        false,
        "Compartments processed at once.",
    ),
    var(
        "AUDITFWD_LEASE_TTL",
        LIMITS,
        "5m",
        false,
        "A runner's claim on a compartment; after a crash the next run waits at most this.",
    ),
    var(
        "AUDITFWD_EVENT_TYPE_CAPS",
        LIMITS,
        "",
        false,
        "Per-event-type caps: pattern=rate[:delay|:drop], comma-separated.",
    ),
    var(
        "AUDITFWD_INTERVAL",
        DAEMON,
        "5m",
        false,
        "From one cycle's start to the next.",
    ),
    var(
        "AUDITFWD_LISTEN",
        DAEMON,
        "127.0.0.1:9464",
        false,
        "The /health and /metrics listener (off: none).",
    ),
    var(
        "AUDITFWD_SHUTDOWN_TIMEOUT",
        DAEMON,
        "30s",
        false,
        "After SIGTERM: how long the window in flight may take.",
    ),
    var(
        "AUDITFWD_HEALTH_DEGRADED_LAG",
        DAEMON,
        "30m",
        false,
        "/health is degraded once the oldest cursor is this far behind.",
    ),
    var(
        "AUDITFWD_HEALTH_UNHEALTHY_LAG",
        DAEMON,
        "2h",
        false,
        "/health is unhealthy (HTTP 503) from this lag on.",
    ),
    var(
        "AUDITFWD_FAN_OUT",
        LAMBDA,
        "auto",
        false,
        "on, off, or auto (fan out above the threshold).",
    ),
    var(
        "AUDITFWD_FAN_OUT_THRESHOLD",
        LAMBDA,
        "50",
        false,
        "(region, compartment) pairs above which auto fans out.",
    ),
    var(
        "AUDITFWD_WORK_QUEUE_URL",
        LAMBDA,
        "",
        false,
        "The SQS queue the Lambda worker consumes.",
    ),
];

/// Every variable auditfwd reads, in reference order.
pub fn variables() -> &'static [Variable] {
    TABLE
}

/// The variable called `name`.
pub fn variable(name: &str) -> Option<&'static Variable> {
    TABLE.iter().find(|v| v.name == name)
}

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

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    #[error(
        "config file {path} line {line}: {name} is not an auditfwd variable (see docs/configuration.md)"
    )]
    Unknown {
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

/// The variables auditfwd parses, and where each came from. The environment wins over the
/// file, so a deployment can override one value without editing the file.
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

    /// Replaces a value (a decrypted KMS secret), keeping its source.
    pub fn set(&mut self, name: &str, value: String) {
        let source = self
            .values
            .get(name)
            .map_or(Source::Environment, |(_, s)| s.clone());
        self.values.insert(name.to_owned(), (value, source));
    }

    /// One line per variable of the reference: name, value (secrets redacted) and source.
    pub fn effective(&self) -> Vec<Effective> {
        TABLE
            .iter()
            .map(|v| {
                let set = self
                    .values
                    .get(v.name)
                    .filter(|(value, _)| !value.trim().is_empty());
                let (value, source) = match set {
                    Some(_) if v.secret => ("<redacted>".to_owned(), set.map(|s| s.1.clone())),
                    Some((value, source)) => (value.trim().to_owned(), Some(source.clone())),
                    None => (v.default.to_owned(), None),
                };
                Effective {
                    variable: v,
                    value,
                    source: source.unwrap_or(Source::Default),
                }
            })
            .collect()
    }
}

/// A variable's effective value.
#[derive(Debug, Clone)]
pub struct Effective {
    /// Which.
    pub variable: &'static Variable,
    /// Its value (`<redacted>` for a set secret; the default text when unset).
    pub value: String,
    /// Where it came from.
    pub source: Source,
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
        if variable(name).is_none() {
            return Err(FileError::Unknown {
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

/// The reference as Markdown (docs/configuration.md).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from `shared/config/src/reference.rs` (the table `auditfwd config` prints); a test fails when\n\
         this file, the table, `.env.example` or the parser disagree. Regenerate with\n\
         `AUDITFWD_BLESS=1 cargo test -p auditfwd-config reference`.\n\n\
         Every variable is read once at start-up; a bad value stops the process with a message naming the\n\
         variable. Durations take units (`90s`, `20m`, `1h30m`, `2d`, `0`). Lists are comma-separated.\n\
         `auditfwd --config FILE` reads `NAME=value` lines (as in `.env.example`) for variables the\n\
         environment does not set. Secrets are never printed.\n",
    );
    let mut group = "";
    for v in TABLE {
        if v.group != group {
            group = v.group;
            let _ = write!(
                out,
                "\n## {group}\n\n| Variable | Default | Secret | Meaning |\n|---|---|---|---|\n"
            );
        }
        let default = if v.default.is_empty() {
            "—".to_owned()
        } else {
            format!("`{}`", v.default)
        };
        let secret = if v.secret { "yes" } else { "" };
        let _ = writeln!(
            out,
            "| `{}` | {default} | {secret} | {} |",
            v.name,
            v.summary.replace('|', "\\|")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `AUDITFWD_*` literal in this crate's parser is in the table, and every table
    /// entry is read somewhere (the parser, or the secrets loader for `*_KMS`).
    #[test]
    fn the_table_lists_exactly_what_the_parser_reads() {
        let sources = [
            include_str!("lib.rs"),
            include_str!("oci.rs"),
            include_str!("syslog.rs"),
        ]
        .join("\n");
        let mut read = std::collections::BTreeSet::new();
        for part in sources.split('"').skip(1).step_by(2) {
            if part.starts_with("AUDITFWD_")
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !part.ends_with('_')
                && part != "AUDITFWD_SYSLOG"
            {
                read.insert(part.to_owned());
            }
        }
        for name in &read {
            assert!(
                variable(name).is_some(),
                "{name} is read but not in the reference table"
            );
        }
        for v in TABLE {
            assert!(
                read.contains(v.name) || v.name.ends_with("_KMS"),
                "{} is in the table but the parser never reads it",
                v.name
            );
        }
        let names: std::collections::BTreeSet<_> = TABLE.iter().map(|v| v.name).collect();
        assert_eq!(names.len(), TABLE.len(), "a variable is listed twice");
    }

    /// The defaults the reference documents are the parser's: setting every documented
    /// default explicitly gives the same configuration as leaving it unset.
    #[test]
    fn documented_defaults_are_the_real_defaults() {
        let minimal = crate::tests_support::minimal_vars();
        let implicit = crate::Config::from_vars(minimal.clone()).unwrap();
        let mut explicit = minimal;
        for v in TABLE {
            // A profile name only applies with a config file, which the minimal set lacks.
            if !v.default.is_empty() && v.name != "AUDITFWD_OCI_PROFILE" {
                explicit.push((v.name.to_owned(), v.default.to_owned()));
            }
        }
        let explicit = crate::Config::from_vars(explicit).unwrap();
        assert_eq!(format!("{implicit:?}"), format!("{explicit:?}"));
    }

    #[test]
    fn env_example_documents_every_variable() {
        let example = include_str!("../../../.env.example");
        for v in TABLE {
            assert!(
                example.contains(v.name),
                ".env.example does not mention {}",
                v.name
            );
        }
        for line in example.lines() {
            let line = line.trim_start_matches("# ").trim();
            if let Some((name, _)) = line.split_once('=')
                && name.starts_with("AUDITFWD_")
            {
                assert!(variable(name).is_some(), ".env.example sets unknown {name}");
            }
        }
    }

    #[test]
    fn reference_doc_is_generated_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let want = markdown();
        if std::env::var_os("AUDITFWD_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/configuration.md is out of date: run AUDITFWD_BLESS=1 cargo test -p auditfwd-config reference"
        );
    }

    #[test]
    fn the_environment_wins_over_the_file_and_secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auditfwd.env");
        std::fs::write(
            &file,
            "# comment\nAUDITFWD_INTERVAL=10m   # every ten minutes\nAUDITFWD_CONCURRENCY=\"8\"\nexport AUDITFWD_OCI_KEY_PASSPHRASE='hunter2'\n",
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
    }

    #[test]
    fn a_typo_in_the_file_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.env");
        std::fs::write(&file, "AUDITFWD_INTERVAL=5m\nAUDITFWD_INTERVALL=6m\n").unwrap();
        let e = Sources::default().with_file(&file).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("AUDITFWD_INTERVALL"),
            "{e}"
        );
        std::fs::write(&file, "just words\n").unwrap();
        let e = Sources::default().with_file(&file).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
