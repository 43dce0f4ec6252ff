//! The OCI edge of the pipeline: where records come from, behind the narrow [`AuditSource`]
//! trait so the runner is tested deterministically.
//!
//! - [`audit`]: [`OciSource`], the Audit API over `auditfwd-oci` (the compartment tree, one
//!   Audit client per region);
//! - [`log_search`]: [`LogSearchSource`], configured Logging searches, each listed like one
//!   compartment (the records are audit-shaped: an id, a type, a time, the JSON text);
//! - [`cloud_guard`]: [`CloudGuardSource`], a tenancy's Cloud Guard problems, each version
//!   once (each lifecycle state listed like one compartment, windows on `timeLastDetected`);
//! - [`any`]: [`LiveSource`], any one of them, which the entry points run.
//!
//! A listing is a stream of pages ([`EventPages`]): the runner holds one page at a time, and
//! the real sources page through the OCI client's paginator, whose guards (a repeated
//! `opc-next-page` token is a broken answer, never an endless loop) therefore run in
//! production. After an error, asking for the next page fetches the same page again.

mod any;
mod audit;
mod cloud_guard;
mod log_search;
mod records;

use std::future::Future;

use auditfwd_oci::audit::RawEvent;
use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::{Error, Ocid, Window};

pub use any::{LivePages, LiveSource};
pub use audit::{OciPages, OciSource};
pub use cloud_guard::{CloudGuardPages, CloudGuardSource};
pub use log_search::{LogSearch, LogSearchPages, LogSearchSetupError, LogSearchSource};
pub use records::RecordPages;

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The events, in OCI's order, each as OCI sent it.
    pub events: Vec<RawEvent>,
    /// The token of the next page; `None` on the last.
    pub next: Option<String>,
}

/// Where audit events come from.
pub trait AuditSource: Send + Sync + std::fmt::Debug {
    /// The tenancy.
    fn tenancy(&self) -> &Ocid;

    /// The regions to collect, as region ids.
    fn regions(&self) -> Vec<String>;

    /// The whole compartment tree, root included (refreshed every cycle).
    fn compartment_tree(&self) -> impl Future<Output = Result<CompartmentTree, Error>> + Send;

    /// The pages of `ListEvents` for `compartment` in `region` over `window`, in order.
    fn list_events(&self, region: &str, compartment: &Ocid, window: Window) -> Self::Pages;

    /// Whether `compartment` is collected in `region` (every pair is, for Audit; a log search
    /// runs in its own region only).
    fn covers(&self, region: &str, compartment: &Ocid) -> bool {
        let _ = (region, compartment);
        true
    }

    /// How `auditfwd check` names this source's listings (`OCI log search`).
    fn label(&self) -> &'static str {
        "OCI audit events"
    }

    /// What `auditfwd check` adds when a listing of a recent minute finds nothing: how to
    /// tell a quiet source from a misconfigured one (`None`: nothing to add).
    fn empty_hint(&self) -> Option<&'static str> {
        None
    }

    /// Whether this source's records change in place without moving the time they are
    /// listed by, so that the runner must [`sweep`](Self::sweep) after its windows.
    fn sweeps(&self) -> bool {
        false
    }

    /// The changes no window listing can see: what is open now against `known` (what was
    /// open at the last sweep; `None` the first time, when there is nothing to compare and
    /// nothing is forwarded). A change whose record the settle pass will still list (its time
    /// within `settle_lag` of `now`) is left to it. Only called when [`Self::sweeps`].
    fn sweep(
        &self,
        known: Option<&crate::runner::SweepState>,
        now: chrono::DateTime<chrono::Utc>,
        settle_lag: chrono::Duration,
    ) -> impl Future<Output = Result<crate::runner::Swept, Error>> + Send {
        let _ = (known, now, settle_lag);
        std::future::ready(Ok(crate::runner::Swept::default()))
    }

    /// A listing in progress.
    type Pages: EventPages;
}

/// The pages of one listing, one at a time.
pub trait EventPages: Send {
    /// The next page; `None` after the last. After an error, calling again fetches the same
    /// page again.
    fn next_page(&mut self) -> impl Future<Output = Option<Result<Page, Error>>> + Send;
}

/// Counts one API call by its final outcome (after the client's own retries).
pub(crate) fn count_request<T>(operation: &'static str, result: &Result<T, Error>) {
    let status = match result {
        Ok(_) => "200".to_owned(),
        Err(e) => e
            .status()
            .map_or_else(|| error_kind(e).to_owned(), |s| s.to_string()),
    };
    metrics::counter!(auditfwd_telemetry::names::OCI_REQUESTS, "operation" => operation, "status" => status)
        .increment(1);
}

fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Construction { .. } => "construction",
        Error::Dispatch { .. } => "dispatch",
        Error::Decode { .. } => "decode",
        Error::Service { .. } | Error::PreconditionFailed { .. } => "service",
    }
}
