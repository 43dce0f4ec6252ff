//! [`LiveSource`]: the sources the entry points run, as one type (each runner runs one).

use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::{Error, Ocid, Window};

use super::{AuditSource, EventPages, LogSearchPages, LogSearchSource, OciPages, OciSource, Page};

/// Audit events, or a tenancy's log searches.
#[derive(Debug, Clone)]
pub enum LiveSource {
    /// The Audit API.
    Audit(OciSource),
    /// Configured Logging searches.
    LogSearch(LogSearchSource),
}

/// A listing of either.
#[derive(Debug)]
pub enum LivePages {
    /// Audit.
    Audit(OciPages),
    /// Logging search.
    LogSearch(LogSearchPages),
}

impl AuditSource for LiveSource {
    fn tenancy(&self) -> &Ocid {
        match self {
            LiveSource::Audit(s) => s.tenancy(),
            LiveSource::LogSearch(s) => s.tenancy(),
        }
    }

    fn regions(&self) -> Vec<String> {
        match self {
            LiveSource::Audit(s) => s.regions(),
            LiveSource::LogSearch(s) => s.regions(),
        }
    }

    async fn compartment_tree(&self) -> Result<CompartmentTree, Error> {
        match self {
            LiveSource::Audit(s) => s.compartment_tree().await,
            LiveSource::LogSearch(s) => s.compartment_tree().await,
        }
    }

    type Pages = LivePages;

    fn list_events(&self, region: &str, compartment: &Ocid, window: Window) -> LivePages {
        match self {
            LiveSource::Audit(s) => LivePages::Audit(s.list_events(region, compartment, window)),
            LiveSource::LogSearch(s) => {
                LivePages::LogSearch(s.list_events(region, compartment, window))
            }
        }
    }

    fn covers(&self, region: &str, compartment: &Ocid) -> bool {
        match self {
            LiveSource::Audit(s) => s.covers(region, compartment),
            LiveSource::LogSearch(s) => s.covers(region, compartment),
        }
    }
}

impl EventPages for LivePages {
    async fn next_page(&mut self) -> Option<Result<Page, Error>> {
        match self {
            LivePages::Audit(p) => p.next_page().await,
            LivePages::LogSearch(p) => p.next_page().await,
        }
    }
}
