//! [`CloudGuardSource`]: a tenancy's Cloud Guard problems (`ListProblems`), each lifecycle
//! state listed like one compartment.
//!
//! A problem is mutable: Cloud Guard moves its `timeLastDetected` on each new detection and
//! changes its `lifecycleState`/`lifecycleDetail` when it is resolved or dismissed. What is
//! forwarded is each *version* once, keyed by
//! [`ProblemSummary::version_id`](auditfwd_oci::cloud_guard::ProblemSummary::version_id)
//! (id, `timeLastDetected`, state, detail), and windows are on `timeLastDetected` (the only
//! time filter `ListProblems` has besides the first detection).
//!
//! `ListProblems` lists one `lifecycleState` at a time (`ACTIVE` unless asked), so the made-up
//! tree has two "compartments", `cloud-guard/active` and `cloud-guard/inactive`, each listed
//! over the tenancy's whole subtree (`compartmentIdInSubtree`, `accessLevel=ACCESSIBLE`) in the
//! Cloud Guard reporting region. Each is probed on its own, so a quiet tenancy costs two calls
//! a cycle, whatever its number of compartments, and the runner's windows, settle pass,
//! checkpoint, gap ledger and leases apply unchanged. A problem resolved or dismissed within
//! the settle pass's reach of its last detection is forwarded again in its new state by the
//! settle pass; one resolved later keeps a `timeLastDetected` in a window already settled, and
//! is not (see `docs/sources.md`).

use std::collections::BTreeMap;

use auditfwd_oci::cloud_guard::{
    AccessLevel, ListProblemsFluentBuilder, ListProblemsOutput, ProblemLifecycleState, SortBy,
    SortOrder,
};
use auditfwd_oci::identity::CompartmentTree;
use auditfwd_oci::{Config, Error, Ocid, Window};
use chrono::{DateTime, Utc};

use super::records::{RecordPages, made_up_tree};
use super::{AuditSource, Page, count_request};
use crate::runner::{SweepState, Swept};

/// The name of the made-up tree's root: the states show as `cloud-guard/active` and
/// `cloud-guard/inactive`.
const ROOT_NAME: &str = "cloud-guard";

/// Problems asked for per page (the service's maximum).
const PAGE_LIMIT: u32 = auditfwd_oci::cloud_guard::MAX_LIMIT;

/// Pages of `INACTIVE` problems a sweep reads at most to find the problems that closed.
const MAX_CLOSED_PAGES: usize = 20;

/// The lifecycle states listed, each as one made-up compartment: (its name, the state).
const STATES: [(&str, ProblemLifecycleState); 2] = [
    ("active", ProblemLifecycleState::Active),
    ("inactive", ProblemLifecycleState::Inactive),
];

/// The id a state's progress is kept under, as a compartment's is:
/// `ocid1.auditfwdcloudguard.oc1..<state>`. It never collides with a real OCID.
fn state_id(name: &str) -> Result<Ocid, auditfwd_oci::ids::InvalidOcid> {
    Ocid::parse(format!("ocid1.auditfwdcloudguard.oc1..{name}"))
}

/// A tenancy's Cloud Guard problems, listed in its reporting region.
#[derive(Debug, Clone)]
pub struct CloudGuardSource {
    tenancy: Ocid,
    region: String,
    client: auditfwd_oci::cloud_guard::Client,
    /// (id, name, state) of each listed state.
    states: Vec<(Ocid, &'static str, ProblemLifecycleState)>,
}

impl CloudGuardSource {
    /// The problems of `tenancy`'s whole compartment tree, listed through `config` (the
    /// client of the tenancy's Cloud Guard reporting region).
    pub fn new(tenancy: Ocid, config: &Config) -> Self {
        let states = STATES
            .iter()
            .filter_map(|(name, state)| Some((state_id(name).ok()?, *name, state.clone())))
            .collect();
        CloudGuardSource {
            tenancy,
            region: config.region().id().to_owned(),
            client: auditfwd_oci::cloud_guard::Client::new(config),
            states,
        }
    }

    /// The reporting region the problems are listed in.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn state(&self, id: &Ocid) -> Option<&ProblemLifecycleState> {
        self.states
            .iter()
            .find(|(s, _, _)| s == id)
            .map(|(_, _, st)| st)
    }
}

impl AuditSource for CloudGuardSource {
    fn tenancy(&self) -> &Ocid {
        &self.tenancy
    }

    fn regions(&self) -> Vec<String> {
        vec![self.region.clone()]
    }

    /// Made up, no call: the root (never collected) and one child per lifecycle state.
    async fn compartment_tree(&self) -> Result<CompartmentTree, Error> {
        Ok(made_up_tree(
            &self.tenancy,
            ROOT_NAME,
            self.states.iter().map(|(id, name, _)| (id, *name)),
        ))
    }

    type Pages = CloudGuardPages;

