//! The three functions as `sam build` made them, run locally through the Lambda runtime API:
//! the path a user deploys. `scripts/sam-build` (which `scripts/test` runs before the tests)
//! leaves each function's `bootstrap` under `.aws-sam/build/<Function>/`; here each bootstrap
//! runs against `cargo lambda watch --only-lambda-apis` (from `.venv-sam`, installed by
//! `scripts/setup-dev`) on a free loopback port, and `cargo lambda invoke --data-file ...` sends
//! the fixture events (`tests/fixtures/lambda/`): an EventBridge scheduled event, an SQS batch,
//! a replay request. Behind them: the OCI emulator, a private rsyslogd, and one moto for S3
//! (checkpoint), SQS (work queue) and KMS: the OCI key reaches the functions only as KMS
//! ciphertext in `AUDITFWD_OCI_KEY_KMS`. A function without a key still starts the runtime and
//! answers every invocation with `auditfwd.Fatal.Config`. Everything is on 127.0.0.1.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};
use auditfwd_lambda::message::WorkMessage;
use auditfwd_test_support::rsyslog::free_tcp_ports;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use oci_emulator::{Access, TEST_USER_ID, TestKey};

use crate::lambda_common::{BUCKET, LambdaEnv, fixture};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `.venv-sam/bin/cargo-lambda` (or `AUDITFWD_CARGO_LAMBDA`).
fn cargo_lambda() -> PathBuf {
    let bin = std::env::var_os("AUDITFWD_CARGO_LAMBDA").map_or_else(
        || workspace().join(".venv-sam/bin/cargo-lambda"),
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "cargo-lambda is not installed at {}: run scripts/setup-dev (or set AUDITFWD_CARGO_LAMBDA)",
        bin.display()
    );
    bin
}

/// The `bootstrap` `sam build` made for a template function (`PollerFunction`, ...).
fn bootstrap(function: &str) -> PathBuf {
    let path = workspace()
        .join(".aws-sam/build")
        .join(format!("{function}Function"))
        .join("bootstrap");
    assert!(
        path.exists(),
        "{} is missing: run scripts/sam-build (scripts/test does, before cargo test)",
        path.display()
    );
    path
}

/// The variables a process needs to find the toolchain (`cargo lambda watch` runs `cargo
/// metadata`); nothing else of the test's environment reaches the functions.
fn toolchain_env() -> Vec<(String, String)> {
    [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
        "TMPDIR",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
    .collect()
}

/// One built function running: `cargo lambda watch --only-lambda-apis` (the Lambda runtime
/// API) and the function's bootstrap connected to it, each in its own process group, stopped
/// on drop.
struct Function {
    watch: Child,
    function: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Function {
    /// Starts the runtime API, then `bootstrap` with `vars` as its whole environment (plus
    /// what Lambda sets for a custom runtime).
    fn start(name: &str, vars: &[(String, String)]) -> Function {
        let dir = tempfile::tempdir().unwrap();
        let port = free_tcp_ports(1)[0];
        let watch_log = std::fs::File::create(dir.path().join("watch.log")).unwrap();
        let watch = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis"])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .current_dir(workspace())
            .env_clear()
            .envs(toolchain_env())
            .stdin(Stdio::null())
            .stdout(watch_log.try_clone().unwrap())
            .stderr(watch_log)
            .process_group(0)
            .spawn()
            .expect("start cargo lambda watch");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch does not listen on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::File::create(dir.path().join("function.log")).unwrap();
        let function = Command::new(bootstrap(name))
            .env_clear()
            .envs(vars.iter().cloned())
            // What Lambda gives a custom runtime (cargo lambda watch prints these).
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name.to_lowercase())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start the bootstrap");
        Function {
            watch,
            function,
            port,
            dir,
        }
    }

    /// The function's output (JSON log lines and EMF documents).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("function.log")).unwrap_or_default()
    }

    /// `cargo lambda invoke --data-file <payload>`: the function's answer, or its error output.
    async fn invoke(&self, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        let file = self.dir.path().join(format!("payload-{}.json", unique()));
        std::fs::write(&file, serde_json::to_vec_pretty(payload).unwrap()).unwrap();
        let mut cmd = Command::new(cargo_lambda());
        cmd.args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .arg("--data-file")
            .arg(&file)
            // With --only-lambda-apis the runtime API serves one function, named `_`.
            .args(["--output-format", "json", "_"])
            .env_clear()
            .envs(toolchain_env())
            .env("NO_COLOR", "1");
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .expect("run cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            serde_json::from_str(&stdout).map_err(|e| format!("answer is not JSON ({e}): {stdout}"))
        } else {
            Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.watch] {
            // The groups this test started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
    }
}

/// The three functions, each on its own runtime API.
struct Functions {
    poller: Function,
    worker: Function,
    replay: Function,
}

impl Functions {
    fn start(vars: &[(String, String)]) -> Functions {
        Functions {
            poller: Function::start("Poller", vars),
            worker: Function::start("Worker", vars),
            replay: Function::start("Replay", vars),
        }
    }

    fn logs(&self) -> String {
        format!(
            "--- poller\n{}\n--- worker\n{}\n--- replay\n{}",
            self.poller.log(),
            self.worker.log(),
            self.replay.log()
        )
    }
}

/// A number not used before in this process (payload file names).
fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The OCI key as `scripts/encrypt-secret` makes it: KMS ciphertext under the encryption
/// context `auditfwd:variable=AUDITFWD_OCI_KEY`, base64.
async fn encrypted_oci_key(env: &LambdaEnv) -> String {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version_latest()
        .endpoint_url(env.moto.endpoint())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .build();
    let kms = aws_sdk_kms::Client::from_conf(config);
    let key = kms
        .create_key()
        .description("auditfwd lambda test")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let blob = kms
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(
            TestKey::shared().unwrap().private_pem().as_bytes(),
        ))
        .set_encryption_context(Some(
            auditfwd_secrets::encryption_context("AUDITFWD_OCI_KEY")
                .into_iter()
                .collect(),
        ))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(blob.into_inner())
}

