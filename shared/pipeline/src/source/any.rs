//! [`LiveSource`]: the sources the entry points run, as one type (each runner runs one).

use auditfwd_oci::identity::CompartmentTree;
use chrono::{DateTime, Utc};

use crate::runner::{SweepState, Swept};
use auditfwd_oci::{Error, Ocid, Window};

use super::{
    AuditSource, CloudGuardPages, CloudGuardSource, EventPages, LogSearchPages, LogSearchSource,
    OciPages, OciSource, Page,
};

/// Audit events, a tenancy's log searches, or its Cloud Guard problems.
#[derive(Debug, Clone)]
pub enum LiveSource {
    /// The Audit API.
    Audit(OciSource),
    /// Configured Logging searches.
    LogSearch(LogSearchSource),
    /// Cloud Guard problems.
    CloudGuard(CloudGuardSource),
}

impl LiveSource {
    /// What it collects, as reports and metrics name it: `audit`, `log-search`, `cloud-guard`.
    pub fn kind(&self) -> &'static str {
        match self {
            LiveSource::Audit(_) => "audit",
            LiveSource::LogSearch(_) => "log-search",
            LiveSource::CloudGuard(_) => "cloud-guard",
        }
    }
}

/// A listing of any of them.
#[derive(Debug)]
pub enum LivePages {
    /// Audit.
    Audit(OciPages),
    /// Logging search.
    LogSearch(LogSearchPages),
    /// Cloud Guard.
    CloudGuard(CloudGuardPages),
}

impl AuditSource for LiveSource {
    fn tenancy(&self) -> &Ocid {
        match self {
            LiveSource::Audit(s) => s.tenancy(),
            LiveSource::LogSearch(s) => s.tenancy(),
            LiveSource::CloudGuard(s) => s.tenancy(),
        }
    }

    fn regions(&self) -> Vec<String> {
        match self {
            LiveSource::Audit(s) => s.regions(),
            LiveSource::LogSearch(s) => s.regions(),
            LiveSource::CloudGuard(s) => s.regions(),
        }
    }

    async fn compartment_tree(&self) -> Result<CompartmentTree, Error> {
        match self {
            LiveSource::Audit(s) => s.compartment_tree().await,
            LiveSource::LogSearch(s) => s.compartment_tree().await,
            LiveSource::CloudGuard(s) => s.compartment_tree().await,
        }
    }

    type Pages = LivePages;

    fn list_events(&self, region: &str, compartment: &Ocid, window: Window) -> LivePages {
        match self {
            LiveSource::Audit(s) => LivePages::Audit(s.list_events(region, compartment, window)),
            LiveSource::LogSearch(s) => {
                LivePages::LogSearch(s.list_events(region, compartment, window))
            }
            LiveSource::CloudGuard(s) => {
                LivePages::CloudGuard(s.list_events(region, compartment, window))
            }
        }
    }

    fn label(&self) -> &'static str {
        match self {
            LiveSource::Audit(s) => s.label(),
            LiveSource::LogSearch(s) => s.label(),
            LiveSource::CloudGuard(s) => s.label(),
        }
    }

    fn empty_hint(&self) -> Option<&'static str> {
        match self {
            LiveSource::Audit(s) => s.empty_hint(),
            LiveSource::LogSearch(s) => s.empty_hint(),
            LiveSource::CloudGuard(s) => s.empty_hint(),
        }
    }

    fn sweeps(&self) -> bool {
        match self {
            LiveSource::Audit(s) => s.sweeps(),
            LiveSource::LogSearch(s) => s.sweeps(),
            LiveSource::CloudGuard(s) => s.sweeps(),
        }
    }

    async fn sweep(
        &self,
        known: Option<&SweepState>,
        now: DateTime<Utc>,
        settle_lag: chrono::Duration,
    ) -> Result<Swept, Error> {
        match self {
            LiveSource::Audit(s) => s.sweep(known, now, settle_lag).await,
            LiveSource::LogSearch(s) => s.sweep(known, now, settle_lag).await,
            LiveSource::CloudGuard(s) => s.sweep(known, now, settle_lag).await,
        }
    }

    fn covers(&self, region: &str, compartment: &Ocid) -> bool {
        match self {
            LiveSource::Audit(s) => s.covers(region, compartment),
            LiveSource::LogSearch(s) => s.covers(region, compartment),
            LiveSource::CloudGuard(s) => s.covers(region, compartment),
        }
    }
}

impl EventPages for LivePages {
    async fn next_page(&mut self) -> Option<Result<Page, Error>> {
        match self {
            LivePages::Audit(p) => p.next_page().await,
            LivePages::LogSearch(p) => p.next_page().await,
            LivePages::CloudGuard(p) => p.next_page().await,
        }
    }
}
