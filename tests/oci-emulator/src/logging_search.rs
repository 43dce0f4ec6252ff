//! Logging Search `SearchLogs` (`POST /20190909/search`) and the logs it searches.
//!
//! OCI Logging keeps *log groups* in compartments and *logs* in log groups; a service writes
//! records into a log once the log is enabled. A record reaches search only when Logging has
//! ingested it, some seconds after the moment it describes, so a collector that reads a window
//! once, too early, misses records: the store keeps each record's ingestion time and search
//! returns only what is ingested by the emulator's now. Ground truth
//! ([`LogStore::records_truth`]) is everything ever added, ingested or not.
//!
//! A request is a JSON body `{timeStart, timeEnd, searchQuery, isReturnFieldInfo}` plus the
//! query parameters `limit` (1-1000, default 100) and `page`. Records are selected by their
//! `datetime` in `[timeStart, timeEnd)`; a range under 1 ms or over 14 days is
//! `400 InvalidParameter`. The search query is a small, documented subset of Oracle's query
//! language (see [`Query`]); anything else is refused with `400 InvalidParameter` naming the
//! part not understood, never silently ignored.
//!
//! Pages are keyset cursors on (`datetime`, record id) in the query's sort direction, so a
//! record ingested between two pages neither shifts the ones already listed nor repeats them.
//! Each result's `data` is rendered once, when the record is added, and copied into every page
//! byte for byte.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use http::{HeaderName, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, EmulatorError};
use crate::http_util::{Reply, parse_time};
use crate::seed;
use crate::tenancy::{Access, Tenancy, rfc3339_ms};

/// `limit` when the request has none (Oracle's own clients note a default of 100).
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Largest `limit` the service accepts.
pub(crate) const MAX_LIMIT: usize = 1000;
/// Longest `[timeStart, timeEnd)` one request may cover.
pub(crate) const MAX_RANGE: Duration = Duration::days(14);
/// The `type` of VCN flow log records.
pub const FLOW_LOG_TYPE: &str = "com.oraclecloud.vcn.flowlogs.DataEvent";

/// A log group, as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    /// OCID (`ocid1.loggroup...`).
    pub id: String,
    /// The compartment holding it.
    pub compartment_id: String,
    /// Name, unique in its compartment; a search scope may use it instead of the OCID.
    pub display_name: String,
}

/// A log, as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Log {
    /// OCID (`ocid1.log...`).
    pub id: String,
    /// Its log group.
    pub log_group_id: String,
    /// The log group's compartment.
    pub compartment_id: String,
    /// Name, unique in its log group.
    pub display_name: String,
    /// A disabled log is not searched: its records are kept but no search returns them.
    pub is_enabled: bool,
}

/// A log group to add. `displayName` defaults to a generated one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLogGroup {
    /// Compartment (must exist).
    pub compartment_id: String,
    /// Default `log-group-<n>`.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A log to add. It is enabled unless `isEnabled` is false.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLog {
    /// Log group (must exist).
    pub log_group_id: String,
    /// Default `log-<n>`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Default true.
    #[serde(default)]
    pub is_enabled: Option<bool>,
}

/// Records to add to a log. Without `logContent`, each is a synthetic VCN flow log record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLogRecords {
    /// The log (must exist).
    pub log_id: String,
    /// How many records (default 1), all at `datetime`.
    #[serde(default)]
    pub count: Option<usize>,
    /// What the record describes (its `datetime` and `time`); default the emulator's now.
    #[serde(default)]
    pub datetime: Option<DateTime<Utc>>,
    /// Ingestion delay after `datetime`, milliseconds (default 0: searchable at once).
    #[serde(default)]
    pub delay_ms: Option<i64>,
    /// The record's `logContent` as given (an object); an `id` is added if it has none. Kept
    /// byte for byte otherwise, unknown fields included.
    #[serde(default)]
    pub log_content: Option<Value>,
    /// For synthetic records: `data` instead of a generated flow.
    #[serde(default)]
    pub data: Option<Value>,
    /// For synthetic records: `type` (default the flow log type).
    #[serde(default, rename = "type")]
    pub record_type: Option<String>,
    /// For synthetic records: `subject`.
    #[serde(default)]
    pub subject: Option<String>,
}

/// One record as the ground truth shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    /// `logContent.id`.
    pub id: String,
    /// The log it is in.
    pub log_id: String,
    /// The log's group.
    pub log_group_id: String,
    /// The log group's compartment.
    pub compartment_id: String,
    /// `datetime` as RFC 3339 (milliseconds).
    pub datetime: String,
    /// When Logging ingested it: from then on search can return it.
    pub ingested_at: String,
    /// Whether it is ingested by the emulator's now.
    pub ingested: bool,
    /// The search result's `data` exactly as search returns it.
    pub data: Value,
}

#[derive(Debug)]
struct StoredRecord {
    log: usize,
    datetime_ms: i64,
    id: String,
    ingested_at: DateTime<Utc>,
    /// `logContent`, for filtering.
    content: Value,
    /// `{"datetime": ..., "logContent": ...}` as it goes on the wire.
    rendered: String,
}

/// Log groups, logs and their records.
#[derive(Debug, Default)]
pub(crate) struct LogStore {
    groups: Vec<LogGroup>,
    logs: Vec<Log>,
    records: Vec<StoredRecord>,
    /// Things added so far (each draws its ids from its own RNG).
    added: u64,
}

/// Where a synthetic record lives.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    tenancy_id: &'a str,
    region: &'a str,
    log: &'a Log,
    group: &'a LogGroup,
}

/// What a synthetic record takes from the request instead of generating it.
#[derive(Debug, Clone, Copy, Default)]
struct Overrides<'a> {
    data: Option<&'a Value>,
    record_type: Option<&'a str>,
    subject: Option<&'a str>,
}

