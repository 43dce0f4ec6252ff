//! The OCI edge of the pipeline: the compartment tree and `ListEvents` pages, behind the narrow
//! [`AuditSource`] trait so the runner is tested deterministically; [`OciSource`] is the real
//! thing over `auditfwd-oci` (one Audit client per region, one Identity client).

use std::collections::BTreeMap;
use std::future::Future;

use auditfwd_oci::audit::AuditEvent;
use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::{Config, Error, Ocid, Window};

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The events, in OCI's order.
    pub events: Vec<AuditEvent>,
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

    /// One page of `ListEvents` for `compartment` in `region` over `window`.
    fn list_events(
        &self,
        region: &str,
        compartment: &Ocid,
        window: Window,
        page: Option<&str>,
    ) -> impl Future<Output = Result<Page, Error>> + Send;
}

/// The real OCI APIs.
#[derive(Debug, Clone)]
pub struct OciSource {
    tenancy: Ocid,
    identity: auditfwd_oci::identity::Client,
    audit: BTreeMap<String, auditfwd_oci::audit::Client>,
}

impl OciSource {
    /// Clients for `tenancy`: Identity through the first of `regions`, Audit in each.
    /// `regions` must not be empty (the configuration guarantees it).
    pub fn new(tenancy: Ocid, regions: &[Config]) -> Option<Self> {
        let identity = auditfwd_oci::identity::Client::new(regions.first()?);
        let audit = regions
            .iter()
            .map(|c| {
                (
                    c.region().id().to_owned(),
                    auditfwd_oci::audit::Client::new(c),
                )
            })
            .collect();
        Some(OciSource {
            tenancy,
            identity,
            audit,
        })
    }
}

impl AuditSource for OciSource {
    fn tenancy(&self) -> &Ocid {
        &self.tenancy
    }

    fn regions(&self) -> Vec<String> {
        self.audit.keys().cloned().collect()
    }

    async fn compartment_tree(&self) -> Result<CompartmentTree, Error> {
        let result = self
            .identity
            .compartment_tree(self.tenancy.clone())
            .send()
            .await;
        count_request("ListCompartments", &result);
        result
    }

    async fn list_events(
        &self,
        region: &str,
        compartment: &Ocid,
        window: Window,
        page: Option<&str>,
    ) -> Result<Page, Error> {
        let Some(client) = self.audit.get(region) else {
            return Err(Error::Construction {
                operation: "ListEvents",
                reason: format!("region {region} is not configured"),
            });
        };
        let mut req = client
            .list_events()
            .compartment_id(compartment.clone())
            .window(window);
        if let Some(p) = page {
            req = req.page(p);
        }
        let result = req.send().await.map(|out| Page {
            events: out.items,
            next: out.next_page,
        });
        count_request("ListEvents", &result);
        result
    }
}

/// Counts one API call by its final outcome (after the client's own retries).
fn count_request<T>(operation: &'static str, result: &Result<T, Error>) {
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
