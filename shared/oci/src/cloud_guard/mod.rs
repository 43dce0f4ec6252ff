//! The Cloud Guard API: `ListProblems`.
//!
//! A problem is mutable: Cloud Guard updates it in place (a new `timeLastDetected` on each
//! detection, `lifecycleState` and `lifecycleDetail` when someone resolves or dismisses it), so
//! a collector lists by `timeLastDetected` and treats each
//! [`ProblemSummary::version_id`] (id, `timeLastDetected`, state, detail) as one record
//! ([`ProblemSummary::to_raw_event`]). Without a `lifecycle_state` filter the service lists
//! only `ACTIVE` problems.
//!
//! ```no_run
//! # async fn demo(config: &auditfwd_oci::Config, tenancy: auditfwd_oci::Ocid) -> Result<(), auditfwd_oci::Error> {
//! use auditfwd_oci::cloud_guard;
//! let since = chrono::Utc::now() - chrono::Duration::hours(1);
//! let mut pages = cloud_guard::Client::new(config)
//!     .list_problems()
//!     .compartment_id(tenancy)
//!     .compartment_id_in_subtree(true)
//!     .time_last_detected_from(since)
//!     .limit(1000)
//!     .into_paginator();
//! while let Some(page) = pages.next_page().await {
//!     for problem in page?.items {
//!         println!("{} {:?}", problem.id, problem.time_last_detected);
//!     }
//! }
//! # Ok(()) }
//! ```

mod model;

use chrono::{DateTime, SecondsFormat, Utc};
use http::Method;

pub use model::{
    PROBLEM_RECORD_TYPE, ProblemLifecycleDetail, ProblemLifecycleState, ProblemSummary, RiskLevel,
};

use crate::config::Config;
use crate::error::Error;
use crate::ids::Ocid;
use crate::pagination::{PagedRequest, Paginator};
use crate::region::Service;
use crate::transport::OciRequest;

/// Largest page `ListProblems` returns.
pub const MAX_LIMIT: u32 = 1000;

/// `accessLevel` for subtree listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLevel {
    /// The service default: the request fails if any compartment in the subtree is not
    /// accessible (no partial answers).
    Restricted,
    /// Only the compartments the caller may access; the others are skipped.
    Accessible,
}

impl AccessLevel {
    fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Restricted => "RESTRICTED",
            AccessLevel::Accessible => "ACCESSIBLE",
        }
    }
}

/// `sortBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// The service default (newest first unless `sort_order` says otherwise).
    TimeLastDetected,
    /// Severity.
    RiskLevel,
    /// Resource name.
    ResourceName,
}

impl SortBy {
    fn as_str(self) -> &'static str {
        match self {
            SortBy::TimeLastDetected => "timeLastDetected",
            SortBy::RiskLevel => "riskLevel",
            SortBy::ResourceName => "resourceName",
        }
    }
}

/// `sortOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// `ASC`
    Ascending,
    /// `DESC`
    Descending,
}

impl SortOrder {
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        }
    }
}

/// Client for the Cloud Guard service in one region.
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

    /// `ListProblems`: the problems of a compartment (or its subtree) matching the filters.
    pub fn list_problems(&self) -> ListProblemsFluentBuilder {
        ListProblemsFluentBuilder {
            client: self.clone(),
            compartment_id: None,
            in_subtree: false,
            access_level: None,
            last_from: None,
            last_to: None,
            first_from: None,
            first_to: None,
            lifecycle_state: None,
            lifecycle_detail: None,
            risk_level: None,
            limit: None,
            sort_by: None,
            sort_order: None,
            page: None,
        }
    }
}

/// Builder for one `ListProblems` call or a paginator over all its pages.
#[derive(Debug, Clone)]
pub struct ListProblemsFluentBuilder {
    client: Client,
    compartment_id: Option<Ocid>,
    in_subtree: bool,
    access_level: Option<AccessLevel>,
    last_from: Option<DateTime<Utc>>,
    last_to: Option<DateTime<Utc>>,
    first_from: Option<DateTime<Utc>>,
    first_to: Option<DateTime<Utc>>,
    lifecycle_state: Option<ProblemLifecycleState>,
    lifecycle_detail: Option<ProblemLifecycleDetail>,
    risk_level: Option<RiskLevel>,
    limit: Option<u32>,
    sort_by: Option<SortBy>,
    sort_order: Option<SortOrder>,
    page: Option<String>,
}

/// One page of problems.
#[derive(Debug, Clone)]
pub struct ListProblemsOutput {
    /// The problems on this page.
    pub items: Vec<ProblemSummary>,
    /// `opc-next-page`: present when there are more pages.
    pub next_page: Option<String>,
    /// `opc-request-id` of the answer.
    pub request_id: Option<String>,
}