impl LogStore {
    /// For `n > 0`: one log group (`flow-logs`) in the first compartment below the root (the
    /// root if there is none) with one enabled log (`vcn-flowlogs`), and `n` flow log records
    /// spread over the `span` before `now`, each ingested 2-90 s after its `datetime`.
    pub(crate) fn seeded(
        seed_value: u64,
        n: usize,
        compartments: &[String],
        tenancy_id: &str,
        region: &str,
        now: DateTime<Utc>,
        span: Duration,
    ) -> Self {
        let mut store = Self::default();
        let Some(compartment) = compartments.get(1).or_else(|| compartments.first()) else {
            return store;
        };
        if n == 0 {
            return store;
        }
        let mut rng = seed::rng(seed_value, &[b"seeded-log-group"]);
        let group = LogGroup {
            id: seed::ocid(&mut rng, "loggroup", region),
            compartment_id: compartment.clone(),
            display_name: "flow-logs".into(),
        };
        let log = Log {
            id: seed::ocid(&mut rng, "log", region),
            log_group_id: group.id.clone(),
            compartment_id: compartment.clone(),
            display_name: "vcn-flowlogs".into(),
            is_enabled: true,
        };
        let place = Place {
            tenancy_id,
            region,
            log: &log,
            group: &group,
        };
        let span_ms = span.num_milliseconds().max(1);
        for i in 0..n {
            let mut rng = seed::rng(seed_value, &[b"seeded-log-record", &i.to_le_bytes()]);
            let at = truncate_ms(now - Duration::milliseconds(rng.i64(0..span_ms)));
            let delay = Duration::milliseconds(rng.i64(2_000..=90_000));
            let content = flow_record(&mut rng, place, at, at + delay, Overrides::default());
            store.push(0, at, at + delay, content);
        }
        store.groups.push(group);
        store.logs.push(log);
        store
    }

    fn push(&mut self, log: usize, at: DateTime<Utc>, ingested_at: DateTime<Utc>, content: Value) {
        let id = content
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let datetime_ms = at.timestamp_millis();
        let rendered =
            serde_json::to_string(&json!({ "datetime": datetime_ms, "logContent": content }))
                .unwrap_or_default();
        self.records.push(StoredRecord {
            log,
            datetime_ms,
            id,
            ingested_at,
            content,
            rendered,
        });
    }

    /// Every log group, in creation order.
    pub(crate) fn groups(&self) -> &[LogGroup] {
        &self.groups
    }

    /// Every log, in creation order.
    pub(crate) fn logs(&self) -> &[Log] {
        &self.logs
    }

    fn next_rng(&mut self, seed_value: u64, what: &[u8]) -> fastrand::Rng {
        let n = self.added;
        self.added += 1;
        seed::rng(seed_value, &[b"added-log", what, &n.to_le_bytes()])
    }

    /// Adds a log group in `compartment_id` (which the caller checked exists).
    pub(crate) fn add_group(
        &mut self,
        seed_value: u64,
        req: NewLogGroup,
        region: &str,
    ) -> Result<LogGroup, EmulatorError> {
        let n = self.groups.len();
        let display_name = req.display_name.unwrap_or_else(|| format!("log-group-{n}"));
        if self
            .groups
            .iter()
            .any(|g| g.compartment_id == req.compartment_id && g.display_name == display_name)
        {
            return Err(EmulatorError::Config(format!(
                "a log group named '{display_name}' already exists in the compartment"
            )));
        }
        let mut rng = self.next_rng(seed_value, b"group");
        let group = LogGroup {
            id: seed::ocid(&mut rng, "loggroup", region),
            compartment_id: req.compartment_id,
            display_name,
        };
        self.groups.push(group.clone());
        Ok(group)
    }

    /// Adds a log to an existing log group.
    pub(crate) fn add_log(
        &mut self,
        seed_value: u64,
        req: NewLog,
        region: &str,
    ) -> Result<Log, EmulatorError> {
        let group = self
            .groups
            .iter()
            .find(|g| g.id == req.log_group_id)
            .cloned()
            .ok_or_else(|| EmulatorError::UnknownLog(req.log_group_id.clone()))?;
        let n = self.logs.len();
        let display_name = req.display_name.unwrap_or_else(|| format!("log-{n}"));
        if self
            .logs
            .iter()
            .any(|l| l.log_group_id == group.id && l.display_name == display_name)
        {
            return Err(EmulatorError::Config(format!(
                "a log named '{display_name}' already exists in the log group"
            )));
        }
        let mut rng = self.next_rng(seed_value, b"log");
        let log = Log {
            id: seed::ocid(&mut rng, "log", region),
            log_group_id: group.id,
            compartment_id: group.compartment_id,
            display_name,
            is_enabled: req.is_enabled.unwrap_or(true),
        };
        self.logs.push(log.clone());
        Ok(log)
    }

    /// Enables or disables a log.
    pub(crate) fn set_enabled(
        &mut self,
        log_id: &str,
        enabled: bool,
    ) -> Result<Log, EmulatorError> {
        let log = self
            .logs
            .iter_mut()
            .find(|l| l.id == log_id)
            .ok_or_else(|| EmulatorError::UnknownLog(log_id.to_string()))?;
        log.is_enabled = enabled;
        Ok(log.clone())
    }

