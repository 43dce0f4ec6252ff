//! The public, in-process face of the emulator: [`Emulator::builder`] to configure and start
//! it, [`EmulatorHandle`] to reach it and drive it from tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, Utc};
use rsa::RsaPublicKey;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{Clock, EmulatorClock, SystemClock};
use crate::cloud_guard::{NewProblem, Problem, ProblemUpdate, ProblemVersion};
use crate::config::EmulatorConfig;
use crate::delay::DelayDistribution;
use crate::error::EmulatorError;
use crate::faults::FaultRule;
use crate::keys::{SignedHeaders, TEST_USER_ID, TestKey, public_key_from_pem};
use crate::latency::Latency;
use crate::logging_search::{Log, LogGroup, LogRecord, NewLog, NewLogGroup, NewLogRecords};
use crate::object_storage::ObjectInfo;
use crate::state::{CompartmentInfo, NewEvents, RequestRecord, Shared, TenancyInfo, lock, write};
use crate::stats::RequestStats;
use crate::store::{EventInfo, TimeSelection};
use crate::tenancy::{Access, Compartment};

/// Entry point: `Emulator::builder().seed(7).start().await`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with test-friendly defaults (see [`EmulatorConfig`]).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// Configures an emulator before starting it.
#[derive(Debug, Default)]
pub struct EmulatorBuilder {
    config: EmulatorConfig,
    clock: Option<Arc<dyn Clock>>,
    keys: Vec<(RsaPublicKey, Option<String>)>,
    faults: Vec<FaultRule>,
}

