//! An emulated tenancy for tests that run the real `auditfwd` command against it: a frozen
//! backlog (no live events) that ends a minute before the test starts, while the emulator's
//! clock follows the real one (the command signs with the system clock, and the emulator
//! refuses signatures more than 5 minutes off its own).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use auditfwd_checkpoint::Scope;
use auditfwd_oci::Ocid;
use chrono::{DateTime, DurationRound as _, Utc};
use oci_emulator::{DelayDistribution, Emulator, EmulatorBuilder, EmulatorHandle, ManualClock};

/// One ground-truth event, with its time parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthEvent {
    /// The id.
    pub id: String,
    /// Its compartment.
    pub compartment: String,
    /// Its `eventTime`.
    pub time: DateTime<Utc>,
    /// When it becomes visible to `ListEvents`.
    pub visible_at: DateTime<Utc>,
}

/// A running emulator with a frozen backlog, and an OCI CLI config for it.
#[derive(Debug)]
pub struct Tenancy {
    /// The emulator.
    pub emu: EmulatorHandle,
    /// Its clock (following the real time while `follow` is set).
    pub clock: ManualClock,
    follow: Arc<AtomicBool>,
    /// An OCI CLI config (`[DEFAULT]`) with a key the emulator knows.
    pub cli_config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tenancy {
    /// Starts an emulator shaped by `shape` (which gets a builder with the seed, no live
    /// events and no ingestion delay): its backlog ends at the minute before now, so the
    /// command's first run (fresh lag 1 minute) lists all of it.
    pub async fn backlog(
        seed: u64,
        shape: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
    ) -> Self {
        let clock = ManualClock::new(Utc::now() - chrono::Duration::minutes(1));
        let builder = Emulator::builder()
            .seed(seed)
            .live(false)
            .delay(DelayDistribution::None)
            .clock(clock.clone());
        let emu = shape(builder).start().await.expect("start the emulator");
        clock.set(Utc::now());
        let follow = Arc::new(AtomicBool::new(true));
        {
            let (clock, follow) = (clock.clone(), follow.clone());
            std::thread::spawn(move || {
                while follow.load(Ordering::Relaxed) {
                    clock.set(Utc::now());
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let signer = emu.test_signer().expect("register the test key");
        let cli_config = emu
            .write_cli_config(dir.path(), signer.key())
            .expect("write the OCI CLI config");
        Tenancy {
            emu,
            clock,
            follow,
            cli_config,
            _dir: dir,
        }
    }

    /// Every event of every compartment (root included) that exists now.
    pub fn truth(&self) -> Vec<TruthEvent> {
        let start = self.emu.backlog_start() - chrono::Duration::minutes(1);
        let end = Utc::now() + chrono::Duration::days(1);
        self.emu
            .ground_truth(None, start, end)
            .expect("ground truth")
            .into_iter()
            .map(|e| TruthEvent {
                time: parse_time(&e.event_time),
                visible_at: parse_time(&e.visible_at),
                id: e.event_id,
                compartment: e.compartment_id,
            })
            .collect()
    }

    /// The ids of [`Self::truth`].
    pub fn truth_ids(&self) -> BTreeSet<String> {
        self.truth().into_iter().map(|e| e.id).collect()
    }

    /// One scope per compartment (root first), in the emulator's region.
    pub fn scopes(&self) -> Vec<Scope> {
        let tenancy = Ocid::parse(self.emu.tenancy_id()).expect("tenancy OCID");
        self.emu
            .compartments()
            .into_iter()
            .map(|c| {
                Scope::new(
                    tenancy.clone(),
                    self.emu.region(),
                    Ocid::parse(&c.compartment.id).expect("compartment OCID"),
                )
            })
            .collect()
    }

    /// Compartment id → name, root included.
    pub fn names(&self) -> BTreeMap<String, String> {
        self.emu
            .compartments()
            .into_iter()
            .map(|c| (c.compartment.id, c.compartment.name))
            .collect()
    }
}

impl Drop for Tenancy {
    fn drop(&mut self) {
        self.follow.store(false, Ordering::Relaxed);
    }
}

/// Parses the emulator's RFC 3339 times.
pub fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("time {s:?}: {e}"))
        .with_timezone(&Utc)
}

/// Fails with a readable account unless every id in `expected` was received exactly once and
/// nothing else was.
pub fn assert_exactly_once(expected: &BTreeSet<String>, received: &BTreeMap<String, usize>) {
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    let duplicated: Vec<(&String, &usize)> = received.iter().filter(|(_, n)| **n > 1).collect();
    let unexpected: Vec<&String> = received
        .keys()
        .filter(|id| !expected.contains(*id))
        .collect();
    assert!(
        missing.is_empty() && duplicated.is_empty() && unexpected.is_empty(),
        "expected {} events exactly once; received {} distinct: {} missing (e.g. {:?}), {} duplicated (e.g. {:?}), {} unexpected (e.g. {:?})",
        expected.len(),
        received.len(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        duplicated.len(),
        duplicated.iter().take(5).collect::<Vec<_>>(),
        unexpected.len(),
        unexpected.iter().take(5).collect::<Vec<_>>()
    );
}

/// The fault kinds a storm throws (`FaultKind` labels in the emulator's request log).
pub const STORM_FAULTS: [&str; 5] = [
    "rate_limited",
    "server_error_500",
    "server_error_503",
    "truncated_json",
    "malformed_json",
];

/// Fails unless the emulator answered with each of `faults` at least once (a storm that never
/// produced a fault shows nothing about it).
pub fn assert_faults_produced(emu: &EmulatorHandle, faults: &[&str]) {
    let log = emu.request_log();
    for fault in faults {
        assert!(
            log.iter().any(|r| r.fault.as_deref() == Some(*fault)),
            "the storm never produced {fault}"
        );
    }
}

/// Fails unless every id in `expected` was received at least once (and nothing else was).
pub fn assert_none_lost(expected: &BTreeSet<String>, received: &BTreeMap<String, usize>) {
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    let unexpected: Vec<&String> = received
        .keys()
        .filter(|id| !expected.contains(*id))
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "expected {} events; {} missing (e.g. {:?}), {} unexpected (e.g. {:?})",
        expected.len(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        unexpected.len(),
        unexpected.iter().take(5).collect::<Vec<_>>()
    );
}

/// Of `items` (id, time), the ids before `t`.
pub fn ids_before(items: &[(String, DateTime<Utc>)], t: DateTime<Utc>) -> BTreeSet<String> {
    items
        .iter()
        .filter(|(_, at)| *at < t)
        .map(|(id, _)| id.clone())
        .collect()
}

/// What was due when a run started at `started` with this fresh lag: the minutes up to
/// `started - fresh_lag`.
pub fn due_at(started: DateTime<Utc>, fresh_lag: chrono::Duration) -> DateTime<Utc> {
    (started - fresh_lag)
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("truncate to the minute")
}

/// Of `received`, the ids in `due`.
pub fn only(due: &BTreeSet<String>, received: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    received
        .iter()
        .filter(|(id, _)| due.contains(*id))
        .map(|(id, n)| (id.clone(), *n))
        .collect()
}

/// After a SIGKILL and a run that finished the work: anything received more than once was
/// received before the kill (sent and not yet committed), and exactly twice. Nothing sent for
/// the first time after the restart is sent twice.
pub fn assert_resent_only_what_was_in_flight(
    at_kill: &BTreeMap<String, usize>,
    received: &BTreeMap<String, usize>,
) {
    for (id, n) in received.iter().filter(|(_, n)| **n > 1) {
        assert!(
            *n == 2 && at_kill.contains_key(id),
            "{id} received {n} times, {} before the kill",
            at_kill.get(id).copied().unwrap_or(0)
        );
    }
}