    /// Adds records to a log; returns them as the ground truth shows them.
    pub(crate) fn add_records(
        &mut self,
        seed_value: u64,
        req: NewLogRecords,
        tenancy_id: &str,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<LogRecord>, EmulatorError> {
        let index = self
            .logs
            .iter()
            .position(|l| l.id == req.log_id)
            .ok_or_else(|| EmulatorError::UnknownLog(req.log_id.clone()))?;
        let count = req.count.unwrap_or(1);
        if count == 0 || count > 100_000 {
            return Err(EmulatorError::Config("count must be 1 to 100000".into()));
        }
        if req.log_content.as_ref().is_some_and(|c| !c.is_object()) {
            return Err(EmulatorError::Config(
                "logContent must be a JSON object".into(),
            ));
        }
        let delay = Duration::milliseconds(req.delay_ms.unwrap_or(0));
        if delay < Duration::zero() {
            return Err(EmulatorError::Config("delayMs must not be negative".into()));
        }
        let at = truncate_ms(req.datetime.unwrap_or(now));
        let ingested_at = at + delay;
        let log = self.logs[index].clone();
        let group = self
            .groups
            .iter()
            .find(|g| g.id == log.log_group_id)
            .cloned()
            .ok_or_else(|| EmulatorError::UnknownLog(log.log_group_id.clone()))?;
        let place = Place {
            tenancy_id,
            region,
            log: &log,
            group: &group,
        };
        let overrides = Overrides {
            data: req.data.as_ref(),
            record_type: req.record_type.as_deref(),
            subject: req.subject.as_deref(),
        };
        let first = self.records.len();
        for _ in 0..count {
            let mut rng = self.next_rng(seed_value, b"record");
            let content = match &req.log_content {
                Some(Value::Object(given)) => {
                    let mut content = given.clone();
                    if !content.get("id").is_some_and(Value::is_string) {
                        content.insert("id".into(), Value::String(seed::guid(&mut rng)));
                    }
                    Value::Object(content)
                }
                _ => flow_record(&mut rng, place, at, ingested_at, overrides),
            };
            self.push(index, at, ingested_at, content);
        }
        Ok(self.records[first..]
            .iter()
            .map(|r| self.truth(r, now))
            .collect())
    }

    fn truth(&self, r: &StoredRecord, now: DateTime<Utc>) -> LogRecord {
        let log = &self.logs[r.log];
        LogRecord {
            id: r.id.clone(),
            log_id: log.id.clone(),
            log_group_id: log.log_group_id.clone(),
            compartment_id: log.compartment_id.clone(),
            datetime: rfc3339_ms(from_ms(r.datetime_ms)),
            ingested_at: rfc3339_ms(r.ingested_at),
            ingested: r.ingested_at <= now,
            data: serde_json::from_str(&r.rendered).unwrap_or(Value::Null),
        }
    }

    /// Ground truth: every record ever added, ingested or not, in the order added.
    pub(crate) fn records_truth(&self, now: DateTime<Utc>) -> Vec<LogRecord> {
        self.records.iter().map(|r| self.truth(r, now)).collect()
    }
}

fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(t.timestamp_millis())
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

fn ipv4(rng: &mut fastrand::Rng, private: bool) -> String {
    if private {
        format!("10.0.{}.{}", rng.u8(0..4), rng.u8(2..250))
    } else {
        format!("203.0.113.{}", rng.u8(1..255))
    }
}

/// A VCN flow log record's `logContent`: the CloudEvents-style envelope OCI Logging puts
/// around every record (`id`, `source`, `specversion`, `subject`, `time`, `type`, `data`,
/// `oracle`), with the flow fields Oracle documents for VCN flow logs.
fn flow_record(
    rng: &mut fastrand::Rng,
    place: Place<'_>,
    at: DateTime<Utc>,
    ingested_at: DateTime<Utc>,
    overrides: Overrides<'_>,
) -> Value {
    let (log, group) = (place.log, place.group);
    let vnic = seed::ocid(rng, "vnic", place.region);
    let subnet = seed::ocid(rng, "subnet", place.region);
    let inbound = rng.bool();
    let (src, dst) = if inbound {
        (ipv4(rng, false), ipv4(rng, true))
    } else {
        (ipv4(rng, true), ipv4(rng, false))
    };
    let (protocol, protocol_name, port) = match rng.u8(0..4) {
        0 => (17, "UDP", 53),
        1 => (6, "TCP", 22),
        2 => (6, "TCP", 3389),
        _ => (6, "TCP", 443),
    };
    let accepted = rng.u8(0..10) < 8;
    let start = at.timestamp() - 60;
    let packets = rng.u32(1..200);
    let data = overrides.data.cloned().unwrap_or_else(|| {
        json!({
            "action": if accepted { "ACCEPT" } else { "REJECT" },
            "bytesOut": packets * rng.u32(40..1500),
            "destinationAddress": dst,
            "destinationPort": port,
            "endTime": at.timestamp(),
            "flowid": format!("{:08x}", rng.u32(..)),
            "packets": packets,
            "protocol": protocol,
            "protocolName": protocol_name,
            "sourceAddress": src,
            "sourcePort": rng.u16(1024..),
            "startTime": start,
            "status": "OK",
            "version": "2",
        })
    });
    let mut oracle = Map::new();
    oracle.insert("compartmentid".into(), json!(log.compartment_id));
    oracle.insert("ingestedtime".into(), json!(rfc3339_ms(ingested_at)));
    oracle.insert("loggroupid".into(), json!(group.id));
    oracle.insert("logid".into(), json!(log.id));
    oracle.insert("tenantid".into(), json!(place.tenancy_id));
    oracle.insert("vniccompartmentocid".into(), json!(log.compartment_id));
    oracle.insert("vnicocid".into(), json!(vnic));
    oracle.insert("vnicsubnetocid".into(), json!(subnet));
    json!({
        "data": data,
        "id": seed::guid(rng),
        "oracle": oracle,
        "source": vnic,
        "specversion": "1.0",
        "subject": overrides.subject.unwrap_or("-"),
        "time": rfc3339_ms(at),
        "type": overrides.record_type.unwrap_or(FLOW_LOG_TYPE),
    })
}

// ---------------------------------------------------------------------------------------------
// The search query subset.

/// One `"<compartment>[/<log group>[/<log>]]"` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stream {
    pub(crate) compartment_id: String,
    pub(crate) log_group: Option<String>,
    pub(crate) log: Option<String>,
}

/// A `where` comparison's right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Text(String),
    Number(f64),
}

/// `<field> = <literal>` or `<field> != <literal>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) path: Vec<String>,
    pub(crate) equal: bool,
    pub(crate) value: Literal,
}

impl Condition {
    fn matches(&self, content: &Value) -> bool {
        let mut v = content;
        for part in &self.path {
            match v.get(part) {
                Some(next) => v = next,
                None => return !self.equal,
            }
        }
        let same = match (&self.value, v) {
            (Literal::Text(want), Value::String(have)) => want == have,
            (Literal::Number(want), Value::Number(have)) => have
                .as_f64()
                .is_some_and(|h| (h - want).abs() < f64::EPSILON),
            _ => false,
        };
        same == self.equal
    }
}

/// The search query subset the emulator understands:
///
/// ```text
/// search "<compartment>[/<log group>[/<log>]]" [[,] "<scope>" ...]
///   [| [where] <field> (=|!=) <'text' | number> [and <field> ... ]]...
///   [| sort by datetime [asc|desc]]
/// ```
///
/// Keywords are case-insensitive. Log groups and logs are named by OCID or display name.
/// Fields are dotted paths into `logContent` (`type`, `source`, `subject`, `id`,
/// `data.action`, `oracle.logid`, ...); strings are single-quoted (`\'` escapes a quote);
/// comparisons are exact. Without `sort`, results come in ascending `datetime` order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub(crate) streams: Vec<Stream>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Text(String),
    Number(f64),
    Pipe,
    Comma,
    Dot,
    Eq,
    Ne,
    Other(char),
}

