//! auditfwd's configuration: one typed [`Config`], parsed once from environment variables at
//! start-up. Every variable is written once, in the table ([`table`]); the parser reads through
//! the table's typed handles, and `auditfwd config`, `docs/configuration.md`, `.env.example` and
//! the warning about unknown `AUDITFWD_*` names all come from the same table. A bad value does
//! not stop parsing: every problem is collected and reported together, each naming its variable
//! and what it expects, and the process fails before doing anything. Secrets (the API key, its
//! passphrase, the TLS client key) are held in `secrecy` types and never printed.
//!
//! - [`table`]: the variables (name, group, default, secret, doc, parser); [`var`]: what a
//!   table entry is, and [`variables`] to list them.
//! - [`sources`]: the environment merged with `--config FILE`, where each value came from,
//!   unknown names with the closest known one.
//! - [`oci`], [`syslog`]: the settings that take several variables together; [`tenancy`]:
//!   several tenancies from one deployment (`AUDITFWD_TENANCIES`), each read through the same
//!   parser under its own variable prefix.
//! - [`reference`]: `docs/configuration.md` and `.env.example`, generated.
//! - `parse`, `reader` (private): the parsers, and reading with problems collected.
//!
//! Dependencies run one way: this crate builds the pipeline's types
//! ([`auditfwd_pipeline::RunnerConfig`] via `From<&Config>`); the pipeline knows nothing of it.

pub mod oci;
mod parse;
mod reader;
pub mod reference;
pub mod sources;
pub mod syslog;
pub mod table;
pub mod tenancy;
pub mod var;

#[cfg(test)]
mod tests_support {
    /// The smallest valid set of variables, for tests.
    pub(crate) fn minimal_vars() -> Vec<(String, String)> {
        [
            (
                "AUDITFWD_OCI_TENANCY",
                "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq",
            ),
            (
                "AUDITFWD_OCI_USER",
                "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq",
            ),
            (
                "AUDITFWD_OCI_KEY_FILE",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../oci/tests/fixtures/oracle-sample-key.pem"
                ),
            ),
            ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
            ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
            ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::Duration;

use auditfwd_checkpoint::CheckpointLocation;
use auditfwd_pipeline::filter::EventFilter;
use auditfwd_pipeline::limits::{Throttle, TypeCap, TypeCaps};
use auditfwd_pipeline::plan::WindowPolicy;
use auditfwd_pipeline::scrub::ScrubPolicy;
use auditfwd_pipeline::{RateLimits, RunnerConfig};

pub use oci::{KeySource, OciAuth, OciSettings};
pub use reader::{ConfigError, Problem};
pub use sources::{Effective, FileError, Source, Sources, Unknown};
pub use syslog::SyslogSettings;
pub use tenancy::{TenancyName, TenancySettings};
pub use var::{Group, ReadBy, SecretForm, Var, Variable, variable, variables};

use reader::Reader;
use table::*;

/// Everything auditfwd is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The tenancies collected, at least one: each one's OCI credentials, regions, endpoints
    /// and compartment rules (`AUDITFWD_OCI_*`, `AUDITFWD_COMPARTMENTS_*`, or per tenancy with
    /// `AUDITFWD_TENANCIES`; see [`tenancy`]).
    pub tenancies: Vec<TenancySettings>,
    /// The syslog destination.
    pub syslog: SyslogSettings,
    /// `AUDITFWD_CHECKPOINT_URL`: where delivery progress is kept (`file:///dir`,
    /// `s3://bucket/prefix`, `oci://namespace/bucket/prefix`).
    pub checkpoint: CheckpointLocation,
    /// `AUDITFWD_S3_FORCE_PATH_STYLE`: address S3 buckets by path (`endpoint/bucket/key`), as
    /// S3-compatible stores and local test servers need (default false).
    pub s3_force_path_style: bool,
    /// `AUDITFWD_FRESH_LAG`, `AUDITFWD_SETTLE_LAG`, `AUDITFWD_INITIAL_LOOKBACK`,
    /// `AUDITFWD_MAX_WINDOW`, `AUDITFWD_AUDIT_RETENTION`: when windows are listed.
    pub windows: WindowPolicy,
    /// `AUDITFWD_EVENT_TYPES_*`, `AUDITFWD_PRINCIPALS_*`, `AUDITFWD_DROP_SERVICE_PRINCIPALS`.
    pub filter: EventFilter,
    /// `AUDITFWD_SCRUB_ALLOW`, `AUDITFWD_SCRUB_DISABLE`: credential header scrubbing.
    pub scrub: ScrubPolicy,
    /// Rate and concurrency limits.
    pub limits: Limits,
    /// The `auditfwd run` daemon: schedule, shutdown, health thresholds, HTTP listener.
    pub daemon: Daemon,
    /// Lambda fan-out over SQS.
    pub fan_out: FanOut,
}

/// The `auditfwd run` daemon.
#[derive(Debug, Clone)]
pub struct Daemon {
    /// `AUDITFWD_INTERVAL`: time from one cycle's start to the next (default 5m).
    pub interval: Duration,
    /// `AUDITFWD_LISTEN`: the `/health` and `/metrics` listener (default `127.0.0.1:9464`;
    /// `off` disables it).
    pub listen: Option<std::net::SocketAddr>,
    /// `AUDITFWD_SHUTDOWN_TIMEOUT`: after SIGTERM, SIGINT or SIGHUP, how long the window in
    /// flight may take before it is abandoned uncommitted and the process exits (default 30s).
    pub shutdown_timeout: Duration,
    /// `AUDITFWD_HEALTH_DEGRADED_LAG`: `/health` says `degraded` once the oldest compartment's
    /// cursor is this far behind now (default 30m).
    pub degraded_lag: Duration,
    /// `AUDITFWD_HEALTH_UNHEALTHY_LAG`: `/health` says `unhealthy` (HTTP 503) once the oldest
    /// cursor is this far behind now (default 2h).
    pub unhealthy_lag: Duration,
}

/// Whether the Lambda poller hands compartments to the worker over SQS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FanOutMode {
    /// Never: the poller processes every compartment itself.
    Off,
    /// Always.
    On,
    /// Above [`FanOut::threshold`] (region, compartment) pairs.
    #[default]
    Auto,
}

