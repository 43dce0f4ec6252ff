//! Logging: one `tracing` set-up for the CLI and daemon, and one for Lambda.
//!
//! | | CLI and daemon ([`LogTarget::Cli`]) | Lambda ([`LogTarget::Lambda`]) |
//! |---|---|---|
//! | stream | stderr (stdout is for command output) | stdout (CloudWatch Logs reads both; EMF lines share it) |
//! | format | `AUDITFWD_LOG_FORMAT`: `text` (default) or `json` | `AWS_LAMBDA_LOG_FORMAT`: `Text` (default) or `JSON` |
//! | filter | `AUDITFWD_LOG` (`EnvFilter` syntax), default `info` | `AWS_LAMBDA_LOG_LEVEL` (`TRACE` … `FATAL`), else `AUDITFWD_LOG`, default `info` |
//! | colour | on a terminal, unless `NO_COLOR` is set | never |
//! | time | yes | JSON only (Lambda stamps text lines itself) |
//!
//! `RUST_LOG` is deliberately not read: it is often set machine-wide for other programs, and
//! one documented variable is easier to reason about. JSON lines carry `timestamp`, `level`
//! (upper case, which Lambda's log-level filtering reads), `message`, the event's fields at the
//! top level, `target`, and the current span.
//!
//! Text lines are one event each, whatever the data: every field value (and the message) goes
//! through [`printable`], so a compartment name holding a newline or an escape sequence cannot
//! start a forged line (a fake `GAP …`) or repaint the terminal. JSON lines are escaped by JSON.
//!
//! Reading the variables ([`LogSettings::resolve`]) is separate from installing the subscriber
//! ([`LogSettings::init`]) so the rules are tested without touching the process: the entry
//! point passes its environment in (`|name| std::env::var(name).ok()`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::TelemetryError;

/// The filter for the CLI and daemon, and the Lambda fallback (`EnvFilter` directives).
pub const AUDITFWD_LOG: &str = "AUDITFWD_LOG";
/// The CLI and daemon's log format: `text` or `json`.
pub const AUDITFWD_LOG_FORMAT: &str = "AUDITFWD_LOG_FORMAT";
/// Set by Lambda from the function's logging configuration: `Text` or `JSON`.
pub const AWS_LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
/// Set by Lambda (JSON format only): `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// <https://no-color.org>: when set and not empty, no ANSI colours.
pub const NO_COLOR: &str = "NO_COLOR";

const DEFAULT_FILTER: &str = "info";

/// Where auditfwd is running, which decides the log stream and the variables read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// The `auditfwd` command, including the `run` daemon: logs on stderr.
    Cli,
    /// A Lambda function: logs on stdout.
    Lambda,
}

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The logging configuration resolved from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Where auditfwd runs.
    pub target: LogTarget,
    /// Text or JSON.
    pub format: LogFormat,
    /// `EnvFilter` directives, already checked to parse.
    pub filter: String,
    /// Colour allowed (used only when the stream is a terminal and the format is text).
    pub ansi: bool,
    /// Problems with the variables (an unknown level, a filter that does not parse), logged as
    /// warnings once logging works: a typo in a log setting should not stop the forwarder.
    pub problems: Vec<String>,
}

impl LogSettings {
    /// Resolves the settings for `target` from `env`, a lookup of environment variables.
    pub fn resolve(target: LogTarget, env: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let (format_var, level) = match target {
            LogTarget::Cli => (AUDITFWD_LOG_FORMAT, None),
            LogTarget::Lambda => (AWS_LAMBDA_LOG_FORMAT, get(AWS_LAMBDA_LOG_LEVEL)),
        };

        let format = match get(format_var) {
            None => LogFormat::Text,
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(f) => {
                problems.push(format!(
                    "{format_var}={f:?} is neither text nor json; using text"
                ));
                LogFormat::Text
            }
        };

        let from_level = level.and_then(|l| match lambda_level(&l) {
            Some(filter) => Some(filter.to_owned()),
            None => {
                problems.push(format!(
                    "{AWS_LAMBDA_LOG_LEVEL}={l:?} is not TRACE, DEBUG, INFO, WARN, ERROR or FATAL; ignored"
                ));
                None
            }
        });
        let mut filter = from_level
            .or_else(|| get(AUDITFWD_LOG))
            .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
        if let Err(e) = EnvFilter::try_new(&filter) {
            problems.push(format!(
                "log filter {filter:?} does not parse ({e}); using {DEFAULT_FILTER}"
            ));
            filter = DEFAULT_FILTER.to_owned();
        }

        let ansi = target == LogTarget::Cli && format == LogFormat::Text && get(NO_COLOR).is_none();
        LogSettings {
            target,
            format,
            filter,
            ansi,
            problems,
        }
    }

