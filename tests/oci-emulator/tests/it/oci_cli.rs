//! The official OCI CLI (Python SDK signer and models) against the emulator: proof that the
//! emulator speaks OCI's wire protocol and not just our own idea of it.
//!
//! Each `oci` start costs 1-2 s of Python, so the calls are few and the tests run in parallel.

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{Duration, Utc};
use oci_emulator::{Emulator, EmulatorHandle, ProblemUpdate, TestKey, TimeSelection};
use tokio::process::Command;

use crate::support::{Client, minute_floor, rfc3339};

/// `AUDITFWD_OCI_CLI`, else `<workspace>/.venv/bin/oci`. Missing CLI is a failure, not a skip:
/// CI must prove the emulator against the real client.
fn oci_cli() -> PathBuf {
    let path = std::env::var_os("AUDITFWD_OCI_CLI").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/oci"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "the official OCI CLI is not installed at {}: run scripts/setup-dev (or set AUDITFWD_OCI_CLI)",
        path.display()
    );
    path
}

struct Cli {
    dir: tempfile::TempDir,
    config: PathBuf,
    endpoint: String,
}

impl Cli {
    /// A config for `key` (registered with the emulator or not).
    fn new(emu: &EmulatorHandle, key: &TestKey) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = emu.write_cli_config(dir.path(), key).unwrap();
        Self {
            dir,
            config,
            endpoint: emu.base_url(),
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(oci_cli());
        cmd.arg("--config-file")
            .arg(&self.config)
            .args([
                "--auth",
                "api_key",
                "--endpoint",
                &self.endpoint,
                "--connection-timeout",
                "10",
                "--read-timeout",
                "60",
            ])
            .args(args)
            .env("HOME", self.dir.path())
            .env("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True")
            .env("SUPPRESS_LABEL_WARNING", "True")
            .env("OCI_CLI_CLOUD_SHELL", "False")
            .kill_on_drop(true);
        cmd.output().await.unwrap()
    }

    async fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "oci {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "oci output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `oci audit event list --all` over one compartment and window.
    async fn list_events(
        &self,
        compartment: &str,
        start: chrono::DateTime<Utc>,
        end: chrono::DateTime<Utc>,
    ) -> serde_json::Value {
        self.ok_json(&[
            "audit",
            "event",
            "list",
            "--compartment-id",
            compartment,
            "--start-time",
            &rfc3339(start),
            "--end-time",
            &rfc3339(end),
            "--all",
        ])
        .await
    }

    /// Runs a call that must fail with `status` and OCI error `code`.
    async fn fails_with(&self, args: &[&str], status: u16, code: &str) {
        let out = self.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "oci {args:?} unexpectedly succeeded");
        assert!(
            stderr.contains(&format!("\"status\": {status}"))
                && stderr.contains(&format!("\"code\": \"{code}\"")),
            "expected {status} {code}, got: {stderr}"
        );
    }
}

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .seed(42)
        .compartments(8)
        .events_per_minute(3.0)
        .backlog(Duration::hours(2))
        .page_size(25)
        .compartment_page_size(3)
        .start()
        .await
        .unwrap()
}

fn ids(v: &serde_json::Value, key: &str) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn cli_audit_event_list_all_equals_ground_truth() {
    let emu = emulator().await;
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let cli = Cli::new(&emu, key);
    // Old enough that every event is visible; one compartment paged 25 at a time.
    let end = minute_floor(Utc::now()) - Duration::minutes(30);
    let start = end - Duration::minutes(60);
    let compartment = emu.compartment_ids()[1].clone();
    let out = cli.list_events(&compartment, start, end).await;
    let truth: Vec<String> = emu
        .visible_ground_truth(Some(&compartment), start, end)
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert!(truth.len() > 50, "{}", truth.len());
    assert_eq!(ids(&out, "event-id"), truth);
    // The CLI deserialised the full schema-v2 body into its models.
    let first = &out["data"][0];
    assert_eq!(first["data"]["compartment-id"], compartment.as_str());
    assert!(first["data"]["request"]["headers"]["Authorization"].is_array());
    let pages = emu
        .request_log()
        .iter()
        .filter(|r| r.operation == "ListEvents" && r.status == 200)
        .count();
    assert_eq!(pages, truth.len().div_ceil(25));
}

