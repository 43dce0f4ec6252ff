//! Issue 6, item 5: `auditfwd run` as a daemon, with `/health` and `/metrics`.
//!
//! - The real binary against the emulator, rsyslog (RELP) and a file checkpoint: healthy after
//!   its first cycle, `/metrics` counting exactly what rsyslog received, and SIGTERM in the
//!   middle of a cycle ending the process within `AUDITFWD_SHUTDOWN_TIMEOUT` without losing or
//!   duplicating anything.
//! - The daemon in-process on a manual clock: `/health` going healthy → degraded → unhealthy
//!   while the Audit API fails, and healthy again once it recovers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use auditfwd_config::Config;
use auditfwd_e2e::auditfwd::{Auditfwd, Running};
use auditfwd_e2e::checkpoint::{Backend, Checkpoint};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};
use auditfwd_oci::{MinuteTimestamp, Ocid, SigningClock};
use auditfwd_pipeline::{Clock as _, ManualClock};
use auditfwd_runtime::{BuildOptions, Daemon, DaemonSettings, Health, HttpServer, Status};
use auditfwd_telemetry::names;
use auditfwd_test_support::rsyslog::free_tcp_ports;
use chrono::{DateTime, Utc};
use oci_emulator::{Api, DelayDistribution, Emulator, FaultKind, FaultRule, NewEvents};
use prometheus_parse::{Scrape, Value};
use tokio_util::sync::CancellationToken;

/// How long to wait for something the daemon does on its own (not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(90);

/// An HTTP client that keeps no idle connection (so the daemon's listener never waits for
/// one when it shuts down), with a timeout on every request.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// `GET /health`: the status code and the body.
async fn get_health(http: &reqwest::Client, base: &str) -> Result<(u16, Health), reqwest::Error> {
    let resp = http.get(format!("{base}/health")).send().await?;
    let code = resp.status().as_u16();
    let body = resp.text().await?;
    let health = serde_json::from_str(&body).unwrap_or_else(|e| {
        panic!("/health answered {code} with a body that is not Health ({e}): {body}")
    });
    Ok((code, health))
}

