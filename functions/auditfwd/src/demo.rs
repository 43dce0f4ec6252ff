//! `auditfwd demo`: auditfwd end to end on this machine with no cloud account. It starts the
//! OCI emulator in this process (a small tenancy with three hours of audit history, a VCN
//! flow log forwarded through a Logging search, and Cloud Guard problems), a private
//! rsyslogd over RELP (the life cycle the tests use, `auditfwd_test_support::rsyslog`; every
//! message acknowledged and written to a file) and a local-file checkpoint; runs two cycles;
//! shows what arrived, that the second cycle sent nothing twice, and how to point auditfwd at a
//! real tenancy. `scripts/demo` installs rsyslog first (`scripts/setup-dev`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use auditfwd_pipeline::{RunContext, SystemClock};
use auditfwd_test_support::rsyslog::{RSYSLOGD, RsyslogProcess, free_tcp_ports};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the demo keeps its files (checkpoint, received messages, OCI CLI config).
    #[arg(long, default_value = ".work/demo")]
    dir: PathBuf,
    /// Keep the emulator and the receiver running after the two cycles (Ctrl-C stops them).
    #[arg(long)]
    keep: bool,
}

pub(crate) async fn demo(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)
            .with_context(|| format!("cannot clear {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir).context("cannot resolve the demo directory")?;

    // 1. The emulated tenancy: history only (no live events), so what arrives is exactly the
    //    look-back and the second cycle has nothing new.
    let emu = oci_emulator::Emulator::builder()
        .seed(7)
        .compartments(8)
        .max_depth(3)
        .events_per_minute(3.0)
        .backlog(chrono::Duration::hours(3))
        .log_records(60)
        .problems(40)
        .live(false)
        .delay(oci_emulator::DelayDistribution::None)
        .start()
        .await
        .context("cannot start the OCI emulator")?;
    let signer = emu
        .test_signer()
        .context("cannot register the demo API key")?;
    let oci_dir = dir.join("oci");
    std::fs::create_dir_all(&oci_dir).context("cannot create the OCI CLI config directory")?;
    let cli_config = emu
        .write_cli_config(&oci_dir, signer.key())
        .context("cannot write the OCI CLI config")?;
    writeln!(
        out,
        "demo: OCI emulator on {} (tenancy {}, {} compartments, 3 h of audit history, a VCN flow log of {} records, {} Cloud Guard problems)",
        emu.base_url(),
        emu.tenancy_id(),
        emu.compartments().len(),
        emu.log_records().len(),
        emu.problems().len()
    )?;
    let flow_log = emu
        .logs()
        .into_iter()
        .next()
        .context("the emulator seeded no flow log")?;

    // 2. The receiver.
    let received = dir.join("received.log");
    let receiver = Receiver::start(&received)?;
    writeln!(
        out,
        "demo: {} writing to {}",
        receiver.describe(),
        received.display()
    )?;

    // 3. The configuration a user would set.
    let base = emu.base_url();
    let vars: Vec<(String, String)> = [
        ("AUDITFWD_OCI_CONFIG_FILE", cli_config.display().to_string()),
        ("AUDITFWD_OCI_REGIONS", emu.region()),
        ("AUDITFWD_OCI_AUDIT_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_IDENTITY_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_LOGGING_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_CLOUD_GUARD_ENDPOINT", base.clone()),
        ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base.clone()),
        ("AUDITFWD_CLOUD_GUARD_REGION", emu.region()),
        (
            "AUDITFWD_LOG_SEARCHES",
            format!(
                "flow=search \"{}/{}/{}\"",
                flow_log.compartment_id, flow_log.log_group_id, flow_log.id
            ),
        ),
        ("AUDITFWD_SYSLOG_URL", receiver.url.clone()),
        (
            "AUDITFWD_CHECKPOINT_URL",
            format!("file://{}", dir.join("checkpoint").display()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let env_file = dir.join("auditfwd.env");
    let mut text = String::from("# The demo's configuration: auditfwd --config this-file status\n");
    for (k, v) in &vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(&env_file, text).context("cannot write the demo's config file")?;
    let config = auditfwd_config::Config::from_vars(vars).context("demo configuration")?;
    auditfwd_runtime::init_state(&config, auditfwd_runtime::Init::Create, "auditfwd demo")
        .await
        .context("cannot initialise the demo's checkpoint directory")?;
    // One runner for the audit events, one for the log search, one for Cloud Guard.
    let mut runners = Vec::new();
    for t in auditfwd_runtime::build_all(
        &config,
        Arc::new(SystemClock),
        auditfwd_runtime::BuildOptions {
            owner: Some("auditfwd-demo".into()),
            ..Default::default()
        },
    )
    .await
    .context("cannot build the pipeline")?
    {
        let label = t.label();
        runners.push(t.runner.with_context(|| format!("cannot build {label}"))?);
    }
    let cycle = || async {
        let mut report = auditfwd_pipeline::RunReport::default();
        for runner in &runners {
            report.absorb(runner.run_once(&RunContext::default()).await);
        }
        report
    };

    // 4. Two cycles.
    writeln!(
        out,
        "\ndemo: cycle 1 (a new tenancy: every compartment, the flow log search and Cloud Guard start at the 1-hour look-back)"
    )?;
    let first = cycle().await;
    for line in first.to_string().lines() {
        writeln!(out, "  {line}")?;
    }
    let ids_first = receiver.wait_for(first.totals().forwarded).await;
    writeln!(
        out,
        "demo: the receiver has {} messages; the first one:",
        ids_first.values().sum::<usize>()
    )?;
    if let Some(line) = std::fs::read_to_string(&received)
        .ok()
        .and_then(|t| t.lines().next().map(str::to_owned))
    {
        let cut: String = line.chars().take(400).collect();
        writeln!(out, "  {cut}")?;
    }

    writeln!(
        out,
        "\ndemo: cycle 2 (only minutes that became due since cycle 1; nothing twice)"
    )?;
    let second = cycle().await;
    for line in second.to_string().lines() {
        writeln!(out, "  {line}")?;
    }
    let total = first.totals().forwarded + second.totals().forwarded;
    let ids = receiver.wait_for(total).await;
    let twice = ids.values().filter(|n| **n > 1).count();
    writeln!(
        out,
        "demo: cycle 2 forwarded {} events; the receiver has {} messages from {} distinct event ids; ids received twice: {twice}",
        second.totals().forwarded,
        ids.values().sum::<usize>(),
        ids.len()
    )?;
    let ok = first.is_complete() && second.is_complete() && twice == 0 && !ids.is_empty();

    writeln!(
        out,
        "\ndemo: state is in {dir}/checkpoint; try:\n  auditfwd --config {env} status\n  auditfwd --config {env} config\n\
         To point auditfwd at a real tenancy, drop the *_ENDPOINT variables and set your own\n\
         (docs/configuration.md, .env.example), check the setup, then run it:\n  \
         AUDITFWD_OCI_CONFIG_FILE=~/.oci/config AUDITFWD_OCI_REGIONS=<region> \\\n  \
         AUDITFWD_SYSLOG_URL=relp+tls://<siem>:<port> AUDITFWD_CHECKPOINT_URL=file:///var/lib/auditfwd \\\n  \
         auditfwd check && auditfwd run",
        dir = dir.display(),
        env = env_file.display()
    )?;
    if args.keep {
        writeln!(
            out,
            "\ndemo: the emulator ({}) and the receiver keep running (the emulator and the checkpoint use {}); Ctrl-C stops them.",
            emu.base_url(),
            env_file.display()
        )?;
        drop(out);
        tokio::signal::ctrl_c().await.ok();
    }
    drop(receiver);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A private rsyslogd, RELP on a free loopback port, writing every message it acknowledges
/// to a file, one line each.
struct Receiver {
    url: String,
    file: PathBuf,
    /// Stopped (killed) on drop.
    _rsyslogd: RsyslogProcess,
}

impl Receiver {
    fn describe(&self) -> String {
        format!("rsyslog (RELP: every message acknowledged) on {}", self.url)
    }

    fn start(file: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} is not installed: run scripts/setup-dev (or apt install rsyslog rsyslog-relp)"
        );
        let mut rsyslogd = RsyslogProcess::new();
        let port = free_tcp_ports(1)[0];
        let config = format!(
            r#"global(workDirectory="{work}/work")
main_queue(queue.type="Direct")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="demo" queue.type="Direct") {{
  action(type="omfile" file="{file}" template="raw")
}}
module(load="imrelp")
input(type="imrelp" port="{port}" address="127.0.0.1" ruleset="demo")
*.* action(type="omfile" file="{work}/internal.log")
"#,
            work = rsyslogd.dir().display(),
            file = file.display(),
        );
        rsyslogd.start(&config, &[port]);
        Ok(Receiver {
            url: format!("relp://127.0.0.1:{port}"),
            file: file.to_owned(),
            _rsyslogd: rsyslogd,
        })
    }

    /// Event ids in the file and how often each arrived, once at least `expected` messages
    /// are there (or after 10 s).
    async fn wait_for(&self, expected: u64) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for _ in 0..100 {
            ids = event_ids(&self.file);
            if ids.values().sum::<usize>() as u64 >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ids
    }
}

/// `eventId="…"` from each message's structured data.
fn event_ids(path: &Path) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return ids;
    };
    for line in text.lines() {
        if let Some(rest) = line.split("eventId=\"").nth(1)
            && let Some(id) = rest.split('"').next()
        {
            *ids.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    ids
}
