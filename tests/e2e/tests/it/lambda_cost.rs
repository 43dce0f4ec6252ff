//! The measurement behind the cost estimates in `docs/deploy.md` ("Cost"), not a test: it
//! asserts nothing about time. Run it by hand:
//!
//! ```sh
//! N=50 CONCURRENCY=4 STEP_MINUTES=5 cargo test -p auditfwd-e2e --test it lambda_cost -- --ignored --nocapture
//! ```
//!
//! The runner works N compartments of a live emulated tenancy (2 events per compartment per
//! minute, 100 per page) into a private rsyslogd over RELP, on a checkpoint store that counts
//! its calls; the emulator's clock (which the runner and request signing read too) moves
//! STEP_MINUTES between runs. Each run prints its wall time, windows, OCI requests and store
//! calls; runs after the first (the catch-up) are the steady state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use auditfwd_checkpoint::{
    AnyStore, Etag, FileStore, ObjectKey, ObjectStore, StoreError, StoredObject, WriteCondition,
};
use auditfwd_config::Config;
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_oci::{Endpoint, MinuteTimestamp, Region, SigningClock};
use auditfwd_pipeline::limits::Throttle;
use auditfwd_pipeline::{OciSource, RateLimits, Runner, RunnerConfig};
use auditfwd_syslog::{Encoder, SyslogSender, SyslogSink};
use chrono::{DateTime, Duration, Utc};
use oci_emulator::{DelayDistribution, Emulator, ManualClock};

/// The emulator's clock, read by the pipeline.
#[derive(Debug)]
struct EmulatorTime(ManualClock);

impl auditfwd_pipeline::Clock for EmulatorTime {
    fn now(&self) -> DateTime<Utc> {
        oci_emulator::Clock::now(&self.0)
    }
}

/// A store that counts reads (GET and LIST), writes and deletes.
#[derive(Debug)]
struct Counting {
    inner: AnyStore,
    reads: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
}

impl Counting {
    fn counts(&self) -> [u64; 3] {
        [&self.reads, &self.writes, &self.deletes].map(|c| c.load(Ordering::Relaxed))
    }
}

impl ObjectStore for Counting {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &ObjectKey,
        body: bytes::Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, body, condition).await
    }
    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        self.deletes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key, if_match).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix, start_after).await
    }
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for docs/deploy.md, run by hand"]
#[allow(clippy::print_stdout)] // the measurement is its output
async fn per_compartment_cost_of_a_run() {
    let n: usize = setting("N", 50);
    let concurrency: usize = setting("CONCURRENCY", 4);
    let step: i64 = setting("STEP_MINUTES", 5);
    let clock = ManualClock::new(MinuteTimestamp::floor(Utc::now()).as_datetime());
    let emu = Emulator::builder()
        .seed(77)
        .compartments(n - 1)
        .max_depth(3)
        .events_per_minute(2.0)
        .backlog(Duration::minutes(30))
        .live(true)
        .delay(DelayDistribution::None)
        .page_size(100)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let signer = emu.test_signer().unwrap();
    let cli_config = emu.write_cli_config(keys.path(), signer.key()).unwrap();
    let rsyslog = Rsyslog::start();
    let state = tempfile::tempdir().unwrap();
    let base = emu.base_url();
    let vars: Vec<(String, String)> = [
        ("AUDITFWD_OCI_CONFIG_FILE", cli_config.display().to_string()),
        ("AUDITFWD_OCI_REGIONS", emu.region()),
        ("AUDITFWD_OCI_AUDIT_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_IDENTITY_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base.clone()),
        ("AUDITFWD_SYSLOG_URL", rsyslog.relp_url()),
        (
            "AUDITFWD_CHECKPOINT_URL",
            format!("file://{}", state.path().display()),
        ),
        ("AUDITFWD_INITIAL_LOOKBACK", "30m".into()),
        ("AUDITFWD_OCI_REQUESTS_PER_SECOND", "1000".into()),
        ("AUDITFWD_CONCURRENCY", concurrency.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_vars(vars).unwrap();
    let credentials = config.tenancies[0].oci.auth.credentials().unwrap();
    let signing = clock.clone();
    let oci = auditfwd_oci::Config::builder()
        .credentials(credentials.clone())
        .region(Region::parse(&emu.region()).unwrap())
        .endpoint_override_all(Endpoint::parse(&base).unwrap())
        .signing_clock(SigningClock::from_fn(move || {
            SystemTime::from(oci_emulator::Clock::now(&signing))
        }))
        .build()
        .unwrap();
    let source = OciSource::new(credentials.tenancy().clone(), &[oci]).unwrap();
    let encoder = Encoder::new(config.syslog.encoder.clone()).unwrap();
    let sender = SyslogSender::new(config.syslog.sender.clone()).unwrap();
    let mut rc = RunnerConfig::new(config.windows.clone(), "cost");
    rc.concurrency = config.limits.concurrency;
    let store = Arc::new(Counting {
        inner: AnyStore::File(FileStore::new(state.path())),
        reads: AtomicU64::new(0),
        writes: AtomicU64::new(0),
        deletes: AtomicU64::new(0),
    });
    let limits = RateLimits {
        oci_requests: Some(Throttle::per_second(
            "oci_requests",
            config.limits.oci_requests_per_second,
        )),
        ..RateLimits::default()
    };
    let runner = Runner::new(
        Arc::new(source),
        Arc::clone(&store),
        move || SyslogSink::new(encoder.clone(), sender.new_connection()),
        Arc::new(EmulatorTime(clock.clone())),
        rc,
        limits,
    );
    for run in 0..12 {
        if run > 0 {
            clock.advance(Duration::minutes(step));
        }
        emu.clear_request_log();
        let before = store.counts();
        let start = Instant::now();
        let report = runner
            .run_once(&auditfwd_pipeline::RunContext::default())
            .await;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let after = store.counts();
        let log = emu.request_log();
        let list_events = log.iter().filter(|r| r.operation == "ListEvents").count();
        let windows: u32 = report
            .compartments
            .iter()
            .map(|c| c.windows_committed)
            .sum();
        println!(
            "run {run:>2}: {n} compartments, {concurrency} at once, every {step} min: {ms:>6.0} ms ({:>5.1} ms per compartment), complete {}, {windows} windows, {} events, ListEvents {list_events}, other OCI {}, store reads {} writes {} deletes {}",
            ms / n as f64,
            report.is_complete(),
            report.totals().forwarded,
            log.len() - list_events,
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2],
        );
    }
}