const SUPPORTED: &str = "the emulator supports: search \"<compartment>[/<log group>[/<log>]]\"[, ...] | where <field> = '<value>' [and ...] | sort by datetime asc|desc";

fn unsupported(query: &str, at: usize, what: &str) -> ApiError {
    let rest: String = query
        .get(at..)
        .unwrap_or_default()
        .chars()
        .take(60)
        .collect();
    ApiError::invalid_parameter(format!("searchQuery: {what} at '{rest}' ({SUPPORTED})"))
}

fn lex(query: &str) -> Result<Vec<(usize, Tok)>, ApiError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = query.char_indices().collect();
    let mut i = 0;
    while let Some(&(at, c)) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '|' => Tok::Pipe,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '=' => Tok::Eq,
            '!' if chars.get(i + 1).map(|x| x.1) == Some('=') => {
                i += 1;
                Tok::Ne
            }
            '"' | '\'' => {
                let mut text = String::new();
                let mut closed = false;
                i += 1;
                while let Some(&(_, d)) = chars.get(i) {
                    match d {
                        '\\' => {
                            i += 1;
                            if let Some(&(_, e)) = chars.get(i) {
                                text.push(e);
                            }
                        }
                        d if d == c => {
                            closed = true;
                            break;
                        }
                        d => text.push(d),
                    }
                    i += 1;
                }
                if !closed {
                    return Err(unsupported(query, at, "unterminated string"));
                }
                if c == '"' {
                    Tok::Quoted(text)
                } else {
                    Tok::Text(text)
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|x| x.1.is_ascii_digit() || x.1 == '.')
                {
                    j += 1;
                }
                let end = chars.get(j).map_or(query.len(), |x| x.0);
                let n = query[at..end]
                    .parse::<f64>()
                    .map_err(|_| unsupported(query, at, "a malformed number"))?;
                i = j - 1;
                Tok::Number(n)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|x| x.1.is_ascii_alphanumeric() || x.1 == '_')
                {
                    j += 1;
                }
                let end = chars.get(j).map_or(query.len(), |x| x.0);
                i = j - 1;
                Tok::Word(query[at..end].to_string())
            }
            other => Tok::Other(other),
        };
        out.push((at, tok));
        i += 1;
    }
    Ok(out)
}

fn is_kw(t: Option<&(usize, Tok)>, kw: &str) -> bool {
    matches!(t, Some((_, Tok::Word(w))) if w.eq_ignore_ascii_case(kw))
}

fn parse_stream(query: &str, at: usize, text: &str) -> Result<Stream, ApiError> {
    let parts: Vec<&str> = text.split('/').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.trim().is_empty()) {
        return Err(unsupported(
            query,
            at,
            "a log stream must be \"<compartment>[/<log group>[/<log>]]\"",
        ));
    }
    if !parts[0].starts_with("ocid1.") {
        return Err(unsupported(
            query,
            at,
            "a log stream must start with a compartment OCID",
        ));
    }
    Ok(Stream {
        compartment_id: parts[0].to_string(),
        log_group: parts.get(1).map(|s| (*s).to_string()),
        log: parts.get(2).map(|s| (*s).to_string()),
    })
}

impl Query {
    /// Parses the subset; anything outside it is `400 InvalidParameter` naming the part.
    pub(crate) fn parse(query: &str) -> Result<Self, ApiError> {
        let toks = lex(query)?;
        let end = query.len();
        let at = |i: usize| toks.get(i).map_or(end, |t| t.0);
        let mut i = 0;
        if !is_kw(toks.get(i), "search") {
            return Err(unsupported(query, at(i), "a query must start with search"));
        }
        i += 1;
        let mut streams = Vec::new();
        loop {
            match toks.get(i) {
                Some((p, Tok::Quoted(s))) => {
                    streams.push(parse_stream(query, *p, s)?);
                    i += 1;
                }
                _ if streams.is_empty() => {
                    return Err(unsupported(query, at(i), "expected a quoted log stream"));
                }
                _ => break,
            }
            if matches!(toks.get(i), Some((_, Tok::Comma))) {
                i += 1;
                if !matches!(toks.get(i), Some((_, Tok::Quoted(_)))) {
                    return Err(unsupported(query, at(i), "expected a quoted log stream"));
                }
            }
        }
        let mut conditions = Vec::new();
        let mut sort: Option<bool> = None;
        while i < toks.len() {
            if !matches!(toks[i].1, Tok::Pipe) {
                return Err(unsupported(query, at(i), "expected '|'"));
            }
            i += 1;
            if sort.is_some() {
                return Err(unsupported(query, at(i), "nothing may follow sort"));
            }
            if is_kw(toks.get(i), "sort") {
                i += 1;
                if !is_kw(toks.get(i), "by") {
                    return Err(unsupported(query, at(i), "expected 'by'"));
                }
                i += 1;
                if !is_kw(toks.get(i), "datetime") {
                    return Err(unsupported(
                        query,
                        at(i),
                        "only sort by datetime is supported",
                    ));
                }
                i += 1;
                let descending = if is_kw(toks.get(i), "desc") {
                    i += 1;
                    true
                } else {
                    if is_kw(toks.get(i), "asc") {
                        i += 1;
                    }
                    false
                };
                sort = Some(descending);
                continue;
            }
            if is_kw(toks.get(i), "where") {
                i += 1;
            }
            loop {
                let (cond, next) = parse_condition(query, &toks, i)?;
                conditions.push(cond);
                i = next;
                if is_kw(toks.get(i), "and") {
                    i += 1;
                    continue;
                }
                break;
            }
        }
        Ok(Query {
            streams,
            conditions,
            descending: sort.unwrap_or(false),
        })
    }
}