    /// Installs the global `tracing` subscriber these settings describe, then logs any
    /// [`problems`](Self::problems) as warnings.
    pub fn init(&self) -> Result<(), TelemetryError> {
        let layer = match self.target {
            LogTarget::Cli => {
                let ansi = self.ansi && std::io::stderr().is_terminal();
                self.layer(std::io::stderr, ansi)
            }
            LogTarget::Lambda => self.layer(std::io::stdout, false),
        };
        Registry::default()
            .with(layer)
            .try_init()
            .map_err(TelemetryError::LoggingAlreadyInstalled)?;
        for problem in &self.problems {
            tracing::warn!(%problem, "logging configuration ignored");
        }
        Ok(())
    }

    /// The formatting layer, filter included, writing to `writer`.
    fn layer<W>(&self, writer: W, ansi: bool) -> Box<dyn Layer<Registry> + Send + Sync>
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        // `resolve` checked the filter; the fallback only guards hand-built settings.
        let filter =
            EnvFilter::try_new(&self.filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        let base = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi);
        match (self.format, self.target) {
            (LogFormat::Json, _) => base
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_filter(filter)
                .boxed(),
            (LogFormat::Text, LogTarget::Lambda) => base
                .without_time()
                .fmt_fields(printable_fields())
                .with_filter(filter)
                .boxed(),
            (LogFormat::Text, LogTarget::Cli) => base
                .fmt_fields(printable_fields())
                .with_filter(filter)
                .boxed(),
        }
    }
}

/// Text fields as `name=value` (the message bare), each value through [`printable`].
fn printable_fields()
-> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        if field.name() == "message" {
            writer.write_str(&printable(&text))
        } else {
            write!(writer, "{}={}", field.name(), printable(&text))
        }
    })
    .delimited(" ")
}

