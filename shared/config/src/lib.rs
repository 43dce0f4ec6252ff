//! auditfwd's configuration: one typed [`Config`], parsed once from environment variables at
//! start-up. Every variable is read here and nowhere else. A bad value does not stop parsing:
//! every problem is collected and reported together, each naming its variable and what it
//! expects, and the process fails before doing anything. Secrets (the API key, its
//! passphrase) are held in `secrecy` types and never printed.
//!
//! - [`oci`]: authentication (variables or an OCI CLI config profile), regions, endpoints.
//! - [`syslog`]: `AUDITFWD_SYSLOG_URL` and the message shape.
//! - `vars` (private): reading with problems collected; duration syntax (`90s`, `20m`, `1h30m`).
//!
//! The full list of variables, with defaults, is `.env.example` at the repository root.

pub mod oci;
pub mod reference;
pub mod syslog;
mod vars;

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

use std::num::NonZeroU32;
use std::time::Duration;

use auditfwd_checkpoint::CheckpointLocation;
use auditfwd_pipeline::compartments::CompartmentRule;
use auditfwd_pipeline::filter::EventFilter;
use auditfwd_pipeline::glob::Glob;
use auditfwd_pipeline::limits::TypeCap;
use auditfwd_pipeline::plan::WindowPolicy;
use auditfwd_pipeline::scrub::ScrubPolicy;

pub use oci::{KeySource, OciAuth, OciSettings};
pub use reference::{Source, Sources};
pub use syslog::SyslogSettings;
pub use vars::{ConfigError, Problem};

/// Everything auditfwd is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// OCI authentication, regions and endpoints.
    pub oci: OciSettings,
    /// `AUDITFWD_COMPARTMENTS_INCLUDE`: compartments to collect (OCIDs, names or paths, each
    /// with its subtree; empty: the whole tenancy).
    pub compartments_include: Vec<CompartmentRule>,
    /// `AUDITFWD_COMPARTMENTS_EXCLUDE`: compartments (with their subtrees) never collected.
    pub compartments_exclude: Vec<CompartmentRule>,
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
    /// `AUDITFWD_SHUTDOWN_TIMEOUT`: after SIGTERM/SIGINT, how long the window in flight may
    /// take before it is abandoned uncommitted and the process exits (default 30s).
    pub shutdown_timeout: Duration,
    /// `AUDITFWD_HEALTH_DEGRADED_LAG`: `/health` says `degraded` once the oldest compartment's
    /// cursor is this far behind now (default 30m).
    pub degraded_lag: Duration,
    /// `AUDITFWD_HEALTH_UNHEALTHY_LAG`: `/health` says `unhealthy` (HTTP 503) once the oldest
    /// cursor is this far behind now (default 2h).
    pub unhealthy_lag: Duration,
}

/// Whether the Lambda poller hands compartments to the worker over SQS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanOutMode {
    /// Never: the poller processes every compartment itself.
    Off,
    /// Always.
    On,
    /// Above [`FanOut::threshold`] (region, compartment) pairs.
    Auto,
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
/// parsing (secrets given as KMS ciphertext). The only place auditfwd reads `std::env`.
pub fn env_vars() -> Vec<(String, String)> {
    std::env::vars().collect()
}

