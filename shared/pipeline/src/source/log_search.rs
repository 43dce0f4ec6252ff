//! [`LogSearchSource`]: records found by configured Logging searches (`POST /search`), each
//! search listed like one compartment.
//!
//! Log records are shaped like audit events where the pipeline looks: an id (`logContent.id`),
//! a type, a time (`datetime`), JSON text forwarded as is; and like audit events they arrive
//! late (Logging ingests with a delay), so the runner's minute windows, settle pass, checkpoint,
//! gap ledger and replay apply unchanged. Each search is one "compartment" of a tree made up
//! here: its id is [`LogSearch::id`], its name `log-search/<name>`, and it is collected in its
//! own region only ([`AuditSource::covers`]). Its progress is kept apart from the Audit
//! runner's (the runtime gives this source's runner its own checkpoint prefix), so the two
//! never share shard layouts, leases or the compartment index.

use std::collections::BTreeMap;

use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::logging_search::{SearchLogsFluentBuilder, SearchLogsOutput};
use auditfwd_oci::{Config, Error, Ocid, Window};
use chrono::{DateTime, Utc};

use super::records::{RecordPages, made_up_tree};
use super::{AuditSource, Page};

/// The name of the made-up tree's root: searches show as `log-search/<name>`.
const ROOT_NAME: &str = "log-search";

/// Results asked for per page (the service's maximum).
const PAGE_LIMIT: u32 = 1000;

/// One configured search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSearch {
    /// Its name (letters, digits, `-`, `_`): in reports, status and its checkpoint id.
    pub name: String,
    /// The Logging query, e.g. `search "<compartment>/<log group>/<log>"`.
    pub query: String,
    /// The region it runs in (`None`: the tenancy's first region).
    pub region: Option<String>,
}

impl LogSearch {
    /// The id its progress is kept under, as a compartment's is:
    /// `ocid1.auditfwdlogsearch.oc1..<name>`. It never collides with a real OCID.
    pub fn id(&self) -> Result<Ocid, auditfwd_oci::ids::InvalidOcid> {
        Ocid::parse(format!("ocid1.auditfwdlogsearch.oc1..{}", self.name))
    }
}

/// A search ready to run.
#[derive(Debug, Clone)]
struct Planned {
    search: LogSearch,
    id: Ocid,
    region: String,
}

/// Configured Logging searches of one tenancy.
#[derive(Debug, Clone)]
pub struct LogSearchSource {
    tenancy: Ocid,
    clients: BTreeMap<String, auditfwd_oci::logging_search::Client>,
    searches: Vec<Planned>,
}

/// Why the searches cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogSearchSetupError {
    /// No region is configured for the tenancy.
    #[error("no region is configured")]
    NoRegion,
    /// A search runs in a region the tenancy does not collect.
    #[error("log search {search}: region {region} is not one of the tenancy's regions")]
    UnknownRegion {
        /// The search.
        search: String,
        /// Its region.
        region: String,
    },
    /// A search's name cannot make an id.
    #[error("log search {search:?}: {reason}")]
    BadName {
        /// The search.
        search: String,
        /// Why.
        reason: String,
    },
}

impl LogSearchSetupError {
    /// Whether trying again can help: never, the configuration must change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl LogSearchSource {
    /// `searches` of `tenancy`, each run through the Logging client of its region (one of
    /// `regions`, the first by default).
    pub fn new(
        tenancy: Ocid,
        regions: &[Config],
        searches: Vec<LogSearch>,
    ) -> Result<Self, LogSearchSetupError> {
        let first = regions.first().ok_or(LogSearchSetupError::NoRegion)?;
        let clients: BTreeMap<String, _> = regions
            .iter()
            .map(|c| {
                (
                    c.region().id().to_owned(),
                    auditfwd_oci::logging_search::Client::new(c),
                )
            })
            .collect();
        let mut planned = Vec::new();
        for search in searches {
            let region = search
                .region
                .clone()
                .unwrap_or_else(|| first.region().id().to_owned());
            if !clients.contains_key(&region) {
                return Err(LogSearchSetupError::UnknownRegion {
                    search: search.name,
                    region,
                });
            }
            let id = search.id().map_err(|e| LogSearchSetupError::BadName {
                search: search.name.clone(),
                reason: e.to_string(),
            })?;
            planned.push(Planned { search, id, region });
        }
        Ok(LogSearchSource {
            tenancy,
            clients,
            searches: planned,
        })
    }

    /// The configured searches.
    pub fn searches(&self) -> impl Iterator<Item = &LogSearch> {
        self.searches.iter().map(|p| &p.search)
    }

    fn planned(&self, id: &Ocid) -> Option<&Planned> {
        self.searches.iter().find(|p| &p.id == id)
    }
}

impl AuditSource for LogSearchSource {
    fn tenancy(&self) -> &Ocid {
        &self.tenancy
    }

    fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self.searches.iter().map(|p| p.region.clone()).collect();
        regions.sort();
        regions.dedup();
        regions
    }

    /// Made up, no call: the root (never collected) and one child per search.
    async fn compartment_tree(&self) -> Result<CompartmentTree, Error> {
        Ok(made_up_tree(
            &self.tenancy,
            ROOT_NAME,
            self.searches
                .iter()
                .map(|p| (&p.id, p.search.name.as_str())),
        ))
    }

    type Pages = LogSearchPages;

    fn list_events(&self, region: &str, compartment: &Ocid, window: Window) -> LogSearchPages {
        let Some(p) = self.planned(compartment).filter(|p| p.region == region) else {
            return RecordPages::unconfigured(format!(
                "{compartment} is not a log search of region {region}"
            ));
        };
        let Some(client) = self.clients.get(region) else {
            return RecordPages::unconfigured(format!("region {region} is not configured"));
        };
        RecordPages::new(
            client
                .search_logs()
                .time_start(window.start().as_datetime())
                .time_end(window.end().as_datetime())
                .search_query(p.search.query.clone())
                .limit(PAGE_LIMIT)
                .into_paginator(),
            window.start().as_datetime(),
            results_page,
        )
    }

    fn label(&self) -> &'static str {
        "OCI log search"
    }

    fn empty_hint(&self) -> Option<&'static str> {
        Some("if the log should have some, check that it is enabled: docs/sources.md")
    }

    fn covers(&self, region: &str, compartment: &Ocid) -> bool {
        self.planned(compartment)
            .is_some_and(|p| p.region == region)
    }
}

/// A search's listing: the Logging client's paginator, each result made a record.
pub type LogSearchPages = RecordPages<SearchLogsFluentBuilder>;

/// One page of search results as records.
fn results_page(out: &SearchLogsOutput, listed_at: DateTime<Utc>) -> Result<Page, Error> {
    out.results
        .iter()
        .map(|r| r.to_raw_event(listed_at))
        .collect::<Result<Vec<_>, _>>()
        .map(|events| Page {
            events,
            next: out.next_page.clone(),
        })
        .map_err(|e| Error::Decode {
            operation: "SearchLogs",
            status: 200,
            request_id: out.request_id.clone(),
            reason: format!("a result's data is not a JSON object: {e}"),
        })
}
