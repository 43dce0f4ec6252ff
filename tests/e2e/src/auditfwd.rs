//! Runs the real `auditfwd` command (`functions/auditfwd`) as a child process, configured only
//! through its environment, as an operator would run it from cron.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::checkpoint::Checkpoint;
use crate::tenancy::Tenancy;

/// The `auditfwd` binary next to this test executable (`target/<profile>/auditfwd`), made
/// fresh once per test process.
///
/// It is built by `cargo test --workspace --no-run`, not `cargo build -p auditfwd`: cargo
/// resolves features for the packages and targets it builds, and the workspace's tests turn on
/// features (dev-dependencies' `test-util`, tokio's `process`, ...) that `auditfwd` alone does
/// not, so `cargo build -p auditfwd` would compile most of the dependency tree a second time,
/// minutes of CI. `functions/auditfwd` has integration tests of its own, so the same command
/// that built this test builds the binary too, and under `cargo test --workspace` this is a
/// no-op that only checks it is fresh.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/it-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary in target/<profile>/deps")
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let target_dir = profile_dir
            .parent()
            .expect("target dir above the profile dir")
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&workspace)
            .args(["test", "--workspace", "--no-run", "--quiet"])
            .arg("--target-dir")
            .arg(&target_dir);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo test --workspace --no-run");
        assert!(status.success(), "cargo test --workspace --no-run failed");
        let bin = profile_dir.join("auditfwd");
        assert!(
            bin.exists(),
            "{} missing after cargo test --workspace --no-run",
            bin.display()
        );
        bin
    })
}

/// The command's configuration for one test, and a place for its output.
#[derive(Debug)]
pub struct Auditfwd {
    env: BTreeMap<String, String>,
    out: tempfile::TempDir,
    runs: AtomicUsize,
}

/// How one run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// The summary.
    pub stdout: String,
    /// The logs.
    pub stderr: String,
}

impl Outcome {
    /// Exit code 0: everything due was delivered and committed.
    pub fn complete(&self) -> bool {
        self.code == Some(0)
    }

    /// The "N forwarded" figure of the summary, summed over its runners (one summary line
    /// each: one per tenancy and source).
    pub fn forwarded(&self) -> u64 {
        self.figure("forwarded")
    }

    /// The "N late arrivals" figure of the summary, summed over its runners.
    pub fn late_arrivals(&self) -> u64 {
        self.figure("late")
    }

    fn figure(&self, word: &str) -> u64 {
        let found: Vec<u64> = self
            .stdout
            .lines()
            .filter(|l| l.contains("(region, compartment) pairs"))
            .filter_map(|line| {
                let tokens: Vec<&str> = line
                    .split([' ', ',', ':'])
                    .filter(|t| !t.is_empty())
                    .collect();
                tokens
                    .windows(2)
                    .find(|w| w[1] == word)
                    .and_then(|w| w[0].parse().ok())
            })
            .collect();
        assert!(
            !found.is_empty(),
            "no \"<n> {word}\" in the summary: {}",
            self.stdout
        );
        found.iter().sum()
    }

    /// For assertion messages: the summary and the last log lines.
    pub fn describe(&self) -> String {
        let tail: Vec<&str> = self.stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "exit {:?}\n--- summary\n{}--- last log lines\n{}",
            self.code,
            self.stdout,
            tail.join("\n")
        )
    }
}

