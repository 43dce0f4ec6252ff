//! Issue 5, "must show": live mode with late arrivals. The runtime's runner runs in-process
//! with one manual clock shared by the emulator, the runner and request signing, so simulated
//! minutes pass instantly: fresh lag 1 minute, settle lag 3 minutes, and an ingestion delay
//! that makes a good share of events visible only after their window's fresh pass (up to
//! 175 s late, inside the settle lag). Sent over plain TCP to rsyslog.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use auditfwd_checkpoint::manifest::{DeliveryManifest, ManifestDocument, Pass};
use auditfwd_config::Config;
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::parse_time;
use auditfwd_oci::{MinuteTimestamp, SigningClock};
use auditfwd_runtime::BuildOptions;
use chrono::{DateTime, Duration, Utc};
use oci_emulator::{DelayBand, DelayDistribution, Emulator, ManualClock};

/// The emulator's clock, read by the pipeline.
#[derive(Debug)]
struct SharedClock(ManualClock);

impl auditfwd_pipeline::Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        oci_emulator::Clock::now(&self.0)
    }
}

/// Every manifest in a file checkpoint, with its compartment.
fn manifests(root: &Path) -> Vec<(String, DeliveryManifest)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("manifests")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                let compartment = p
                    .parent()
                    .and_then(Path::file_name)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let ManifestDocument::V1(m) =
                    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                out.push((compartment, m));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_delivers_late_events_exactly_once_and_counts_them() {
    let t0 = MinuteTimestamp::floor(Utc::now()).as_datetime();
    let clock = ManualClock::new(t0);
    let band = |weight, min_ms, max_ms| DelayBand {
        weight,
        min_ms,
        max_ms,
    };
    let emu = Emulator::builder()
        .seed(505)
        .compartments(4)
        .max_depth(2)
        .events_per_minute(4.0)
        .backlog(Duration::minutes(10))
        .live(true)
        .delay(DelayDistribution::Bands {
            bands: vec![
                band(0.65, 1_000, 40_000),
                band(0.25, 60_000, 150_000),
                // Always after the fresh pass (which lists minute m at m+2), always before
                // the settle pass (at m+4).
                band(0.10, 125_000, 175_000),
            ],
        })
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let signer = emu.test_signer().unwrap();
    let cli_config = emu.write_cli_config(keys.path(), signer.key()).unwrap();
    let rsyslog = Rsyslog::start();
    let state_dir = tempfile::tempdir().unwrap();
    let base = emu.base_url();
    let vars: Vec<(String, String)> = [
        ("AUDITFWD_OCI_CONFIG_FILE", cli_config.display().to_string()),
        ("AUDITFWD_OCI_REGIONS", emu.region()),
        ("AUDITFWD_OCI_AUDIT_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_IDENTITY_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base),
        ("AUDITFWD_SYSLOG_URL", rsyslog.tcp_url()),
        (
            "AUDITFWD_CHECKPOINT_URL",
            format!("file://{}", state_dir.path().display()),
        ),
        ("AUDITFWD_FRESH_LAG", "1m".into()),
        ("AUDITFWD_SETTLE_LAG", "3m".into()),
        ("AUDITFWD_INITIAL_LOOKBACK", "10m".into()),
        ("AUDITFWD_OCI_REQUESTS_PER_SECOND", "1000".into()),
        ("AUDITFWD_CONCURRENCY", "4".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_vars(vars).unwrap();
    let signing = clock.clone();
    auditfwd_runtime::init_state(&config, auditfwd_runtime::Init::Existing, "e2e")
        .await
        .expect("initialise the checkpoint directory");
    let runner = auditfwd_runtime::build(
        &config,
        Arc::new(SharedClock(clock.clone())),
        BuildOptions {
            owner: Some("e2e-live".into()),
            signing_clock: SigningClock::from_fn(move || {
                SystemTime::from(oci_emulator::Clock::now(&signing))
            }),
        },
    )
    .await
    .unwrap();

    // Twelve live minutes, then on until the windows of those minutes have had their settle
    // pass (new events keep arriving meanwhile: live mode never stops).
    let (mut forwarded, mut late) = (0, 0);
    for step in 0..=16 {
        if step > 0 {
            clock.advance(Duration::minutes(1));
        }
        let report = runner
            .run_once(&auditfwd_pipeline::RunContext::default())
            .await;
        assert!(report.is_complete(), "cycle {step}: {report}");
        forwarded += report.totals().forwarded;
        late += report.totals().late_arrivals;
    }
    let now = oci_emulator::Clock::now(&clock);
    rsyslog.wait_for(forwarded as usize).await;
    let received = rsyslog.counts();
    assert!(
        rsyslog.received().iter().all(|r| r.input == "imptcp"),
        "every message came over TCP"
    );

    // Every event of a settled window exactly once; nothing else twice, nothing invented.
    let states: BTreeMap<String, _> = {
        let store = auditfwd_checkpoint::FileStore::new(state_dir.path());
        let mut m = BTreeMap::new();
        for c in emu.compartments() {
            let scope = auditfwd_checkpoint::Scope::new(
                auditfwd_oci::Ocid::parse(emu.tenancy_id()).unwrap(),
                emu.region(),
                auditfwd_oci::Ocid::parse(&c.compartment.id).unwrap(),
            );
            let (st, _) = auditfwd_checkpoint::state::load(&store, &scope)
                .await
                .unwrap()
                .expect("every compartment has a state");
            m.insert(c.compartment.id.clone(), st);
        }
        m
    };
    let truth = emu
        .ground_truth(None, t0 - Duration::minutes(11), now)
        .unwrap();
    let mut settled = BTreeSet::new();
    for e in &truth {
        let st = &states[&e.compartment_id];
        let time = parse_time(&e.event_time);
        let settled_until = st
            .awaiting_settle
            .iter()
            .map(|a| a.window.start())
            .min()
            .unwrap_or(st.delivered_until);
        if time < settled_until.as_datetime() {
            settled.insert(e.event_id.clone());
        }
    }
    assert!(
        settled.len() > 300,
        "too few settled events to mean anything: {}",
        settled.len()
    );
    let all: BTreeSet<&String> = truth.iter().map(|e| &e.event_id).collect();
    let missing: Vec<&String> = settled
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    let duplicated: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    let unknown: Vec<_> = received.keys().filter(|id| !all.contains(id)).collect();
    assert!(
        missing.is_empty() && duplicated.is_empty() && unknown.is_empty(),
        "{} settled events: {} missing (e.g. {:?}), {} duplicated (e.g. {:?}), {} unknown",
        settled.len(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        duplicated.len(),
        duplicated.iter().take(5).collect::<Vec<_>>(),
        unknown.len()
    );

    // Late arrivals: for every settle pass, exactly the events of the window that became
    // visible after its fresh pass.
    let manifests = manifests(state_dir.path());
    let fresh: BTreeMap<(String, String), &DeliveryManifest> = manifests
        .iter()
        .filter(|(_, m)| m.pass == Pass::Fresh)
        .map(|(c, m)| ((c.clone(), m.window.to_string()), m))
        .collect();
    let mut late_in_manifests = 0;
    let mut settle_passes = 0;
    for (c, m) in manifests.iter().filter(|(_, m)| m.pass == Pass::Settle) {
        settle_passes += 1;
        let first = fresh
            .get(&(c.clone(), m.window.to_string()))
            .unwrap_or_else(|| panic!("settle pass of {} in {c} without a fresh one", m.window));
        let events = emu
            .ground_truth(
                Some(c),
                m.window.start().as_datetime(),
                m.window.end().as_datetime(),
            )
            .unwrap();
        let expected_late = events
            .iter()
            .filter(|e| parse_time(&e.visible_at) > first.committed_at)
            .count() as u64;
        let after_settle = events
            .iter()
            .filter(|e| parse_time(&e.visible_at) > m.committed_at)
            .count();
        assert_eq!(
            after_settle, 0,
            "events of {} visible only after its settle pass",
            m.window
        );
        assert_eq!(
            m.counts.late_arrivals, expected_late,
            "late arrivals of {} in {c} (fresh pass at {}, settle at {})",
            m.window, first.committed_at, m.committed_at
        );
        assert_eq!(
            m.counts.forwarded, m.counts.late_arrivals,
            "a settle pass sends exactly the late events"
        );
        late_in_manifests += m.counts.late_arrivals;
    }
    assert!(settle_passes >= 5 * 10, "settle passes: {settle_passes}");
    assert!(late > 10, "late arrivals counted: {late}");
    assert_eq!(late, late_in_manifests, "run reports and manifests agree");
}
