//! Client configuration shared by every service client: credentials, region, endpoint
//! overrides, retries and timeouts, and the one HTTP connection pool they all use.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::ApiKeyCredentials;
use crate::budget::RequestBudget;
use crate::region::{Endpoint, EndpointError, Region, Service};
use crate::retry::RetryConfig;
use crate::transport::{SigningClock, Transport};

/// Connect and per-request timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutConfig {
    /// Time to establish a connection (TCP and TLS). Default 10 s.
    pub connect: Option<Duration>,
    /// Time for one whole attempt, from sending to the last body byte. Default 60 s.
    pub request: Option<Duration>,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            connect: Some(Duration::from_secs(10)),
            request: Some(Duration::from_secs(60)),
        }
    }
}

impl TimeoutConfig {
    /// No timeouts at all (only for tests that pause tokio's clock).
    pub fn disabled() -> Self {
        TimeoutConfig {
            connect: None,
            request: None,
        }
    }
}

/// Why a [`Config`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required setting was not given.
    #[error("OCI client configuration needs {0}")]
    Missing(&'static str),
    /// The HTTP client could not be created (TLS set-up).
    #[error("cannot create the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    /// An endpoint is unusable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

/// Everything a service client needs. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Config {
    transport: Arc<Transport>,
    region: Region,
    overrides: BTreeMap<Service, Endpoint>,
}

impl Config {
    /// Starts building a configuration.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The region requests go to.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The same configuration for another region (audit events are regional), sharing the
    /// connection pool. Endpoint overrides, being explicit, stay as they are.
    pub fn with_region(&self, region: Region) -> Config {
        Config {
            region,
            ..self.clone()
        }
    }

    /// The credentials requests are signed with.
    pub fn credentials(&self) -> &ApiKeyCredentials {
        self.transport.credentials()
    }

    /// The base URL used for `service`: the override if one is set, else the regional default.
    pub fn endpoint(&self, service: Service) -> Result<Endpoint, EndpointError> {
        match self.overrides.get(&service) {
            Some(e) => Ok(e.clone()),
            None => service.endpoint(&self.region),
        }
    }

    /// The full URL of `path` (already percent-encoded) on `service`'s endpoint.
    pub(crate) fn url(
        &self,
        service: Service,
        path: &str,
        operation: &'static str,
    ) -> Result<url::Url, crate::Error> {
        self.endpoint(service)
            .map(|e| e.join(service, path))
            .map_err(|e| crate::Error::Construction {
                operation,
                reason: e.to_string(),
            })
    }

    pub(crate) fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }
}

/// Builder for [`Config`].
#[derive(Debug, Default)]
pub struct ConfigBuilder {
    credentials: Option<ApiKeyCredentials>,
    region: Option<Region>,
    overrides: BTreeMap<Service, Endpoint>,
    retry: Option<RetryConfig>,
    timeouts: Option<TimeoutConfig>,
    clock: SigningClock,
    budget: Option<RequestBudget>,
}

impl ConfigBuilder {
    /// The request budget every request (and every retry) through this configuration takes
    /// from (default: none). Give the same budget to every region's configuration of a
    /// process so they share it.
    pub fn request_budget(mut self, budget: RequestBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Where signatures take their `date` from (default: the system clock). Tests that run a
    /// server on a manual clock pass that clock here.
    pub fn signing_clock(mut self, clock: SigningClock) -> Self {
        self.clock = clock;
        self
    }

    /// API-key credentials (required).
    pub fn credentials(mut self, c: ApiKeyCredentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// The region (required).
    pub fn region(mut self, r: Region) -> Self {
        self.region = Some(r);
        self
    }

    /// Sends `service`'s requests to `endpoint` instead of the regional host.
    pub fn endpoint_override(mut self, service: Service, endpoint: Endpoint) -> Self {
        self.overrides.insert(service, endpoint);
        self
    }

    /// Sends every service's requests to one base URL (the OCI emulator serves them all).
    pub fn endpoint_override_all(mut self, endpoint: Endpoint) -> Self {
        for s in [
            Service::Audit,
            Service::Identity,
            Service::ObjectStorage,
            Service::CloudGuard,
            Service::LoggingSearch,
        ] {
            self.overrides.insert(s, endpoint.clone());
        }
        self
    }

    /// Retry policy (default: [`RetryConfig::standard`]).
    pub fn retry_config(mut self, r: RetryConfig) -> Self {
        self.retry = Some(r);
        self
    }

    /// Timeouts (default: [`TimeoutConfig::default`]).
    pub fn timeout_config(mut self, t: TimeoutConfig) -> Self {
        self.timeouts = Some(t);
        self
    }

    /// Builds the configuration and its HTTP client.
    pub fn build(self) -> Result<Config, ConfigError> {
        let credentials = self
            .credentials
            .ok_or(ConfigError::Missing("credentials"))?;
        let region = self.region.ok_or(ConfigError::Missing("a region"))?;
        let transport = Transport::new(
            credentials,
            self.retry.unwrap_or_default(),
            self.timeouts.unwrap_or_default(),
            self.clock,
            self.budget,
        )
        .map_err(ConfigError::Http)?;
        Ok(Config {
            transport: Arc::new(transport),
            region,
            overrides: self.overrides,
        })
    }
}