/// A process started with [`Auditfwd::spawn`].
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    /// SIGKILL, as a crash or the OOM killer would; waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as systemd or Kubernetes stops a service (the process this harness started).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Whether it has exited.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("child status").is_some()
    }

    /// Waits for the process to end.
    pub async fn wait(self) -> Outcome {
        let Running {
            mut child,
            stdout,
            stderr,
        } = self;
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("wait for auditfwd");
        outcome(status, &stdout, &stderr)
    }

    /// The output so far (for a process that was killed).
    pub fn output(&self) -> (String, String) {
        (
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

fn outcome(status: ExitStatus, stdout: &Path, stderr: &Path) -> Outcome {
    Outcome {
        code: status.code(),
        stdout: std::fs::read_to_string(stdout).unwrap_or_default(),
        stderr: std::fs::read_to_string(stderr).unwrap_or_default(),
    }
}

/// The lease a killed process holds in the kill tests ([`Auditfwd::kill_mid_run`]): the
/// shortest allowed.
const KILLED_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

impl Auditfwd {
    /// `auditfwd` for `tenancy` (credentials from its OCI CLI config, every endpoint at the
    /// emulator), sending to `syslog_url`, keeping progress in `checkpoint`; fast limits
    /// (1000 OCI requests per second, 4 compartments at once).
    pub fn new(tenancy: &Tenancy, syslog_url: &str, checkpoint: &Checkpoint) -> Self {
        let emu = &tenancy.emu;
        let base = emu.base_url();
        let mut env: BTreeMap<String, String> = [
            (
                "AUDITFWD_OCI_CONFIG_FILE",
                tenancy.cli_config.display().to_string(),
            ),
            ("AUDITFWD_OCI_REGIONS", emu.region()),
            ("AUDITFWD_OCI_AUDIT_ENDPOINT", base.clone()),
            ("AUDITFWD_OCI_IDENTITY_ENDPOINT", base.clone()),
            ("AUDITFWD_OCI_LOGGING_ENDPOINT", base.clone()),
            ("AUDITFWD_OCI_CLOUD_GUARD_ENDPOINT", base.clone()),
            ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base),
            ("AUDITFWD_SYSLOG_URL", syslog_url.to_owned()),
            ("AUDITFWD_OCI_REQUESTS_PER_SECOND", "1000".into()),
            ("AUDITFWD_CONCURRENCY", "4".into()),
            ("AUDITFWD_LOG", "info".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(checkpoint.env().iter().cloned());
        Auditfwd {
            env,
            out: tempfile::tempdir().expect("temp dir"),
            runs: AtomicUsize::new(0),
        }
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    /// Removes one variable.
    pub fn unset(&mut self, name: &str) -> &mut Self {
        self.env.remove(name);
        self
    }

    /// Collects several tenancies (`AUDITFWD_TENANCIES`), each `(name, tenancy)` with its own
    /// credentials (its OCI CLI config), region and endpoints, in place of the one tenancy
    /// [`Auditfwd::new`] configured.
    pub fn tenancies(&mut self, tenancies: &[(&str, &Tenancy)]) -> &mut Self {
        for name in [
            "AUDITFWD_OCI_CONFIG_FILE",
            "AUDITFWD_OCI_REGIONS",
            "AUDITFWD_OCI_AUDIT_ENDPOINT",
            "AUDITFWD_OCI_IDENTITY_ENDPOINT",
            "AUDITFWD_OCI_LOGGING_ENDPOINT",
            "AUDITFWD_OCI_CLOUD_GUARD_ENDPOINT",
        ] {
            self.unset(name);
        }
        let names: Vec<&str> = tenancies.iter().map(|(n, _)| *n).collect();
        self.set("AUDITFWD_TENANCIES", names.join(","));
        for (name, tenancy) in tenancies {
            let prefix = format!("AUDITFWD_TENANCY_{}_", name.to_ascii_uppercase());
            let base = tenancy.emu.base_url();
            self.set(
                &format!("{prefix}OCI_CONFIG_FILE"),
                tenancy.cli_config.display().to_string(),
            )
            .set(&format!("{prefix}OCI_PROFILE"), "DEFAULT")
            .set(&format!("{prefix}OCI_REGIONS"), tenancy.emu.region())
            .set(&format!("{prefix}OCI_AUDIT_ENDPOINT"), base.clone())
            .set(&format!("{prefix}OCI_LOGGING_ENDPOINT"), base.clone())
            .set(&format!("{prefix}OCI_CLOUD_GUARD_ENDPOINT"), base.clone())
            .set(&format!("{prefix}OCI_IDENTITY_ENDPOINT"), base);
        }
        self
    }

    /// The variables, as `Config::from_vars` takes them.
    pub fn vars(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Starts `auditfwd run --once` with exactly these variables (nothing inherited).
    pub fn spawn(&self) -> Running {
        self.spawn_with(&["run", "--once"])
    }

    /// Starts `auditfwd run` (the daemon) with exactly these variables (nothing inherited);
    /// it runs until [`Running::terminate`] or [`Running::kill`].
    pub fn spawn_daemon(&self) -> Running {
        self.spawn_with(&["run"])
    }

    fn spawn_with(&self, args: &[&str]) -> Running {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let stdout = self.out.path().join(format!("run-{n}.stdout"));
        let stderr = self.out.path().join(format!("run-{n}.stderr"));
        let child = Command::new(binary())
            .args(args)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start auditfwd");
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// Runs `auditfwd run --once` to its end.
    pub async fn run_once(&self) -> Outcome {
        self.spawn().wait().await
    }

    /// `auditfwd run --once` again and again until one run delivers everything due (exit 0),
    /// at most `at_most` runs (a fault storm's later runs retry what earlier ones could not).
    /// Returns each run with the time it started.
    pub async fn run_until_complete(
        &self,
        at_most: usize,
    ) -> Vec<(chrono::DateTime<chrono::Utc>, Outcome)> {
        let mut runs = Vec::new();
        loop {
            let started = chrono::Utc::now();
            let run = self.run_once().await;
            let done = run.complete();
            runs.push((started, run));
            if done {
                return runs;
            }
            assert!(
                runs.len() < at_most,
                "still pending after {} runs: {}",
                runs.len(),
                runs.last().map(|(_, r)| r.describe()).unwrap_or_default()
            );
        }
    }
}

impl Auditfwd {
    /// The first half of a kill test: with one-minute windows (each committed as it goes) and
    /// the shortest lease allowed, runs `auditfwd run --once` and SIGKILLs it once `n` messages
    /// reached `rsyslog`. Returns what rsyslog holds once the killed process's last messages
    /// are in.
    pub async fn kill_mid_run(
        &mut self,
        rsyslog: &crate::rsyslog::Rsyslog,
        n: usize,
    ) -> BTreeMap<String, usize> {
        self.set("AUDITFWD_MAX_WINDOW", "1m");
        self.set("AUDITFWD_LEASE_TTL", format!("{}s", KILLED_LEASE.as_secs()));
        let mut running = self.spawn();
        rsyslog.wait_mid_run(&mut running, n).await;
        running.kill();
        rsyslog.counts_once_settled().await
    }

    /// The second half: once the killed process's lease lapsed, a run that must deliver the
    /// rest (exit 0). Returns when it started.
    pub async fn finish_after_kill(&self) -> chrono::DateTime<chrono::Utc> {
        tokio::time::sleep(KILLED_LEASE + std::time::Duration::from_secs(1)).await;
        let started = chrono::Utc::now();
        let run = self.run_once().await;
        assert_eq!(run.code, Some(0), "{}", run.describe());
        started
    }

    /// Runs `auditfwd ARGS...` (any subcommand) with exactly these variables, to its end.
    pub async fn command(&self, args: &[&str]) -> Outcome {
        self.spawn_with(args).wait().await
    }
}