fn parse_condition(
    query: &str,
    toks: &[(usize, Tok)],
    mut i: usize,
) -> Result<(Condition, usize), ApiError> {
    let at = |i: usize| toks.get(i).map_or(query.len(), |t| t.0);
    let mut path = Vec::new();
    loop {
        match toks.get(i) {
            Some((_, Tok::Word(w))) => path.push(w.clone()),
            _ => {
                return Err(unsupported(
                    query,
                    at(i),
                    "expected a field name (a dotted path such as data.action)",
                ));
            }
        }
        i += 1;
        if matches!(toks.get(i), Some((_, Tok::Dot))) {
            i += 1;
            continue;
        }
        break;
    }
    if path.len() == 1
        && ["sort", "select", "summarize", "count", "eval", "rename"]
            .iter()
            .any(|k| path[0].eq_ignore_ascii_case(k))
    {
        return Err(unsupported(
            query,
            at(i - 1),
            "this operator is not supported",
        ));
    }
    let equal = match toks.get(i) {
        Some((_, Tok::Eq)) => true,
        Some((_, Tok::Ne)) => false,
        _ => {
            return Err(unsupported(
                query,
                at(i),
                "only = and != comparisons are supported",
            ));
        }
    };
    i += 1;
    let value = match toks.get(i) {
        Some((_, Tok::Text(s))) => Literal::Text(s.clone()),
        Some((_, Tok::Number(n))) => Literal::Number(*n),
        _ => {
            return Err(unsupported(
                query,
                at(i),
                "expected a single-quoted string or a number",
            ));
        }
    };
    Ok((Condition { path, equal, value }, i + 1))
}

// ---------------------------------------------------------------------------------------------
// The operation.

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    datetime_ms: i64,
    id: String,
}

/// Page token: `<a|d>|<datetime ms>|<record id>`, base64url; tied to the sort direction.
fn page_token(descending: bool, c: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}|{}|{}",
        if descending { "d" } else { "a" },
        c.datetime_ms,
        c.id
    ))
}

fn parse_page_token(t: &str, descending: bool) -> Option<Cursor> {
    let raw = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()?,
    )
    .ok()?;
    let mut parts = raw.splitn(3, '|');
    if parts.next()? != if descending { "d" } else { "a" } {
        return None;
    }
    Some(Cursor {
        datetime_ms: parts.next()?.parse().ok()?,
        id: parts.next()?.to_string(),
    })
}

/// A validated request.
#[derive(Debug, Clone)]
pub(crate) struct SearchRequest {
    pub(crate) time_start: DateTime<Utc>,
    pub(crate) time_end: DateTime<Utc>,
    pub(crate) query: Query,
    pub(crate) return_field_info: bool,
    pub(crate) limit: usize,
    pub(crate) after: Option<Cursor>,
}

impl SearchRequest {
    /// Validates the body and the query parameters as the service does.
    pub(crate) fn parse(body: &[u8], q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let limit = match q.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid_parameter(format!(
                        "limit '{v}' must be an integer from 1 to {MAX_LIMIT}"
                    )));
                }
            },
        };
        let details: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "CannotParseRequest",
                    "The request body is not a SearchLogsDetails JSON object",
                ));
            }
        };
        let text = |name: &str| -> Result<String, ApiError> {
            match details.get(name) {
                None | Some(Value::Null) => Err(ApiError::missing_parameter(name)),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(ApiError::invalid_parameter(format!(
                    "{name} must be a string"
                ))),
            }
        };
        let time_start = parse_time("timeStart", &text("timeStart")?)?;
        let time_end = parse_time("timeEnd", &text("timeEnd")?)?;
        if time_end - time_start < Duration::milliseconds(1) {
            return Err(ApiError::invalid_parameter(format!(
                "timeEnd ({}) must be at least 1 ms after timeStart ({})",
                rfc3339_ms(time_end),
                rfc3339_ms(time_start)
            )));
        }
        if time_end - time_start > MAX_RANGE {
            return Err(ApiError::invalid_parameter(format!(
                "The time range from timeStart to timeEnd cannot exceed 14 days (got {} h)",
                (time_end - time_start).num_hours()
            )));
        }
        let query = Query::parse(&text("searchQuery")?)?;
        let return_field_info = match details.get("isReturnFieldInfo") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ApiError::invalid_parameter(
                    "isReturnFieldInfo must be a boolean",
                ));
            }
        };
        let after = match q.get("page") {
            None => None,
            Some(p) => Some(
                parse_page_token(p, query.descending)
                    .ok_or_else(|| ApiError::invalid_parameter("Invalid page token"))?,
            ),
        };
        Ok(Self {
            time_start,
            time_end,
            query,
            return_field_info,
            limit,
            after,
        })
    }
}

/// The logs a query's streams cover (indices into the store's logs), enabled or not. A
/// compartment, log group or log that does not exist (or is not accessible) refuses the
/// whole request, as OCI does.
fn resolve(t: &Tenancy, store: &LogStore, streams: &[Stream]) -> Result<HashSet<usize>, ApiError> {
    let mut out = HashSet::new();
    for s in streams {
        let id = &s.compartment_id;
        match t.get(id).map(|r| r.access) {
            Some(Access::Normal) => {}
            Some(Access::Forbidden) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "NotAuthorized",
                    format!("You are not authorized to search logs in {id}"),
                ));
            }
            _ => {
                return Err(ApiError::not_authorized_or_not_found(format!(
                    "Authorization failed or requested resource not found: compartment {id}"
                )));
            }
        }
        let groups: Vec<&LogGroup> = store
            .groups
            .iter()
            .filter(|g| &g.compartment_id == id)
            .filter(|g| {
                s.log_group
                    .as_deref()
                    .is_none_or(|n| g.id == n || g.display_name == n)
            })
            .collect();
        if let Some(name) = &s.log_group
            && groups.is_empty()
        {
            return Err(ApiError::not_authorized_or_not_found(format!(
                "Log group {name} not found in compartment {id}"
            )));
        }
        let matched: Vec<usize> = store
            .logs
            .iter()
            .enumerate()
            .filter(|(_, log)| groups.iter().any(|g| g.id == log.log_group_id))
            .filter(|(_, log)| {
                s.log
                    .as_deref()
                    .is_none_or(|n| log.id == n || log.display_name == n)
            })
            .map(|(i, _)| i)
            .collect();
        if let Some(name) = &s.log
            && matched.is_empty()
        {
            return Err(ApiError::not_authorized_or_not_found(format!(
                "Log {name} not found in log group {}",
                s.log_group.as_deref().unwrap_or_default()
            )));
        }
        out.extend(matched);
    }
    Ok(out)
}

