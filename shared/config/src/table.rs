//! The one table of every variable auditfwd reads. Parsing ([`crate::Config::from_vars`]),
//! `auditfwd config`, `docs/configuration.md`, `.env.example` and the warning about unknown
//! `AUDITFWD_*` names all come from it; adding a variable is one entry here (and the line that
//! puts its value into [`crate::Config`]).
//!
//! Entry syntax (see [`crate::var`]): the doc comment is the user documentation;
//! `[Secret]`, `[Logging]` or `[Command]` mark secrets and variables read outside the parser;
//! then `NAME: Type = parser` and, when there is one, `, "default"`.

#![allow(missing_docs)] // each constant's doc is its entry's documentation

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use auditfwd_checkpoint::CheckpointLocation;
use auditfwd_oci::{Endpoint, Ocid, Region};
use auditfwd_pipeline::LogSearch;
use auditfwd_pipeline::compartments::CompartmentRule;
use auditfwd_pipeline::glob::Glob;
use auditfwd_pipeline::limits::TypeCap;
use auditfwd_syslog::{Facility, Framing, Payload, Pem, ReceiverProfile, SyslogFormat};
use secrecy::SecretString;

use crate::FanOutMode;
use crate::parse;
use crate::syslog::{self, SyslogUrl};
use crate::tenancy::TenancyName;
use crate::var::{Flag, Group, Var, Variable, define_variables};

