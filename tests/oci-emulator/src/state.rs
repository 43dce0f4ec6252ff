//! The emulator's shared state and the operations on it. The wire handlers and the control API
//! (HTTP and in-process) all go through here, so tests see exactly what clients see.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::EmulatorClock;
use crate::cloud_guard::{NewProblem, Problem, ProblemStore, ProblemUpdate, ProblemVersion};
use crate::config::EmulatorConfig;
use crate::error::EmulatorError;
use crate::events::{StoredEvent, TenancyContext, build_event};
use crate::faults::{FaultPlan, FaultRule};
use crate::keys::KeyRegistry;
use crate::latency::LatencyKnob;
use crate::logging_search::{
    Log, LogGroup, LogRecord, LogStore, NewLog, NewLogGroup, NewLogRecords,
};
use crate::object_storage::ObjectStore;
use crate::seed;
use crate::stats::StatsCounters;
use crate::store::{EventInfo, EventStore, MINUTE_MS, TimeSelection};
use crate::tenancy::{Access, Compartment, Tenancy, rfc3339_ms};

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
pub(crate) fn lock<T>(l: &Mutex<T>) -> MutexGuard<'_, T> {
    l.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One served request, as the request log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Arrival order, from 0.
    pub seq: u64,
    /// Emulator time at arrival.
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Request target as received (path and query).
    pub target: String,
    /// Operation name such as `ListEvents`, or `Control`/`Unknown`.
    pub operation: String,
    /// Response status (0 when the connection was reset instead).
    pub status: u16,
    /// OCI error code, for error responses.
    pub error_code: Option<String>,
    /// Injected fault, if any.
    pub fault: Option<String>,
    /// The signing keyId, when the signature verified.
    pub key_id: Option<String>,
    /// The response's `opc-request-id`.
    pub opc_request_id: String,
    /// Query `compartmentId`, when present.
    pub compartment_id: Option<String>,
    /// Events returned by ListEvents.
    pub events_returned: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: VecDeque<RequestRecord>,
    capacity: usize,
}

impl RequestLog {
    fn push(&mut self, r: RequestRecord) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(r);
    }
}

/// A request to add events through the control API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvents {
    /// Where the events go.
    pub compartment_id: String,
    /// Their `eventTime`.
    pub event_time: DateTime<Utc>,
    /// When they become visible; default `eventTime + delayMs`.
    #[serde(default)]
    pub visible_at: Option<DateTime<Utc>>,
    /// Ingestion delay; default drawn from the configured distribution.
    #[serde(default)]
    pub delay_ms: Option<i64>,
    /// How many (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// A full event body to use instead of a synthetic one; `eventTime` and
    /// `data.compartmentId` are overwritten, `eventId` kept if present (only when count is 1).
    #[serde(default)]
    pub event: Option<Value>,
}

/// Describes the tenancy, for the control API and the demo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenancyInfo {
    /// The tenancy (root compartment) OCID.
    pub tenancy_id: String,
    /// Its name.
    pub name: String,
    /// Region used in event data.
    pub region: String,
    /// Object Storage namespace.
    pub namespace: String,
    /// The seed.
    pub seed: u64,
    /// Root first, then every compartment.
    pub compartments: Vec<CompartmentInfo>,
}

/// A compartment with its place in the tree and its access override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompartmentInfo {
    /// As Identity returns it.
    #[serde(flatten)]
    pub compartment: Compartment,
    /// 0 for the root.
    pub depth: usize,
    /// The access override.
    pub access: Access,
}

