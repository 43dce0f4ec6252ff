//! Turns a parsed [`Config`] into a ready [`Runner`]: signing credentials (loaded and checked
//! once), one OCI client configuration per region, the checkpoint store the URL names, and a
//! syslog sink per concurrent task. Every entry point (the `auditfwd` command, the Lambda
//! functions) builds its pipeline here, so they cannot drift apart. [`load_config_from`] reads
//! the environment (and `--config FILE`) and decrypts `AUDITFWD_*_KMS` secrets first.
//!
//! The `auditfwd run` daemon lives here too: [`daemon`] (a cycle every `AUDITFWD_INTERVAL`,
//! graceful shutdown), [`health`] (healthy/degraded/unhealthy from cursor lag, gaps and the
//! last cycle) and [`http`] (`/health` and `/metrics`).

pub mod daemon;
pub mod health;
pub mod http;

use std::sync::Arc;

use auditfwd_checkpoint::{AnyStore, CheckpointLocation, FileStore, OciStore, S3Store};
use auditfwd_config::Config;
use auditfwd_oci::{Endpoint, Region, SigningClock};
use auditfwd_pipeline::limits::{Throttle, TypeCaps};
use auditfwd_pipeline::{Clock, OciSource, RateLimits, Runner, RunnerConfig};
use auditfwd_syslog::{Encoder, SyslogSender, SyslogSink};

pub use daemon::{Cycle, Daemon, DaemonExit, DaemonSettings};
pub use health::{Health, HealthHandle, HealthPolicy, HealthTracker, Status};
pub use http::{HttpError, HttpServer};

/// The runner every entry point drives.
pub type LiveRunner = Runner<OciSource, AnyStore, SyslogSink>;