define_variables! {
    Oci {
        /// Several tenancies from one deployment: their names, comma-separated (letters,
        /// digits, - and _). Each tenancy's credentials are its own variables
        /// AUDITFWD_TENANCY_<NAME>_OCI_* (NAME upper-cased, - as _), or a profile of
        /// AUDITFWD_OCI_CONFIG_FILE (default: the profile named like the tenancy); regions,
        /// endpoints and compartment rules are shared unless given per tenancy. Unset: one
        /// tenancy, from the variables below.
        TENANCIES: Vec<TenancyName> = parse::tenancy_names;
        /// Tenancy OCID (required unless AUDITFWD_OCI_CONFIG_FILE is used).
        [PerTenancy] OCI_TENANCY: Ocid = parse::ocid;
        /// OCID of the user the API key belongs to.
        [PerTenancy] OCI_USER: Ocid = parse::ocid;
        /// Key fingerprint; when set it must match the key.
        [PerTenancy] OCI_FINGERPRINT: String = parse::text;
        /// Path of the PEM private key (or give the key in AUDITFWD_OCI_KEY or one of its
        /// other forms; only one).
        [PerTenancy] OCI_KEY_FILE: PathBuf = parse::path;
        /// The PEM private key itself.
        [Secret, PerTenancy] OCI_KEY: SecretString = parse::secret;
        /// Passphrase of an encrypted key.
        [Secret, PerTenancy] OCI_KEY_PASSPHRASE: SecretString = parse::secret;
        /// An OCI CLI config file to take credentials from instead of the variables above.
        [PerTenancy] OCI_CONFIG_FILE: PathBuf = parse::path;
        /// Profile in AUDITFWD_OCI_CONFIG_FILE (with AUDITFWD_TENANCIES: default the
        /// tenancy's name).
        [PerTenancy] OCI_PROFILE: String = parse::text, "DEFAULT";
        /// Regions to collect, ids or keys, comma-separated (required).
        [PerTenancy] OCI_REGIONS: Vec<Region> = parse::regions;
        /// Audit API endpoint override (https://, or http:// to loopback only).
        [PerTenancy] OCI_AUDIT_ENDPOINT: Endpoint = parse::endpoint;
        /// Identity API endpoint override.
        [PerTenancy] OCI_IDENTITY_ENDPOINT: Endpoint = parse::endpoint;
        /// Logging search API endpoint override (AUDITFWD_LOG_SEARCHES).
        [PerTenancy] OCI_LOGGING_ENDPOINT: Endpoint = parse::endpoint;
        /// Cloud Guard API endpoint override (AUDITFWD_CLOUD_GUARD_REGION).
        [PerTenancy] OCI_CLOUD_GUARD_ENDPOINT: Endpoint = parse::endpoint;
        /// Object Storage endpoint override.
        OCI_OBJECTSTORAGE_ENDPOINT: Endpoint = parse::endpoint;
    }
    Compartments {
        /// Compartments to collect (OCIDs, names or paths, each with its subtree); empty: the
        /// whole tenancy.
        [PerTenancy] COMPARTMENTS_INCLUDE: Vec<CompartmentRule> = parse::compartments;
        /// Compartments never collected, with their subtrees.
        [PerTenancy] COMPARTMENTS_EXCLUDE: Vec<CompartmentRule> = parse::compartments;
    }
    Sources {
        /// Logging searches to forward, `;`-separated, each NAME[@REGION]=QUERY (NAME: letters,
        /// digits, - and _; REGION: one of the tenancy's, default its first), e.g.
        /// flow=search "<compartment>/<log group>/<log>". Records are forwarded like audit
        /// events: minute windows, a second listing after AUDITFWD_SETTLE_LAG, deduplicated by
        /// logContent.id. See docs/sources.md.
        [PerTenancy] LOG_SEARCHES: Vec<LogSearch> = parse::log_searches;
        /// Forward the tenancy's Cloud Guard problems, listed in this region (its Cloud Guard
        /// reporting region; it need not be one of AUDITFWD_OCI_REGIONS). Each version of a
        /// problem (a new detection, a change of state) is forwarded once, in minute windows
        /// on timeLastDetected with a second listing after AUDITFWD_SETTLE_LAG. Unset: not
        /// collected. See docs/sources.md.
        [PerTenancy] CLOUD_GUARD_REGION: Region = parse::region;
    }
    Syslog {
        /// udp://, tcp://, tls://, relp:// or relp+tls://host:port (required; no user, path,
        /// query or port 0).
        SYSLOG_URL: SyslogUrl = syslog::url;
        /// Receiver profile: rsyslog, syslog-ng, qradar, arcsight, splunk.
        SYSLOG_PROFILE: ReceiverProfile = syslog::profile;
        /// rfc5424 or rfc3164; default rfc5424, or the profile's.
        SYSLOG_FORMAT: SyslogFormat = syslog::format;
        /// json, cef or leef; default json, or the profile's.
        SYSLOG_PAYLOAD: Payload = syslog::payload;
        /// octet-counting or lf (tcp:// and tls:// only); default octet-counting, or the
        /// profile's.
        SYSLOG_FRAMING: Framing = syslog::framing;
        /// Syslog facility.
        SYSLOG_FACILITY: Facility = syslog::facility, "local0";
        /// HOSTNAME field.
        SYSLOG_HOSTNAME: String = parse::text, "auditfwd";
        /// APP-NAME field.
        SYSLOG_APP_NAME: String = parse::text, "auditfwd";
        /// Largest whole syslog message in bytes (header, structured data and payload); default
        /// 8096 on streams (what a stock rsyslog accepts), 2048 on UDP, or the profile's.
        SYSLOG_MAX_MESSAGE_SIZE: usize = parse::count::<480, 16_777_216>;
        /// RELP messages in flight before waiting for acknowledgements (1 to 65535).
        SYSLOG_RELP_WINDOW: usize = parse::count::<1, 65_535>, "128";
        /// CA bundle (file path or PEM text); default: the system store.
        SYSLOG_TLS_CA: Pem = syslog::pem;
        /// Client certificate for mutual TLS (path or PEM).
        SYSLOG_TLS_CERT: Pem = syslog::pem;
        /// Client key for mutual TLS (path or PEM).
        [Secret] SYSLOG_TLS_KEY: SecretString = parse::secret;
        /// Name the server certificate must carry; default: the URL's host.
        SYSLOG_TLS_SERVER_NAME: String = parse::text;
    }
    Checkpoint {
        /// file:///dir, s3://bucket/prefix or oci://namespace/bucket/prefix (required; the
        /// location must exist and be initialised: see docs/checkpoint.md and `auditfwd init`).
        CHECKPOINT_URL: CheckpointLocation = parse::checkpoint;
        /// Path-style S3 addressing, for S3-compatible stores.
        S3_FORCE_PATH_STYLE: bool = parse::boolean, "false";
    }
    Windows {
        /// Wait after a minute ends before its first listing.
        FRESH_LAG: Duration = parse::duration, "1m";
        /// List each window again this long after it ends (0: never; otherwise at least
        /// AUDITFWD_FRESH_LAG).
        SETTLE_LAG: Duration = parse::duration, "20m";
        /// Where a compartment seen for the first time starts.
        INITIAL_LOOKBACK: Duration = parse::duration, "1h";
        /// Longest window listed in one go (whole minutes, up to 1d).
        MAX_WINDOW: Duration = parse::whole_minutes, "10m";
        /// The tenancy's audit retention (90d to 365d).
        AUDIT_RETENTION: Duration = parse::duration_within::<7_776_000, 31_536_000>, "90d";
    }
    Filters {
        /// Event types to forward (wildcards); empty: all.
        EVENT_TYPES_INCLUDE: Vec<Glob> = parse::globs;
        /// Event types never forwarded (wildcards).
        EVENT_TYPES_EXCLUDE: Vec<Glob> = parse::globs;
        /// Principals (names or OCIDs, wildcards) to forward; empty: all.
        PRINCIPALS_INCLUDE: Vec<Glob> = parse::globs;
        /// Principals never forwarded.
        PRINCIPALS_EXCLUDE: Vec<Glob> = parse::globs;
        /// Drop events of service principals (never natv user logins).
        DROP_SERVICE_PRINCIPALS: bool = parse::boolean, "false";
        /// Credential headers kept unredacted.
        SCRUB_ALLOW: BTreeSet<String> = parse::headers;
        /// Turn credential-header scrubbing off.
        SCRUB_DISABLE: bool = parse::boolean, "false";
    }
    Limits {
        /// Events per second to syslog; sending waits, never drops (unset: unlimited).
        EVENTS_PER_SECOND: NonZeroU32 = parse::rate;
        /// OCI requests per second for the whole tenancy, split across processes by
        /// AUDITFWD_OCI_BUDGET_SHARES; halved on a 429, grown back by 1% a second (1 to 10000).
        OCI_REQUESTS_PER_SECOND: usize = parse::count::<1, 10_000>, "200";
        /// Processes sharing the OCI request budget at once (the template sets the worker's
        /// reserved concurrency plus the poller and the replay function; 1 to 1000).
        OCI_BUDGET_SHARES: usize = parse::count::<1, 1000>, "1";
        /// Compartments processed at once (1 to 256).
        CONCURRENCY: usize = parse::count::<1, 256>, "4";
        /// A runner's claim on a compartment (30s to 24h); after a crash the next run waits
        /// at most this.
        LEASE_TTL: Duration = parse::duration_within::<30, 86_400>, "5m";
        /// Per-event-type caps: pattern=rate[:delay|:drop], comma-separated.
        EVENT_TYPE_CAPS: Vec<TypeCap> = parse::type_caps;
    }
    Daemon {
        /// From one cycle's start to the next (1s to 1d).
        INTERVAL: Duration = parse::duration_within::<1, 86_400>, "5m";
        /// The /health and /metrics listener (off: none).
        LISTEN: Option<SocketAddr> = parse::listen, "127.0.0.1:9464";
        /// After SIGTERM, SIGINT or SIGHUP: how long the window in flight may take.
        SHUTDOWN_TIMEOUT: Duration = parse::duration, "30s";
        /// /health is degraded once the oldest cursor is this far behind.
        HEALTH_DEGRADED_LAG: Duration = parse::duration, "30m";
        /// /health is unhealthy (HTTP 503) from this lag on.
        HEALTH_UNHEALTHY_LAG: Duration = parse::duration, "2h";
    }
    Lambda {
        /// on, off, or auto (fan out above the threshold).
        FAN_OUT: FanOutMode = FanOutMode::parse, "auto";
        /// (region, compartment) pairs above which auto fans out.
        FAN_OUT_THRESHOLD: usize = parse::count::<1, 1_000_000>, "50";
        /// The SQS queue the Lambda worker consumes.
        WORK_QUEUE_URL: String = parse::text;
    }
    Logging {
        /// What is logged, as tracing `EnvFilter` directives (e.g. `warn,auditfwd_pipeline=debug`);
        /// on Lambda, AWS_LAMBDA_LOG_LEVEL wins when set.
        [Logging] LOG: String = parse::text, "info";
        /// The command's and the daemon's log lines: text or json (Lambda follows its own log
        /// format setting).
        [Logging] LOG_FORMAT: String = parse::log_format, "text";
    }
    Command {
        /// The config file `auditfwd` reads when --config is not given (environment only).
        [Command] CONFIG_FILE: PathBuf = parse::path;
    }
}