fn field_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::String(_) => Some("STRING"),
        Value::Number(_) => Some("NUMBER"),
        Value::Bool(_) => Some("BOOLEAN"),
        Value::Array(_) => Some("ARRAY"),
        _ => None,
    }
}

fn collect_fields(prefix: &str, v: &Value, out: &mut BTreeMap<String, &'static str>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if child.is_object() {
                collect_fields(&name, child, out);
            } else if let Some(t) = field_type(child) {
                out.entry(name).or_insert(t);
            }
        }
    }
}

impl SearchRequest {
    /// The page this request selects among `store`'s records visible at `now` in `logs`, and
    /// the next page's cursor.
    fn page<'a>(
        &self,
        store: &'a LogStore,
        logs: &HashSet<usize>,
        now: DateTime<Utc>,
    ) -> (Vec<&'a StoredRecord>, Option<Cursor>) {
        let (start, end) = (self.time_start, self.time_end);
        let mut selected: Vec<&StoredRecord> = store
            .records
            .iter()
            .filter(|r| logs.contains(&r.log) && store.logs[r.log].is_enabled)
            .filter(|r| r.ingested_at <= now)
            .filter(|r| {
                let t = from_ms(r.datetime_ms);
                start <= t && t < end
            })
            .filter(|r| self.query.conditions.iter().all(|c| c.matches(&r.content)))
            .collect();
        let key = |r: &StoredRecord| (r.datetime_ms, r.id.clone());
        selected.sort_by_key(|r| key(r));
        if self.query.descending {
            selected.reverse();
        }
        let begin = match &self.after {
            None => 0,
            Some(c) => {
                let c = (c.datetime_ms, c.id.clone());
                selected.partition_point(|r| {
                    if self.query.descending {
                        key(r) >= c
                    } else {
                        key(r) <= c
                    }
                })
            }
        };
        let stop = begin.saturating_add(self.limit).min(selected.len());
        let page = selected[begin..stop].to_vec();
        let next = match page.last() {
            Some(r) if stop < selected.len() => Some(Cursor {
                datetime_ms: r.datetime_ms,
                id: r.id.clone(),
            }),
            _ => None,
        };
        (page, next)
    }
}

