//! Issue 6, "must show": `auditfwd replay` resends a delivered window flagged as replay without
//! moving the live cursor; `replay --gaps` closes the gap ledger once access is back; `check`
//! fails at the sink step against a stopped receiver and passes on a good setup; `demo` runs
//! end to end (its receiver is the tests' rsyslog harness). All against the OCI emulator, real
//! rsyslog and the real `auditfwd` binary.

use std::collections::{BTreeMap, BTreeSet};

use auditfwd_e2e::auditfwd::Auditfwd;
use auditfwd_e2e::checkpoint::{Backend, Checkpoint, assert_gaps_closed};
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};
use chrono::{DateTime, Utc};
use oci_emulator::Access;
use serde_json::Value;

fn status_json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {out}"))
}

/// Compartment id → `delivered_until`, from `auditfwd status --json`.
fn cursors(status: &Value) -> BTreeMap<String, String> {
    status["compartments"]
        .as_array()
        .expect("compartments")
        .iter()
        .map(|c| {
            (
                c["compartment"].as_str().unwrap().to_owned(),
                c["delivered_until"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_resends_a_delivered_range_flagged_as_replay_and_leaves_the_live_cursor_alone() {
    let tenancy = Tenancy::backlog(611, |b| {
        b.compartments(5)
            .max_depth(2)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(50))
    })
    .await;
    let scopes = tenancy.scopes();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    let live = auditfwd.run_once().await;
    assert!(live.complete(), "{}", live.describe());
    let before = auditfwd.command(&["status", "--json"]).await;
    assert_eq!(before.code, Some(0), "{}", before.describe());
    let before_cursors = cursors(&status_json(&before.stdout));
    let states_before = checkpoint.states(&scopes).await;
    let delivered = rsyslog.counts();
    assert!(
        delivered.len() > 300,
        "live run delivered {}",
        delivered.len()
    );

    // A 30-minute range well inside what the live run delivered.
    let cursor = states_before
        .values()
        .map(|s| s.as_ref().unwrap().delivered_until.as_datetime())
        .min()
        .unwrap();
    let (from, to) = (
        cursor - chrono::Duration::minutes(40),
        cursor - chrono::Duration::minutes(10),
    );
    let in_range: BTreeSet<String> = tenancy
        .truth()
        .into_iter()
        .filter(|e| e.time >= from && e.time < to)
        .map(|e| e.id)
        .collect();
    assert!(in_range.len() > 100, "events in range: {}", in_range.len());

    // A dry run sends nothing and says what it would send.
    let dry = auditfwd
        .command(&[
            "replay",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--dry-run",
            "--json",
        ])
        .await;
    assert_eq!(dry.code, Some(0), "{}", dry.describe());
    let report: Value = serde_json::from_str(&dry.stdout).unwrap();
    let would: u64 = report["compartments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["forwarded"].as_u64().unwrap())
        .sum();
    assert_eq!(would, in_range.len() as u64);
    assert_eq!(rsyslog.received().len(), delivered.values().sum::<usize>());

    // The replay proper.
    let replay = auditfwd
        .command(&["replay", "--from", &rfc3339(from), "--to", &rfc3339(to)])
        .await;
    assert_eq!(replay.code, Some(0), "{}", replay.describe());
    assert!(
        replay.stdout.contains("forwarded as replay"),
        "{}",
        replay.describe()
    );
    assert!(!replay.stdout.contains("DIFFERS"), "{}", replay.describe());
    let total = delivered.values().sum::<usize>() + in_range.len();
    let received = rsyslog.wait_for(total).await;
    let replayed: Vec<&str> = received
        .iter()
        .filter(|r| r.replay)
        .map(|r| r.event_id.as_str())
        .collect();
    let replayed_set: BTreeSet<String> = replayed.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        replayed.len(),
        replayed_set.len(),
        "a replayed id arrived twice"
    );
    assert_eq!(
        replayed_set, in_range,
        "the replay carried exactly the range's events"
    );
    // Live deliveries: still exactly once each, none flagged.
    let mut live_counts = BTreeMap::new();
    for r in received.iter().filter(|r| !r.replay) {
        *live_counts.entry(r.event_id.clone()).or_insert(0) += 1;
    }
    let live_ids: BTreeSet<String> = delivered.keys().cloned().collect();
    assert_exactly_once(&live_ids, &live_counts);

    // Reconciliation: every live window inside the range matched the replay.
    let json = auditfwd
        .command(&[
            "replay",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--dry-run",
            "--json",
        ])
        .await;
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    for c in report["compartments"].as_array().unwrap() {
        let r = &c["reconciliation"];
        assert!(r["error"].is_null(), "{r}");
        assert!(r["live_windows"].as_u64().unwrap() >= 2, "{r}");
        assert_eq!(r["matching_windows"], r["live_windows"], "{r}");
        assert_eq!(r["live_forwarded"], r["replay_forwarded"], "{r}");
        assert_eq!(r["minutes_without_record"].as_u64(), Some(0), "{r}");
    }

    // The live cursor, settle queue and ledger are untouched.
    let after = auditfwd.command(&["status", "--json"]).await;
    assert_eq!(cursors(&status_json(&after.stdout)), before_cursors);
    assert_eq!(checkpoint.states(&scopes).await, states_before);
    let table = auditfwd.command(&["status"]).await;
    assert!(
        table.stdout.contains("DELIVERED UNTIL"),
        "{}",
        table.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_gaps_delivers_and_closes_the_ledger_once_access_returns() {
    let tenancy = Tenancy::backlog(612, |b| {
        b.compartments(5)
            .max_depth(2)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(30))
    })
    .await;
    let emu = &tenancy.emu;
    let scopes = tenancy.scopes();
    let rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    let lost = emu
        .compartments()
        .into_iter()
        .find(|c| c.depth > 0)
        .unwrap()
        .compartment;
    emu.set_compartment_access(&lost.id, Access::NotFound)
        .unwrap();
    let refused = auditfwd.run_once().await;
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    let status = auditfwd.command(&["status", "--json"]).await;
    let row = status_json(&status.stdout)["compartments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["compartment"] == lost.id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["gaps"].as_array().unwrap().len(), 1, "{row}");
    let lost_ids: BTreeSet<String> = tenancy
        .truth()
        .into_iter()
        .filter(|e| e.compartment == lost.id)
        .map(|e| e.id)
        .collect();
    assert!(!lost_ids.is_empty());
    assert!(lost_ids.iter().all(|id| !rsyslog.counts().contains_key(id)));

    emu.set_compartment_access(&lost.id, Access::Normal)
        .unwrap();
    let gaps = auditfwd.command(&["replay", "--gaps"]).await;
    assert_eq!(gaps.code, Some(0), "{}", gaps.describe());
    let states = checkpoint.states(&scopes).await;
    assert!(states.values().all(Option::is_some), "{states:?}");
    assert_gaps_closed(&states);
    let status = auditfwd.command(&["status", "--json"]).await;
    for c in status_json(&status.stdout)["compartments"]
        .as_array()
        .unwrap()
    {
        assert!(c["gaps"].as_array().unwrap().is_empty(), "{c}");
    }
    let received = rsyslog.counts();
    let all: BTreeSet<String> = tenancy
        .truth()
        .into_iter()
        .filter(|e| {
            let s = states[&e.compartment].as_ref().unwrap();
            e.time < s.delivered_until.as_datetime()
        })
        .map(|e| e.id)
        .collect();
    assert!(lost_ids.is_subset(&all));
    assert_exactly_once(&all, &received);
    assert!(
        rsyslog.received().iter().all(|r| !r.replay),
        "gap deliveries are first deliveries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_on_a_good_setup_and_fails_at_the_sink_when_the_receiver_is_down() {
    let tenancy = Tenancy::backlog(613, |b| {
        b.compartments(2)
            .max_depth(1)
            .events_per_minute(1.0)
            .backlog(chrono::Duration::minutes(10))
    })
    .await;
    let mut rsyslog = Rsyslog::start();
    let checkpoint = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &checkpoint);

    // `config` shows sources and never a secret.
    auditfwd.set("AUDITFWD_OCI_KEY_PASSPHRASE", "hunter2-not-printed");
    let config = auditfwd.command(&["config"]).await;
    assert!(!config.stdout.contains("hunter2") && !config.stderr.contains("hunter2"));
    let line = |name: &str| {
        config
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}: {}", config.stdout))
            .to_owned()
    };
    assert!(line("AUDITFWD_OCI_KEY_PASSPHRASE ").contains("<redacted>"));
    assert!(line("AUDITFWD_OCI_KEY_PASSPHRASE ").ends_with("(environment)"));
    assert!(line("AUDITFWD_MAX_WINDOW ").ends_with("(default)"));
    auditfwd.set("AUDITFWD_OCI_KEY_PASSPHRASE", "");
    let config = auditfwd.command(&["config"]).await;
    assert_eq!(config.code, Some(0), "{}", config.describe());
    assert!(
        config.stdout.contains("configuration is valid"),
        "{}",
        config.describe()
    );

    let good = auditfwd.command(&["check"]).await;
    assert_eq!(good.code, Some(0), "{}", good.describe());
    for step in [
        "PASS  configuration",
        "PASS  OCI compartment tree",
        "PASS  OCI audit events in",
        "PASS  checkpoint store",
        "PASS  syslog destination",
        "acknowledged by the receiver",
    ] {
        assert!(
            good.stdout.contains(step),
            "missing {step:?}: {}",
            good.describe()
        );
    }
    let got = rsyslog.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].event_id.starts_with("auditfwd-check-"), "{got:?}");

    rsyslog.stop();
    let bad = auditfwd.command(&["check"]).await;
    assert_eq!(bad.code, Some(1), "{}", bad.describe());
    let sink_line = bad
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL  syslog destination"))
        .unwrap_or_else(|| panic!("no failing sink step: {}", bad.describe()));
    assert!(
        sink_line.contains("cannot deliver the test message"),
        "{sink_line}"
    );
    assert!(
        bad.stdout.contains("PASS  checkpoint store"),
        "{}",
        bad.describe()
    );
    assert!(bad.stdout.contains("1 of "), "{}", bad.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(auditfwd_e2e::auditfwd::binary())
        .args(["demo", "--dir"])
        .arg(dir.path().join("demo"))
        .env("AUDITFWD_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("ids received twice: 0"), "{stdout}");
    let received = std::fs::read_to_string(dir.path().join("demo/received.log")).unwrap();
    assert!(
        received.lines().count() > 100,
        "{} lines",
        received.lines().count()
    );
    // Every source: audit events, the flow log's records (through the Logging search).
    assert!(received.contains("\"eventType\""), "no audit event arrived");
    let flows = received
        .lines()
        .filter(|l| l.contains(oci_emulator::FLOW_LOG_TYPE))
        .count();
    assert!(flows > 10, "{flows} flow log records arrived");
    // And Cloud Guard's problems, each with its version id.
    let problems = received
        .lines()
        .filter(|l| l.contains("eventId=\"ocid1.cloudguardproblem."))
        .count();
    assert!(problems > 3, "{problems} Cloud Guard problems arrived");
}