    fn list_events(&self, region: &str, compartment: &Ocid, window: Window) -> CloudGuardPages {
        let Some(state) = self.state(compartment).filter(|_| region == self.region) else {
            return RecordPages::unconfigured(format!(
                "{compartment} is not a Cloud Guard listing of region {region}"
            ));
        };
        // Windows are half-open; the filter's upper bound is inclusive, to the millisecond.
        let last = window.end().as_datetime() - chrono::Duration::milliseconds(1);
        RecordPages::new(
            self.client
                .list_problems()
                .compartment_id(self.tenancy.clone())
                .compartment_id_in_subtree(true)
                .access_level(AccessLevel::Accessible)
                .lifecycle_state(state.clone())
                .time_last_detected_from(window.start().as_datetime())
                .time_last_detected_to(last)
                .limit(PAGE_LIMIT)
                .into_paginator(),
            window.start().as_datetime(),
            problems_page,
        )
    }

    fn label(&self) -> &'static str {
        "OCI Cloud Guard problems"
    }

    fn empty_hint(&self) -> Option<&'static str> {
        Some(
            "none detected in that minute; if Cloud Guard reports problems, check that this is its reporting region: docs/sources.md",
        )
    }

    fn covers(&self, region: &str, compartment: &Ocid) -> bool {
        region == self.region && self.state(compartment).is_some()
    }

    fn sweeps(&self) -> bool {
        true
    }

    /// Lists every `ACTIVE` problem (one call per 1,000), and when some problem open at the
    /// last sweep is not among them, the `INACTIVE` problems detected since the earliest such
    /// one, oldest first, until each is found: its closed version is the change to forward.
    async fn sweep(
        &self,
        known: Option<&SweepState>,
        now: DateTime<Utc>,
        settle_lag: chrono::Duration,
    ) -> Result<Swept, Error> {
        let listing = |state: ProblemLifecycleState| {
            self.client
                .list_problems()
                .compartment_id(self.tenancy.clone())
                .compartment_id_in_subtree(true)
                .access_level(AccessLevel::Accessible)
                .lifecycle_state(state)
                .limit(PAGE_LIMIT)
        };
        let mut open = BTreeMap::new();
        let mut pages = listing(ProblemLifecycleState::Active).into_paginator();
        while let Some(page) = pages.next_page().await {
            count_request("ListProblems", &page);
            for p in page?.items {
                let at = p.time_last_detected.unwrap_or(now);
                open.insert(p.id, at);
            }
        }
        let mut swept = Swept {
            open,
            ..Swept::default()
        };
        let Some(known) = known else {
            return Ok(swept);
        };
        let mut closed: BTreeMap<&str, DateTime<Utc>> = known
            .open
            .iter()
            .filter(|(id, _)| !swept.open.contains_key(*id))
            .map(|(id, at)| (id.as_str(), *at))
            .collect();
        let Some(since) = closed.values().min().copied() else {
            return Ok(swept);
        };
        let mut pages = listing(ProblemLifecycleState::Inactive)
            .time_last_detected_from(since)
            .sort_by(SortBy::TimeLastDetected)
            .sort_order(SortOrder::Ascending)
            .into_paginator();
        let mut read = 0;
        let mut exhausted = false;
        while !closed.is_empty() {
            if read == MAX_CLOSED_PAGES {
                break;
            }
            let Some(page) = pages.next_page().await else {
                exhausted = true;
                break;
            };
            count_request("ListProblems", &page);
            let page = page?;
            read += 1;
            for p in &page.items {
                if closed.remove(p.id.as_str()).is_none() {
                    continue;
                }
                let at = p.time_last_detected.unwrap_or(now);
                if now < at + settle_lag {
                    swept.left_to_settle += 1;
                    continue;
                }
                swept
                    .events
                    .push(p.to_raw_event(now).map_err(|e| Error::Decode {
                        operation: "ListProblems",
                        status: 200,
                        request_id: page.request_id.clone(),
                        reason: format!("a problem cannot be written as JSON: {e}"),
                    })?);
            }
        }
        if exhausted || closed.is_empty() {
            swept.vanished = closed.into_keys().map(str::to_owned).collect();
        } else {
            // Not found within the pages read this time: still open as far as anyone knows,
            // looked for again by the next sweep.
            tracing::warn!(
                left = closed.len(),
                pages = read,
                "closed problems not found yet among the INACTIVE ones; looked for again next sweep"
            );
            for (id, at) in closed {
                swept.open.insert(id.to_owned(), at);
            }
        }
        Ok(swept)
    }
}

/// A state's listing: the Cloud Guard client's paginator, each problem made a record.
pub type CloudGuardPages = RecordPages<ListProblemsFluentBuilder>;

/// One page of problems as records (each the version it is now).
fn problems_page(out: &ListProblemsOutput, listed_at: DateTime<Utc>) -> Result<Page, Error> {
    out.items
        .iter()
        .map(|p| p.to_raw_event(listed_at))
        .collect::<Result<Vec<_>, _>>()
        .map(|events| Page {
            events,
            next: out.next_page.clone(),
        })
        .map_err(|e| undecodable(out.request_id.clone(), &e))
}

fn undecodable(request_id: Option<String>, e: &serde_json::Error) -> Error {
    Error::Decode {
        operation: "ListProblems",
        status: 200,
        request_id,
        reason: format!("a problem cannot be written as JSON: {e}"),
    }
}
