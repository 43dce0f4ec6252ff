//! Request counters per OCI operation, the numbers a cost benchmark divides by compartment-cycles
//! (`GET /_emulator/stats`). Unlike the request log they never drop anything and cost one atomic
//! add per request, so they stay exact over hours of traffic at any tenancy size.
//!
//! A request is counted once its operation is known and its signature checked: `authenticated`
//! when the signature verified (whatever the answer: 200, 404, 412, or an injected fault),
//! `refused` when it did not (401). `faulted` counts the authenticated requests that met an
//! injected fault, so `authenticated - faulted` is what the service really answered.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::Api;
use crate::state::lock;

/// An OCI operation the emulator serves (or `Unknown` for a signed request to no operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Audit `ListEvents`.
    ListEvents,
    /// Audit `GetConfiguration`.
    GetConfiguration,
    /// Identity `ListCompartments`.
    ListCompartments,
    /// Identity `GetCompartment`.
    GetCompartment,
    /// Identity `GetTenancy`.
    GetTenancy,
    /// Object Storage `GetNamespace`.
    GetNamespace,
    /// Object Storage `ListObjects`.
    ListObjects,
    /// Object Storage `GetObject`.
    GetObject,
    /// Object Storage `HeadObject`.
    HeadObject,
    /// Object Storage `PutObject`.
    PutObject,
    /// Object Storage `DeleteObject`.
    DeleteObject,
    /// Cloud Guard `ListProblems`.
    ListProblems,
    /// Logging Search `SearchLogs`.
    SearchLogs,
    /// No operation at this method and path.
    Unknown,
}

impl Operation {
    /// Every operation, in the order the counters are kept.
    pub const ALL: [Self; 14] = [
        Self::ListEvents,
        Self::GetConfiguration,
        Self::ListCompartments,
        Self::GetCompartment,
        Self::GetTenancy,
        Self::GetNamespace,
        Self::ListObjects,
        Self::GetObject,
        Self::HeadObject,
        Self::PutObject,
        Self::DeleteObject,
        Self::ListProblems,
        Self::SearchLogs,
        Self::Unknown,
    ];

    /// OCI's name for it, as the request log and the stats endpoint spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ListEvents => "ListEvents",
            Self::GetConfiguration => "GetConfiguration",
            Self::ListCompartments => "ListCompartments",
            Self::GetCompartment => "GetCompartment",
            Self::GetTenancy => "GetTenancy",
            Self::GetNamespace => "GetNamespace",
            Self::ListObjects => "ListObjects",
            Self::GetObject => "GetObject",
            Self::HeadObject => "HeadObject",
            Self::PutObject => "PutObject",
            Self::DeleteObject => "DeleteObject",
            Self::ListProblems => "ListProblems",
            Self::SearchLogs => "SearchLogs",
            Self::Unknown => "Unknown",
        }
    }

    /// The service it belongs to (none for `Unknown`).
    pub fn api(self) -> Option<Api> {
        match self {
            Self::ListEvents | Self::GetConfiguration => Some(Api::Audit),
            Self::ListCompartments | Self::GetCompartment | Self::GetTenancy => Some(Api::Identity),
            Self::GetNamespace
            | Self::ListObjects
            | Self::GetObject
            | Self::HeadObject
            | Self::PutObject
            | Self::DeleteObject => Some(Api::ObjectStorage),
            Self::ListProblems => Some(Api::CloudGuard),
            Self::SearchLogs => Some(Api::LoggingSearch),
            Self::Unknown => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The counts of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationCounts {
    /// Requests whose signature verified (faulted ones included).
    pub authenticated: u64,
    /// Requests refused with `401 NotAuthenticated`.
    pub refused: u64,
    /// Authenticated requests that met an injected fault.
    pub faulted: u64,
}

/// Counts per operation since the emulator started or the counters were last reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestStats {
    /// When counting started (start-up or the last reset), emulator time.
    pub since: DateTime<Utc>,
    /// Every operation by name, zero counts included, so the shape never changes.
    pub operations: BTreeMap<String, OperationCounts>,
}

impl RequestStats {
    /// The counts of `op` (zero when absent).
    pub fn of(&self, op: Operation) -> OperationCounts {
        self.operations.get(op.name()).copied().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct Counters {
    authenticated: AtomicU64,
    refused: AtomicU64,
    faulted: AtomicU64,
}

/// The live counters.
#[derive(Debug)]
pub(crate) struct StatsCounters {
    per_operation: [Counters; Operation::ALL.len()],
    since: Mutex<DateTime<Utc>>,
}

impl StatsCounters {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self {
            per_operation: Default::default(),
            since: Mutex::new(now),
        }
    }

    /// Counts one request whose signature was checked.
    pub(crate) fn checked(&self, op: Operation, authenticated: bool) {
        let c = &self.per_operation[op.index()];
        let counter = if authenticated {
            &c.authenticated
        } else {
            &c.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one authenticated request that met an injected fault.
    pub(crate) fn faulted(&self, op: Operation) {
        self.per_operation[op.index()]
            .faulted
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RequestStats {
        let operations = Operation::ALL
            .iter()
            .map(|op| {
                let c = &self.per_operation[op.index()];
                let counts = OperationCounts {
                    authenticated: c.authenticated.load(Ordering::Relaxed),
                    refused: c.refused.load(Ordering::Relaxed),
                    faulted: c.faulted.load(Ordering::Relaxed),
                };
                (op.name().to_string(), counts)
            })
            .collect();
        RequestStats {
            since: *lock(&self.since),
            operations,
        }
    }

    /// Zeroes every counter; counting restarts at `now`. Requests in flight during the reset
    /// may land on either side of it.
    pub(crate) fn reset(&self, now: DateTime<Utc>) {
        let mut since = lock(&self.since);
        for c in &self.per_operation {
            c.authenticated.store(0, Ordering::Relaxed);
            c.refused.store(0, Ordering::Relaxed);
            c.faulted.store(0, Ordering::Relaxed);
        }
        *since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_keep_every_operation_apart_and_reset_to_zero() {
        let t0 = DateTime::from_timestamp(1_000, 0).unwrap();
        let s = StatsCounters::new(t0);
        s.checked(Operation::ListEvents, true);
        s.checked(Operation::ListEvents, true);
        s.faulted(Operation::ListEvents);
        s.checked(Operation::PutObject, false);
        let snap = s.snapshot();
        assert_eq!(snap.operations.len(), Operation::ALL.len());
        assert_eq!(
            snap.of(Operation::ListEvents),
            OperationCounts {
                authenticated: 2,
                refused: 0,
                faulted: 1
            }
        );
        assert_eq!(snap.of(Operation::PutObject).refused, 1);
        assert_eq!(snap.of(Operation::GetObject), OperationCounts::default());
        let t1 = t0 + chrono::Duration::minutes(1);
        s.reset(t1);
        let snap = s.snapshot();
        assert_eq!(snap.since, t1);
        assert!(
            snap.operations
                .values()
                .all(|c| *c == OperationCounts::default())
        );
        // Names are distinct and each operation knows its service.
        let names: std::collections::BTreeSet<_> =
            Operation::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.len(), Operation::ALL.len());
        assert!(
            Operation::ALL
                .iter()
                .enumerate()
                .all(|(i, o)| o.index() == i)
        );
        assert_eq!(Operation::HeadObject.api(), Some(Api::ObjectStorage));
        assert_eq!(Operation::ListProblems.api(), Some(Api::CloudGuard));
        assert_eq!(Operation::SearchLogs.api(), Some(Api::LoggingSearch));
        assert_eq!(Operation::Unknown.api(), None);
    }
}
