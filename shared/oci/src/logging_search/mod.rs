//! The Logging Search API: `SearchLogs`.
//!
//! OCI Logging holds service logs (VCN flow logs, Object Storage access logs, ...) and custom
//! logs in log groups; `SearchLogs` (`POST /20190909/search`, host
//! `logging.{region}.oci.{realm domain}`) reads them with a query in Oracle's Logging query
//! language over a time range of `datetime`s. Unlike the list operations, the request is a
//! signed JSON body (`timeStart`, `timeEnd`, `searchQuery`, `isReturnFieldInfo`); `limit`
//! (at most [`MAX_LIMIT`]) and `page` stay in the query string, and pages follow
//! `opc-next-page` like every other paginator here.
//!
//! Records reach search only once Logging has ingested them, some time after their
//! `datetime`: like audit events, a window read once and early misses records, so a collector
//! re-reads each window after the ingestion delay and dedupes by `logContent.id`
//! ([`RecordHead::id`]). The service refuses a range longer than 14 days ([`MAX_RANGE`]);
//! the client leaves that check to the service, so a change on OCI's side needs no release.
//!
//! ```no_run
//! # async fn demo(config: &auditfwd_oci::Config, compartment: &str) -> Result<(), auditfwd_oci::Error> {
//! use auditfwd_oci::logging_search;
//! let end = chrono::Utc::now();
//! let mut pages = logging_search::Client::new(config)
//!     .search_logs()
//!     .time_start(end - chrono::Duration::minutes(10))
//!     .time_end(end)
//!     .search_query(format!("search \"{compartment}\" | sort by datetime asc"))
//!     .limit(1000)
//!     .into_paginator();
//! while let Some(page) = pages.next_page().await {
//!     for result in page?.results {
//!         println!("{}", result.raw()); // the record exactly as OCI sent it
//!     }
//! }
//! # Ok(()) }
//! ```

mod model;

use std::future::Future;

use bytes::Bytes;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use http::Method;

pub use model::{FieldInfo, FieldType, RecordHead, SearchResult, SearchResultSummary};

use crate::config::Config;
use crate::error::Error;
use crate::pagination::{PagedRequest, Paginator};
use crate::region::Service;
use crate::transport::OciRequest;

/// Largest page `SearchLogs` returns.
pub const MAX_LIMIT: u32 = 1000;

/// Longest `[time_start, time_end)` the service accepts in one request.
pub const MAX_RANGE: Duration = Duration::days(14);

const OPERATION: &str = "SearchLogs";

/// Client for the Logging Search service in one region.
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

    /// `SearchLogs`: the log records a query selects in a time range.
    pub fn search_logs(&self) -> SearchLogsFluentBuilder {
        SearchLogsFluentBuilder {
            client: self.clone(),
            time_start: None,
            time_end: None,
            search_query: None,
            is_return_field_info: None,
            limit: None,
            page: None,
        }
    }
}

/// Builder for one `SearchLogs` call or a paginator over all its pages.
#[derive(Debug, Clone)]
pub struct SearchLogsFluentBuilder {
    client: Client,
    time_start: Option<DateTime<Utc>>,
    time_end: Option<DateTime<Utc>>,
    search_query: Option<String>,
    is_return_field_info: Option<bool>,
    limit: Option<u32>,
    page: Option<String>,
}

/// One page of search results.
#[derive(Debug)]
pub struct SearchLogsOutput {
    /// The results on this page, each `data` kept as OCI sent it.
    pub results: Vec<SearchResult>,
    /// Field schema of the searched logs, when `is_return_field_info` asked for it.
    pub fields: Vec<FieldInfo>,
    /// `summary`, when the service sent one.
    pub summary: Option<SearchResultSummary>,
    /// `opc-next-page`: present when there are more pages.
    pub next_page: Option<String>,
    /// `opc-request-id` of the answer.
    pub request_id: Option<String>,
}

/// The JSON body, `SearchLogsDetails`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchLogsDetails<'a> {
    time_start: String,
    time_end: String,
    search_query: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_return_field_info: Option<bool>,
}

