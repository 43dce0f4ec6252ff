//! The Identity API: `ListCompartments`, `GetCompartment`, and the whole compartment tree.
//!
//! Audit events are listed per compartment and never include child compartments, so a
//! collector must know the whole tree. One subtree listing from the tenancy returns every
//! compartment but the tenancy itself; [`Client::compartment_tree`] adds the root.

mod tree;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use tree::CompartmentTree;

use crate::config::Config;
use crate::error::Error;
use crate::ids::Ocid;
use crate::pagination::{PagedRequest, Paginator};
use crate::region::Service;
use crate::transport::OciRequest;

/// A compartment as Identity describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compartment {
    /// The compartment OCID.
    pub id: String,
    /// The parent compartment's OCID (for the tenancy root, OCI returns the tenancy itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment_id: Option<String>,
    /// Name, unique among its siblings.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_created: Option<DateTime<Utc>>,
    /// Lifecycle state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<LifecycleState>,
    /// Whether the caller may access it (only filled in by `accessLevel` listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_accessible: Option<bool>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeform_tags: Option<BTreeMap<String, String>>,
    /// Defined tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_tags: Option<BTreeMap<String, Map<String, Value>>>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A compartment's lifecycle state; states OCI adds later are kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum LifecycleState {
    /// `CREATING`
    Creating,
    /// `ACTIVE`
    Active,
    /// `INACTIVE`
    Inactive,
    /// `DELETING`
    Deleting,
    /// `DELETED`
    Deleted,
    /// Anything else.
    Other(String),
}

impl LifecycleState {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            LifecycleState::Creating => "CREATING",
            LifecycleState::Active => "ACTIVE",
            LifecycleState::Inactive => "INACTIVE",
            LifecycleState::Deleting => "DELETING",
            LifecycleState::Deleted => "DELETED",
            LifecycleState::Other(s) => s,
        }
    }
}

impl From<String> for LifecycleState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "CREATING" => LifecycleState::Creating,
            "ACTIVE" => LifecycleState::Active,
            "INACTIVE" => LifecycleState::Inactive,
            "DELETING" => LifecycleState::Deleting,
            "DELETED" => LifecycleState::Deleted,
            _ => LifecycleState::Other(s),
        }
    }
}

impl From<LifecycleState> for String {
    fn from(s: LifecycleState) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `accessLevel` for subtree listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLevel {
    /// Every compartment, accessible or not (`isAccessible` says which).
    Any,
    /// Only compartments the caller's policies give access to.
    Accessible,
}

impl AccessLevel {
    fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Any => "ANY",
            AccessLevel::Accessible => "ACCESSIBLE",
        }
    }
}

/// Client for the Identity service.
#[derive(Debug, Clone)]
pub struct Client {
    config: Config,
}

impl Client {
    /// A client using `config`'s region, credentials and policies.
    pub fn new(config: &Config) -> Self {
        Client {
            config: config.clone(),
        }
    }

    /// `ListCompartments`.
    pub fn list_compartments(&self) -> ListCompartmentsFluentBuilder {
        ListCompartmentsFluentBuilder {
            client: self.clone(),
            compartment_id: None,
            in_subtree: false,
            access_level: None,
            lifecycle_state: None,
            limit: None,
            name: None,
            page: None,
        }
    }

    /// `GetCompartment` (works for the tenancy OCID too, returning the root compartment).
    pub fn get_compartment(&self) -> GetCompartmentFluentBuilder {
        GetCompartmentFluentBuilder {
            client: self.clone(),
            compartment_id: None,
        }
    }

    /// The whole tree under `tenancy`, root included: `GetCompartment` for the root plus one
    /// paginated subtree listing.
    pub fn compartment_tree(&self, tenancy: Ocid) -> CompartmentTreeFluentBuilder {
        CompartmentTreeFluentBuilder {
            client: self.clone(),
            tenancy,
            access_level: AccessLevel::Any,
            lifecycle_state: None,
        }
    }
}

/// Builder for `ListCompartments`.
#[derive(Debug, Clone)]
pub struct ListCompartmentsFluentBuilder {
    client: Client,
    compartment_id: Option<Ocid>,
    in_subtree: bool,
    access_level: Option<AccessLevel>,
    lifecycle_state: Option<LifecycleState>,
    limit: Option<u32>,
    name: Option<String>,
    page: Option<String>,
}

/// One page of compartments.
#[derive(Debug, Clone)]
pub struct ListCompartmentsOutput {
    /// The compartments on this page.
    pub items: Vec<Compartment>,
    /// `opc-next-page`.
    pub next_page: Option<String>,
    /// `opc-request-id`.
    pub request_id: Option<String>,
}

impl ListCompartmentsFluentBuilder {
    /// The parent compartment, or the tenancy for a subtree listing (required).
    pub fn compartment_id(mut self, id: Ocid) -> Self {
        self.compartment_id = Some(id);
        self
    }

    /// `compartmentIdInSubtree=true`: every compartment below the tenancy in one listing
    /// (only allowed when `compartment_id` is the tenancy).
    pub fn compartment_id_in_subtree(mut self, yes: bool) -> Self {
        self.in_subtree = yes;
        self
    }

    /// `accessLevel`.
    pub fn access_level(mut self, level: AccessLevel) -> Self {
        self.access_level = Some(level);
        self
    }