/// `text` with every character that could break a line of text output or control a terminal
/// escaped: the C0 controls (`\n`, `\r`, `\t`, else `\u{1b}` style), DEL, the C1 controls
/// (U+0080 to U+009F, including NEL) and the Unicode line and paragraph separators (U+2028,
/// U+2029). Everything else, backslashes included, is kept as is. Borrows when there is nothing
/// to escape, which is nearly always.
///
/// For any text that comes from outside and reaches a text log, a report or a terminal
/// (compartment names, event fields, error messages from a server).
pub fn printable(text: &str) -> Cow<'_, str> {
    fn escaped(c: char) -> bool {
        c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
    }
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if escaped(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Resolves the settings for `target` from `env` and installs them (see the module doc for the
/// variables). The entry point calls it first, with `|name| std::env::var(name).ok()`.
pub fn init_logging(
    target: LogTarget,
    env: impl Fn(&str) -> Option<String>,
) -> Result<LogSettings, TelemetryError> {
    let settings = LogSettings::resolve(target, env);
    settings.init()?;
    Ok(settings)
}

/// The `EnvFilter` for one of Lambda's log levels. Lambda's `FATAL` is `tracing`'s `error`.
fn lambda_level(level: &str) -> Option<&'static str> {
    const LEVELS: &[(&str, &str)] = &[
        ("TRACE", "trace"),
        ("DEBUG", "debug"),
        ("INFO", "info"),
        ("WARN", "warn"),
        ("ERROR", "error"),
        ("FATAL", "error"),
    ];
    LEVELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(level))
        .map(|(_, filter)| *filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    fn resolve(target: LogTarget, vars: &[(&str, &str)]) -> LogSettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LogSettings::resolve(target, |name| vars.get(name).cloned())
    }

    #[test]
    fn the_cli_defaults_to_coloured_text_at_info() {
        let s = resolve(LogTarget::Cli, &[]);
        assert_eq!(
            (s.format, s.filter.as_str(), s.ansi),
            (LogFormat::Text, "info", true)
        );
        assert!(s.problems.is_empty());
    }

    #[test]
    fn the_cli_reads_auditfwd_log_and_not_rust_log() {
        let s = resolve(
            LogTarget::Cli,
            &[
                ("AUDITFWD_LOG", "warn,auditfwd_pipeline=debug"),
                ("RUST_LOG", "trace"),
            ],
        );
        assert_eq!(s.filter, "warn,auditfwd_pipeline=debug");
        assert_eq!(
            resolve(LogTarget::Cli, &[("RUST_LOG", "trace")]).filter,
            "info"
        );
    }

    #[test]
    fn the_cli_can_log_json_and_honours_no_color() {
        let s = resolve(LogTarget::Cli, &[("AUDITFWD_LOG_FORMAT", "JSON")]);
        assert_eq!((s.format, s.ansi), (LogFormat::Json, false));
        assert!(!resolve(LogTarget::Cli, &[("NO_COLOR", "1")]).ansi);
        assert!(
            resolve(LogTarget::Cli, &[("NO_COLOR", "")]).ansi,
            "empty NO_COLOR is unset"
        );
    }

    #[test]
    fn lambda_follows_its_log_format_and_level() {
        let s = resolve(
            LogTarget::Lambda,
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ],
        );
        assert_eq!(
            (s.format, s.filter.as_str(), s.ansi),
            (LogFormat::Json, "debug", false)
        );
        let text = resolve(LogTarget::Lambda, &[("AWS_LAMBDA_LOG_FORMAT", "Text")]);
        assert_eq!(
            (text.format, text.filter.as_str()),
            (LogFormat::Text, "info")
        );
        for (level, filter) in [
            ("TRACE", "trace"),
            ("INFO", "info"),
            ("WARN", "warn"),
            ("ERROR", "error"),
            ("FATAL", "error"),
        ] {
            assert_eq!(
                resolve(LogTarget::Lambda, &[("AWS_LAMBDA_LOG_LEVEL", level)]).filter,
                filter
            );
        }
    }

    #[test]
    fn lambda_falls_back_to_auditfwd_log_when_it_sets_no_level() {
        let vars = [("AUDITFWD_LOG", "auditfwd_pipeline=debug")];
        assert_eq!(
            resolve(LogTarget::Lambda, &vars).filter,
            "auditfwd_pipeline=debug"
        );
        let with_level = [("AUDITFWD_LOG", "debug"), ("AWS_LAMBDA_LOG_LEVEL", "ERROR")];
        assert_eq!(resolve(LogTarget::Lambda, &with_level).filter, "error");
        // The CLI's format variable means nothing on Lambda.
        let s = resolve(LogTarget::Lambda, &[("AUDITFWD_LOG_FORMAT", "json")]);
        assert_eq!(s.format, LogFormat::Text);
    }

    #[test]
    fn bad_values_fall_back_and_are_reported() {
        let s = resolve(
            LogTarget::Lambda,
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "yaml"),
                ("AWS_LAMBDA_LOG_LEVEL", "LOUD"),
            ],
        );
        assert_eq!((s.format, s.filter.as_str()), (LogFormat::Text, "info"));
        assert_eq!(s.problems.len(), 2, "{:?}", s.problems);
        let s = resolve(LogTarget::Cli, &[("AUDITFWD_LOG", "auditfwd=[[")]);
        assert_eq!(s.filter, "info");
        assert!(s.problems[0].contains("does not parse"), "{:?}", s.problems);
    }

    /// A writer that keeps what it is given.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn log_with(settings: &LogSettings) -> String {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = Registry::default().with(settings.layer(move || writer.clone(), false));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("not shown at info");
            let span = tracing::info_span!("cycle", region = "eu-frankfurt-1");
            let _entered = span.enter();
            tracing::info!(events = 12, "window forwarded");
        });
        capture.text()
    }

    #[test]
    fn lambda_json_lines_have_level_message_and_fields() {
        let settings = resolve(LogTarget::Lambda, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        let text = log_with(&settings);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "window forwarded");
        assert_eq!(line["events"], 12);
        assert_eq!(line["span"]["region"], "eu-frankfurt-1");
        assert!(line["timestamp"].is_string());
    }

    #[test]
    fn printable_escapes_what_could_forge_a_line_and_borrows_otherwise() {
        assert!(matches!(printable("prod/app-1 é ü"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\nGAP x\r\t\u{1b}[2J\u{7f}\u{85}\u{9b}\u{2028}\u{2029}\\n"),
            "a\\nGAP x\\r\\t\\u{1b}[2J\\u{7f}\\u{85}\\u{9b}\\u{2028}\\u{2029}\\n"
        );
    }

    #[test]
    fn text_lines_escape_field_values_and_the_message() {
        for target in [LogTarget::Cli, LogTarget::Lambda] {
            let settings = resolve(target, &[]);
            let capture = Capture::default();
            let writer = capture.clone();
            let subscriber =
                Registry::default().with(settings.layer(move || writer.clone(), false));
            tracing::subscriber::with_default(subscriber, || {
                let name = "evil\nGAP 2026-03-02T09:00Z forged\u{1b}[31m";
                tracing::warn!(compartment = %name, other = name, "listing {name} failed");
            });
            let text = capture.text();
            assert_eq!(text.lines().count(), 1, "{text}");
            assert!(!text.contains('\u{1b}'), "{text}");
            assert!(
                text.contains("compartment=evil\\nGAP 2026-03-02T09:00Z forged\\u{1b}[31m"),
                "{text}"
            );
            assert!(text.contains("listing evil\\nGAP"), "{text}");
        }
    }

    #[test]
    fn lambda_text_lines_leave_the_time_to_lambda() {
        let text = log_with(&resolve(LogTarget::Lambda, &[]));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with(" INFO") || text.starts_with("INFO"),
            "{text}"
        );
        assert!(text.contains("window forwarded events=12"), "{text}");
    }
}