impl FanOutMode {
    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(FanOutMode::Auto),
            "on" | "true" => Ok(FanOutMode::On),
            "off" | "false" => Ok(FanOutMode::Off),
            _ => Err(format!("{s:?}: expected on, off or auto")),
        }
    }
}

/// Lambda fan-out over SQS.
#[derive(Debug, Clone)]
pub struct FanOut {
    /// `AUDITFWD_FAN_OUT`: `on`, `off` or `auto` (default `auto`).
    pub mode: FanOutMode,
    /// `AUDITFWD_FAN_OUT_THRESHOLD`: the (region, compartment) count above which `auto` fans
    /// out (default 50).
    pub threshold: usize,
    /// `AUDITFWD_WORK_QUEUE_URL`: the SQS queue the worker consumes (required when fan-out can
    /// happen in the poller; unset elsewhere).
    pub queue_url: Option<String>,
}

/// The process environment as (name, value) pairs, for callers that must add to it before
/// parsing (secrets fetched at start-up). The only place auditfwd reads `std::env`.
pub fn env_vars() -> Vec<(String, String)> {
    std::env::vars().collect()
}

/// Rate and concurrency limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `AUDITFWD_EVENTS_PER_SECOND`: events sent to syslog per second; sending waits rather
    /// than drops (unset: unlimited).
    pub events_per_second: Option<NonZeroU32>,
    /// `AUDITFWD_OCI_REQUESTS_PER_SECOND`: OCI requests per second for the whole tenancy
    /// (default 200).
    pub oci_requests_per_second: NonZeroU32,
    /// `AUDITFWD_OCI_BUDGET_SHARES`: processes sharing that budget at once (default 1).
    pub oci_budget_shares: NonZeroU32,
    /// `AUDITFWD_CONCURRENCY`: compartments processed at once (default 4).
    pub concurrency: usize,
    /// `AUDITFWD_LEASE_TTL`: how long a runner's claim on a compartment lasts unless renewed
    /// (between windows); after a crash, the next run waits at most this long (default 5m,
    /// 30s to 24h: a shorter claim can lapse while its window is still being sent, and then two
    /// runners send the same compartment).
    pub lease_ttl: Duration,
    /// `AUDITFWD_EVENT_TYPE_CAPS`: per-event-type caps, `pattern=rate[:delay|:drop]`,
    /// comma-separated; the first matching pattern applies.
    pub type_caps: Vec<TypeCap>,
}

