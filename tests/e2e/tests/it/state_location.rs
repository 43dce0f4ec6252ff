//! Issue 11, "state never silently resets" (the location): on `file://`, `s3://` (moto) and
//! `oci://` (the emulator), with the real `auditfwd` binary,
//!
//! - a checkpoint location that does not exist makes `run --once` fail (exit 2) naming the URL
//!   and what to do, and nothing is created or sent;
//! - a location that exists but was never initialised (an empty mount point, a fresh bucket,
//!   a wrong prefix) is refused the same way;
//! - `auditfwd init` creates a missing directory but never a bucket, writes the marker, and
//!   is idempotent;
//! - after it, `run --once` delivers every ground-truth event exactly once.

use auditfwd_e2e::auditfwd::{Auditfwd, Outcome};
use auditfwd_e2e::checkpoint::{Backend, Checkpoint};
use auditfwd_e2e::moto::Moto;
use auditfwd_e2e::rsyslog::Rsyslog;
use auditfwd_e2e::tenancy::{Tenancy, assert_exactly_once};

fn shape(b: oci_emulator::EmulatorBuilder) -> oci_emulator::EmulatorBuilder {
    b.compartments(2)
        .max_depth(1)
        .events_per_minute(2.0)
        .backlog(chrono::Duration::minutes(20))
        .auto_create_buckets(false)
}

fn refused(out: &Outcome, url: &str, says: &str) {
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains(url) && out.stderr.contains(says),
        "expected {url:?} and {says:?} in: {}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("forwarded"),
        "a refused run reported work: {}",
        out.describe()
    );
}

/// The walk every backend takes: `url` does not exist yet; `make_exist` makes it exist
/// without initialising it (a bucket) where `init` cannot create it; then init and run.
async fn walk(
    tenancy: &Tenancy,
    auditfwd: &mut Auditfwd,
    rsyslog: &Rsyslog,
    url: &str,
    init_creates: bool,
    make_exist: impl std::future::Future<Output = ()>,
) {
    auditfwd.set("AUDITFWD_CHECKPOINT_URL", url);
    let run = auditfwd.run_once().await;
    refused(&run, url, "does not exist");
    assert!(run.stderr.contains("auditfwd init"), "{}", run.describe());
    let status = auditfwd.command(&["status"]).await;
    assert_ne!(status.code, Some(0), "{}", status.describe());

    if init_creates {
        let init = auditfwd.command(&["init"]).await;
        assert_eq!(init.code, Some(0), "{}", init.describe());
        assert!(
            init.stdout.contains("created the directory")
                && init.stdout.contains("wrote auditfwd.json"),
            "{}",
            init.describe()
        );
    } else {
        let init = auditfwd.command(&["init"]).await;
        assert_eq!(init.code, Some(1), "{}", init.describe());
        assert!(
            init.stderr.contains("does not exist") && init.stderr.contains("never creates buckets"),
            "{}",
            init.describe()
        );
        make_exist.await;
        let run = auditfwd.run_once().await;
        refused(&run, url, "has not been initialised");
        let init = auditfwd.command(&["init"]).await;
        assert_eq!(init.code, Some(0), "{}", init.describe());
        assert!(
            init.stdout.contains("wrote auditfwd.json"),
            "{}",
            init.describe()
        );
    }
    let again = auditfwd.command(&["init"]).await;
    assert_eq!(again.code, Some(0), "{}", again.describe());
    assert!(
        again.stdout.contains("already initialised") && again.stdout.contains("auditfwd init"),
        "{}",
        again.describe()
    );

    let run = auditfwd.run_once().await;
    assert!(run.complete(), "{}", run.describe());
    let expected = tenancy.truth_ids();
    rsyslog.wait_for(expected.len()).await;
    assert_exactly_once(&expected, &rsyslog.counts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_location_must_exist_and_is_created_only_by_init() {
    let tenancy = Tenancy::backlog(801, shape).await;
    let rsyslog = Rsyslog::start();
    let base = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &base);
    let dir = tempfile::tempdir().unwrap();

    // An empty directory, as an unmounted volume's mount point is: refused, left untouched.
    let empty = dir.path().join("mnt");
    std::fs::create_dir(&empty).unwrap();
    let empty_url = format!("file://{}", empty.display());
    auditfwd.set("AUDITFWD_CHECKPOINT_URL", &empty_url);
    let run = auditfwd.run_once().await;
    refused(&run, &empty_url, "has not been initialised");
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "the run wrote into it"
    );

    let missing = dir.path().join("state/auditfwd");
    let url = format!("file://{}", missing.display());
    walk(&tenancy, &mut auditfwd, &rsyslog, &url, true, async {}).await;
    assert!(missing.join("auditfwd.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_location_must_exist_and_be_initialised() {
    let tenancy = Tenancy::backlog(802, shape).await;
    let rsyslog = Rsyslog::start();
    let base = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &base);
    let moto = Moto::start();
    for (k, v) in moto.aws_env() {
        auditfwd.set(&k, v);
    }
    let client = moto.client();
    // Boxed: the SDK call's future is large.
    let create = Box::pin(async move {
        client
            .create_bucket()
            .bucket("auditfwd-state")
            .send()
            .await
            .expect("create the bucket");
    });
    walk(
        &tenancy,
        &mut auditfwd,
        &rsyslog,
        "s3://auditfwd-state/prod",
        false,
        create,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oci_location_must_exist_and_be_initialised() {
    let tenancy = Tenancy::backlog(803, shape).await;
    let rsyslog = Rsyslog::start();
    let base = Checkpoint::new(Backend::File, &tenancy).await;
    let mut auditfwd = Auditfwd::new(&tenancy, &rsyslog.relp_url(), &base);
    let emu = &tenancy.emu;

    // A namespace that does not exist is a missing location too.
    let wrong = "oci://no-such-namespace/auditfwd-state/prod";
    auditfwd.set("AUDITFWD_CHECKPOINT_URL", wrong);
    refused(&auditfwd.run_once().await, wrong, "does not exist");

    let url = format!("oci://{}/auditfwd-state/prod", emu.namespace());
    walk(&tenancy, &mut auditfwd, &rsyslog, &url, false, async {
        emu.create_bucket("auditfwd-state");
    })
    .await;
    let names: Vec<String> = emu
        .objects("auditfwd-state")
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert!(names.iter().any(|n| n == "prod/auditfwd.json"), "{names:?}");
}