/// Why the pipeline could not be built (all at start-up; none is retryable except AWS
/// credential loading, which the SDK retries itself).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The OCI key, passphrase or fingerprint is unusable.
    #[error("OCI credentials: {0}")]
    Credentials(#[source] auditfwd_oci::auth::AuthError),
    /// An OCI client could not be configured.
    #[error("OCI client for {region}: {source}")]
    OciClient {
        /// The region.
        region: String,
        /// Why.
        #[source]
        source: auditfwd_oci::ConfigError,
    },
    /// No region configured.
    #[error("AUDITFWD_OCI_REGIONS names no region")]
    NoRegion,
    /// The syslog destination is unusable (TLS material, address).
    #[error("syslog destination: {0}")]
    Syslog(#[source] auditfwd_syslog::ConfigError),
}

impl BuildError {
    /// Whether trying again can help: never, these are configuration problems.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Options that are not configuration (who runs, and test hooks).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The runner's name in leases, state and manifests (default: `auditfwd-<random>`).
    pub owner: Option<String>,
    /// The clock request signatures use (default: the system clock).
    pub signing_clock: SigningClock,
}

/// Builds the runner for `config`.
pub async fn build(
    config: &Config,
    clock: Arc<dyn Clock>,
    options: BuildOptions,
) -> Result<LiveRunner, BuildError> {
    let credentials = config
        .oci
        .auth
        .credentials()
        .map_err(BuildError::Credentials)?;
    let tenancy = credentials.tenancy().clone();
    let mut regions = Vec::new();
    for region in &config.oci.regions {
        regions.push(oci_config(config, &credentials, region, &options)?);
    }
    let source = OciSource::new(tenancy, &regions).ok_or(BuildError::NoRegion)?;
    let store = match &config.checkpoint {
        CheckpointLocation::File(dir) => AnyStore::File(FileStore::new(dir.clone())),
        CheckpointLocation::S3 { bucket, prefix } => {
            let shared = aws_config::load_from_env().await;
            let s3 = aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(config.s3_force_path_style)
                .build();
            AnyStore::S3(S3Store::new(
                aws_sdk_s3::Client::from_conf(s3),
                bucket.clone(),
                prefix.clone(),
            ))
        }
        CheckpointLocation::Oci {
            namespace,
            bucket,
            prefix,
        } => {
            let first = regions.first().ok_or(BuildError::NoRegion)?;
            AnyStore::Oci(OciStore::new(
                auditfwd_oci::object_storage::Client::new(first),
                namespace.clone(),
                bucket.clone(),
                prefix.clone(),
            ))
        }
    };
    let encoder = Encoder::new(config.syslog.encoder.clone()).map_err(BuildError::Syslog)?;
    let sender = SyslogSender::new(config.syslog.sender.clone()).map_err(BuildError::Syslog)?;
    let sinks = move || SyslogSink::new(encoder.clone(), sender.new_connection());

    let owner = options
        .owner
        .unwrap_or_else(|| format!("auditfwd-{:08x}", fastrand::u32(..)));
    let mut rc = RunnerConfig::new(config.windows.clone(), owner);
    rc.include.clone_from(&config.compartments_include);
    rc.exclude.clone_from(&config.compartments_exclude);
    rc.filter = config.filter.clone();
    rc.scrub = config.scrub.clone();
    rc.concurrency = config.limits.concurrency;
    rc.lease_ttl = config.limits.lease_ttl;
    let limits = RateLimits {
        events: config
            .limits
            .events_per_second
            .map(|r| Throttle::per_second("events", r)),
        oci_requests: Some(Throttle::per_second(
            "oci_requests",
            config.limits.oci_requests_per_second,
        )),
        type_caps: TypeCaps::new(&config.limits.type_caps),
    };
    Ok(Runner::new(
        Arc::new(source),
        Arc::new(store),
        sinks,
        clock,
        rc,
        limits,
    ))
}

fn oci_config(
    config: &Config,
    credentials: &auditfwd_oci::auth::ApiKeyCredentials,
    region: &Region,
    options: &BuildOptions,
) -> Result<auditfwd_oci::Config, BuildError> {
    let mut b = auditfwd_oci::Config::builder()
        .credentials(credentials.clone())
        .region(region.clone())
        .signing_clock(options.signing_clock.clone());
    for (service, endpoint) in &config.oci.endpoints {
        b = b.endpoint_override(*service, Endpoint::clone(endpoint));
    }
    b.build().map_err(|source| BuildError::OciClient {
        region: region.id().to_owned(),
        source,
    })
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A variable is missing or invalid (every problem is listed).
    #[error(transparent)]
    Config(#[from] auditfwd_config::ConfigError),
    /// A `*_KMS` secret could not be decrypted.
    #[error(transparent)]
    Secrets(#[from] auditfwd_secrets::SecretsError),
}

impl LoadError {
    /// Whether trying again can help (KMS throttling or an outage; never a bad variable).
    pub fn is_retryable(&self) -> bool {
        match self {
            LoadError::Config(_) => false,
            LoadError::Secrets(e) => e.is_retryable(),
        }
    }
}

/// Reads the configuration from the environment, first decrypting any `AUDITFWD_*_KMS`
/// secrets with AWS KMS (standard `AWS_*` variables configure the client; no KMS call is made
/// when none is set).
pub async fn load_config() -> Result<Config, LoadError> {
    load_config_from(auditfwd_config::Sources::from_env(
        auditfwd_config::env_vars(),
    ))
    .await
}

/// [`load_config`] over given sources (the environment merged with `auditfwd --config FILE`).
pub async fn load_config_from(sources: auditfwd_config::Sources) -> Result<Config, LoadError> {
    let sources = decrypt_secrets(sources).await?;
    Ok(Config::from_vars(sources.vars())?)
}

/// Replaces every set `AUDITFWD_*_KMS` variable's plaintext partner with its decryption.
pub async fn decrypt_secrets(
    mut sources: auditfwd_config::Sources,
) -> Result<auditfwd_config::Sources, LoadError> {
    let vars = sources.vars();
    let encrypted = vars.iter().any(|(k, v)| {
        k.starts_with("AUDITFWD_")
            && k.ends_with(auditfwd_secrets::KMS_SUFFIX)
            && !v.trim().is_empty()
    });
    if encrypted {
        let sdk = aws_config::load_from_env().await;
        let kms = auditfwd_secrets::KmsDecrypter::new(&sdk);
        let plain = auditfwd_secrets::decrypt_kms_vars(vars, &kms).await?;
        for (name, secret) in plain {
            use auditfwd_secrets::ExposeSecret as _;
            sources.set(&name, secret.expose_secret().to_owned());
        }
    }
    Ok(sources)
}