/// Polls `/health` of the daemon process until `until` holds (connection errors while it
/// starts are tolerated; its exit is not).
async fn wait_health(
    http: &reqwest::Client,
    base: &str,
    daemon: &mut Running,
    what: &str,
    until: impl Fn(&Health) -> bool,
) -> (u16, Health) {
    let deadline = Instant::now() + PATIENCE;
    let mut last = None;
    loop {
        assert!(
            !daemon.has_exited(),
            "the daemon exited while waiting for {what}: {:?}",
            daemon.output()
        );
        match get_health(http, base).await {
            Ok((code, h)) if until(&h) => return (code, h),
            Ok(other) => last = Some(other),
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "no {what} on /health; last answer: {last:#?}\nlogs: {}",
            daemon.output().1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /metrics`, parsed.
async fn get_metrics(http: &reqwest::Client, base: &str) -> Scrape {
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.expect("metrics body");
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

/// The sum of a counter's or gauge's series.
fn total(scrape: &Scrape, name: &str) -> Option<f64> {
    let values: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The binary as a daemon (cycles every 2 s, `/health` and `/metrics` on a free loopback
/// port, a shutdown timeout of 2 s):
///
/// 1. after its first cycle `/health` answers 200 `healthy`, and every backlog event reached
///    rsyslog exactly once;
/// 2. `/metrics` parses as Prometheus text, and `auditfwd_events_forwarded_total` (summed over
///    its `region`, `pass`, `tenancy` and `source` series) equals what rsyslog received;
/// 3. the Audit API turns slow (6 s a page) and a compartment with events appears, so the next
///    cycle has windows due that cannot finish quickly; SIGTERM a second after that cycle
///    started ends the process with exit code 0 within the shutdown timeout plus a margin
///    (the window in flight is normally abandoned uncommitted: its first page has not even
///    arrived when the timeout runs out);
/// 4. `auditfwd run --once` afterwards delivers everything, and every ground-truth event id
///    has arrived at rsyslog exactly once. The stopped daemon released the abandoned cycle's
///    leases, so the next run starts at once (no waiting out `AUDITFWD_LEASE_TTL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_health_and_metrics_and_stops_on_sigterm_mid_cycle_losing_nothing() {
    let tenancy = Tenancy::backlog(541, |b| {
        b.compartments(4)
            .max_depth(2)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(30))
            .page_size(20)
    })
    .await;
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);
    let port = free_tcp_ports(1)[0];
    let shutdown_timeout = Duration::from_secs(2);
    auditfwd
        .set("AUDITFWD_INTERVAL", "2s")
        .set("AUDITFWD_LISTEN", format!("127.0.0.1:{port}"))
        .set("AUDITFWD_SHUTDOWN_TIMEOUT", "2s");
    let base = format!("http://127.0.0.1:{port}");
    let http = http_client();
    let backlog = tenancy.truth_ids();

    // 1. Healthy after the first cycle.
    let mut daemon = auditfwd.spawn_daemon();
    let (code, health) = wait_health(&http, &base, &mut daemon, "a finished cycle", |h| {
        h.cycles >= 1
    })
    .await;
    assert_eq!(code, 200, "{health:#?}");
    assert_eq!(health.status, Status::Healthy, "{health:#?}");
    assert!(health.reasons.is_empty(), "{health:#?}");
    assert!(
        health.last_cycle.as_ref().is_some_and(|c| c.complete),
        "{health:#?}"
    );
    assert_eq!(health.compartments, tenancy.scopes().len());
    rsyslog.wait_for(backlog.len()).await;
    assert_exactly_once(&backlog, &rsyslog.counts());

    // 2. /metrics counts what rsyslog received (no new events arrive: the backlog is frozen).
    let scrape = get_metrics(&http, &base).await;
    let forwarded = total(&scrape, names::EVENTS_FORWARDED)
        .unwrap_or_else(|| panic!("no {} in /metrics", names::EVENTS_FORWARDED));
    assert_eq!(forwarded, rsyslog.received().len() as f64);
    assert_eq!(forwarded, backlog.len() as f64);
    // Each series names its tenancy and source (a process may run several runners).
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == names::EVENTS_FORWARDED
                && s.labels.get("source") == Some("audit")
                && s.labels.get("tenancy") == Some("default")),
        "{:?}",
        scrape.samples
    );
    let lag = total(&scrape, names::CHECKPOINT_LAG)
        .unwrap_or_else(|| panic!("no {} in /metrics", names::CHECKPOINT_LAG));
    assert!(
        lag < 30.0 * 60.0,
        "checkpoint lag {lag}s right after a cycle"
    );
    assert_eq!(total(&scrape, names::OPEN_GAPS), Some(0.0));

    // 3. A cycle that cannot finish quickly, stopped by SIGTERM.
    let emu = &tenancy.emu;
    emu.set_faults(vec![
        FaultRule::always(FaultKind::Slow { delay_ms: 6_000 }).for_api(Api::Audit),
    ]);
    let added = emu
        .add_compartment(&emu.tenancy_id(), Some("added-late"))
        .expect("add a compartment");
    emu.add_events(NewEvents {
        compartment_id: added.id.clone(),
        event_time: Utc::now() - chrono::Duration::minutes(20),
        visible_at: None,
        delay_ms: Some(0),
        count: Some(12),
        event: None,
    })
    .expect("add events");
    let added_at = Utc::now();
    wait_health(
        &http,
        &base,
        &mut daemon,
        "a cycle running since the change",
        |h| h.cycle_running_since.is_some_and(|t| t >= added_at),
    )
    .await;
    // Into the first slow page (a cycle lists the tree and takes its leases in milliseconds).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    daemon.terminate();
    let deadline = asked + shutdown_timeout + Duration::from_secs(5);
    while !daemon.has_exited() {
        assert!(
            Instant::now() < deadline,
            "still running {:?} after SIGTERM (shutdown timeout {shutdown_timeout:?}): {}",
            asked.elapsed(),
            daemon.output().1
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = asked.elapsed();
    let stopped = daemon.wait().await;
    assert_eq!(stopped.code, Some(0), "{}", stopped.describe());
    let abandoned = stopped.stderr.contains("abandoned uncommitted");
    assert!(
        abandoned || stopped.stderr.contains("the cycle in flight finished"),
        "the log says how the cycle in flight ended: {}",
        stopped.describe()
    );
    eprintln!(
        "SIGTERM to exit: {took:?} (window in flight {})",
        if abandoned { "abandoned" } else { "finished" }
    );

    // 4. The next run delivers everything, exactly once.
    emu.set_faults(Vec::new());
    let scopes = tenancy.scopes();
    let expected = tenancy.truth_ids();
    assert!(
        expected.len() >= backlog.len() + 12,
        "{} events",
        expected.len()
    );
    assert_eq!(
        checkpoint.leases(&scopes).await,
        Vec::new(),
        "the stopped daemon left leases behind"
    );
    let once = auditfwd.run_once().await;
    assert!(once.complete(), "{}", once.describe());
    rsyslog.wait_for(expected.len()).await;
    assert_exactly_once(&expected, &rsyslog.counts());
    checkpoint
        .assert_intact(
            &Ocid::parse(emu.tenancy_id()).expect("tenancy OCID"),
            &scopes,
        )
        .await;
}

/// The emulator reading the test's manual clock.
#[derive(Debug, Clone)]
struct EmulatorTime(ManualClock);

impl oci_emulator::Clock for EmulatorTime {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// `/health` through an Audit API outage and back, in simulated hours.
///
/// The arrangement: one [`ManualClock`] is the time of everything. The emulator reads it
/// (live mode generates each minute's events as the clock reaches it, and it refuses request
/// signatures dated more than 5 minutes from its own now), so do the runner, request signing
/// (a [`SigningClock`] over the same clock) and the health tracker. The daemon runs
/// in-process and its `/health` is queried over real HTTP on loopback; its cycle step
/// ([`Daemon::cycle`]) is called by hand between clock moves instead of on the real-time
/// schedule, because what a failing cycle does depends on how many times it ran at one clock
/// reading (a window failing in 3 cycles moves to the gap ledger): on the schedule the
/// sequence would depend on the machine's speed. The schedule itself (interval, overrun,
/// stop) is tested on paused tokio time in `shared/runtime` and, end to end, with the binary
/// above.
///
/// The outage is `429 TooManyRequests` with `Retry-After: 0` on every Audit request: the OCI
/// client honours `Retry-After`, so each failing window costs the runner's own page back-off
/// (about 3 s) rather than minutes of jittered back-off, while the runner treats it like any
/// failure that may pass (the window stays at the cursor, `failing`, then the gap ledger).
/// The settle pass is off (`AUDITFWD_SETTLE_LAG=0`) so each failing cycle fails exactly one
/// fresh window per compartment. Thresholds are the defaults: degraded at 30 minutes of lag,
/// unhealthy at 2 hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_degraded_then_unhealthy_while_the_audit_api_fails_and_healthy_when_it_recovers()
 {
    let t0 = MinuteTimestamp::floor(Utc::now()).as_datetime();
    let clock = ManualClock::new(t0);
    let emu = Emulator::builder()
        .seed(542)
        .compartments(2)
        .max_depth(1)
        .events_per_minute(2.0)
        .backlog(chrono::Duration::minutes(10))
        .live(true)
        .delay(DelayDistribution::None)
        .clock(EmulatorTime(clock.clone()))
        .start()
        .await
        .expect("start the emulator");
    let keys = tempfile::tempdir().expect("temp dir");
    let signer = emu.test_signer().expect("register the test key");
    let cli_config = emu
        .write_cli_config(keys.path(), signer.key())
        .expect("OCI CLI config");
    let rsyslog = Rsyslog::start();
    let state_dir = tempfile::tempdir().expect("temp dir");
    let base_url = emu.base_url();
    let vars: Vec<(String, String)> = [
        ("AUDITFWD_OCI_CONFIG_FILE", cli_config.display().to_string()),
        ("AUDITFWD_OCI_REGIONS", emu.region()),
        ("AUDITFWD_OCI_AUDIT_ENDPOINT", base_url.clone()),
        ("AUDITFWD_OCI_IDENTITY_ENDPOINT", base_url.clone()),
        ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base_url),
        ("AUDITFWD_SYSLOG_URL", rsyslog.relp_url()),
        (
            "AUDITFWD_CHECKPOINT_URL",
            format!("file://{}", state_dir.path().display()),
        ),
        ("AUDITFWD_SETTLE_LAG", "0".into()),
        ("AUDITFWD_OCI_REQUESTS_PER_SECOND", "1000".into()),
        ("AUDITFWD_HEALTH_DEGRADED_LAG", "30m".into()),
        ("AUDITFWD_HEALTH_UNHEALTHY_LAG", "2h".into()),
        ("AUDITFWD_LISTEN", "off".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_vars(vars).expect("configuration");
    let signing = clock.clone();
    auditfwd_runtime::init_state(&config, auditfwd_runtime::Init::Existing, "e2e")
        .await
        .expect("initialise the checkpoint directory");
    let runner = auditfwd_runtime::build(
        &config,
        Arc::new(clock.clone()),
        BuildOptions {
            owner: Some("e2e-daemon-health".into()),
            signing_clock: SigningClock::from_fn(move || SystemTime::from(signing.now())),
        },
    )
    .await
    .expect("build the runner");
    let stop = CancellationToken::new();
    let daemon = Daemon::for_runner(runner, DaemonSettings::from(&config.daemon), stop.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let server = HttpServer::start(listener, daemon.health(), None).expect("serve /health");
    let base = format!("http://{}", server.local_addr());
    let http = http_client();
    let health = || async {
        get_health(&http, &base)
            .await
            .expect("GET /health over loopback")
    };
    let advance = |minutes: i64| clock.advance(chrono::Duration::minutes(minutes));
    let mentions = |h: &Health, needle: &str| h.reasons.iter().any(|r| r.contains(needle));
    let compartments = emu.compartments().len();

    // Before the first cycle.
    let (code, h) = health().await;
    assert_eq!((code, h.status), (200, Status::Degraded), "{h:#?}");
    assert_eq!(h.reasons, vec!["first cycle in progress".to_owned()]);

    // t0: everything delivered up to a minute ago.
    let report = daemon.cycle().await;
    assert!(report.is_complete(), "{report}");
    let (code, h) = health().await;
    assert_eq!((code, h.status), (200, Status::Healthy), "{h:#?}");
    assert!(h.reasons.is_empty(), "{h:#?}");
    assert_eq!(h.compartments, compartments);
    assert_eq!(h.oldest_lag, Some(Duration::from_secs(60)));

    // The Audit API fails from now on.
    emu.set_faults(vec![
        FaultRule::always(FaultKind::RateLimited {
            retry_after_secs: 0,
        })
        .for_api(Api::Audit),
    ]);

    // t0 + 20m: every compartment's window at the cursor fails: degraded, lag 21m.
    advance(20);
    let report = daemon.cycle().await;
    assert!(!report.is_complete(), "{report}");
    let (code, h) = health().await;
    assert_eq!((code, h.status), (200, Status::Degraded), "{h:#?}");
    assert_eq!(h.failing_windows, compartments, "{h:#?}");
    assert!(mentions(&h, "is failing (1 attempt(s))"), "{h:#?}");
    assert!(mentions(&h, "TooManyRequests"), "{h:#?}");
    assert_eq!(h.oldest_lag, Some(Duration::from_secs(21 * 60)));

    // t0 + 40m: still failing, and now 41 minutes behind: degraded for the lag too.
    advance(20);
    daemon.cycle().await;
    let (code, h) = health().await;
    assert_eq!((code, h.status), (200, Status::Degraded), "{h:#?}");
    assert!(mentions(&h, "is failing (2 attempt(s))"), "{h:#?}");
    assert!(mentions(&h, "41m behind"), "{h:#?}");
    assert!(mentions(&h, "degraded from 30m"), "{h:#?}");

    // t0 + 130m without a cycle: the last cursors have aged past 2 hours.
    advance(90);
    let (code, h) = health().await;
    assert_eq!((code, h.status), (503, Status::Unhealthy), "{h:#?}");
    assert!(mentions(&h, "2h 11m behind"), "{h:#?}");
    assert!(mentions(&h, "unhealthy from 2h"), "{h:#?}");

    // A third failing cycle moves each window to the gap ledger (the cursor moves past it,
    // at most 10 minutes): still more than 2 hours behind.
    let report = daemon.cycle().await;
    assert!(!report.is_complete(), "{report}");
    let (code, h) = health().await;
    assert_eq!((code, h.status), (503, Status::Unhealthy), "{h:#?}");
    assert_eq!(h.open_gaps, compartments, "{h:#?}");
    assert!(mentions(&h, "gap-ledger entry"), "{h:#?}");
    assert!(
        h.oldest_lag >= Some(Duration::from_secs(2 * 3600)),
        "{h:#?}"
    );

    // The Audit API recovers: one cycle delivers the gaps and catches up.
    emu.set_faults(Vec::new());
    advance(1);
    let report = daemon.cycle().await;
    assert!(report.is_complete(), "{report}");
    let (code, h) = health().await;
    assert_eq!((code, h.status), (200, Status::Healthy), "{h:#?}");
    assert!(h.reasons.is_empty(), "{h:#?}");
    assert_eq!((h.open_gaps, h.failing_windows), (0, 0));
    assert_eq!(h.oldest_lag, Some(Duration::from_secs(60)));
    assert_eq!(h.cycles, 5);

    // Nothing was lost or sent twice through it all: every event before the cursor, once.
    let cursor = MinuteTimestamp::floor(clock.now() - chrono::Duration::minutes(1));
    let expected: BTreeSet<String> = emu
        .ground_truth(None, t0 - chrono::Duration::hours(2), cursor.as_datetime())
        .expect("ground truth")
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert!(expected.len() > 100, "{} events", expected.len());
    rsyslog.wait_for(expected.len()).await;
    assert_exactly_once(&expected, &rsyslog.counts());

    stop.cancel();
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("listener stops");
}