/// Rate and concurrency limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `AUDITFWD_EVENTS_PER_SECOND`: events sent to syslog per second; sending waits rather
    /// than drops (unset: unlimited).
    pub events_per_second: Option<NonZeroU32>,
    /// `AUDITFWD_OCI_REQUESTS_PER_SECOND`: OCI requests per second, shared by every task
    /// (default 10).
    pub oci_requests_per_second: NonZeroU32,
    /// `AUDITFWD_CONCURRENCY`: compartments processed at once (default 4).
    pub concurrency: usize,
    /// `AUDITFWD_LEASE_TTL`: how long a runner's claim on a compartment lasts unless renewed
    /// (between windows); after a crash, the next run waits at most this long (default 5m).
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
        let mut v = vars::Vars::new(vars);
        let oci = oci::parse(&mut v);
        let compartments_include = v
            .list("AUDITFWD_COMPARTMENTS_INCLUDE")
            .into_iter()
            .map(CompartmentRule::new)
            .collect();
        let compartments_exclude = v
            .list("AUDITFWD_COMPARTMENTS_EXCLUDE")
            .into_iter()
            .map(CompartmentRule::new)
            .collect();
        let syslog = syslog::parse(&mut v);
        let checkpoint = match v.required("AUDITFWD_CHECKPOINT_URL", "where progress is kept: file:///dir, s3://bucket/prefix or oci://namespace/bucket/prefix") {
            Some(url) => match CheckpointLocation::parse(&url) {
                Ok(l) => Some(l),
                Err(e) => {
                    // The checkpoint crate's message already names the variable.
                    let text = e.to_string();
                    v.problem("AUDITFWD_CHECKPOINT_URL", text.trim_start_matches("AUDITFWD_CHECKPOINT_URL ").to_owned());
                    None
                }
            },
            None => None,
        };

        let s3_force_path_style = v.boolean("AUDITFWD_S3_FORCE_PATH_STYLE", false);
        let d = WindowPolicy::default();
        let max_window = v.duration(
            "AUDITFWD_MAX_WINDOW",
            Duration::from_secs(u64::from(d.max_window_minutes) * 60),
        );
        if !max_window.as_secs().is_multiple_of(60) {
            v.problem(
                "AUDITFWD_MAX_WINDOW",
                "must be whole minutes (the Audit API works in minutes)",
            );
        }
        let windows = WindowPolicy {
            fresh_lag: v.duration("AUDITFWD_FRESH_LAG", d.fresh_lag),
            settle_lag: v.duration("AUDITFWD_SETTLE_LAG", d.settle_lag),
            initial_lookback: v.duration("AUDITFWD_INITIAL_LOOKBACK", d.initial_lookback),
            max_window_minutes: u32::try_from(max_window.as_secs() / 60).unwrap_or(u32::MAX),
            retention: v.duration("AUDITFWD_AUDIT_RETENTION", d.retention),
        };
        if let Err(e) = windows.validate() {
            v.problem(
                "AUDITFWD_INITIAL_LOOKBACK/SETTLE_LAG/MAX_WINDOW",
                e.to_string(),
            );
        }

        let globs = |v: &vars::Vars, name: &str| {
            v.list(name)
                .iter()
                .map(|p| Glob::new(p))
                .collect::<Vec<_>>()
        };
        let filter = EventFilter {
            include_types: globs(&v, "AUDITFWD_EVENT_TYPES_INCLUDE"),
            exclude_types: globs(&v, "AUDITFWD_EVENT_TYPES_EXCLUDE"),
            include_principals: globs(&v, "AUDITFWD_PRINCIPALS_INCLUDE"),
            exclude_principals: globs(&v, "AUDITFWD_PRINCIPALS_EXCLUDE"),
            drop_service_principals: v.boolean("AUDITFWD_DROP_SERVICE_PRINCIPALS", false),
        };
        let scrub = ScrubPolicy {
            allow: v
                .list("AUDITFWD_SCRUB_ALLOW")
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            disabled: v.boolean("AUDITFWD_SCRUB_DISABLE", false),
        };
        let positive = "a whole number above 0";
        let limits = Limits {
            events_per_second: v.number::<NonZeroU32>("AUDITFWD_EVENTS_PER_SECOND", positive),
            oci_requests_per_second: v
                .number::<NonZeroU32>("AUDITFWD_OCI_REQUESTS_PER_SECOND", positive)
                .unwrap_or(NonZeroU32::MIN.saturating_add(9)),
            concurrency: v
                .number::<NonZeroU32>("AUDITFWD_CONCURRENCY", positive)
                .map_or(4, |n| n.get() as usize),
            lease_ttl: v.duration("AUDITFWD_LEASE_TTL", Duration::from_secs(300)),
            type_caps: v
                .list("AUDITFWD_EVENT_TYPE_CAPS")
                .iter()
                .filter_map(|c| match TypeCap::parse(c) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        v.problem("AUDITFWD_EVENT_TYPE_CAPS", e);
                        None
                    }
                })
                .collect(),
        };

        let listen = match v.get("AUDITFWD_LISTEN").map(str::trim) {
            None | Some("") => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9464))),
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some(text) => match text.parse::<std::net::SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    let text = text.to_owned();
                    v.problem(
                        "AUDITFWD_LISTEN",
                        format!("{text:?} is not an address: expected host:port such as 127.0.0.1:9464 or [::1]:9464, or off"),
                    );
                    None
                }
            },
        };
        let daemon = Daemon {
            interval: v.duration("AUDITFWD_INTERVAL", Duration::from_secs(300)),
            listen,
            shutdown_timeout: v.duration("AUDITFWD_SHUTDOWN_TIMEOUT", Duration::from_secs(30)),
            degraded_lag: v.duration("AUDITFWD_HEALTH_DEGRADED_LAG", Duration::from_secs(30 * 60)),
            unhealthy_lag: v.duration(
                "AUDITFWD_HEALTH_UNHEALTHY_LAG",
                Duration::from_secs(2 * 3600),
            ),
        };
        if daemon.interval.is_zero() {
            v.problem("AUDITFWD_INTERVAL", "must be above 0 (such as 5m)");
        }
        if daemon.unhealthy_lag < daemon.degraded_lag {
            v.problem(
                "AUDITFWD_HEALTH_UNHEALTHY_LAG",
                "must be at least AUDITFWD_HEALTH_DEGRADED_LAG",
            );
        }
        let mode = match v
            .get("AUDITFWD_FAN_OUT")
            .map(|m| m.trim().to_ascii_lowercase())
        {
            None => FanOutMode::Auto,
            Some(m) => match m.as_str() {
                "" | "auto" => FanOutMode::Auto,
                "on" | "true" => FanOutMode::On,
                "off" | "false" => FanOutMode::Off,
                _ => {
                    v.problem(
                        "AUDITFWD_FAN_OUT",
                        format!("{m:?}: expected on, off or auto"),
                    );
                    FanOutMode::Auto
                }
            },
        };
        let fan_out = FanOut {
            mode,
            threshold: v
                .number::<NonZeroU32>("AUDITFWD_FAN_OUT_THRESHOLD", positive)
                .map_or(50, |n| n.get() as usize),
            queue_url: v
                .get("AUDITFWD_WORK_QUEUE_URL")
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
        };

        match (oci, syslog, checkpoint) {
            (Some(oci), Some(syslog), Some(checkpoint)) if v.problems.is_empty() => Ok(Config {
                oci,
                compartments_include,
                compartments_exclude,
                syslog,
                checkpoint,
                s3_force_path_style,
                windows,
                filter,
                scrub,
                limits,
                daemon,
                fan_out,
            }),
            _ => Err(ConfigError {
                problems: v.problems,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditfwd_oci::Service;
    use auditfwd_syslog::{Framing, Payload, Roots, SyslogFormat, Transport};

    const TENANCY: &str =
        "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
    const USER: &str =
        "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
    const KEY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../oci/tests/fixtures/oracle-sample-key.pem"
    );

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AUDITFWD_OCI_TENANCY", TENANCY),
            ("AUDITFWD_OCI_USER", USER),
            ("AUDITFWD_OCI_KEY_FILE", KEY),
            ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
            ("AUDITFWD_SYSLOG_URL", "tcp://127.0.0.1:10514"),
            ("AUDITFWD_CHECKPOINT_URL", "file:///var/lib/auditfwd"),
        ]
    }

    fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
        Config::from_vars(vars(pairs))
            .unwrap_err()
            .problems
            .iter()
            .map(|p| p.variable.clone())
            .collect()
    }

    #[test]
    fn minimal_configuration_gets_the_documented_defaults() {
        let c = Config::from_vars(vars(&minimal())).unwrap();
        assert_eq!(
            c.oci.regions.iter().map(|r| r.id()).collect::<Vec<_>>(),
            ["us-ashburn-1"]
        );
        assert!(c.oci.endpoints.is_empty());
        assert_eq!(c.syslog.sender.address, "127.0.0.1:10514");
        assert_eq!(
            c.syslog.sender.transport,
            Transport::Tcp {
                framing: Framing::OctetCounting
            }
        );
        assert_eq!(
            (c.syslog.encoder.format, c.syslog.encoder.payload),
            (SyslogFormat::Rfc5424, Payload::Json)
        );
        assert_eq!(c.windows, WindowPolicy::default());
        assert_eq!(
            (
                c.limits.events_per_second,
                c.limits.oci_requests_per_second.get(),
                c.limits.concurrency,
                c.limits.type_caps.len()
            ),
            (None, 10, 4, 0)
        );
        assert!(!c.scrub.disabled && c.filter.include_types.is_empty());
        assert_eq!(
            c.oci.auth.credentials().unwrap().tenancy().as_str(),
            TENANCY
        );
    }

    #[test]
    fn event_type_caps_parse_and_a_bad_one_names_the_variable() {
        let mut v = minimal();
        v.push((
            "AUDITFWD_EVENT_TYPE_CAPS",
            "*.GetObject=50:drop, com.oraclecloud.ComputeApi.*=200",
        ));
        let c = Config::from_vars(vars(&v)).unwrap();
        assert_eq!(c.limits.type_caps.len(), 2);
        let mut bad = minimal();
        bad.push(("AUDITFWD_EVENT_TYPE_CAPS", "*.GetObject=fast"));
        assert_eq!(problems(&bad), ["AUDITFWD_EVENT_TYPE_CAPS"]);
    }

    #[test]
    fn a_full_configuration_is_read_into_types() {
        let mut pairs = minimal();
        pairs.retain(|(k, _)| !k.starts_with("AUDITFWD_SYSLOG"));
        pairs.extend([
            ("AUDITFWD_OCI_REGIONS", "iad, eu-frankfurt-1,us-ashburn-1"),
            ("AUDITFWD_OCI_AUDIT_ENDPOINT", "http://127.0.0.1:18080"),
            ("AUDITFWD_SYSLOG_URL", "relp+tls://siem.example.com:2514"),
            ("AUDITFWD_SYSLOG_PROFILE", "qradar"),
            ("AUDITFWD_SYSLOG_PAYLOAD", "json"),
            ("AUDITFWD_SYSLOG_TLS_CA", "/etc/siem/ca.pem"),
            ("AUDITFWD_SYSLOG_TLS_CERT", "/etc/siem/client.pem"),
            ("AUDITFWD_SYSLOG_TLS_KEY", "/etc/siem/client.key"),
            ("AUDITFWD_SYSLOG_FACILITY", "local4"),
            ("AUDITFWD_CHECKPOINT_URL", "s3://state-bucket/prod"),
            ("AUDITFWD_FRESH_LAG", "90s"),
            ("AUDITFWD_SETTLE_LAG", "0"),
            ("AUDITFWD_MAX_WINDOW", "5m"),
            (
                "AUDITFWD_COMPARTMENTS_EXCLUDE",
                "sandbox, ocid1.compartment.oc1..x",
            ),
            ("AUDITFWD_EVENT_TYPES_EXCLUDE", "*.Get*,*.List*"),
            ("AUDITFWD_DROP_SERVICE_PRINCIPALS", "yes"),
            ("AUDITFWD_SCRUB_ALLOW", "User-Agent"),
            ("AUDITFWD_EVENTS_PER_SECOND", "500"),
            ("AUDITFWD_CONCURRENCY", "8"),
        ]);
        let c = Config::from_vars(vars(&pairs)).unwrap();
        assert_eq!(
            c.oci.regions.iter().map(|r| r.id()).collect::<Vec<_>>(),
            ["us-ashburn-1", "eu-frankfurt-1"],
            "deduplicated, keys resolved"
        );
        assert_eq!(
            c.oci.endpoints[&Service::Audit].to_string(),
            "http://127.0.0.1:18080"
        );
        let Transport::Relp {
            tls: Some(tls),
            window,
        } = &c.syslog.sender.transport
        else {
            panic!("{:?}", c.syslog.sender.transport)
        };
        assert_eq!(*window, 128);
        assert!(matches!(tls.roots, Roots::Bundle(_)) && tls.client_identity.is_some());
        // The QRadar profile sets RFC 3164 and 4 KiB; the explicit payload wins over its LEEF.
        assert_eq!(
            (
                c.syslog.encoder.format,
                c.syslog.encoder.payload,
                c.syslog.encoder.max_message_size
            ),
            (SyslogFormat::Rfc3164, Payload::Json, 4096)
        );
        assert_eq!(
            c.checkpoint,
            CheckpointLocation::S3 {
                bucket: "state-bucket".into(),
                prefix: "prod".into()
            }
        );
        assert_eq!(
            (
                c.windows.fresh_lag,
                c.windows.settle_lag,
                c.windows.max_window_minutes
            ),
            (Duration::from_secs(90), Duration::ZERO, 5)
        );
        assert_eq!(c.compartments_exclude.len(), 2);
        assert_eq!(c.filter.exclude_types.len(), 2);
        assert!(c.filter.drop_service_principals);
        assert!(c.scrub.allow.contains("user-agent"));
        assert_eq!(c.limits.events_per_second, NonZeroU32::new(500));
        assert_eq!(c.limits.concurrency, 8);
    }

    #[test]
    fn an_empty_environment_names_every_required_variable_at_once() {
        let err = Config::from_vars(Vec::new()).unwrap_err();
        let names: Vec<&str> = err.problems.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            names,
            [
                "AUDITFWD_OCI_TENANCY",
                "AUDITFWD_OCI_USER",
                "AUDITFWD_OCI_KEY_FILE",
                "AUDITFWD_OCI_REGIONS",
                "AUDITFWD_SYSLOG_URL",
                "AUDITFWD_CHECKPOINT_URL"
            ]
        );
        let text = err.to_string();
        assert!(
            text.starts_with(
                "invalid configuration:\n  AUDITFWD_OCI_TENANCY: required: the tenancy OCID"
            ),
            "{text}"
        );
    }

    #[test]
    fn bad_values_are_reported_with_their_variable() {
        let mut pairs = minimal();
        pairs.retain(|(k, _)| *k != "AUDITFWD_SYSLOG_URL" && *k != "AUDITFWD_OCI_TENANCY");
        pairs.extend([
            ("AUDITFWD_OCI_TENANCY", "mytenancy"),
            ("AUDITFWD_OCI_REGIONS", "us-ashburn-1,ashburn"),
            ("AUDITFWD_OCI_IDENTITY_ENDPOINT", "http://10.0.0.5:8080"),
            ("AUDITFWD_SYSLOG_URL", "tcp://siem:514"),
            ("AUDITFWD_SYSLOG_TLS_CA", "/ca.pem"),
            ("AUDITFWD_FRESH_LAG", "90"),
            ("AUDITFWD_MAX_WINDOW", "90s"),
            ("AUDITFWD_CONCURRENCY", "0"),
            ("AUDITFWD_DROP_SERVICE_PRINCIPALS", "maybe"),
        ]);
        let err = Config::from_vars(vars(&pairs)).unwrap_err();
        let by_var = |n: &str| {
            err.problems
                .iter()
                .find(|p| p.variable == n)
                .map(|p| p.message.clone())
                .unwrap_or_else(|| panic!("no problem for {n}: {err}"))
        };
        assert!(by_var("AUDITFWD_OCI_TENANCY").contains("is not an OCID"));
        assert!(by_var("AUDITFWD_OCI_REGIONS").contains("\"ashburn\""));
        assert!(by_var("AUDITFWD_OCI_IDENTITY_ENDPOINT").contains("only for 127.0.0.0/8"));
        assert!(by_var("AUDITFWD_SYSLOG_TLS_CA").contains("tls:// and relp+tls:// only"));
        assert!(by_var("AUDITFWD_FRESH_LAG").contains("expected e.g. 90s"));
        assert!(by_var("AUDITFWD_MAX_WINDOW").contains("whole minutes"));
        assert!(by_var("AUDITFWD_CONCURRENCY").contains("above 0"));
        assert!(by_var("AUDITFWD_DROP_SERVICE_PRINCIPALS").contains("boolean"));
        assert_eq!(
            problems(&[("AUDITFWD_SYSLOG_URL", "relp://siem")])
                .iter()
                .filter(|v| *v == "AUDITFWD_SYSLOG_URL")
                .count(),
            1
        );
    }

    #[test]
    fn secrets_never_print() {
        let mut pairs = minimal();
        pairs.retain(|(k, _)| *k != "AUDITFWD_OCI_KEY_FILE");
        pairs.extend([
            (
                "AUDITFWD_OCI_KEY",
                "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYBYTES\n-----END PRIVATE KEY-----",
            ),
            ("AUDITFWD_OCI_KEY_PASSPHRASE", "hunter2"),
        ]);
        let c = Config::from_vars(vars(&pairs)).unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("TOPSECRETKEYBYTES") && !dbg.contains("hunter2"),
            "{dbg}"
        );
    }

    #[test]
    fn a_config_file_profile_is_an_alternative_not_a_mix() {
        let dir = std::env::temp_dir().join(format!("auditfwd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config");
        std::fs::write(
            &file,
            format!(
                "[PROD]\nuser={USER}\ntenancy={TENANCY}\nkey_file={KEY}\nregion=us-phoenix-1\n"
            ),
        )
        .unwrap();
        let mut pairs = minimal();
        pairs.retain(|(k, _)| !k.starts_with("AUDITFWD_OCI_") || *k == "AUDITFWD_OCI_REGIONS");
        let path = file.display().to_string();
        pairs.extend([
            ("AUDITFWD_OCI_CONFIG_FILE", path.as_str()),
            ("AUDITFWD_OCI_PROFILE", "PROD"),
        ]);
        let c = Config::from_vars(vars(&pairs)).unwrap();
        assert_eq!(c.oci.auth.credentials().unwrap().user().as_str(), USER);
        pairs.push(("AUDITFWD_OCI_TENANCY", TENANCY));
        assert_eq!(problems(&pairs), ["AUDITFWD_OCI_TENANCY"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