impl Config {
    /// Reads the process environment. The only place auditfwd reads `std::env`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(env_vars())
    }

    /// Parses a set of variables (tests pass their own).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::parse(vars).0
    }

    /// Parses, and says which table variables were read.
    pub(crate) fn parse(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> (Result<Self, ConfigError>, BTreeSet<&'static str>) {
        let mut v = Reader::new(vars);
        let tenancies = tenancy::tenancies(&mut v);
        let syslog = syslog::settings(&mut v);
        let checkpoint = v.required(
            &CHECKPOINT_URL,
            "where progress is kept: file:///dir, s3://bucket/prefix or oci://namespace/bucket/prefix",
        );
        let s3_force_path_style = v.value(&S3_FORCE_PATH_STYLE);
        let windows = windows(&mut v);
        let filter = EventFilter {
            include_types: v.get(&EVENT_TYPES_INCLUDE).unwrap_or_default(),
            exclude_types: v.get(&EVENT_TYPES_EXCLUDE).unwrap_or_default(),
            include_principals: v.get(&PRINCIPALS_INCLUDE).unwrap_or_default(),
            exclude_principals: v.get(&PRINCIPALS_EXCLUDE).unwrap_or_default(),
            drop_service_principals: v.value(&DROP_SERVICE_PRINCIPALS),
        };
        let scrub = ScrubPolicy {
            allow: v.get(&SCRUB_ALLOW).unwrap_or_default(),
            disabled: v.value(&SCRUB_DISABLE),
        };
        let requests = u32::try_from(v.value(&OCI_REQUESTS_PER_SECOND)).unwrap_or(u32::MAX);
        let limits = Limits {
            events_per_second: v.get(&EVENTS_PER_SECOND),
            // The parser refuses 0.
            oci_requests_per_second: NonZeroU32::new(requests).unwrap_or(NonZeroU32::MIN),
            oci_budget_shares: u32::try_from(v.value(&OCI_BUDGET_SHARES))
                .ok()
                .and_then(NonZeroU32::new)
                .unwrap_or(NonZeroU32::MIN),
            concurrency: v.value(&CONCURRENCY),
            lease_ttl: v.value(&LEASE_TTL),
            type_caps: v.get(&EVENT_TYPE_CAPS).unwrap_or_default(),
        };
        let daemon = Daemon {
            interval: v.value(&INTERVAL),
            listen: v.value(&LISTEN),
            shutdown_timeout: v.value(&SHUTDOWN_TIMEOUT),
            degraded_lag: v.value(&HEALTH_DEGRADED_LAG),
            unhealthy_lag: v.value(&HEALTH_UNHEALTHY_LAG),
        };
        if daemon.unhealthy_lag < daemon.degraded_lag {
            v.problem(
                &HEALTH_UNHEALTHY_LAG,
                "must be at least AUDITFWD_HEALTH_DEGRADED_LAG",
            );
        }
        let fan_out = FanOut {
            mode: v.value(&FAN_OUT),
            threshold: v.value(&FAN_OUT_THRESHOLD),
            queue_url: v.get(&WORK_QUEUE_URL),
        };

        let config = match (tenancies, syslog, checkpoint) {
            (Some(tenancies), Some(syslog), Some(checkpoint)) if v.problems.is_empty() => {
                Ok(Config {
                    tenancies,
                    syslog,
                    checkpoint,
                    s3_force_path_style,
                    windows,
                    filter,
                    scrub,
                    limits,
                    daemon,
                    fan_out,
                })
            }
            _ => Err(ConfigError {
                problems: v.problems,
            }),
        };
        (config, v.read)
    }
}