    /// `lifecycleState` filter.
    pub fn lifecycle_state(mut self, state: LifecycleState) -> Self {
        self.lifecycle_state = Some(state);
        self
    }

    /// `limit`: page size (OCI allows up to 1000).
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }

    /// `name`: exact-name filter.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts at a page token.
    pub fn page(mut self, token: impl Into<String>) -> Self {
        self.page = Some(token.into());
        self
    }

    /// Fetches one page.
    pub async fn send(&self) -> Result<ListCompartmentsOutput, Error> {
        self.fetch(self.page.as_deref()).await
    }

    /// A paginator over every page.
    pub fn into_paginator(self) -> ListCompartmentsPaginator {
        let start = self.page.clone();
        Paginator::new(self, start)
    }

    async fn fetch(&self, page: Option<&str>) -> Result<ListCompartmentsOutput, Error> {
        const OP: &str = "ListCompartments";
        let parent = self
            .compartment_id
            .as_ref()
            .ok_or_else(|| Error::Construction {
                operation: OP,
                reason: "compartmentId is required".into(),
            })?;
        let mut url = self
            .client
            .config
            .url(Service::Identity, "/compartments", OP)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("compartmentId", parent.as_str());
            if self.in_subtree {
                q.append_pair("compartmentIdInSubtree", "true");
            }
            if let Some(a) = self.access_level {
                q.append_pair("accessLevel", a.as_str());
            }
            if let Some(s) = &self.lifecycle_state {
                q.append_pair("lifecycleState", s.as_str());
            }
            if let Some(n) = self.limit {
                q.append_pair("limit", &n.to_string());
            }
            if let Some(n) = &self.name {
                q.append_pair("name", n);
            }
            if let Some(p) = page {
                q.append_pair("page", p);
            }
        }
        let resp = self
            .client
            .config
            .transport()
            .send(OciRequest::new(OP, Method::GET, url))
            .await?;
        let items = resp.json()?;
        Ok(ListCompartmentsOutput {
            items,
            next_page: resp.header("opc-next-page"),
            request_id: resp.request_id(),
        })
    }
}

/// Yields the pages of a `ListCompartments` call in order.
pub type ListCompartmentsPaginator = Paginator<ListCompartmentsFluentBuilder>;

impl PagedRequest for ListCompartmentsFluentBuilder {
    type Page = ListCompartmentsOutput;
    const OPERATION: &'static str = "ListCompartments";

    fn fetch(
        &self,
        token: Option<&str>,
    ) -> impl Future<Output = Result<ListCompartmentsOutput, Error>> + Send {
        self.fetch(token)
    }

    fn next_token(page: &ListCompartmentsOutput) -> Option<String> {
        page.next_page.clone()
    }

    fn request_id(page: &ListCompartmentsOutput) -> Option<String> {
        page.request_id.clone()
    }
}

/// Builder for `GetCompartment`.
#[derive(Debug, Clone)]
pub struct GetCompartmentFluentBuilder {
    client: Client,
    compartment_id: Option<Ocid>,
}

impl GetCompartmentFluentBuilder {
    /// The compartment (required).
    pub fn compartment_id(mut self, id: Ocid) -> Self {
        self.compartment_id = Some(id);
        self
    }

    /// Fetches it.
    pub async fn send(&self) -> Result<Compartment, Error> {
        const OP: &str = "GetCompartment";
        let id = self
            .compartment_id
            .as_ref()
            .ok_or_else(|| Error::Construction {
                operation: OP,
                reason: "compartmentId is required".into(),
            })?;
        let url = self.client.config.url(
            Service::Identity,
            &format!("/compartments/{}", crate::encode_path_segment(id.as_str())),
            OP,
        )?;
        self.client
            .config
            .transport()
            .send(OciRequest::new(OP, Method::GET, url))
            .await?
            .json()
    }
}

/// Builder for [`Client::compartment_tree`].
#[derive(Debug, Clone)]
pub struct CompartmentTreeFluentBuilder {
    client: Client,
    tenancy: Ocid,
    access_level: AccessLevel,
    lifecycle_state: Option<LifecycleState>,
}

impl CompartmentTreeFluentBuilder {
    /// `accessLevel` of the listing (default `ANY`, so inaccessible compartments are seen and
    /// can be reported rather than silently missing).
    pub fn access_level(mut self, level: AccessLevel) -> Self {
        self.access_level = level;
        self
    }

    /// Only compartments in this state (default: every state).
    pub fn lifecycle_state(mut self, state: LifecycleState) -> Self {
        self.lifecycle_state = Some(state);
        self
    }

    /// Lists the tree.
    pub async fn send(&self) -> Result<CompartmentTree, Error> {
        let root = self
            .client
            .get_compartment()
            .compartment_id(self.tenancy.clone())
            .send()
            .await?;
        let mut listing = self
            .client
            .list_compartments()
            .compartment_id(self.tenancy.clone())
            .compartment_id_in_subtree(true)
            .access_level(self.access_level)
            .limit(1000);
        if let Some(s) = &self.lifecycle_state {
            listing = listing.lifecycle_state(s.clone());
        }
        let mut pages = listing.into_paginator();
        let mut all = Vec::new();
        while let Some(page) = pages.next_page().await {
            all.extend(page?.items);
        }
        Ok(CompartmentTree::new(root, all))
    }
}