/// What the deployed template gives the functions, pointed at this test's emulator, rsyslog
/// and moto; the OCI key only as KMS ciphertext.
fn function_env(
    env: &LambdaEnv,
    key_ciphertext: &str,
    syslog_url: &str,
    prefix: &str,
    fan_out: &str,
) -> Vec<(String, String)> {
    let emu = &env.tenancy.emu;
    let base = emu.base_url();
    [
        ("AUDITFWD_OCI_TENANCY", emu.tenancy_id()),
        ("AUDITFWD_OCI_USER", TEST_USER_ID.to_owned()),
        ("AUDITFWD_OCI_KEY_KMS", key_ciphertext.to_owned()),
        ("AUDITFWD_OCI_REGIONS", emu.region()),
        ("AUDITFWD_OCI_AUDIT_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_IDENTITY_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base),
        ("AUDITFWD_SYSLOG_URL", syslog_url.to_owned()),
        ("AUDITFWD_CHECKPOINT_URL", format!("s3://{BUCKET}/{prefix}")),
        ("AUDITFWD_S3_FORCE_PATH_STYLE", "true".to_owned()),
        ("AUDITFWD_OCI_REQUESTS_PER_SECOND", "1000".to_owned()),
        ("AUDITFWD_FAN_OUT", fan_out.to_owned()),
        ("AUDITFWD_WORK_QUEUE_URL", env.queue_url.clone()),
        ("AWS_ENDPOINT_URL", env.moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The SQS batch fixture with its records replaced by `messages` (same record shape).
fn sqs_batch(messages: &[aws_sdk_sqs::types::Message]) -> serde_json::Value {
    let mut batch = fixture("sqs-batch.json");
    let template = batch["Records"][0].clone();
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let mut r = template.clone();
            r["messageId"] = m.message_id().unwrap().into();
            r["receiptHandle"] = m.receipt_handle().unwrap().into();
            r["body"] = m.body().unwrap().into();
            r["md5OfBody"] = m.md5_of_body().unwrap_or_default().into();
            r
        })
        .collect();
    batch["Records"] = records.into();
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_run_through_the_lambda_runtime_api_with_fixture_events() {
    let env = LambdaEnv::start(711, |b| {
        b.compartments(5)
            .max_depth(2)
            .events_per_minute(3.0)
            .backlog(chrono::Duration::minutes(30))
            .page_size(25)
    })
    .await;
    let truth = env.tenancy.truth_ids();
    let scopes = env.tenancy.scopes();
    let key_ciphertext = encrypted_oci_key(&env).await;

    // 1. Direct: the scheduled event, fan-out off.
    let direct = {
        let fns = Functions::start(&function_env(
            &env,
            &key_ciphertext,
            &env.rsyslog.relp_url(),
            "direct",
            "off",
        ));
        let answer = fns
            .poller
            .invoke(&fixture("scheduled-event.json"))
            .await
            .unwrap_or_else(|e| panic!("poller: {e}\n{}", fns.logs()));
        assert_eq!(answer["route"], "direct", "{answer:#}");
        assert_eq!(answer["complete"], true, "{answer:#}");
        assert_eq!(answer["workItems"], scopes.len());
        let log = fns.poller.log();
        assert!(
            !log.contains(
                TestKey::shared()
                    .unwrap()
                    .private_pem()
                    .lines()
                    .nth(1)
                    .unwrap()
            ),
            "the decrypted key must never be logged"
        );
        assert!(log.contains("poller finished"), "one summary line: {log}");
        assert!(log.contains("\"_aws\""), "EMF metrics on stdout: {log}");
        env.rsyslog.counts()
    };
    // The key reached the functions only as KMS ciphertext: listing and signing worked, so
    // the cold start decrypted it.
    assert_exactly_once(&truth, &direct);
    assert!(
        env.receive_all().await.is_empty(),
        "nothing queued on the direct path"
    );

    // 2. Fan-out: the poller queues one message per shard; the SQS batch goes to the worker;
    //    one compartment has turned inaccessible: its failure is recorded in the shard state
    //    (the message is done); once access is back, the next poll sends the shard again and
    //    its worker delivers the rest.
    let second = Rsyslog::start();
    let fns = Functions::start(&function_env(
        &env,
        &key_ciphertext,
        &second.relp_url(),
        "fanout",
        "on",
    ));
    let answer = fns
        .poller
        .invoke(&fixture("scheduled-event.json"))
        .await
        .unwrap_or_else(|e| panic!("poller: {e}\n{}", fns.logs()));
    assert_eq!(answer["route"], "fanOut", "{answer:#}");
    let messages = env.receive_all().await;
    assert_eq!(answer["messagesSent"], messages.len(), "{answer:#}");
    let in_messages: usize = messages
        .iter()
        .map(|m| WorkMessage::parse(m.body().unwrap()).unwrap().items().len())
        .sum();
    assert_eq!(
        in_messages,
        scopes.len(),
        "every compartment in one shard message"
    );

    let emu = &env.tenancy.emu;
    let lost = lost_compartment(&env.tenancy);
    emu.set_compartment_access(&lost, Access::NotFound).unwrap();
    let answer = fns
        .worker
        .invoke(&sqs_batch(&messages))
        .await
        .unwrap_or_else(|e| panic!("worker: {e}\n{}", fns.logs()));
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": []}),
        "{}",
        fns.logs()
    );
    let without_lost: BTreeSet<String> = env
        .tenancy
        .truth()
        .into_iter()
        .filter(|e| e.compartment != lost)
        .map(|e| e.id)
        .collect();
    assert_exactly_once(&without_lost, &second.counts());

    emu.set_compartment_access(&lost, Access::Normal).unwrap();
    let answer = fns
        .poller
        .invoke(&fixture("scheduled-event.json"))
        .await
        .unwrap_or_else(|e| panic!("poller: {e}\n{}", fns.logs()));
    let again = env.receive_all().await;
    assert_eq!(answer["messagesSent"], again.len(), "{answer:#}");
    let answer = fns
        .worker
        .invoke(&sqs_batch(&again))
        .await
        .unwrap_or_else(|e| panic!("worker: {e}\n{}", fns.logs()));
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    let fanned = second.counts();
    assert_exactly_once(&truth, &fanned);
    assert_eq!(
        direct.keys().collect::<Vec<_>>(),
        fanned.keys().collect::<Vec<_>>(),
        "the SQS path delivered the same events as the direct path"
    );

    // 3. The replay request, as a dry run over the whole backlog: the report counts every
    //    event, nothing is sent, nothing is queued.
    let mut request = fixture("replay-request.json");
    let from =
        auditfwd_oci::MinuteTimestamp::floor(emu.backlog_start() - chrono::Duration::minutes(1));
    let to = auditfwd_oci::MinuteTimestamp::floor(chrono::Utc::now());
    request["from"] = from.to_rfc3339().into();
    request["to"] = to.to_rfc3339().into();
    request["dryRun"] = true.into();
    let answer = fns
        .replay
        .invoke(&request)
        .await
        .unwrap_or_else(|e| panic!("replay: {e}\n{}", fns.logs()));
    assert_eq!(answer["complete"], true, "{answer:#}");
    assert_eq!(answer["report"]["dry_run"], true, "{answer:#}");
    let in_range = env
        .tenancy
        .truth()
        .iter()
        .filter(|e| e.time >= from.as_datetime() && e.time < to.as_datetime())
        .count();
    let forwarded: u64 = answer["report"]["compartments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["forwarded"].as_u64().unwrap())
        .sum();
    assert_eq!(forwarded as usize, in_range, "{answer:#}");
    assert!(
        answer["results"]
            .as_str()
            .unwrap()
            .starts_with(&format!("s3://{BUCKET}/fanout/replays/")),
        "{answer:#}"
    );
    assert_eq!(second.counts(), fanned, "a dry run sends nothing");
    assert!(env.receive_all().await.is_empty());

    // A payload the replay function does not take is a non-retryable error.
    let err = fns
        .replay
        .invoke(&serde_json::json!({"from": "yesterday"}))
        .await
        .unwrap_err();
    assert!(err.contains("auditfwd.Fatal.BadEvent"), "{err}");
    assert!(
        fns.replay.log().contains("invocation failed"),
        "a refused payload still gets its summary line: {}",
        fns.replay.log()
    );

    // The poller logged the compartments furthest behind, over the whole tree, after the
    // fan-out run (which worked none of them itself).
    let poller_log = fns.poller.log();
    assert!(
        poller_log.contains(&format!(
            "\"message\":\"{}\"",
            auditfwd_telemetry::freshness::LOG_MESSAGE
        )),
        "{poller_log}"
    );
    assert!(poller_log.contains("auditfwd_compartments"), "{poller_log}");
}

/// A function whose configuration cannot work still starts the Lambda runtime and answers
/// every invocation with the typed start error, naming the variable: here no OCI key at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_answers_every_invocation_with_the_start_error() {
    let env = LambdaEnv::start(712, |b| b.compartments(1).max_depth(1)).await;
    let mut vars = function_env(&env, "unused", &env.rsyslog.relp_url(), "nokey", "off");
    vars.retain(|(k, _)| k != "AUDITFWD_OCI_KEY_KMS");
    let poller = Function::start("Poller", &vars);
    for _ in 0..2 {
        let err = poller
            .invoke(&fixture("scheduled-event.json"))
            .await
            .unwrap_err();
        assert!(
            err.contains("auditfwd.Fatal.Config"),
            "{err}\n{}",
            poller.log()
        );
        assert!(
            err.contains("AUDITFWD_OCI_KEY"),
            "names the key's variables: {err}"
        );
    }
    let log = poller.log();
    assert!(log.contains("cannot start"), "{log}");
    assert_eq!(
        log.matches("invocation failed: the function could not start")
            .count(),
        2,
        "{log}"
    );
}

/// A leaf compartment with events.
fn lost_compartment(tenancy: &Tenancy) -> String {
    let emu = &tenancy.emu;
    let parents: BTreeSet<String> = emu
        .compartments()
        .iter()
        .map(|c| c.compartment.compartment_id.clone())
        .collect();
    let truth = tenancy.truth();
    emu.compartments()
        .into_iter()
        .filter(|c| c.depth > 0 && !parents.contains(&c.compartment.id))
        .max_by_key(|c| {
            truth
                .iter()
                .filter(|e| e.compartment == c.compartment.id)
                .count()
        })
        .unwrap()
        .compartment
        .id
}
