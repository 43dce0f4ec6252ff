//! `auditfwd demo`: auditfwd end to end on this machine with no cloud account. It starts the
//! OCI emulator in this process (a small tenancy with three hours of audit history), a local
//! syslog receiver (rsyslog over RELP when installed, otherwise a built-in TCP receiver that
//! writes to a file) and a local-file checkpoint; runs two cycles; shows what arrived, that
//! the second cycle sent nothing twice, and how to point auditfwd at a real tenancy.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use auditfwd_pipeline::SystemClock;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the demo keeps its files (checkpoint, received messages, OCI CLI config).
    #[arg(long, default_value = ".work/demo")]
    dir: PathBuf,
    /// The local syslog receiver: rsyslog (RELP, acknowledged), builtin (TCP), or auto
    /// (rsyslog when installed).
    #[arg(long, default_value = "auto", value_parser = ["auto", "rsyslog", "builtin"])]
    receiver: String,
    /// Keep the emulator and the receiver running after the two cycles (Ctrl-C stops them).
    #[arg(long)]
    keep: bool,
}

const RSYSLOGD: [&str; 2] = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"];

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
        "demo: OCI emulator on {} (tenancy {}, {} compartments, 3 h of audit history)",
        emu.base_url(),
        emu.tenancy_id(),
        emu.compartments().len()
    )?;

    // 2. The receiver.
    let received = dir.join("received.log");
    let use_rsyslog = match args.receiver.as_str() {
        "rsyslog" => true,
        "builtin" => false,
        _ => RSYSLOGD.iter().any(|p| Path::new(p).exists()),
    };
    let receiver = if use_rsyslog {
        Receiver::rsyslog(&dir, &received).await?
    } else {
        Receiver::builtin(&received).await?
    };
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
        ("AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT", base.clone()),
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
    let runner = auditfwd_runtime::build(
        &config,
        Arc::new(SystemClock),
        auditfwd_runtime::BuildOptions {
            owner: Some("auditfwd-demo".into()),
            ..Default::default()
        },
    )
    .await
    .context("cannot build the pipeline")?;

    // 4. Two cycles.
    writeln!(
        out,
        "\ndemo: cycle 1 (a new tenancy: every compartment starts at the 1-hour look-back)"
    )?;
    let first = runner.run_once().await;
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
    let second = runner.run_once().await;
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

/// A local syslog receiver writing every message it gets to a file.
struct Receiver {
    url: String,
    file: PathBuf,
    kind: &'static str,
    rsyslogd: Option<std::process::Child>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    fn describe(&self) -> String {
        format!("{} on {}", self.kind, self.url)
    }

    /// A private rsyslogd, RELP on a free loopback port.
    async fn rsyslog(dir: &Path, file: &Path) -> anyhow::Result<Self> {
        let bin = RSYSLOGD
            .iter()
            .find(|p| Path::new(p).exists())
            .context("rsyslogd is not installed (apt install rsyslog rsyslog-relp), or use --receiver builtin")?;
        let port = free_port()?;
        let work = dir.join("rsyslog");
        std::fs::create_dir_all(&work).context("cannot create the rsyslog directory")?;
        let conf = work.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}")
main_queue(queue.type="Direct")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="demo" queue.type="Direct") {{
  action(type="omfile" file="{file}" template="raw")
}}
module(load="imrelp")
input(type="imrelp" port="{port}" address="127.0.0.1" ruleset="demo")
*.* action(type="omfile" file="{work}/internal.log")
"#,
                work = work.display(),
                file = file.display(),
            ),
        )
        .context("cannot write the rsyslog config")?;
        let child = std::process::Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslogd.pid"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(work.join("rsyslogd.log")).context("rsyslog log")?)
            .spawn()
            .with_context(|| format!("cannot start {bin}"))?;
        let r = Receiver {
            url: format!("relp://127.0.0.1:{port}"),
            file: file.to_owned(),
            kind: "rsyslog (RELP: every message acknowledged)",
            rsyslogd: Some(child),
            task: None,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "rsyslogd did not start listening on 127.0.0.1:{port}; see {}",
            work.join("rsyslogd.log").display()
        )
    }

    /// A built-in TCP receiver (octet-counted or LF-framed messages), one line per message.
    async fn builtin(file: &Path) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on loopback")?;
        let port = listener.local_addr().context("listener address")?.port();
        let path = file.to_owned();
        std::fs::File::create(&path).context("cannot create the receiver's file")?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let path = path.clone();
                tokio::spawn(async move {
                    if let Err(e) = receive(stream, &path).await {
                        tracing::warn!(error = %e, "demo receiver: connection failed");
                    }
                });
            }
        });
        Ok(Receiver {
            url: format!("tcp://127.0.0.1:{port}"),
            file: file.to_owned(),
            kind: "built-in receiver (TCP; install rsyslog for acknowledged RELP)",
            rsyslogd: None,
            task: Some(task),
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

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(mut c) = self.rsyslogd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port")?;
    Ok(l.local_addr().context("listener address")?.port())
}

/// Reads framed syslog messages from one connection and appends them to `path`.
async fn receive(stream: tokio::net::TcpStream, path: &Path) -> std::io::Result<()> {
    let mut reader = tokio::io::BufReader::new(stream);
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await?;
    loop {
        let buf = reader.fill_buf().await?;
        let Some(&first) = buf.first() else {
            return Ok(());
        };
        let message = if first.is_ascii_digit() {
            // Octet counting: "LEN SP MSG".
            let mut len = Vec::new();
            reader.read_until(b' ', &mut len).await?;
            let n: usize = std::str::from_utf8(&len)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| std::io::Error::other("bad octet count"))?;
            let mut msg = vec![0; n];
            reader.read_exact(&mut msg).await?;
            msg
        } else {
            let mut msg = Vec::new();
            reader.read_until(b'\n', &mut msg).await?;
            if msg.last() == Some(&b'\n') {
                msg.pop();
            }
            msg
        };
        let mut line = String::from_utf8_lossy(&message).replace('\n', " ");
        line.push('\n');
        file.write_all(line.as_bytes()).await?;
        file.flush().await?;
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