/// `POST /20190909/search`.
pub(crate) fn search_logs(
    t: &Tenancy,
    store: &LogStore,
    body: &[u8],
    q: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Reply, ApiError> {
    let req = SearchRequest::parse(body, q)?;
    let logs = resolve(t, store, &req.query.streams)?;
    let (page, next) = req.page(store, &logs, now);
    let mut fields = BTreeMap::new();
    if req.return_field_info {
        for r in &page {
            fields.entry("datetime".to_string()).or_insert("NUMBER");
            collect_fields("", &r.content, &mut fields);
        }
    }
    // The records' `data` are copied as rendered when they were added: byte for byte.
    let mut out =
        String::with_capacity(64 + page.iter().map(|r| r.rendered.len() + 10).sum::<usize>());
    out.push_str("{\"results\":[");
    for (i, r) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"data\":");
        out.push_str(&r.rendered);
        out.push('}');
    }
    out.push(']');
    if req.return_field_info {
        let infos: Vec<Value> = fields
            .iter()
            .map(|(name, ty)| json!({ "fieldName": name, "fieldType": ty }))
            .collect();
        out.push_str(",\"fields\":");
        out.push_str(&Value::Array(infos).to_string());
    }
    out.push_str(&format!(
        ",\"summary\":{{\"resultCount\":{},\"fieldCount\":{}}}}}",
        page.len(),
        fields.len()
    ));
    let mut r = Reply::json(StatusCode::OK, out);
    r.events = Some(page.len());
    if let Some(c) = next {
        r = r.header(
            HeaderName::from_static("opc-next-page"),
            page_token(req.query.descending, &c),
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::TenancySpec;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const NOW: &str = "2026-01-02T00:00:00Z";

    fn tenancy() -> Tenancy {
        Tenancy::generate(
            7,
            &TenancySpec {
                compartments: 3,
                ..TenancySpec::default()
            },
        )
    }

    fn seeded(t: &Tenancy, n: usize) -> LogStore {
        LogStore::seeded(
            7,
            n,
            &t.ids(),
            &t.tenancy_id,
            &t.region,
            self::t(NOW),
            Duration::hours(2),
        )
    }

    fn body(start: &str, end: &str, query: &str) -> Vec<u8> {
        json!({"timeStart": start, "timeEnd": end, "searchQuery": query})
            .to_string()
            .into_bytes()
    }

    fn request(b: &[u8], pairs: &[(&str, &str)]) -> Result<SearchRequest, ApiError> {
        let q: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        SearchRequest::parse(b, &q)
    }

    fn all_pages(
        req: &SearchRequest,
        store: &LogStore,
        logs: &HashSet<usize>,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let mut req = req.clone();
        let mut out = Vec::new();
        loop {
            let (page, next) = req.page(store, logs, now);
            assert!(page.len() <= req.limit);
            out.extend(page.iter().map(|r| r.id.clone()));
            let Some(c) = next else { break };
            let token = page_token(req.query.descending, &c);
            req.after = Some(parse_page_token(&token, req.query.descending).unwrap());
        }
        out
    }

    #[test]
    fn the_query_subset_parses() {
        let q = Query::parse(
            "SEARCH \"ocid1.compartment.oc1..a/flow-logs/ocid1.log.oc1..b\", \"ocid1.compartment.oc1..c\" \
             | where type = 'com.oraclecloud.vcn.flowlogs.DataEvent' and data.destinationPort = 22 \
             | data.action != 'it\\'s' | sort by datetime DESC",
        )
        .unwrap();
        assert_eq!(q.streams.len(), 2);
        assert_eq!(q.streams[0].log_group.as_deref(), Some("flow-logs"));
        assert_eq!(q.streams[0].log.as_deref(), Some("ocid1.log.oc1..b"));
        assert_eq!(q.streams[1].log_group, None);
        assert_eq!(q.conditions.len(), 3);
        assert_eq!(q.conditions[1].path, ["data", "destinationPort"]);
        assert_eq!(q.conditions[1].value, Literal::Number(22.0));
        assert_eq!(q.conditions[2].value, Literal::Text("it's".into()));
        assert!(!q.conditions[2].equal);
        assert!(q.descending);
        // The comma between streams is optional, as in Oracle's grammar.
        let q = Query::parse("search \"ocid1.c.oc1..a\" \"ocid1.c.oc1..b\"").unwrap();
        assert_eq!(q.streams.len(), 2);
        assert!(!q.descending);
    }

    #[test]
    fn what_is_outside_the_subset_is_invalid_parameter_naming_the_part() {
        for (query, part) in [
            ("select * from logs", "select"),
            ("search", "expected a quoted log stream"),
            ("search \"not-an-ocid\"", "compartment OCID"),
            ("search \"ocid1.c.oc1..a/g/l/x\"", "log stream must be"),
            ("search \"ocid1.c.oc1..a\" | summarize count()", "summarize"),
            ("search \"ocid1.c.oc1..a\" | where type > 'x'", "> 'x'"),
            ("search \"ocid1.c.oc1..a\" | where type = x", "at 'x'"),
            (
                "search \"ocid1.c.oc1..a\" | sort by time",
                "sort by datetime",
            ),
            (
                "search \"ocid1.c.oc1..a\" | sort by datetime | where type = 'x'",
                "nothing may follow",
            ),
            (
                "search \"ocid1.c.oc1..a\" | where (type = 'x' or type = 'y')",
                "(type",
            ),
            (
                "search \"ocid1.c.oc1..a\" | where type = 'open",
                "unterminated",
            ),
        ] {
            let e = Query::parse(query).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "InvalidParameter"),
                "{query}"
            );
            assert!(e.message.contains(part), "{query}: {}", e.message);
        }
    }

    #[test]
    fn bad_ranges_limits_and_bodies_are_refused() {
        let q = "search \"ocid1.c.oc1..a\"";
        for (b, params, code) in [
            (
                body("2026-01-01T00:00:00Z", "2026-01-15T00:00:01Z", q),
                vec![],
                "InvalidParameter",
            ),
            (
                body("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", q),
                vec![],
                "InvalidParameter",
            ),
            (
                body("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", q),
                vec![],
                "InvalidParameter",
            ),
            (
                body("yesterday", "2026-01-01T00:00:00Z", q),
                vec![],
                "InvalidParameter",
            ),
            (
                body("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", q),
                vec![("limit", "0")],
                "InvalidParameter",
            ),
            (
                body("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", q),
                vec![("limit", "1001")],
                "InvalidParameter",
            ),
            (
                body("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", q),
                vec![("page", "garbage")],
                "InvalidParameter",
            ),
            (
                b"{\"timeStart\": \"2026-01-01T00:00:00Z\"}".to_vec(),
                vec![],
                "MissingParameter",
            ),
            (b"not json".to_vec(), vec![], "CannotParseRequest"),
        ] {
            let e = request(&b, &params).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, code),
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
        // Exactly 14 days is allowed; the default limit is 100.
        let r = request(
            &body("2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z", q),
            &[],
        )
        .unwrap();
        assert_eq!(r.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn seeding_is_deterministic_and_records_look_like_flow_logs() {
        let t = tenancy();
        let a = seeded(&t, 30);
        let b = seeded(&t, 30);
        let now = self::t(NOW);
        assert_eq!(a.records_truth(now), b.records_truth(now));
        assert_eq!(a.logs().len(), 1);
        assert_eq!(a.logs()[0].compartment_id, t.ids()[1]);
        let r = &a.records_truth(now)[0];
        let content = &r.data["logContent"];
        assert_eq!(content["type"], FLOW_LOG_TYPE);
        assert_eq!(content["specversion"], "1.0");
        assert_eq!(content["oracle"]["logid"], a.logs()[0].id.as_str());
        assert_eq!(content["oracle"]["tenantid"], t.tenancy_id.as_str());
        assert_eq!(content["id"], r.id.as_str());
        assert_eq!(r.data["datetime"], self::t(&r.datetime).timestamp_millis());
        assert!(self::t(&r.ingested_at) > self::t(&r.datetime));
    }

    #[test]
    fn windows_are_half_open_and_only_ingested_records_of_enabled_logs_count() {
        let t = tenancy();
        let mut s = seeded(&t, 0);
        let now = self::t(NOW);
        let c = t.ids()[1].clone();
        let g = s
            .add_group(
                7,
                NewLogGroup {
                    compartment_id: c.clone(),
                    display_name: None,
                },
                &t.region,
            )
            .unwrap();
        let log = s
            .add_log(
                7,
                NewLog {
                    log_group_id: g.id.clone(),
                    ..NewLog::default()
                },
                &t.region,
            )
            .unwrap();
        let add = |s: &mut LogStore, at: &str, delay_ms: i64| {
            s.add_records(
                7,
                NewLogRecords {
                    log_id: log.id.clone(),
                    datetime: Some(self::t(at)),
                    delay_ms: Some(delay_ms),
                    ..NewLogRecords::default()
                },
                &t.tenancy_id,
                &t.region,
                now,
            )
            .unwrap()
        };
        let at_start = add(&mut s, "2026-01-01T23:00:00Z", 0);
        add(&mut s, "2026-01-01T23:30:00Z", 0);
        add(&mut s, "2026-01-01T23:59:00Z", 0); // exactly at timeEnd: out
        let late = add(&mut s, "2026-01-01T23:58:00Z", 5 * 60_000); // ingested 00:03
        let req = request(
            &body(
                "2026-01-01T23:00:00Z",
                "2026-01-01T23:59:00Z",
                &format!("search \"{c}\""),
            ),
            &[],
        )
        .unwrap();
        let logs = resolve(&t, &s, &req.query.streams).unwrap();
        let ids = all_pages(&req, &s, &logs, now);
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], at_start[0].id);
        // Once ingested, the late record is in its window.
        let later = now + Duration::minutes(5);
        let ids = all_pages(&req, &s, &logs, later);
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&late[0].id));
        assert!(
            !s.records_truth(now)
                .iter()
                .find(|r| r.id == late[0].id)
                .unwrap()
                .ingested
        );
        // A disabled log returns nothing; its records stay in the ground truth.
        s.set_enabled(&log.id, false).unwrap();
        assert!(all_pages(&req, &s, &logs, later).is_empty());
        assert_eq!(s.records_truth(later).len(), 4);
    }

    #[test]
    fn pages_neither_skip_nor_repeat_while_records_arrive() {
        let t = tenancy();
        let mut s = seeded(&t, 120);
        let now = self::t(NOW);
        let c = t.ids()[1].clone();
        let log = s.logs()[0].id.clone();
        for descending in [false, true] {
            let sort = if descending {
                " | sort by datetime desc"
            } else {
                ""
            };
            let req = request(
                &body(
                    "2026-01-01T21:00:00Z",
                    "2026-01-02T00:00:00Z",
                    &format!("search \"{c}/flow-logs/vcn-flowlogs\"{sort}"),
                ),
                &[("limit", "7")],
            )
            .unwrap();
            let logs = resolve(&t, &s, &req.query.streams).unwrap();
            let mut whole = req.clone();
            whole.limit = MAX_LIMIT;
            let (all, _) = whole.page(&s, &logs, now);
            let expected: Vec<String> = all.iter().map(|r| r.id.clone()).collect();
            assert!(expected.len() > 100, "{}", expected.len());
            // Page by page, adding a record in the middle of the window after each page.
            let mut r = req.clone();
            let mut seen = Vec::new();
            let mut added = Vec::new();
            loop {
                let (page, next) = r.page(&s, &logs, now);
                seen.extend(page.iter().map(|x| x.id.clone()));
                let Some(c) = next else { break };
                r.after = Some(c);
                let new = s
                    .add_records(
                        7,
                        NewLogRecords {
                            log_id: log.clone(),
                            datetime: Some(self::t("2026-01-01T22:30:00Z")),
                            ..NewLogRecords::default()
                        },
                        &t.tenancy_id,
                        &t.region,
                        now,
                    )
                    .unwrap();
                added.push(new[0].id.clone());
            }
            let unique: HashSet<&String> = seen.iter().collect();
            assert_eq!(unique.len(), seen.len(), "no repeats");
            assert!(expected.iter().all(|id| seen.contains(id)), "no gaps");
            // Whatever was added is either before the cursor (a re-read finds it) or listed.
            assert!(
                seen.iter()
                    .all(|id| expected.contains(id) || added.contains(id))
            );
            let times: Vec<i64> = seen
                .iter()
                .map(|id| s.records.iter().find(|x| &x.id == id).unwrap().datetime_ms)
                .collect();
            if descending {
                assert!(times.windows(2).all(|w| w[0] >= w[1]));
            } else {
                assert!(times.windows(2).all(|w| w[0] <= w[1]));
            }
            // A token is tied to its sort direction.
            let token = page_token(
                descending,
                &Cursor {
                    datetime_ms: 1,
                    id: "x".into(),
                },
            );
            assert!(parse_page_token(&token, !descending).is_none());
        }
    }

    #[test]
    fn scopes_filters_and_field_info() {
        let t = tenancy();
        let mut s = seeded(&t, 50);
        let now = self::t(NOW);
        let c = t.ids()[1].clone();
        let window = ("2026-01-01T22:00:00Z", "2026-01-02T00:00:00Z");
        let run = |s: &LogStore, query: &str| -> Result<Value, ApiError> {
            let reply = search_logs(
                &t,
                s,
                &json!({"timeStart": window.0, "timeEnd": window.1, "searchQuery": query, "isReturnFieldInfo": true})
                    .to_string()
                    .into_bytes(),
                &HashMap::from([("limit".to_string(), "1000".to_string())]),
                now,
            )?;
            Ok(serde_json::from_slice(&reply.body).unwrap())
        };
        let all = run(&s, &format!("search \"{c}\"")).unwrap();
        let n = all["results"].as_array().unwrap().len();
        assert!(n > 20);
        assert_eq!(all["summary"]["resultCount"], n);
        let names: Vec<&str> = all["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fieldName"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"data.destinationPort") && names.contains(&"oracle.logid"),
            "{names:?}"
        );
        assert_eq!(all["summary"]["fieldCount"], names.len());
        let rejected = run(
            &s,
            &format!("search \"{c}\" | where data.action = 'REJECT'"),
        )
        .unwrap();
        let rejected = rejected["results"].as_array().unwrap();
        assert!(!rejected.is_empty() && rejected.len() < n);
        assert!(
            rejected
                .iter()
                .all(|r| r["data"]["logContent"]["data"]["action"] == "REJECT")
        );
        let ssh = run(
            &s,
            &format!("search \"{c}\" | data.destinationPort = 22 and type = '{FLOW_LOG_TYPE}'"),
        )
        .unwrap();
        assert!(
            ssh["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["data"]["logContent"]["data"]["destinationPort"] == 22)
        );
        // Another compartment's scope has no logs; unknown names and compartments are 404.
        assert_eq!(
            run(&s, &format!("search \"{}\"", t.ids()[2])).unwrap()["results"],
            json!([])
        );
        assert_eq!(
            run(&s, &format!("search \"{c}/nope\""))
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
        assert_eq!(
            run(&s, &format!("search \"{c}/flow-logs/nope\""))
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
        assert_eq!(
            run(&s, "search \"ocid1.compartment.oc1..missing\"")
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
        // A second log in the group: the group scope covers both, the log scope one.
        let g = s.groups()[0].id.clone();
        let other = s
            .add_log(
                7,
                NewLog {
                    log_group_id: g,
                    display_name: Some("audit-copy".into()),
                    is_enabled: None,
                },
                &t.region,
            )
            .unwrap();
        s.add_records(
            7,
            NewLogRecords {
                log_id: other.id.clone(),
                datetime: Some(self::t("2026-01-01T23:00:00Z")),
                count: Some(3),
                ..NewLogRecords::default()
            },
            &t.tenancy_id,
            &t.region,
            now,
        )
        .unwrap();
        let group = run(&s, &format!("search \"{c}/flow-logs\"")).unwrap();
        assert_eq!(group["results"].as_array().unwrap().len(), n + 3);
        let one = run(&s, &format!("search \"{c}/flow-logs/{}\"", other.id)).unwrap();
        assert_eq!(one["results"].as_array().unwrap().len(), 3);
    }
}