/// The window policy, with the rules that tie its variables together.
fn windows(v: &mut Reader) -> WindowPolicy {
    let max_window = v.value(&MAX_WINDOW);
    let windows = WindowPolicy {
        fresh_lag: v.value(&FRESH_LAG),
        settle_lag: v.value(&SETTLE_LAG),
        initial_lookback: v.value(&INITIAL_LOOKBACK),
        max_window_minutes: u32::try_from(max_window.as_secs() / 60).unwrap_or(u32::MAX),
        retention: v.value(&AUDIT_RETENTION),
    };
    if !windows.settle_lag.is_zero() && windows.settle_lag < windows.fresh_lag {
        v.problem(
            &SETTLE_LAG,
            format!(
                "{} is below AUDITFWD_FRESH_LAG ({}): the second listing would come before the first; use at least the fresh lag, or 0 for no second listing",
                parse::human(windows.settle_lag),
                parse::human(windows.fresh_lag)
            ),
        );
    }
    if let Err(e) = windows.validate() {
        v.problem_named(
            "AUDITFWD_INITIAL_LOOKBACK/SETTLE_LAG/MAX_WINDOW",
            e.to_string(),
        );
    }
    windows
}

/// A runner named `auditfwd-<random>` (callers that know who runs set
/// [`RunnerConfig::owner`] themselves), with everything else from the configuration but the
/// compartment rules, which are each tenancy's ([`TenancySettings::runner_config`]).
impl From<&Config> for RunnerConfig {
    fn from(config: &Config) -> Self {
        let owner = format!("auditfwd-{:08x}", fastrand::u32(..));
        let mut rc = RunnerConfig::new(config.windows.clone(), owner);
        rc.filter = config.filter.clone();
        rc.scrub = config.scrub.clone();
        rc.concurrency = config.limits.concurrency;
        rc.lease_ttl = config.limits.lease_ttl;
        rc
    }
}

/// The rate limits `AUDITFWD_EVENTS_PER_SECOND` and `AUDITFWD_EVENT_TYPE_CAPS` describe
/// (new limiters: clone the result to share them). OCI requests are limited at the OCI
/// transport instead ([`Limits::oci_budget`]), so retries count too.
impl From<&Config> for RateLimits {
    fn from(config: &Config) -> Self {
        let limits = &config.limits;
        RateLimits {
            events: limits
                .events_per_second
                .map(|r| Throttle::per_second("events", r)),
            oci_requests: None,
            type_caps: TypeCaps::new(&limits.type_caps),
        }
    }
}

impl TenancySettings {
    /// The runner settings for this tenancy: `config`'s, with its compartment rules.
    pub fn runner_config(&self, config: &Config) -> RunnerConfig {
        let mut rc = RunnerConfig::from(config);
        rc.include.clone_from(&self.compartments_include);
        rc.exclude.clone_from(&self.compartments_exclude);
        rc.labels.tenancy.clone_from(&self.name);
        rc
    }
}

impl Config {
    /// The one tenancy, for the entry points that collect one (the Lambda functions); with
    /// several configured, `None`.
    pub fn single_tenancy(&self) -> Option<&TenancySettings> {
        match self.tenancies.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

impl Limits {
    /// This process's OCI request budget: its share of the tenancy's,
    /// `AUDITFWD_OCI_REQUESTS_PER_SECOND / AUDITFWD_OCI_BUDGET_SHARES` requests a second.
    /// Give the one budget to every OCI client of the process.
    pub fn oci_budget(&self) -> auditfwd_oci::RequestBudget {
        auditfwd_oci::RequestBudget::per_second(
            f64::from(self.oci_requests_per_second.get()) / f64::from(self.oci_budget_shares.get()),
        )
    }
}

#[cfg(test)]
mod tests;