#[tokio::test]
async fn cli_audit_event_list_all_selects_by_processing_time_in_processed_mode() {
    let emu = Emulator::builder()
        .seed(43)
        .compartments(2)
        .events_per_minute(10.0)
        .backlog(Duration::hours(2))
        .page_size(25)
        .time_selection(TimeSelection::Processed)
        .start()
        .await
        .unwrap();
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let cli = Cli::new(&emu, key);
    // Recent enough that late events (processed up to 20 minutes after their eventTime) fall
    // in; wholly in the past, so everything processed in it is visible.
    let end = minute_floor(Utc::now()) - Duration::minutes(1);
    let start = end - Duration::minutes(60);
    let compartment = emu.tenancy_id();
    let out = cli.list_events(&compartment, start, end).await;
    let truth = emu
        .ground_truth_by(
            TimeSelection::Processed,
            Some(&compartment),
            (start, end),
            false,
        )
        .unwrap();
    assert!(truth.len() > 300, "{}", truth.len());
    assert!(truth.iter().all(|e| e.visible));
    let truth_ids: Vec<String> = truth.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids(&out, "event-id"), truth_ids);
    // It is a different set from the eventTime reading: some events happened before the
    // window and were processed in it.
    let happened_before = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap() < start;
    assert!(
        truth.iter().any(|e| happened_before(&e.event_time)),
        "no late event in the window"
    );
    assert_ne!(
        truth_ids,
        emu.ground_truth(Some(&compartment), start, end)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn cli_compartment_list_subtree_equals_ground_truth() {
    let emu = emulator().await;
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let cli = Cli::new(&emu, key);
    let tenancy = emu.tenancy_id();
    let out = cli
        .ok_json(&[
            "iam",
            "compartment",
            "list",
            "--compartment-id",
            &tenancy,
            "--compartment-id-in-subtree",
            "true",
            "--access-level",
            "ANY",
            "--all",
        ])
        .await;
    let expected: Vec<String> = emu.compartment_ids().into_iter().skip(1).collect();
    assert_eq!(ids(&out, "id"), expected);
    assert!(
        emu.request_log()
            .iter()
            .filter(|r| r.operation == "ListCompartments")
            .count()
            >= 3,
        "paged by 3"
    );
}

#[tokio::test]
async fn cli_gets_401_for_unknown_key_and_skewed_date_and_400_for_seconds() {
    let emu = emulator().await;
    let known = TestKey::shared().unwrap();
    emu.register_key(known.public_key()).unwrap();
    let tenancy = emu.tenancy_id();
    let end = minute_floor(Utc::now()) - Duration::minutes(30);
    let start = end - Duration::minutes(10);
    let list = |s: String, e: String| {
        vec![
            "audit".to_string(),
            "event".into(),
            "list".into(),
            "--compartment-id".into(),
            tenancy.clone(),
            "--start-time".into(),
            s,
            "--end-time".into(),
            e,
            "--all".into(),
        ]
    };
    let args = list(rfc3339(start), rfc3339(end));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // A key pair the emulator has never seen, with its own correct fingerprint.
    let stranger = TestKey::generate().unwrap();
    let unknown = Cli::new(&emu, &stranger);
    let cli = Cli::new(&emu, known);
    let with_seconds = list(rfc3339(start + Duration::seconds(30)), rfc3339(end));
    let with_seconds: Vec<&str> = with_seconds.iter().map(String::as_str).collect();
    tokio::join!(
        unknown.fails_with(&args, 401, "NotAuthenticated"),
        cli.fails_with(&with_seconds, 400, "InvalidParameter"),
    );

    // The emulator's clock 6 minutes ahead makes the CLI's date 6 minutes off.
    emu.set_clock_shift(Duration::minutes(6));
    cli.fails_with(&args, 401, "NotAuthenticated").await;
    let reasons: Vec<_> = emu
        .request_log()
        .into_iter()
        .map(|r| (r.status, r.error_code))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
}

#[tokio::test]
async fn cli_put_object_is_accepted_and_a_stale_if_match_gets_412() {
    let emu = emulator().await;
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let cli = Cli::new(&emu, key);
    let file = cli.dir.path().join("state.json");
    std::fs::write(&file, b"{\"v\":1}").unwrap();
    let ns = emu.namespace();
    let file = file.to_str().unwrap();
    // PutObject as the SDK signs it: without the body headers.
    let put = [
        "os",
        "object",
        "put",
        "--namespace",
        &ns,
        "--bucket-name",
        "checkpoints",
        "--name",
        "auditfwd/state.json",
        "--file",
        file,
        "--force",
    ];
    let out = cli.ok_json(&put).await;
    let objects = emu.objects("checkpoints").unwrap();
    assert_eq!(objects[0].name, "auditfwd/state.json");
    assert_eq!(out["etag"], objects[0].etag.as_str());
    let stale: Vec<&str> = put
        .iter()
        .copied()
        .chain(["--if-match", "0000-stale"])
        .collect();
    cli.fails_with(&stale, 412, "NoEtagMatch").await;
}

#[tokio::test]
async fn cli_object_list_all_follows_next_start_with_under_a_prefix() {
    let emu = emulator().await;
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let cli = Cli::new(&emu, key);
    let ns = emu.namespace();
    let client = Client::new(&emu);
    let mut names: Vec<String> = (0..7)
        .map(|i| format!("auditfwd/manifests/t/r/c/2026112{i}T1000Z_2026112{i}T1010Z.fresh.json"))
        .collect();
    names.push("auditfwd/state/t/r/c.json".into());
    names.push("auditfwd/manifests-other.json".into());
    for name in names.iter().rev() {
        let path = format!("/n/{ns}/b/checkpoints/o/{}", name.replace('/', "%2F"));
        let r = client
            .try_send(http::Method::PUT, &path, Some(b"{}"), &[], false)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{name}");
    }
    emu.clear_request_log();
    let out = cli
        .ok_json(&[
            "os",
            "object",
            "list",
            "--namespace",
            &ns,
            "--bucket-name",
            "checkpoints",
            "--prefix",
            "auditfwd/manifests/",
            "--all",
            "--page-size",
            "3",
        ])
        .await;
    assert_eq!(ids(&out, "name"), &names[..7]);
    // The CLI asked for every summary field by default; the emulator filled them in.
    let first = &out["data"][0];
    assert_eq!(first["size"], 2);
    assert!(first["etag"].is_string() && first["time-created"].is_string());
    let pages: Vec<String> = emu
        .request_log()
        .into_iter()
        .filter(|r| r.operation == "ListObjects")
        .map(|r| format!("{} {}", r.status, r.target))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.iter().all(|p| p.starts_with("200 ")), "{pages:?}");
}

