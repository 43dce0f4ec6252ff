//! The OCI edge of the pipeline: the compartment tree and `ListEvents` pages, behind the narrow
//! [`AuditSource`] trait so the runner is tested deterministically; [`OciSource`] is the real
//! thing over `auditfwd-oci` (one Audit client per region, one Identity client).
//!
//! A listing is a stream of pages ([`EventPages`]): the runner holds one page at a time, and
//! the real source pages through the OCI client's paginator, whose guards (a repeated
//! `opc-next-page` token is a broken answer, never an endless loop) therefore run in
//! production. After an error, asking for the next page fetches the same page again.

use std::collections::BTreeMap;
use std::future::Future;

use auditfwd_oci::audit::{ListEventsPaginator, RawEvent};
use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::{Config, Error, Ocid, Window};

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

    /// A listing in progress.
    type Pages: EventPages;
}

/// The pages of one listing, one at a time.
pub trait EventPages: Send {
    /// The next page; `None` after the last. After an error, calling again fetches the same
    /// page again.
    fn next_page(&mut self) -> impl Future<Output = Option<Result<Page, Error>>> + Send;
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

    type Pages = OciPages;

    fn list_events(&self, region: &str, compartment: &Ocid, window: Window) -> OciPages {
        match self.audit.get(region) {
            Some(client) => OciPages::Listing(
                client
                    .list_events()
                    .compartment_id(compartment.clone())
                    .window(window)
                    .into_paginator(),
            ),
            None => OciPages::Unconfigured(Some(region.to_owned())),
        }
    }
}

/// [`OciSource`]'s listing: the OCI client's paginator, counted per request.
#[derive(Debug)]
pub enum OciPages {
    /// Paging through `ListEvents`.
    Listing(ListEventsPaginator),
    /// The region is not configured (an error on the first page, then the end).
    Unconfigured(Option<String>),
}

impl EventPages for OciPages {
    async fn next_page(&mut self) -> Option<Result<Page, Error>> {
        match self {
            OciPages::Listing(p) => {
                let result = p.next_page().await?.map(|out| Page {
                    events: out.items,
                    next: out.next_page,
                });
                count_request("ListEvents", &result);
                Some(result)
            }
            OciPages::Unconfigured(region) => region.take().map(|region| {
                Err(Error::Construction {
                    operation: "ListEvents",
                    reason: format!("region {region} is not configured"),
                })
            }),
        }
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