fn wire_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl SearchLogsFluentBuilder {
    /// `timeStart`: the first `datetime` searched (required, inclusive).
    pub fn time_start(mut self, t: DateTime<Utc>) -> Self {
        self.time_start = Some(t);
        self
    }

    /// `timeEnd`: the end of the range (required, exclusive).
    pub fn time_end(mut self, t: DateTime<Utc>) -> Self {
        self.time_end = Some(t);
        self
    }

    /// `searchQuery` in Oracle's Logging query language, e.g.
    /// `search "<compartment>/<log group>/<log>" | sort by datetime asc` (required).
    pub fn search_query(mut self, query: impl Into<String>) -> Self {
        self.search_query = Some(query.into());
        self
    }

    /// `isReturnFieldInfo`: also return the searched logs' field schema.
    pub fn is_return_field_info(mut self, yes: bool) -> Self {
        self.is_return_field_info = Some(yes);
        self
    }

    /// `limit`: page size, 1 to [`MAX_LIMIT`].
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }

    /// Starts at a page token from an earlier answer.
    pub fn page(mut self, token: impl Into<String>) -> Self {
        self.page = Some(token.into());
        self
    }

    /// Fetches one page.
    pub async fn send(&self) -> Result<SearchLogsOutput, Error> {
        self.fetch(self.page.as_deref()).await
    }

    /// A paginator that follows `opc-next-page` one page at a time.
    pub fn into_paginator(self) -> SearchLogsPaginator {
        let start = self.page.clone();
        Paginator::new(self, start)
    }

    /// The request, checked as far as the client can without the service: the required
    /// fields, the limit, and a range that ends after it starts.
    fn request(&self, page: Option<&str>) -> Result<OciRequest, Error> {
        let invalid = |reason: String| Error::Construction {
            operation: OPERATION,
            reason,
        };
        let start = self
            .time_start
            .ok_or_else(|| invalid("timeStart is required".into()))?;
        let end = self
            .time_end
            .ok_or_else(|| invalid("timeEnd is required".into()))?;
        let query = self
            .search_query
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| invalid("searchQuery is required".into()))?;
        if end <= start {
            return Err(invalid(format!(
                "timeEnd {end} is not after timeStart {start}"
            )));
        }
        if let Some(n) = self.limit
            && !(1..=MAX_LIMIT).contains(&n)
        {
            return Err(invalid(format!("limit {n} must be 1 to {MAX_LIMIT}")));
        }
        if page.is_some_and(str::is_empty) {
            return Err(invalid("an empty page token".into()));
        }
        let mut url = self
            .client
            .config
            .url(Service::LoggingSearch, "/search", OPERATION)?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(n) = self.limit {
                q.append_pair("limit", &n.to_string());
            }
            if let Some(p) = page {
                q.append_pair("page", p);
            }
        }
        let body = serde_json::to_vec(&SearchLogsDetails {
            time_start: wire_time(start),
            time_end: wire_time(end),
            search_query: query,
            is_return_field_info: self.is_return_field_info,
        })
        .map_err(|e| invalid(format!("cannot encode the request body: {e}")))?;
        let mut req = OciRequest::new(OPERATION, Method::POST, url)
            .header("content-type", "application/json")?;
        // Signed with the body headers (content-length, content-type, x-content-sha256), as
        // every POST except Object Storage's PutObject.
        req.body = Some(Bytes::from(body));
        Ok(req)
    }

    async fn fetch(&self, page: Option<&str>) -> Result<SearchLogsOutput, Error> {
        let req = self.request(page)?;
        let resp = self.client.config.transport().send(req).await?;
        let decoded: model::SearchResponse = resp.json()?;
        Ok(SearchLogsOutput {
            results: decoded.results,
            fields: decoded.fields.unwrap_or_default(),
            summary: decoded.summary,
            next_page: resp.header("opc-next-page"),
            request_id: resp.request_id(),
        })
    }
}

/// Yields the pages of a `SearchLogs` call in order, one at a time.
pub type SearchLogsPaginator = Paginator<SearchLogsFluentBuilder>;

impl PagedRequest for SearchLogsFluentBuilder {
    type Page = SearchLogsOutput;
    const OPERATION: &'static str = OPERATION;

    fn fetch(
        &self,
        token: Option<&str>,
    ) -> impl Future<Output = Result<SearchLogsOutput, Error>> + Send {
        self.fetch(token)
    }

    fn next_token(page: &SearchLogsOutput) -> Option<String> {
        page.next_page.clone()
    }

    fn request_id(page: &SearchLogsOutput) -> Option<String> {
        page.request_id.clone()
    }
}