#[tokio::test]
async fn cli_cloud_guard_problem_list_all_equals_ground_truth() {
    let emu = Emulator::builder()
        .seed(44)
        .compartments(6)
        .events_per_minute(0.0)
        .backlog(Duration::hours(6))
        .problems(30)
        .start()
        .await
        .unwrap();
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let cli = Cli::new(&emu, key);
    let tenancy = emu.tenancy_id();
    // One problem is resolved (INACTIVE: not listed by default), one detected again just now.
    let problems = emu.problems();
    emu.update_problem(
        &problems[0].id,
        ProblemUpdate {
            lifecycle_state: Some("INACTIVE".into()),
            lifecycle_detail: Some("RESOLVED".into()),
            ..ProblemUpdate::default()
        },
    )
    .unwrap();
    emu.update_problem(
        &problems[1].id,
        ProblemUpdate {
            time_last_detected: Some(emu.now()),
            ..ProblemUpdate::default()
        },
    )
    .unwrap();
    let since = minute_floor(emu.now()) - Duration::hours(4);
    let out = cli
        .ok_json(&[
            "cloud-guard",
            "problem",
            "list",
            "--compartment-id",
            &tenancy,
            "--compartment-id-in-subtree",
            "true",
            "--time-last-detected-greater-than-or-equal-to",
            &rfc3339(since),
            "--all",
            "--page-size",
            "7",
        ])
        .await;
    // Ground truth: the newest version of each problem, ACTIVE, last detected since then,
    // newest first (ties by id).
    let mut truth: Vec<_> = emu
        .problems()
        .into_iter()
        .filter(|p| p.lifecycle_state == "ACTIVE" && p.time_last_detected >= since)
        .collect();
    truth.sort_by(|a, b| {
        b.time_last_detected
            .cmp(&a.time_last_detected)
            .then_with(|| a.id.cmp(&b.id))
    });
    assert!(truth.len() > 10 && truth.len() < 29, "{}", truth.len());
    let expected: Vec<String> = truth.iter().map(|p| p.id.clone()).collect();
    // A collection API: `--all` gathers every page's items under `data.items`.
    let items = out["data"]["items"].as_array().unwrap();
    let listed: Vec<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(listed, expected);
    assert_eq!(
        expected[0], problems[1].id,
        "the fresh detection comes first"
    );
    assert!(!expected.contains(&problems[0].id));
    // The CLI's models read every field as the emulator holds it.
    for (listed, p) in items.iter().zip(&truth) {
        assert_eq!(listed["compartment-id"], p.compartment_id.as_str());
        assert_eq!(listed["risk-level"], p.risk_level.as_str());
        assert_eq!(listed["lifecycle-detail"], p.lifecycle_detail.as_str());
        let t =
            chrono::DateTime::parse_from_rfc3339(listed["time-last-detected"].as_str().unwrap())
                .unwrap();
        assert_eq!(t, p.time_last_detected);
    }
    let pages = emu
        .request_log()
        .iter()
        .filter(|r| r.operation == "ListProblems" && r.status == 200)
        .count();
    assert_eq!(pages, truth.len().div_ceil(7));

    // A bad parameter is OCI's 400 shape.
    cli.fails_with(
        &[
            "cloud-guard",
            "problem",
            "list",
            "--compartment-id",
            &tenancy,
            "--limit",
            "5000",
        ],
        400,
        "InvalidParameter",
    )
    .await;
}

