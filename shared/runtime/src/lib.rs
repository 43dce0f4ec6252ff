//! Turns a parsed [`Config`] into a ready [`Runner`]: signing credentials (loaded and checked
//! once), one OCI client configuration per region, the checkpoint store the URL names, and a
//! syslog sink per concurrent task. Every entry point (the `auditfwd` command, the Lambda
//! functions) builds its pipeline here, so they cannot drift apart. [`load_config_from`] reads
//! the environment (and `--config FILE`), warns about unknown `AUDITFWD_*` names, and fetches
//! the secrets given as `_KMS`, `_SECRET_ARN` or `_SSM_PARAMETER` first.
//!
//! The checkpoint location is checked before anything reads state: [`build`] requires it to
//! exist and to hold the `auditfwd.json` marker, and [`init_state`] is the one way to make it
//! so (`auditfwd init`, and the Lambda functions' cold start on their template-made bucket; see
//! `auditfwd_checkpoint::store::location`).
//!
//! The `auditfwd run` daemon lives here too: [`daemon`] (a cycle every `AUDITFWD_INTERVAL`,
//! graceful shutdown), [`health`] (healthy/degraded/unhealthy from cursor lag, gaps and the
//! last cycle) and [`http`] (`/health` and `/metrics`).

pub mod daemon;
pub mod health;
pub mod http;

use std::sync::Arc;

use auditfwd_checkpoint::store::location;
use auditfwd_checkpoint::{AnyStore, CheckpointLocation, FileStore, OciStore, S3Store, StoreError};
use auditfwd_config::{Config, TenancySettings};
use auditfwd_oci::{Endpoint, Region, SigningClock};
use auditfwd_pipeline::{
    Clock, CloudGuardSource, LiveSource, LogSearchSource, OciSource, RateLimits, Runner,
};
use auditfwd_syslog::{Encoder, SyslogSender, SyslogSink};

pub use auditfwd_checkpoint::store::{Init, Initialised, Marker};
pub use daemon::{
    Cycle, Daemon, DaemonExit, DaemonSettings, StopSignals, TenancyCycles, stop_on_signal,
};
pub use health::{Health, HealthHandle, HealthPolicy, HealthTracker, Status};
pub use http::{HttpError, HttpServer};

/// The runner every entry point drives (over the Audit API, a tenancy's log searches, or its
/// Cloud Guard problems).
pub type LiveRunner = Runner<LiveSource, AnyStore, SyslogSink>;

/// Where a log search runner keeps its progress, under the checkpoint location: apart from
/// the Audit runner's (its own shard layouts, leases and index).
pub const LOG_SEARCH_STATE: &str = "sources/log-search";

/// Where a Cloud Guard runner keeps its progress, under the checkpoint location.
pub const CLOUD_GUARD_STATE: &str = "sources/cloud-guard";

