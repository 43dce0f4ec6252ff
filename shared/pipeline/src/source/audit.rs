//! [`OciSource`]: audit events from the Audit API, per compartment of the tenancy's tree.

use std::collections::BTreeMap;

use auditfwd_oci::audit::ListEventsPaginator;
use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::{Config, Error, Ocid, Window};

use super::{AuditSource, EventPages, Page, count_request};

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