#[tokio::test]
async fn cli_logging_search_pages_equal_ground_truth() {
    let emu = Emulator::builder()
        .seed(45)
        .compartments(3)
        .events_per_minute(0.0)
        .backlog(Duration::hours(2))
        .log_records(50)
        .start()
        .await
        .unwrap();
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let cli = Cli::new(&emu, key);
    let log = emu.logs()[0].clone();
    // Ending 5 minutes ago: every record in the window is ingested (the seeded delay is at
    // most 90 s), so the answer cannot change between two pages.
    let end = minute_floor(Utc::now()) - Duration::minutes(5);
    let start = end - Duration::hours(3);
    let query = format!(
        "search \"{}/{}/{}\" | sort by datetime asc",
        log.compartment_id, log.log_group_id, log.display_name
    );
    let (start_s, end_s) = (rfc3339(start), rfc3339(end));
    // The CLI has no --all for search-logs: follow opc-next-page with --page, as a user would.
    let mut listed: Vec<serde_json::Value> = Vec::new();
    let mut page: Option<String> = None;
    let mut calls = 0;
    loop {
        let mut args = vec![
            "logging-search",
            "search-logs",
            "--search-query",
            &query,
            "--time-start",
            &start_s,
            "--time-end",
            &end_s,
            "--limit",
            "10",
        ];
        if let Some(p) = &page {
            args.extend(["--page", p.as_str()]);
        }
        let out = cli.ok_json(&args).await;
        calls += 1;
        let results = out["data"]["results"].as_array().unwrap().clone();
        assert_eq!(
            out["data"]["summary"]["result-count"],
            results.len(),
            "{out}"
        );
        listed.extend(results);
        match out["opc-next-page"].as_str() {
            Some(next) => page = Some(next.to_string()),
            None => break,
        }
        assert!(calls < 20, "paging does not end");
    }
    let mut truth: Vec<_> = emu
        .log_records()
        .into_iter()
        .filter(|r| {
            let t = chrono::DateTime::parse_from_rfc3339(&r.datetime).unwrap();
            r.ingested && t >= start && t < end
        })
        .collect();
    truth.sort_by(|a, b| (&a.datetime, &a.id).cmp(&(&b.datetime, &b.id)));
    assert!(truth.len() > 30, "{}", truth.len());
    let listed_ids: Vec<&str> = listed
        .iter()
        .map(|r| r["data"]["logContent"]["id"].as_str().unwrap())
        .collect();
    let truth_ids: Vec<&str> = truth.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(listed_ids, truth_ids);
    // `data` is a free-form object: the CLI shows it exactly as the emulator holds it.
    for (l, t) in listed.iter().zip(&truth) {
        assert_eq!(l["data"], t.data);
    }
    assert_eq!(calls, truth.len().div_ceil(10));
    let pages = emu
        .request_log()
        .iter()
        .filter(|r| r.operation == "SearchLogs" && r.status == 200)
        .count();
    assert_eq!(pages, calls);

    // More than 14 days is OCI's 400.
    let too_long = rfc3339(end - Duration::days(15));
    cli.fails_with(
        &[
            "logging-search",
            "search-logs",
            "--search-query",
            &query,
            "--time-start",
            &too_long,
            "--time-end",
            &end_s,
        ],
        400,
        "InvalidParameter",
    )
    .await;
}