/// Why the pipeline could not be built (all at start-up).
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
    /// The log searches cannot be set up (a region the tenancy does not collect).
    #[error("AUDITFWD_LOG_SEARCHES: {0}")]
    LogSearch(#[source] auditfwd_pipeline::LogSearchSetupError),
    /// This entry point collects one tenancy and `AUDITFWD_TENANCIES` names several.
    #[error(
        "AUDITFWD_TENANCIES names {0} tenancies; this entry point collects one (the auditfwd command collects several)"
    )]
    SeveralTenancies(usize),
    /// The syslog destination is unusable (TLS material, address).
    #[error("syslog destination: {0}")]
    Syslog(#[source] auditfwd_syslog::ConfigError),
    /// The checkpoint location is missing, was never initialised, or could not be checked.
    #[error(transparent)]
    State(#[from] StoreError),
}

impl BuildError {
    /// Whether trying again can help: only when the checkpoint store could not be reached;
    /// everything else is a configuration problem.
    pub fn is_retryable(&self) -> bool {
        match self {
            BuildError::State(e) => e.is_retryable(),
            _ => false,
        }
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

/// Builds the runner for `config`'s one tenancy, once its checkpoint location is known to
/// exist and to be initialised ([`BuildError::State`] otherwise, naming the URL and what to
/// do). With several tenancies configured, [`build_all`].
pub async fn build(
    config: &Config,
    clock: Arc<dyn Clock>,
    options: BuildOptions,
) -> Result<LiveRunner, BuildError> {
    let tenancy = config
        .single_tenancy()
        .ok_or(BuildError::SeveralTenancies(config.tenancies.len()))?;
    let store = open_store(config, &options).await?;
    runner_for(config, tenancy, store, clock, &options)
}

/// One configured tenancy's runner for one source, or why it could not be built.
#[derive(Debug)]
pub struct TenancyRunner {
    /// The tenancy's name (`AUDITFWD_TENANCIES`, or `default`).
    pub name: String,
    /// What it collects: `audit`, `log-search` or `cloud-guard`.
    pub source: &'static str,
    /// Its runner; an unusable key or region config fails this tenancy alone.
    pub runner: Result<LiveRunner, BuildError>,
}

impl TenancyRunner {
    /// `acme`, or `acme log-search`: how reports name it.
    pub fn label(&self) -> String {
        match self.source {
            "audit" => self.name.clone(),
            other => format!("{} {other}", self.name),
        }
    }
}

/// Builds a runner per configured tenancy, sharing the checkpoint store. The store must be
/// usable (an error here stops everything: no tenancy can keep progress without it); a
/// tenancy whose credentials or clients cannot be made is returned with its error, so the
/// others still run.
pub async fn build_all(
    config: &Config,
    clock: Arc<dyn Clock>,
    options: BuildOptions,
) -> Result<Vec<TenancyRunner>, BuildError> {
    let store = open_store(config, &options).await?;
    let searches_store = if config.tenancies.iter().any(|t| !t.log_searches.is_empty()) {
        Some(source_store(config, &options, LOG_SEARCH_STATE, "log searches").await?)
    } else {
        None
    };
    let cloud_guard_store = if config
        .tenancies
        .iter()
        .any(|t| t.cloud_guard_region.is_some())
    {
        Some(source_store(config, &options, CLOUD_GUARD_STATE, "Cloud Guard").await?)
    } else {
        None
    };
    let mut out = Vec::new();
    for t in &config.tenancies {
        out.push(TenancyRunner {
            name: t.name.clone(),
            source: "audit",
            runner: runner_for(config, t, Arc::clone(&store), clock.clone(), &options),
        });
        if let Some(store) = searches_store
            .as_ref()
            .filter(|_| !t.log_searches.is_empty())
        {
            out.push(TenancyRunner {
                name: t.name.clone(),
                source: "log-search",
                runner: search_runner_for(config, t, Arc::clone(store), clock.clone(), &options),
            });
        }
        if let (Some(store), Some(region)) = (&cloud_guard_store, &t.cloud_guard_region) {
            out.push(TenancyRunner {
                name: t.name.clone(),
                source: "cloud-guard",
                runner: cloud_guard_runner_for(
                    config,
                    t,
                    region,
                    Arc::clone(store),
                    clock.clone(),
                    &options,
                ),
            });
        }
    }
    Ok(out)
}

/// The store of a source other than Audit: `prefix` under the checkpoint location, made ready
/// on first use (a directory for file://, the marker), never a location of its own to
/// initialise by hand.
async fn source_store(
    config: &Config,
    options: &BuildOptions,
    prefix: &str,
    what: &str,
) -> Result<Arc<AnyStore>, BuildError> {
    let first = store_client_config(config, options)?;
    let store =
        checkpoint_store_at(config, &config.checkpoint.under(prefix), first.as_ref()).await?;
    location::initialise(
        &store,
        Init::Create,
        &format!("auditfwd {} ({what})", env!("CARGO_PKG_VERSION")),
        chrono::Utc::now(),
    )
    .await?;
    Ok(Arc::new(store))
}

/// The checkpoint store, checked to be initialised (an `oci://` store signs as the first
/// tenancy, whose bucket it is).
async fn open_store(config: &Config, options: &BuildOptions) -> Result<Arc<AnyStore>, BuildError> {
    let first = store_client_config(config, options)?;
    let store = checkpoint_store(config, first.as_ref()).await?;
    let marker = location::open(&store).await?;
    tracing::debug!(created_at = %marker.created_at, created_by = %marker.created_by, "checkpoint location initialised");
    Ok(Arc::new(store))
}

/// For an `oci://` checkpoint location: the first tenancy's client configuration in its first
/// region, which the store signs with.
fn store_client_config(
    config: &Config,
    options: &BuildOptions,
) -> Result<Option<auditfwd_oci::Config>, BuildError> {
    let Some(first) = config.tenancies.first() else {
        return Ok(None);
    };
    match (&config.checkpoint, first.oci.regions.first()) {
        (CheckpointLocation::Oci { .. }, Some(region)) => {
            let credentials = first
                .oci
                .auth
                .credentials()
                .map_err(BuildError::Credentials)?;
            Ok(Some(oci_config(
                first,
                &credentials,
                region,
                options,
                &config.limits.oci_budget(),
            )?))
        }
        _ => Ok(None),
    }
}

/// The runner of `tenancy`'s log searches, over `store` (its own prefix). It collects every
/// search: the tenancy's compartment rules are about Audit's compartments.
fn search_runner_for(
    config: &Config,
    tenancy: &TenancySettings,
    store: Arc<AnyStore>,
    clock: Arc<dyn Clock>,
    options: &BuildOptions,
) -> Result<LiveRunner, BuildError> {
    let (tenancy_id, regions) = tenancy_clients(config, tenancy, options)?;
    let source = LogSearchSource::new(tenancy_id, &regions, tenancy.log_searches.clone())
        .map_err(BuildError::LogSearch)?;
    let mut rc = tenancy.runner_config(config);
    rc.include.clear();
    rc.exclude.clear();
    live_runner(
        config,
        LiveSource::LogSearch(source),
        store,
        clock,
        rc,
        options,
    )
}

/// The runner of `tenancy`'s Cloud Guard problems, listed in `region` (its reporting region,
/// which need not be one it collects Audit events in), over `store` (its own prefix). The
/// listing covers the whole tenancy: the compartment rules are about Audit's compartments.
fn cloud_guard_runner_for(
    config: &Config,
    tenancy: &TenancySettings,
    region: &Region,
    store: Arc<AnyStore>,
    clock: Arc<dyn Clock>,
    options: &BuildOptions,
) -> Result<LiveRunner, BuildError> {
    let credentials = tenancy
        .oci
        .auth
        .credentials()
        .map_err(BuildError::Credentials)?;
    let client = oci_config(
        tenancy,
        &credentials,
        region,
        options,
        &config.limits.oci_budget(),
    )?;
    let source = CloudGuardSource::new(credentials.tenancy().clone(), &client);
    let mut rc = tenancy.runner_config(config);
    rc.include.clear();
    rc.exclude.clear();
    live_runner(
        config,
        LiveSource::CloudGuard(source),
        store,
        clock,
        rc,
        options,
    )
}

/// A runner over `source` with `rc`, named by `options`, sending through the configured sink.
fn live_runner(
    config: &Config,
    source: LiveSource,
    store: Arc<AnyStore>,
    clock: Arc<dyn Clock>,
    mut rc: auditfwd_pipeline::RunnerConfig,
    options: &BuildOptions,
) -> Result<LiveRunner, BuildError> {
    // With several runners (tenancies, log searches), the freshness gauges are set from all
    // their reports at once (`TenancyCycles`): see `RunnerConfig::record_gauges`.
    rc.record_gauges = matches!(
        config.tenancies.as_slice(),
        [one] if one.log_searches.is_empty() && one.cloud_guard_region.is_none()
    );
    if let Some(owner) = &options.owner {
        rc.owner.clone_from(owner);
    }
    rc.labels.source = source.kind();
    Ok(Runner::new(
        Arc::new(source),
        store,
        sinks(config)?,
        clock,
        rc,
        RateLimits::from(config),
    ))
}

/// A sink per concurrent task, each with its own connection.
fn sinks(config: &Config) -> Result<impl Fn() -> SyslogSink + Send + Sync + 'static, BuildError> {
    let encoder = Encoder::new(config.syslog.encoder.clone()).map_err(BuildError::Syslog)?;
    let sender = SyslogSender::new(config.syslog.sender.clone()).map_err(BuildError::Syslog)?;
    Ok(move || SyslogSink::new(encoder.clone(), sender.new_connection()))
}

/// `tenancy`'s OCID and one client configuration per region (one request budget for all of
/// them: the process's share of the tenancy's, since each tenancy has its own OCI limits).
fn tenancy_clients(
    config: &Config,
    tenancy: &TenancySettings,
    options: &BuildOptions,
) -> Result<(auditfwd_oci::Ocid, Vec<auditfwd_oci::Config>), BuildError> {
    let credentials = tenancy
        .oci
        .auth
        .credentials()
        .map_err(BuildError::Credentials)?;
    let budget = config.limits.oci_budget();
    let mut regions = Vec::new();
    for region in &tenancy.oci.regions {
        regions.push(oci_config(tenancy, &credentials, region, options, &budget)?);
    }
    Ok((credentials.tenancy().clone(), regions))
}

/// The runner of `tenancy`, over `store`.
fn runner_for(
    config: &Config,
    tenancy: &TenancySettings,
    store: Arc<AnyStore>,
    clock: Arc<dyn Clock>,
    options: &BuildOptions,
) -> Result<LiveRunner, BuildError> {
    let (tenancy_id, regions) = tenancy_clients(config, tenancy, options)?;
    let source = OciSource::new(tenancy_id, &regions).ok_or(BuildError::NoRegion)?;
    let rc = tenancy.runner_config(config);
    live_runner(config, LiveSource::Audit(source), store, clock, rc, options)
}

/// Makes `config`'s checkpoint location ready for [`build`]: with [`Init::Create`] (`auditfwd
/// init`) a missing directory is created; with [`Init::Existing`] (the Lambda functions, whose
/// bucket the template makes) the location must exist. Either way a missing bucket is an
/// error, and the `auditfwd.json` marker is written unless one is there. `created_by` is
/// recorded in the marker.
pub async fn init_state(
    config: &Config,
    init: Init,
    created_by: &str,
) -> Result<Initialised, BuildError> {
    let first = store_client_config(config, &BuildOptions::default())?;
    let store = checkpoint_store(config, first.as_ref()).await?;
    let created_by = format!("{created_by} (auditfwd {})", env!("CARGO_PKG_VERSION"));
    Ok(location::initialise(&store, init, &created_by, chrono::Utc::now()).await?)
}

/// The store `AUDITFWD_CHECKPOINT_URL` names (an OCI store signs with the first region's
/// client configuration).
async fn checkpoint_store(
    config: &Config,
    first_region: Option<&auditfwd_oci::Config>,
) -> Result<AnyStore, BuildError> {
    checkpoint_store_at(config, &config.checkpoint, first_region).await
}

/// The store at `location` (the configured one, or a part of it).
async fn checkpoint_store_at(
    config: &Config,
    location: &CheckpointLocation,
    first_region: Option<&auditfwd_oci::Config>,
) -> Result<AnyStore, BuildError> {
    Ok(match location {
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
            let first = first_region.ok_or(BuildError::NoRegion)?;
            AnyStore::Oci(OciStore::new(
                auditfwd_oci::object_storage::Client::new(first),
                namespace.clone(),
                bucket.clone(),
                prefix.clone(),
            ))
        }
    })
}

fn oci_config(
    tenancy: &TenancySettings,
    credentials: &auditfwd_oci::auth::ApiKeyCredentials,
    region: &Region,
    options: &BuildOptions,
    budget: &auditfwd_oci::RequestBudget,
) -> Result<auditfwd_oci::Config, BuildError> {
    let mut b = auditfwd_oci::Config::builder()
        .credentials(credentials.clone())
        .region(region.clone())
        .request_budget(budget.clone())
        .signing_clock(options.signing_clock.clone());
    for (service, endpoint) in &tenancy.oci.endpoints {
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
    /// A secret given as `_KMS`, `_SECRET_ARN` or `_SSM_PARAMETER` could not be fetched.
    #[error(transparent)]
    Secrets(#[from] auditfwd_secrets::SecretsError),
}

impl LoadError {
    /// Whether trying again can help (an AWS service throttling or unreachable; never a bad
    /// variable).
    pub fn is_retryable(&self) -> bool {
        match self {
            LoadError::Config(e) => e.is_retryable(),
            LoadError::Secrets(e) => e.is_retryable(),
        }
    }
}

/// Reads the configuration from the environment, first fetching the secrets given in another
/// form (standard `AWS_*` variables configure the clients; no AWS call is made when none is).
pub async fn load_config() -> Result<Config, LoadError> {
    load_config_from(auditfwd_config::Sources::from_env(
        auditfwd_config::env_vars(),
    ))
    .await
}

/// [`load_config`] over given sources (the environment merged with `auditfwd --config FILE`).
/// Each unknown `AUDITFWD_*` name in the environment is logged as a warning with the closest
/// known name.
pub async fn load_config_from(sources: auditfwd_config::Sources) -> Result<Config, LoadError> {
    for unknown in sources.unknown() {
        tracing::warn!(variable = %unknown.name, suggestion = unknown.suggestion, "{unknown}; it is ignored");
    }
    let sources = fetch_secrets(sources).await?;
    Ok(Config::from_vars(sources.vars())?)
}

/// Replaces the plain partner of every set `_KMS`, `_SECRET_ARN` and `_SSM_PARAMETER` variable
/// with the secret it names, fetched once, concurrently.
pub async fn fetch_secrets(
    mut sources: auditfwd_config::Sources,
) -> Result<auditfwd_config::Sources, LoadError> {
    let plan = auditfwd_secrets::SecretPlan::from_vars(sources.vars())?;
    if plan.is_empty() {
        return Ok(sources);
    }
    let sdk = aws_config::load_from_env().await;
    let secrets = auditfwd_secrets::AwsSecrets::new(&sdk).fetch(plan).await?;
    for (name, secret) in secrets {
        use auditfwd_secrets::ExposeSecret as _;
        sources.set(&name, secret.expose_secret().to_owned());
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    /// The secrets crate fetches exactly the secrets the configuration table marks as secret.
    #[test]
    fn the_secret_variables_agree_with_the_configuration_table() {
        let table: Vec<&str> = auditfwd_config::variables()
            .iter()
            .filter(|v| v.secret() && v.form_of().is_none())
            .map(|v| v.name)
            .collect();
        assert_eq!(table, auditfwd_secrets::SECRET_VARIABLES);
        let per_tenancy: Vec<&str> = auditfwd_config::variables()
            .iter()
            .filter(|v| v.secret() && v.form_of().is_none() && v.per_tenancy())
            .map(|v| v.name)
            .collect();
        assert_eq!(per_tenancy, auditfwd_secrets::PER_TENANCY_SECRET_VARIABLES);
        for v in auditfwd_config::variables() {
            if let Some((plain, form)) = v.form_of() {
                assert_eq!(v.name, format!("{plain}{}", form.suffix()));
            }
        }
        assert_eq!(
            auditfwd_config::SecretForm::ALL.map(auditfwd_config::SecretForm::suffix),
            [
                auditfwd_secrets::KMS_SUFFIX,
                auditfwd_secrets::SECRET_ARN_SUFFIX,
                auditfwd_secrets::SSM_PARAMETER_SUFFIX
            ]
        );
    }
}
