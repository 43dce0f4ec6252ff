//! Issue 5, "must show": live mode with late arrivals. The runtime's runner runs in-process
//! with one manual clock shared by the emulator, the runner and request signing, so simulated
//! minutes pass instantly: fresh lag 1 minute, settle lag 3 minutes, and an ingestion delay
//! that makes a good share of events visible only after their window's fresh pass (up to
//! 175 s late, inside the settle lag). Sent over plain TCP to rsyslog.
//!
//! Run under both readings of the Audit API's time range: selection by `eventTime`, and by
//! processing time (what Oracle's reference says). Under both, every event of a settled
//! minute arrives exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use auditfwd_checkpoint::shard_manifest::{RangeRecord, ShardManifest};
use auditfwd_config::Config;
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::parse_time;
use auditfwd_oci::{MinuteTimestamp, SigningClock};
use auditfwd_runtime::BuildOptions;
use chrono::{DateTime, Duration, Utc};
use oci_emulator::{DelayBand, DelayDistribution, Emulator, ManualClock, TimeSelection};

/// The emulator's clock, read by the pipeline.
#[derive(Debug)]
struct SharedClock(ManualClock);

impl auditfwd_pipeline::Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        oci_emulator::Clock::now(&self.0)
    }
}

/// Every range a compartment's listings committed, in commit order, with when each was
/// committed.
fn listings(manifests: &[ShardManifest]) -> BTreeMap<String, Vec<(DateTime<Utc>, &RangeRecord)>> {
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, &RangeRecord)>> = BTreeMap::new();
    for m in manifests {
        for r in &m.ranges {
            out.entry(r.compartment.clone())
                .or_default()
                .push((m.committed_at, r));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_delivers_late_events_exactly_once_and_counts_them() {
    live_mode(TimeSelection::Event).await;
}

/// The same under the processing-time reading: a listing returns what OCI processed in its
/// range, so a late event comes with a newer listing; "settled" then means processed before
/// the settle cursor. The per-listing accounting below is the `eventTime` reading's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_delivers_exactly_once_when_the_range_selects_processing_time() {
    live_mode(TimeSelection::Processed).await;
}

async fn live_mode(selection: TimeSelection) {
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
        .time_selection(selection)
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

    // Every event of a settled minute exactly once; nothing else twice, nothing invented.
    let store = auditfwd_checkpoint::FileStore::new(state_dir.path());
    let scopes: Vec<auditfwd_checkpoint::Scope> = emu
        .compartments()
        .into_iter()
        .map(|c| {
            auditfwd_checkpoint::Scope::new(
                auditfwd_oci::Ocid::parse(emu.tenancy_id()).unwrap(),
                emu.region(),
                auditfwd_oci::Ocid::parse(&c.compartment.id).unwrap(),
            )
        })
        .collect();
    let states: BTreeMap<String, _> = auditfwd_e2e::checkpoint::cursors(&store, &scopes)
        .await
        .into_iter()
        .map(|(c, s)| (c, s.expect("every compartment has a cursor")))
        .collect();
    let truth = emu
        .ground_truth(None, t0 - Duration::minutes(11), now)
        .unwrap();
    let mut settled = BTreeSet::new();
    for e in &truth {
        let st = &states[&e.compartment_id];
        assert!(st.settled_until <= st.delivered_until, "{st:?}");
        let selected_by = match selection {
            TimeSelection::Event => &e.event_time,
            TimeSelection::Processed => &e.visible_at,
        };
        if parse_time(selected_by) < st.settled_until.as_datetime() {
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

    if selection == TimeSelection::Processed {
        assert!(late > 10, "late arrivals counted: {late}");
        return;
    }
    // Late arrivals, against the shard manifests: each event is sent by the first listing of
    // its minute it was visible to; it is late exactly when an earlier listing of that minute
    // did not see it. Every listing's forwarded and late counts must be what the ground truth
    // says, and every settled event was visible to the last listing of its minute.
    let manifests = auditfwd_e2e::checkpoint::manifests(&store, &scopes).await;
    let listings = listings(&manifests);
    let mut expected: BTreeMap<(String, usize), (u64, u64)> = BTreeMap::new();
    for e in &truth {
        let time = parse_time(&e.event_time);
        let visible = parse_time(&e.visible_at);
        let of_minute: Vec<(usize, &(DateTime<Utc>, &RangeRecord))> = listings
            .get(&e.compartment_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(_, (_, r))| {
                r.range.start().as_datetime() <= time && time < r.range.end().as_datetime()
            })
            .collect();
        let Some((_, (_, first))) = of_minute.first() else {
            continue;
        };
        assert!(
            time >= first.delivered_before.as_datetime(),
            "the first listing of {} (event {}) in {} re-lists it: {first:?}",
            e.event_time,
            e.event_id,
            e.compartment_id
        );
        let sent_by = of_minute.iter().position(|(_, (at, _))| visible <= *at);
        if settled.contains(&e.event_id) {
            assert!(
                sent_by.is_some(),
                "event {} of a settled minute visible only after its last listing",
                e.event_id
            );
        }
        if let Some(k) = sent_by {
            let entry = expected
                .entry((e.compartment_id.clone(), of_minute[k].0))
                .or_default();
            entry.0 += 1;
            entry.1 += u64::from(k > 0);
        }
    }
    let (mut late_in_manifests, mut settle_passes) = (0, 0);
    for (c, ranges) in &listings {
        for (i, (at, r)) in ranges.iter().enumerate() {
            let (forwarded, late_expected) =
                expected.get(&(c.clone(), i)).copied().unwrap_or_default();
            assert_eq!(
                (r.counts.forwarded, r.counts.late_arrivals),
                (forwarded, late_expected),
                "forwarded and late arrivals of {} in {c} (committed at {at}, delivered until {} before)",
                r.range,
                r.delivered_before
            );
            if r.range.start() < r.delivered_before {
                settle_passes += 1;
                assert!(
                    r.counts.late_arrivals <= r.counts.forwarded,
                    "a re-listing sends only late events: {r:?}"
                );
            }
            late_in_manifests += r.counts.late_arrivals;
        }
    }
    assert!(settle_passes >= 5 * 10, "settle passes: {settle_passes}");
    assert!(late > 10, "late arrivals counted: {late}");
    assert_eq!(late, late_in_manifests, "run reports and manifests agree");
}