fn wire_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl ListProblemsFluentBuilder {
    /// The compartment (required).
    pub fn compartment_id(mut self, id: Ocid) -> Self {
        self.compartment_id = Some(id);
        self
    }

    /// `compartmentIdInSubtree`: include every compartment below `compartment_id`.
    pub fn compartment_id_in_subtree(mut self, yes: bool) -> Self {
        self.in_subtree = yes;
        self
    }

    /// `accessLevel` (only meaningful with a subtree).
    pub fn access_level(mut self, level: AccessLevel) -> Self {
        self.access_level = Some(level);
        self
    }

    /// `timeLastDetectedGreaterThanOrEqualTo` (inclusive).
    pub fn time_last_detected_from(mut self, t: DateTime<Utc>) -> Self {
        self.last_from = Some(t);
        self
    }

    /// `timeLastDetectedLessThanOrEqualTo` (inclusive).
    pub fn time_last_detected_to(mut self, t: DateTime<Utc>) -> Self {
        self.last_to = Some(t);
        self
    }

    /// `timeFirstDetectedGreaterThanOrEqualTo` (inclusive).
    pub fn time_first_detected_from(mut self, t: DateTime<Utc>) -> Self {
        self.first_from = Some(t);
        self
    }

    /// `timeFirstDetectedLessThanOrEqualTo` (inclusive).
    pub fn time_first_detected_to(mut self, t: DateTime<Utc>) -> Self {
        self.first_to = Some(t);
        self
    }

    /// `lifecycleState` (the service lists only `ACTIVE` problems without it).
    pub fn lifecycle_state(mut self, state: ProblemLifecycleState) -> Self {
        self.lifecycle_state = Some(state);
        self
    }

    /// `lifecycleDetail`.
    pub fn lifecycle_detail(mut self, detail: ProblemLifecycleDetail) -> Self {
        self.lifecycle_detail = Some(detail);
        self
    }

    /// `riskLevel`.
    pub fn risk_level(mut self, level: RiskLevel) -> Self {
        self.risk_level = Some(level);
        self
    }

    /// `limit`: page size, 1 to [`MAX_LIMIT`].
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }

    /// `sortBy`.
    pub fn sort_by(mut self, by: SortBy) -> Self {
        self.sort_by = Some(by);
        self
    }

    /// `sortOrder`.
    pub fn sort_order(mut self, order: SortOrder) -> Self {
        self.sort_order = Some(order);
        self
    }

    /// Starts at a page token from an earlier answer.
    pub fn page(mut self, token: impl Into<String>) -> Self {
        self.page = Some(token.into());
        self
    }

    /// Fetches one page.
    pub async fn send(&self) -> Result<ListProblemsOutput, Error> {
        self.fetch(self.page.as_deref()).await
    }

    /// A paginator that follows `opc-next-page` one page at a time.
    pub fn into_paginator(self) -> ListProblemsPaginator {
        let start = self.page.clone();
        Paginator::new(self, start)
    }

    async fn fetch(&self, page: Option<&str>) -> Result<ListProblemsOutput, Error> {
        const OP: &str = "ListProblems";
        let invalid = |reason: String| Error::Construction {
            operation: OP,
            reason,
        };
        let compartment = self
            .compartment_id
            .as_ref()
            .ok_or_else(|| invalid("compartmentId is required".into()))?;
        if let Some(n) = self.limit
            && !(1..=MAX_LIMIT).contains(&n)
        {
            return Err(invalid(format!("limit {n} must be 1 to {MAX_LIMIT}")));
        }
        for (name, from, to) in [
            ("timeLastDetected", self.last_from, self.last_to),
            ("timeFirstDetected", self.first_from, self.first_to),
        ] {
            if let (Some(from), Some(to)) = (from, to)
                && from > to
            {
                return Err(invalid(format!("{name}: {from} is after {to}")));
            }
        }
        let mut url = self
            .client
            .config
            .url(Service::CloudGuard, "/problems", OP)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("compartmentId", compartment.as_str());
            if self.in_subtree {
                q.append_pair("compartmentIdInSubtree", "true");
            }
            if let Some(a) = self.access_level {
                q.append_pair("accessLevel", a.as_str());
            }
            for (name, t) in [
                ("timeLastDetectedGreaterThanOrEqualTo", self.last_from),
                ("timeLastDetectedLessThanOrEqualTo", self.last_to),
                ("timeFirstDetectedGreaterThanOrEqualTo", self.first_from),
                ("timeFirstDetectedLessThanOrEqualTo", self.first_to),
            ] {
                if let Some(t) = t {
                    q.append_pair(name, &wire_time(t));
                }
            }
            if let Some(s) = &self.lifecycle_state {
                q.append_pair("lifecycleState", s.as_str());
            }
            if let Some(d) = &self.lifecycle_detail {
                q.append_pair("lifecycleDetail", d.as_str());
            }
            if let Some(r) = &self.risk_level {
                q.append_pair("riskLevel", r.as_str());
            }
            if let Some(n) = self.limit {
                q.append_pair("limit", &n.to_string());
            }
            if let Some(p) = page {
                q.append_pair("page", p);
            }
            if let Some(s) = self.sort_order {
                q.append_pair("sortOrder", s.as_str());
            }
            if let Some(s) = self.sort_by {
                q.append_pair("sortBy", s.as_str());
            }
        }
        let resp = self
            .client
            .config
            .transport()
            .send(OciRequest::new(OP, Method::GET, url))
            .await?;
        let collection: model::ProblemCollection = resp.json()?;
        Ok(ListProblemsOutput {
            items: collection.items,
            next_page: resp.header("opc-next-page"),
            request_id: resp.request_id(),
        })
    }
}

/// Yields the pages of a `ListProblems` call in order, one at a time.
pub type ListProblemsPaginator = Paginator<ListProblemsFluentBuilder>;

impl PagedRequest for ListProblemsFluentBuilder {
    type Page = ListProblemsOutput;
    const OPERATION: &'static str = "ListProblems";

    fn fetch(
        &self,
        token: Option<&str>,
    ) -> impl Future<Output = Result<ListProblemsOutput, Error>> + Send {
        self.fetch(token)
    }

    fn next_token(page: &ListProblemsOutput) -> Option<String> {
        page.next_page.clone()
    }

    fn request_id(page: &ListProblemsOutput) -> Option<String> {
        page.request_id.clone()
    }
}