/// A fixed one-second window of requests, as a service rate limit counts them.
#[derive(Debug)]
struct RateWindow {
    per_second: u32,
    started: std::time::Instant,
    used: u32,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    pub(crate) clock: EmulatorClock,
    pub(crate) ctx: TenancyContext,
    pub(crate) tenancy: RwLock<Tenancy>,
    pub(crate) store: RwLock<EventStore>,
    pub(crate) keys: RwLock<KeyRegistry>,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) objects: Mutex<ObjectStore>,
    /// Cloud Guard problems and their versions.
    pub(crate) problems: RwLock<ProblemStore>,
    /// Log groups, logs and their records (Logging Search).
    pub(crate) logs: RwLock<LogStore>,
    log: Mutex<RequestLog>,
    pub(crate) stats: StatsCounters,
    pub(crate) latency: LatencyKnob,
    /// OCI's rate limit on the Audit API, when one is set.
    audit_limit: Mutex<Option<RateWindow>>,
    pub(crate) page_size: AtomicUsize,
    /// [`TimeSelection`] as 0 (event) or 1 (processed).
    time_selection: AtomicU8,
    /// Whether new minutes are generated as the clock advances.
    live: AtomicBool,
    requests: AtomicU64,
    added: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: EmulatorConfig, clock: EmulatorClock) -> Self {
        let tenancy = Tenancy::generate(config.seed, &config.tenancy);
        let ctx = TenancyContext::new(
            config.seed,
            &tenancy.tenancy_id,
            &tenancy.region,
            &tenancy.namespace,
        );
        let now = clock.now();
        let now_ms = now.timestamp_millis();
        let now_minute = now_ms.div_euclid(MINUTE_MS);
        let from = (now_ms - config.backlog.num_milliseconds().max(0)).div_euclid(MINUTE_MS);
        // Backlog: complete minutes up to now, less a quiet end if asked for.
        let backlog_end = (now_minute - config.backlog_end_ago.num_minutes().max(0)).max(from);
        let mut store = EventStore::new(from);
        match config.backlog_events_per_compartment {
            Some(n) => store.spread(backlog_end, n, &tenancy, &ctx, &config.events),
            None => store.materialize(backlog_end, &tenancy, &ctx, &config.events),
        }
        // Live mode also covers the current minute.
        if config.live {
            store.skip_to(now_minute);
            store.materialize(now_minute + 1, &tenancy, &ctx, &config.events);
        }
        let objects = ObjectStore::new(config.seed, &tenancy.namespace, config.auto_create_buckets);
        let problems = ProblemStore::seeded(
            config.seed,
            config.problems,
            &tenancy.ids(),
            &tenancy.region,
            now,
            config.backlog,
        );
        let logs = LogStore::seeded(
            config.seed,
            config.log_records,
            &tenancy.ids(),
            &tenancy.tenancy_id,
            &tenancy.region,
            now,
            config.backlog,
        );
        let page_size = config.page_size.max(1);
        let log = RequestLog {
            entries: VecDeque::new(),
            capacity: config.request_log_capacity,
        };
        Self {
            clock,
            ctx,
            tenancy: RwLock::new(tenancy),
            store: RwLock::new(store),
            keys: RwLock::new(KeyRegistry::default()),
            faults: Mutex::new(FaultPlan::default()),
            objects: Mutex::new(objects),
            problems: RwLock::new(problems),
            logs: RwLock::new(logs),
            log: Mutex::new(log),
            stats: StatsCounters::new(now),
            latency: LatencyKnob::new(config.latency),
            audit_limit: Mutex::new(None),
            page_size: AtomicUsize::new(page_size),
            time_selection: AtomicU8::new(selection_code(config.time_selection)),
            live: AtomicBool::new(config.live),
            requests: AtomicU64::new(0),
            added: AtomicU64::new(0),
            config,
        }
    }

    pub(crate) fn next_request_seq(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// A server-side request id shaped like OCI's, deterministic per seed and arrival order.
    pub(crate) fn request_id(&self, seq: u64, client: Option<&str>) -> String {
        let mut rng = seed::rng(self.config.seed, &[b"request-id", &seq.to_le_bytes()]);
        let server = format!(
            "{}/{}",
            seed::hex_upper(&mut rng, 32),
            seed::hex_upper(&mut rng, 32)
        );
        match client {
            Some(c) if !c.is_empty() => format!("{c}/{server}"),
            _ => format!("{}/{server}", seed::hex_upper(&mut rng, 32)),
        }
    }

    /// In live mode, generates every minute up to the clock's current one.
    pub(crate) fn catch_up(&self) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let target = self.clock.now_ms().div_euclid(MINUTE_MS) + 1;
        if read(&self.store).until_minute() >= target {
            return;
        }
        let tenancy = read(&self.tenancy);
        write(&self.store).materialize(target, &tenancy, &self.ctx, &self.config.events);
    }

    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Pauses or resumes the live stream. Minutes that pass while paused stay empty; the
    /// minute in progress when pausing keeps the events already generated for it.
    pub(crate) fn set_live(&self, live: bool) {
        if live {
            let mut store = write(&self.store);
            store.skip_to(self.clock.now_ms().div_euclid(MINUTE_MS));
            self.live.store(true, Ordering::Release);
        } else {
            self.live.store(false, Ordering::Release);
        }
        self.catch_up();
    }

    pub(crate) fn time_selection(&self) -> TimeSelection {
        match self.time_selection.load(Ordering::Relaxed) {
            1 => TimeSelection::Processed,
            _ => TimeSelection::Event,
        }
    }

    pub(crate) fn set_time_selection(&self, selection: TimeSelection) {
        self.time_selection
            .store(selection_code(selection), Ordering::Relaxed);
    }

    pub(crate) fn log(&self, r: RequestRecord) {
        lock(&self.log).push(r);
    }

    pub(crate) fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.log).entries.iter().cloned().collect()
    }

    pub(crate) fn clear_request_log(&self) {
        lock(&self.log).entries.clear();
    }

    pub(crate) fn tenancy_info(&self) -> TenancyInfo {
        let t = read(&self.tenancy);
        TenancyInfo {
            tenancy_id: t.tenancy_id.clone(),
            name: t.name.clone(),
            region: t.region.clone(),
            namespace: t.namespace.clone(),
            seed: self.config.seed,
            compartments: t
                .records
                .iter()
                .map(|r| CompartmentInfo {
                    compartment: Tenancy::view(r),
                    depth: r.depth,
                    access: r.access,
                })
                .collect(),
        }
    }

    pub(crate) fn add_compartment(
        &self,
        parent_id: &str,
        name: Option<String>,
    ) -> Result<Compartment, EmulatorError> {
        self.catch_up();
        let now = self.clock.now();
        write(&self.tenancy)
            .add(self.config.seed, parent_id, name, now)
            .ok_or_else(|| EmulatorError::UnknownCompartment(parent_id.to_string()))
    }

    pub(crate) fn set_access(
        &self,
        compartment_id: &str,
        access: Access,
    ) -> Result<(), EmulatorError> {
        let mut t = write(&self.tenancy);
        let r = t
            .get_mut(compartment_id)
            .ok_or_else(|| EmulatorError::UnknownCompartment(compartment_id.to_string()))?;
        r.access = access;
        Ok(())
    }

    /// Ground truth: events that exist now whose selected time is in `[start, end)`. `None`
    /// means every compartment including the root.
    pub(crate) fn ground_truth(
        &self,
        compartment_id: Option<&str>,
        selection: TimeSelection,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        visible_only: bool,
    ) -> Result<Vec<EventInfo>, EmulatorError> {
        self.catch_up();
        let ids = {
            let t = read(&self.tenancy);
            match compartment_id {
                Some(c) if t.get(c).is_none() => {
                    return Err(EmulatorError::UnknownCompartment(c.into()));
                }
                Some(c) => vec![c.to_string()],
                None => t.ids(),
            }
        };
        Ok(read(&self.store).ground_truth(
            &ids,
            selection,
            (start.timestamp_millis(), end.timestamp_millis()),
            self.clock.now_ms(),
            visible_only,
        ))
    }

    pub(crate) fn add_events(&self, req: NewEvents) -> Result<Vec<EventInfo>, EmulatorError> {
        self.catch_up();
        let compartment = read(&self.tenancy)
            .get(&req.compartment_id)
            .map(|r| r.compartment.clone())
            .ok_or_else(|| EmulatorError::UnknownCompartment(req.compartment_id.clone()))?;
        let count = req.count.unwrap_or(1);
        if count == 0 || count > 1_000_000 {
            return Err(EmulatorError::Config("count must be 1..=1000000".into()));
        }
        let time_ms = req.event_time.timestamp_millis();
        let now_ms = self.clock.now_ms();
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let n = self.added.fetch_add(1, Ordering::Relaxed);
            let mut rng = seed::rng(self.config.seed, &[b"added-event", &n.to_le_bytes()]);
            let visible_ms = match (req.visible_at, req.delay_ms) {
                (Some(v), _) => v.timestamp_millis(),
                (None, Some(d)) => time_ms + d.max(0),
                (None, None) => time_ms + self.config.events.delay.sample(&mut rng),
            };
            let event = match &req.event {
                None => build_event(
                    &self.ctx,
                    &self.config.events,
                    &compartment,
                    time_ms,
                    visible_ms,
                    &mut rng,
                ),
                Some(body) => {
                    let mut body = body.clone();
                    let obj = body.as_object_mut().ok_or_else(|| {
                        EmulatorError::Config("event must be a JSON object".into())
                    })?;
                    let keep_id = count == 1 && obj.get("eventId").is_some_and(Value::is_string);
                    if !keep_id {
                        obj.insert("eventId".into(), Value::from(seed::guid(&mut rng)));
                    }
                    obj.insert("eventTime".into(), Value::from(rfc3339_ms(req.event_time)));
                    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
                        data.insert("compartmentId".into(), Value::from(compartment.id.clone()));
                    }
                    let id = obj
                        .get("eventId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    StoredEvent {
                        time_ms,
                        visible_ms,
                        id: id.into_boxed_str(),
                        json: bytes::Bytes::from(body.to_string()),
                    }
                }
            };
            let mut store = write(&self.store);
            if store.contains(&compartment.id, &event.id) {
                return Err(EmulatorError::Config(format!(
                    "event id {} already exists",
                    event.id
                )));
            }
            out.push(EventInfo {
                event_id: event.id.to_string(),
                compartment_id: compartment.id.clone(),
                event_time: rfc3339_ms(req.event_time),
                visible_at: rfc3339_ms(
                    DateTime::from_timestamp_millis(visible_ms).unwrap_or_default(),
                ),
                visible: visible_ms <= now_ms && time_ms <= now_ms,
            });
            store.insert(&compartment.id, event);
        }
        Ok(out)
    }

    /// Limits the Audit API to `per_second` requests a wall-clock second (`None`: no limit).
    pub(crate) fn set_audit_rate_limit(&self, per_second: Option<u32>) {
        *lock(&self.audit_limit) = per_second.map(|n| RateWindow {
            per_second: n,
            started: std::time::Instant::now(),
            used: 0,
        });
    }

    /// Takes one request from the Audit rate limit; `true` when it is exhausted (answer 429).
    pub(crate) fn over_audit_rate_limit(&self) -> bool {
        let mut limit = lock(&self.audit_limit);
        let Some(w) = limit.as_mut() else {
            return false;
        };
        let now = std::time::Instant::now();
        if now.duration_since(w.started) >= std::time::Duration::from_secs(1) {
            w.started = now;
            w.used = 0;
        }
        w.used += 1;
        w.used > w.per_second
    }

    /// Every Cloud Guard problem as it is now.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        read(&self.problems).current().to_vec()
    }

    /// Every version of every problem, in the order they were recorded.
    pub(crate) fn problem_versions(&self) -> Vec<ProblemVersion> {
        read(&self.problems).versions().to_vec()
    }

    pub(crate) fn add_problem(&self, req: NewProblem) -> Result<Problem, EmulatorError> {
        let region = {
            let t = read(&self.tenancy);
            if t.get(&req.compartment_id).is_none() {
                return Err(EmulatorError::UnknownCompartment(req.compartment_id));
            }
            t.region.clone()
        };
        write(&self.problems).add(self.config.seed, req, &region, self.clock.now())
    }

    pub(crate) fn update_problem(
        &self,
        id: &str,
        change: ProblemUpdate,
    ) -> Result<Problem, EmulatorError> {
        write(&self.problems).update(id, change, self.clock.now())
    }

    /// Every log group and every log.
    pub(crate) fn log_groups_and_logs(&self) -> (Vec<LogGroup>, Vec<Log>) {
        let logs = read(&self.logs);
        (logs.groups().to_vec(), logs.logs().to_vec())
    }

    pub(crate) fn add_log_group(&self, req: NewLogGroup) -> Result<LogGroup, EmulatorError> {
        let region = {
            let t = read(&self.tenancy);
            if t.get(&req.compartment_id).is_none() {
                return Err(EmulatorError::UnknownCompartment(req.compartment_id));
            }
            t.region.clone()
        };
        write(&self.logs).add_group(self.config.seed, req, &region)
    }

    pub(crate) fn add_log(&self, req: NewLog) -> Result<Log, EmulatorError> {
        let region = read(&self.tenancy).region.clone();
        write(&self.logs).add_log(self.config.seed, req, &region)
    }

    pub(crate) fn set_log_enabled(
        &self,
        log_id: &str,
        enabled: bool,
    ) -> Result<Log, EmulatorError> {
        write(&self.logs).set_enabled(log_id, enabled)
    }

    pub(crate) fn add_log_records(
        &self,
        req: NewLogRecords,
    ) -> Result<Vec<LogRecord>, EmulatorError> {
        let (tenancy_id, region) = {
            let t = read(&self.tenancy);
            (t.tenancy_id.clone(), t.region.clone())
        };
        write(&self.logs).add_records(
            self.config.seed,
            req,
            &tenancy_id,
            &region,
            self.clock.now(),
        )
    }

    /// Ground truth of Logging: every record ever added, with its ingestion time.
    pub(crate) fn log_records(&self) -> Vec<LogRecord> {
        read(&self.logs).records_truth(self.clock.now())
    }

    pub(crate) fn set_faults(&self, rules: Vec<FaultRule>) {
        lock(&self.faults).set(rules);
    }

    pub(crate) fn faults(&self) -> Vec<FaultRule> {
        lock(&self.faults).rules()
    }

    pub(crate) fn event_count(&self) -> usize {
        read(&self.store).len()
    }

    pub(crate) fn backlog_start(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(read(&self.store).first_minute() * MINUTE_MS)
            .unwrap_or_default()
    }

    pub(crate) fn event_json(&self, event_id: &str) -> Option<bytes::Bytes> {
        read(&self.store).event_json(event_id)
    }
}

/// [`TimeSelection`] as the byte `Shared` keeps it in (an atomic, read on every ListEvents).
fn selection_code(s: TimeSelection) -> u8 {
    match s {
        TimeSelection::Event => 0,
        TimeSelection::Processed => 1,
    }
}