impl EmulatorBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: EmulatorConfig) -> Self {
        self.config = config;
        self
    }
    /// Seed for everything generated.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }
    /// Number of compartments below the root.
    pub fn compartments(mut self, n: usize) -> Self {
        self.config.tenancy.compartments = n;
        self
    }
    /// Maximum depth of the compartment tree (1 = flat).
    pub fn max_depth(mut self, d: usize) -> Self {
        self.config.tenancy.max_depth = d;
        self
    }
    /// Mean events per compartment per minute.
    pub fn events_per_minute(mut self, rate: f64) -> Self {
        self.config.events.events_per_minute = rate;
        self
    }
    /// A thin stream: mean events per minute across the whole tenancy, each in a random
    /// compartment (replaces the per-compartment rate for every generated minute).
    pub fn tenancy_events_per_minute(mut self, rate: f64) -> Self {
        self.config.events.tenancy_events_per_minute = Some(rate);
        self
    }
    /// Ingestion delay distribution.
    pub fn delay(mut self, d: DelayDistribution) -> Self {
        self.config.events.delay = d;
        self
    }
    /// Chance and size of very large payloads.
    pub fn large_payloads(mut self, probability: f64, bytes: usize) -> Self {
        self.config.events.large_payload_probability = probability;
        self.config.events.large_payload_bytes = bytes;
        self
    }
    /// Chance of unicode and control characters in free-text fields.
    pub fn unicode_probability(mut self, p: f64) -> Self {
        self.config.events.unicode_probability = p;
        self
    }
    /// History generated at start-up.
    pub fn backlog(mut self, d: Duration) -> Self {
        self.config.backlog = d;
        self
    }
    /// Leaves the newest `d` (whole minutes) of the backlog without events.
    pub fn backlog_end_ago(mut self, d: Duration) -> Self {
        self.config.backlog_end_ago = d;
        self
    }
    /// Exactly `n` events per compartment at random times over the backlog, instead of the
    /// per-minute rate.
    pub fn backlog_events_per_compartment(mut self, n: usize) -> Self {
        self.config.backlog_events_per_compartment = Some(n);
        self
    }
    /// Whether events keep being generated as the clock advances.
    pub fn live(mut self, live: bool) -> Self {
        self.config.live = live;
        self
    }
    /// Events per `ListEvents` page.
    pub fn page_size(mut self, n: usize) -> Self {
        self.config.page_size = n;
        self
    }
    /// Default `limit` of `ListCompartments`.
    pub fn compartment_page_size(mut self, n: usize) -> Self {
        self.config.compartment_page_size = n;
        self
    }
    /// Which time `ListEvents`' window selects on.
    pub fn time_selection(mut self, s: TimeSelection) -> Self {
        self.config.time_selection = s;
        self
    }
    /// Latency added to every OCI request.
    pub fn latency(mut self, l: Latency) -> Self {
        self.config.latency = l;
        self
    }
    /// How many requests the request log keeps (0: none; the counters still count).
    pub fn request_log_capacity(mut self, n: usize) -> Self {
        self.config.request_log_capacity = n;
        self
    }

    /// Cloud Guard problems generated at start-up (default none), spread over the
    /// compartments and the backlog, the same ones for the same seed and start time.
    pub fn problems(mut self, n: usize) -> Self {
        self.config.problems = n;
        self
    }

    /// VCN flow log records generated at start-up (default none): one log group `flow-logs`
    /// with one log `vcn-flowlogs` in the first compartment below the root, its records spread
    /// over the backlog, the same ones for the same seed and start time.
    pub fn log_records(mut self, n: usize) -> Self {
        self.config.log_records = n;
        self
    }
    /// Whether PutObject creates unknown buckets.
    pub fn auto_create_buckets(mut self, yes: bool) -> Self {
        self.config.auto_create_buckets = yes;
        self
    }
    /// Listen address (must be loopback; port 0 picks one).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }
    /// The clock; defaults to the system clock. Use [`crate::ManualClock`] to control "now".
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }
    /// Registers a public key at start-up.
    pub fn key(mut self, key: RsaPublicKey) -> Self {
        self.keys.push((key, None));
        self
    }
    /// Registers the key in a PEM (public or private) at start-up.
    pub fn key_pem(mut self, pem: &str, passphrase: Option<&str>) -> Result<Self, EmulatorError> {
        self.keys
            .push((public_key_from_pem(pem, passphrase)?, None));
        Ok(self)
    }
    /// Faults active from the first request.
    pub fn faults(mut self, rules: Vec<FaultRule>) -> Self {
        self.faults = rules;
        self
    }

    /// Generates the tenancy and backlog, binds the listener and starts serving.
    pub async fn start(self) -> Result<EmulatorHandle, EmulatorError> {
        let addr = self.config.bind;
        if !addr.ip().is_loopback() {
            return Err(EmulatorError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let clock = EmulatorClock::new(self.clock.unwrap_or_else(|| Arc::new(SystemClock)));
        let config = self.config;
        // A multi-hour backlog takes a while to render; keep it off the async workers.
        let shared = tokio::task::spawn_blocking(move || Shared::new(config, clock))
            .await
            .map_err(|e| EmulatorError::Config(format!("backlog generation failed: {e}")))?;
        for (key, user) in self.keys {
            write(&shared.keys).register(key, user)?;
        }
        shared.set_faults(self.faults);
        let shared = Arc::new(shared);
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(crate::server::serve(listener, shared.clone(), rx));
        tracing::info!(addr = %local, events = shared.event_count(), "OCI emulator listening");
        Ok(EmulatorHandle {
            shared,
            addr: local,
            shutdown: tx,
            task: Some(task),
        })
    }
}

/// Signs requests for the emulator with a registered [`TestKey`].
#[derive(Debug, Clone)]
pub struct RequestSigner {
    key: TestKey,
    key_id: String,
    host: String,
}

impl RequestSigner {
    /// `tenancy/user/fingerprint`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    /// The key.
    pub fn key(&self) -> &TestKey {
        &self.key
    }
    /// Headers for a request dated `date`. PUT/POST/PATCH sign the body headers, except when
    /// `sign_body` is false (Object Storage PutObject).
    pub fn sign(
        &self,
        method: &http::Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        date: DateTime<Utc>,
        sign_body: bool,
    ) -> SignedHeaders {
        self.key.sign_request(
            &self.key_id,
            method,
            &self.host,
            path_and_query,
            date,
            body,
            "application/json",
            sign_body,
        )
    }
}

/// A running emulator. Dropping it stops the server and closes every connection.
#[derive(Debug)]
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`: pass as the OCI endpoint (the SDKs append the API version).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The `host` header value clients sign (`127.0.0.1:PORT`).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
    /// The tenancy (root compartment) OCID.
    pub fn tenancy_id(&self) -> String {
        self.shared.ctx.tenancy_id.clone()
    }
    /// The region name used in event data.
    pub fn region(&self) -> String {
        self.shared.ctx.region.clone()
    }
    /// The Object Storage namespace.
    pub fn namespace(&self) -> String {
        self.shared.ctx.namespace.clone()
    }
    /// The whole tenancy, root first.
    pub fn tenancy(&self) -> TenancyInfo {
        self.shared.tenancy_info()
    }
    /// Every compartment id, root (tenancy) first.
    pub fn compartment_ids(&self) -> Vec<String> {
        self.compartments()
            .into_iter()
            .map(|c| c.compartment.id)
            .collect()
    }
    /// Every compartment with depth and access, root first.
    pub fn compartments(&self) -> Vec<CompartmentInfo> {
        self.shared.tenancy_info().compartments
    }
    /// The emulator's "now" (clock source plus shift).
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }
    /// Shifts the emulator clock relative to its source (e.g. +6 min makes every client look
    /// skewed).
    pub fn set_clock_shift(&self, shift: Duration) {
        self.shared.clock.set_shift(shift);
    }
    /// Start of the generated history.
    pub fn backlog_start(&self) -> DateTime<Utc> {
        self.shared.backlog_start()
    }
    /// Events currently stored (generated and added, visible or not).
    pub fn event_count(&self) -> usize {
        self.shared.event_count()
    }

    /// Registers a public key; returns its fingerprint.
    pub fn register_key(&self, key: RsaPublicKey) -> Result<String, EmulatorError> {
        Ok(write(&self.shared.keys).register(key, None)?)
    }
    /// Registers the key in a PEM (public or private); returns its fingerprint.
    pub fn register_key_pem(
        &self,
        pem: &str,
        passphrase: Option<&str>,
    ) -> Result<String, EmulatorError> {
        self.register_key(public_key_from_pem(pem, passphrase)?)
    }
    /// Unregisters a key.
    pub fn remove_key(&self, fingerprint: &str) -> bool {
        write(&self.shared.keys).remove(fingerprint)
    }
    /// Registers the process-wide [`TestKey::shared`] and returns a signer for it.
    pub fn test_signer(&self) -> Result<RequestSigner, EmulatorError> {
        self.signer_for(TestKey::shared()?.clone())
    }
    /// Registers `key` and returns a signer for it (user [`TEST_USER_ID`]).
    pub fn signer_for(&self, key: TestKey) -> Result<RequestSigner, EmulatorError> {
        self.register_key(key.public_key())?;
        Ok(RequestSigner {
            key_id: key.key_id(&self.tenancy_id(), TEST_USER_ID),
            key,
            host: self.host(),
        })
    }
    /// Writes an OCI CLI/SDK config (`[DEFAULT]` profile) and its key file into `dir`, for a
    /// key that is registered here; returns the config path.
    pub fn write_cli_config(&self, dir: &Path, key: &TestKey) -> std::io::Result<PathBuf> {
        crate::cli_config::write(dir, key, &self.tenancy_id(), TEST_USER_ID, &self.region())
    }

    /// Events that exist now with `eventTime` in `[start, end)` (visible or not). `None` means
    /// every compartment including the root.
    pub fn ground_truth(
        &self,
        compartment_id: Option<&str>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<EventInfo>, EmulatorError> {
        self.shared
            .ground_truth(compartment_id, TimeSelection::Event, (start, end), false)
    }
    /// Like [`Self::ground_truth`], only events `ListEvents` would return now.
    pub fn visible_ground_truth(
        &self,
        compartment_id: Option<&str>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<EventInfo>, EmulatorError> {
        self.shared
            .ground_truth(compartment_id, TimeSelection::Event, (start, end), true)
    }
    /// Events that exist now whose `selection` time (event time, or processing time) is in
    /// `[start, end)`, per compartment in the order `ListEvents` pages them in that selection;
    /// with `visible_only`, exactly what `ListEvents` in that selection returns now.
    pub fn ground_truth_by(
        &self,
        selection: TimeSelection,
        compartment_id: Option<&str>,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        visible_only: bool,
    ) -> Result<Vec<EventInfo>, EmulatorError> {
        self.shared
            .ground_truth(compartment_id, selection, (start, end), visible_only)
    }
    /// The stored JSON of one event.
    pub fn event_json(&self, event_id: &str) -> Option<serde_json::Value> {
        self.shared
            .event_json(event_id)
            .and_then(|b| serde_json::from_slice(&b).ok())
    }
    /// Adds events (synthetic, or a given body).
    pub fn add_events(&self, req: NewEvents) -> Result<Vec<EventInfo>, EmulatorError> {
        self.shared.add_events(req)
    }
    /// Adds a compartment; it gets events from now on.
    pub fn add_compartment(
        &self,
        parent_id: &str,
        name: Option<&str>,
    ) -> Result<Compartment, EmulatorError> {
        self.shared
            .add_compartment(parent_id, name.map(str::to_string))
    }
    /// Makes a compartment answer 404/403 (or normally again).
    pub fn set_compartment_access(
        &self,
        compartment_id: &str,
        access: Access,
    ) -> Result<(), EmulatorError> {
        self.shared.set_access(compartment_id, access)
    }

    /// Every Cloud Guard problem as `ListProblems` would show it now (whatever its state),
    /// in creation order.
    pub fn problems(&self) -> Vec<Problem> {
        self.shared.problems()
    }

    /// Ground truth of Cloud Guard: every version of every problem, in the order the changes
    /// happened (version 1 is the problem as created).
    pub fn problem_versions(&self) -> Vec<ProblemVersion> {
        self.shared.problem_versions()
    }

    /// Adds a Cloud Guard problem (`timeFirstDetected` defaults to now).
    pub fn add_problem(&self, req: NewProblem) -> Result<Problem, EmulatorError> {
        self.shared.add_problem(req)
    }

    /// Changes a problem (a new detection, resolving or dismissing it) and records the new
    /// version.
    pub fn update_problem(
        &self,
        id: &str,
        change: ProblemUpdate,
    ) -> Result<Problem, EmulatorError> {
        self.shared.update_problem(id, change)
    }
    /// Every log group and every log (Logging Search), in creation order.
    pub fn log_groups(&self) -> Vec<LogGroup> {
        self.shared.log_groups_and_logs().0
    }

    /// Every log, in creation order.
    pub fn logs(&self) -> Vec<Log> {
        self.shared.log_groups_and_logs().1
    }

    /// Adds a log group to an existing compartment.
    pub fn add_log_group(&self, req: NewLogGroup) -> Result<LogGroup, EmulatorError> {
        self.shared.add_log_group(req)
    }

    /// Adds a log to an existing log group (enabled unless `is_enabled: Some(false)`).
    pub fn add_log(&self, req: NewLog) -> Result<Log, EmulatorError> {
        self.shared.add_log(req)
    }

    /// Enables or disables a log: a disabled log's records are not searched.
    pub fn set_log_enabled(&self, log_id: &str, enabled: bool) -> Result<Log, EmulatorError> {
        self.shared.set_log_enabled(log_id, enabled)
    }

    /// Adds records to a log, ingested `delay_ms` after their `datetime`.
    pub fn add_log_records(&self, req: NewLogRecords) -> Result<Vec<LogRecord>, EmulatorError> {
        self.shared.add_log_records(req)
    }

    /// Ground truth of Logging: every record ever added, ingested yet or not.
    pub fn log_records(&self) -> Vec<LogRecord> {
        self.shared.log_records()
    }

    /// Replaces the fault rules (an empty list switches faults off).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.shared.set_faults(rules);
    }
    /// Limits the Audit API to `per_second` requests a wall-clock second, answering 429
    /// (`Retry-After: 1`) beyond it, as OCI's own rate limit would (`None`: no limit). Counted
    /// as faulted in [`Self::stats`].
    pub fn set_audit_rate_limit(&self, per_second: Option<u32>) {
        self.shared.set_audit_rate_limit(per_second);
    }
    /// The current fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.faults()
    }
    /// Every request served (up to the log capacity), oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.request_log()
    }
    /// Empties the request log.
    pub fn clear_request_log(&self) {
        self.shared.clear_request_log();
    }
    /// Changes the `ListEvents` page size at run time.
    pub fn set_page_size(&self, n: usize) {
        self.shared.page_size.store(n.max(1), Ordering::Relaxed);
    }
    /// Which time `ListEvents`' window selects on now.
    pub fn time_selection(&self) -> TimeSelection {
        self.shared.time_selection()
    }
    /// Switches the time `ListEvents`' window selects on. Page tokens of the other selection
    /// are refused (`400`) from now on.
    pub fn set_time_selection(&self, selection: TimeSelection) {
        self.shared.set_time_selection(selection);
    }
    /// The latency added to OCI requests now.
    pub fn latency(&self) -> Latency {
        self.shared.latency.get()
    }
    /// Changes the latency added to OCI requests (requests already waiting keep theirs).
    pub fn set_latency(&self, latency: Latency) {
        self.shared.latency.set(latency);
    }
    /// Whether new minutes are being generated as the clock advances.
    pub fn is_live(&self) -> bool {
        self.shared.is_live()
    }
    /// Pauses or resumes the live stream; minutes that pass while paused stay empty.
    pub fn set_live(&self, live: bool) {
        self.shared.set_live(live);
    }
    /// Requests per operation since start-up or the last [`Self::reset_stats`].
    pub fn stats(&self) -> RequestStats {
        self.shared.stats.snapshot()
    }
    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.shared.stats.reset(self.shared.clock.now());
    }
    /// Creates an empty bucket.
    pub fn create_bucket(&self, name: &str) {
        lock(&self.shared.objects).create_bucket(name);
    }
    /// A bucket's objects, if it exists.
    pub fn objects(&self, bucket: &str) -> Option<Vec<ObjectInfo>> {
        lock(&self.shared.objects).list(bucket)
    }

    /// Stops serving and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
