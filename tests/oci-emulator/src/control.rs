//! The unauthenticated control API under `/_emulator/` (loopback only): ground truth, adding
//! events and compartments, adding and updating Cloud Guard problems, log groups, logs and log
//! records, faults, the request log and counters, keys, the clock and settings
//! (page size, time selection, latency, live stream). Every
//! operation is also a method on [`crate::EmulatorHandle`]; this is the same thing over HTTP for
//! the binary, scripts and other languages.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, Utc};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cloud_guard::{NewProblem, ProblemUpdate};
use crate::error::{ApiError, EmulatorError};
use crate::faults::FaultRule;
use crate::http_util::{Reply, parse_time};
use crate::keys::public_key_from_pem;
use crate::latency::Latency;
use crate::logging_search::{NewLog, NewLogGroup, NewLogRecords};
use crate::state::{NewEvents, Shared, lock, write};
use crate::store::TimeSelection;
use crate::tenancy::{Access, rfc3339_ms};

fn bad(e: impl std::fmt::Display) -> Reply {
    Reply::error(&ApiError::invalid_parameter(e.to_string()))
}

fn from_emulator_error(e: &EmulatorError) -> Reply {
    match e {
        EmulatorError::UnknownCompartment(_)
        | EmulatorError::UnknownProblem(_)
        | EmulatorError::UnknownLog(_) => {
            Reply::error(&ApiError::not_authorized_or_not_found(e.to_string()))
        }
        _ => bad(e),
    }
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewCompartment {
    parent_id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogChange {
    is_enabled: bool,
}

#[derive(Debug, Deserialize)]
struct AccessChange {
    access: Access,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewKey {
    /// Public or private key PEM.
    pem: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    passphrase: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockChange {
    /// Shift of the emulator clock relative to its source, milliseconds.
    shift_ms: i64,
}

/// `PUT /_emulator/settings`: every field optional, the missing ones stay as they are.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsChange {
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    time_selection: Option<TimeSelection>,
    #[serde(default)]
    latency_ms: Option<LatencyChange>,
    #[serde(default)]
    live: Option<bool>,
}

/// A number sets every service's latency; an object sets the services it names.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LatencyChange {
    All(u64),
    PerApi(LatencyPerApi),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LatencyPerApi {
    #[serde(default)]
    audit: Option<u64>,
    #[serde(default)]
    identity: Option<u64>,
    #[serde(default)]
    object_storage: Option<u64>,
    #[serde(default)]
    cloud_guard: Option<u64>,
    #[serde(default)]
    logging_search: Option<u64>,
}

impl LatencyChange {
    fn apply(&self, mut l: Latency) -> Latency {
        match *self {
            Self::All(ms) => Latency::uniform(ms),
            Self::PerApi(ref p) => {
                l.audit_ms = p.audit.unwrap_or(l.audit_ms);
                l.identity_ms = p.identity.unwrap_or(l.identity_ms);
                l.object_storage_ms = p.object_storage.unwrap_or(l.object_storage_ms);
                l.cloud_guard_ms = p.cloud_guard.unwrap_or(l.cloud_guard_ms);
                l.logging_search_ms = p.logging_search.unwrap_or(l.logging_search_ms);
                l
            }
        }
    }
}

fn settings_json(shared: &Shared) -> Value {
    let l = shared.latency.get();
    json!({
        "pageSize": shared.page_size.load(Ordering::Relaxed),
        "timeSelection": shared.time_selection(),
        "latencyMs": {
            "audit": l.audit_ms,
            "identity": l.identity_ms,
            "objectStorage": l.object_storage_ms,
            "cloudGuard": l.cloud_guard_ms,
            "loggingSearch": l.logging_search_ms,
        },
        "live": shared.is_live(),
    })
}

fn change_settings(shared: &Shared, body: &[u8]) -> Result<Reply, Reply> {
    let req: SettingsChange = parse_body(body)?;
    if req.page_size == Some(0) {
        return Err(bad("pageSize must be at least 1"));
    }
    if let Some(n) = req.page_size {
        shared.page_size.store(n, Ordering::Relaxed);
    }
    if let Some(selection) = req.time_selection {
        shared.set_time_selection(selection);
    }
    if let Some(change) = &req.latency_ms {
        shared.latency.set(change.apply(shared.latency.get()));
    }
    if let Some(live) = req.live {
        shared.set_live(live);
    }
    Ok(Reply::json_value(StatusCode::OK, &settings_json(shared)))
}

#[derive(Debug, Deserialize)]
struct NewBucket {
    name: String,
}

fn clock_json(shared: &Shared) -> Value {
    json!({
        "now": rfc3339_ms(shared.clock.now()),
        "shiftMs": shared.clock.shift().num_milliseconds(),
    })
}

fn ground_truth(shared: &Shared, q: &HashMap<String, String>) -> Reply {
    let time = |name: &str, default: DateTime<Utc>| match q.get(name) {
        Some(v) => parse_time(name, v),
        None => Ok(default),
    };
    let (start, end) = match (
        time("start", DateTime::<Utc>::MIN_UTC),
        time("end", DateTime::<Utc>::MAX_UTC),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return Reply::error(&e),
    };
    let visible_only = q.get("visibleOnly").is_some_and(|v| v == "true");
    let selection = match q.get("timeSelection").map(|v| v.parse::<TimeSelection>()) {
        None => TimeSelection::Event,
        Some(Ok(s)) => s,
        Some(Err(e)) => return bad(format!("timeSelection: {e}")),
    };
    match shared.ground_truth(
        q.get("compartmentId").map(String::as_str),
        selection,
        (start, end),
        visible_only,
    ) {
        Ok(events) => Reply::json_value(StatusCode::OK, &json!({ "events": events })),
        Err(e) => from_emulator_error(&e),
    }
}

pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .collect();
    let ok = |v: Value| Reply::json_value(StatusCode::OK, &v);
    let result: Result<Reply, Reply> = (|| {
        Ok(match (method.clone(), segs.as_slice()) {
            (Method::GET, ["health"]) => ok(json!({ "ok": true })),
            (Method::GET, ["tenancy"]) => Reply::json_value(StatusCode::OK, &shared.tenancy_info()),
            (Method::POST, ["compartments"]) => {
                let req: NewCompartment = parse_body(body)?;
                let c = shared
                    .add_compartment(&req.parent_id, req.name)
                    .map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &c)
            }
            (Method::PUT, ["compartments", id, "access"]) => {
                let req: AccessChange = parse_body(body)?;
                shared
                    .set_access(id, req.access)
                    .map_err(|e| from_emulator_error(&e))?;
                ok(json!({ "compartmentId": id, "access": req.access }))
            }
            (Method::GET, ["events"]) => ground_truth(shared, q),
            (Method::GET, ["events", id]) => match shared.event_json(id) {
                Some(json) => Reply::json(StatusCode::OK, json),
                None => Reply::error(&ApiError::not_authorized_or_not_found(format!(
                    "no event {id}"
                ))),
            },
            (Method::POST, ["events"]) => {
                let req: NewEvents = parse_body(body)?;
                let events = shared
                    .add_events(req)
                    .map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &json!({ "events": events }))
            }
            (Method::GET, ["problems"]) => ok(json!({ "problems": shared.problems() })),
            (Method::GET, ["problems", "versions"]) => {
                ok(json!({ "versions": shared.problem_versions() }))
            }
            (Method::POST, ["problems"]) => {
                let req: NewProblem = parse_body(body)?;
                let p = shared
                    .add_problem(req)
                    .map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &p)
            }
            (Method::PUT, ["problems", id]) => {
                let req: ProblemUpdate = parse_body(body)?;
                let p = shared
                    .update_problem(id, req)
                    .map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &p)
            }
            (Method::GET, ["logs"]) => {
                let (groups, logs) = shared.log_groups_and_logs();
                ok(json!({ "logGroups": groups, "logs": logs }))
            }
            (Method::POST, ["logs", "groups"]) => {
                let req: NewLogGroup = parse_body(body)?;
                let g = shared
                    .add_log_group(req)
                    .map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &g)
            }
            (Method::POST, ["logs"]) => {
                let req: NewLog = parse_body(body)?;
                let l = shared.add_log(req).map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &l)
            }
            (Method::GET, ["logs", "records"]) => ok(json!({ "records": shared.log_records() })),
            (Method::POST, ["logs", "records"]) => {
                let req: NewLogRecords = parse_body(body)?;
                let added = shared
                    .add_log_records(req)
                    .map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &json!({ "records": added }))
            }
            (Method::PUT, ["logs", id]) => {
                let req: LogChange = parse_body(body)?;
                let l = shared
                    .set_log_enabled(id, req.is_enabled)
                    .map_err(|e| from_emulator_error(&e))?;
                Reply::json_value(StatusCode::OK, &l)
            }
            (Method::GET, ["faults"]) => {
                Reply::json_value(StatusCode::OK, &json!({ "rules": shared.faults() }))
            }
            (Method::PUT, ["faults"]) => {
                #[derive(Deserialize)]
                struct Rules {
                    rules: Vec<FaultRule>,
                }
                let req: Rules = parse_body(body)?;
                shared.set_faults(req.rules);
                Reply::json_value(StatusCode::OK, &json!({ "rules": shared.faults() }))
            }
            (Method::DELETE, ["faults"]) => {
                shared.set_faults(Vec::new());
                ok(json!({ "rules": [] }))
            }
            (Method::GET, ["requests"]) => {
                Reply::json_value(StatusCode::OK, &json!({ "requests": shared.request_log() }))
            }
            (Method::DELETE, ["requests"]) => {
                shared.clear_request_log();
                ok(json!({ "requests": [] }))
            }
            (Method::GET, ["keys"]) => {
                ok(json!({ "fingerprints": crate::state::read(&shared.keys).fingerprints() }))
            }
            (Method::POST, ["keys"]) => {
                let req: NewKey = parse_body(body)?;
                let key = public_key_from_pem(&req.pem, req.passphrase.as_deref()).map_err(bad)?;
                let fp = write(&shared.keys)
                    .register(key, req.user_id)
                    .map_err(bad)?;
                ok(json!({ "fingerprint": fp }))
            }
            (Method::DELETE, ["keys", fp]) => {
                ok(json!({ "removed": write(&shared.keys).remove(fp) }))
            }
            (Method::GET, ["clock"]) => ok(clock_json(shared)),
            (Method::PUT, ["clock"]) => {
                let req: ClockChange = parse_body(body)?;
                shared.clock.set_shift(Duration::milliseconds(req.shift_ms));
                ok(clock_json(shared))
            }
            (Method::GET, ["settings"]) => ok(settings_json(shared)),
            (Method::PUT, ["settings"]) => change_settings(shared, body)?,
            (Method::GET, ["stats"]) => Reply::json_value(StatusCode::OK, &shared.stats.snapshot()),
            (Method::DELETE, ["stats"]) => {
                shared.stats.reset(shared.clock.now());
                Reply::json_value(StatusCode::OK, &shared.stats.snapshot())
            }
            (Method::GET, ["buckets"]) => {
                ok(json!({ "buckets": lock(&shared.objects).bucket_names() }))
            }
            (Method::POST, ["buckets"]) => {
                let req: NewBucket = parse_body(body)?;
                lock(&shared.objects).create_bucket(&req.name);
                ok(json!({ "name": req.name }))
            }
            (Method::GET, ["buckets", name]) => match lock(&shared.objects).list(name) {
                Some(objects) => ok(json!({ "objects": objects })),
                None => Reply::error(&ApiError::new(
                    StatusCode::NOT_FOUND,
                    "BucketNotFound",
                    format!("no bucket {name}"),
                )),
            },
            _ => Reply::error(&ApiError::no_such_operation(method, path)),
        })
    })();
    result.unwrap_or_else(|r| r)
}
