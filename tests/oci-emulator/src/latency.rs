//! Added latency per service: a loopback answer takes microseconds, a real OCI call tens of
//! milliseconds, and a collector's cost (how many calls it keeps in flight, how long a cycle
//! takes) only shows against a realistic round trip. Each OCI request waits its service's
//! latency before it is answered, on its own connection's task (a tokio sleep), so requests never
//! wait for each other. The control API is never delayed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::Api;

/// Milliseconds added to every request of each service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Audit (`ListEvents`, `GetConfiguration`).
    pub audit_ms: u64,
    /// Identity (`ListCompartments`, `GetCompartment`, `GetTenancy`).
    pub identity_ms: u64,
    /// Object Storage (namespace, objects, listings).
    pub object_storage_ms: u64,
    /// Cloud Guard (`ListProblems`).
    #[serde(default)]
    pub cloud_guard_ms: u64,
    /// Logging Search (`SearchLogs`).
    #[serde(default)]
    pub logging_search_ms: u64,
}

impl Latency {
    /// The same latency for every service.
    pub fn uniform(ms: u64) -> Self {
        Self {
            audit_ms: ms,
            identity_ms: ms,
            object_storage_ms: ms,
            cloud_guard_ms: ms,
            logging_search_ms: ms,
        }
    }

    /// The latency of `api`.
    pub fn of(&self, api: Api) -> Duration {
        Duration::from_millis(match api {
            Api::Audit => self.audit_ms,
            Api::Identity => self.identity_ms,
            Api::ObjectStorage => self.object_storage_ms,
            Api::CloudGuard => self.cloud_guard_ms,
            Api::LoggingSearch => self.logging_search_ms,
        })
    }
}

/// The run-time value behind [`Latency`], changed by the control API while requests flow.
#[derive(Debug, Default)]
pub(crate) struct LatencyKnob {
    audit_ms: AtomicU64,
    identity_ms: AtomicU64,
    object_storage_ms: AtomicU64,
    cloud_guard_ms: AtomicU64,
    logging_search_ms: AtomicU64,
}

impl LatencyKnob {
    pub(crate) fn new(l: Latency) -> Self {
        let k = Self::default();
        k.set(l);
        k
    }

    fn cell(&self, api: Api) -> &AtomicU64 {
        match api {
            Api::Audit => &self.audit_ms,
            Api::Identity => &self.identity_ms,
            Api::ObjectStorage => &self.object_storage_ms,
            Api::CloudGuard => &self.cloud_guard_ms,
            Api::LoggingSearch => &self.logging_search_ms,
        }
    }

    pub(crate) fn get(&self) -> Latency {
        Latency {
            audit_ms: self.audit_ms.load(Ordering::Relaxed),
            identity_ms: self.identity_ms.load(Ordering::Relaxed),
            object_storage_ms: self.object_storage_ms.load(Ordering::Relaxed),
            cloud_guard_ms: self.cloud_guard_ms.load(Ordering::Relaxed),
            logging_search_ms: self.logging_search_ms.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set(&self, l: Latency) {
        for (api, ms) in [
            (Api::Audit, l.audit_ms),
            (Api::Identity, l.identity_ms),
            (Api::ObjectStorage, l.object_storage_ms),
            (Api::CloudGuard, l.cloud_guard_ms),
            (Api::LoggingSearch, l.logging_search_ms),
        ] {
            self.cell(api).store(ms, Ordering::Relaxed);
        }
    }

    /// Waits the latency of `api` (no wait at all when it is zero or there is no service).
    pub(crate) async fn wait(&self, api: Option<Api>) {
        let Some(api) = api else { return };
        let ms = self.cell(api).load(Ordering::Relaxed);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_service_waits_its_own_latency() {
        let k = LatencyKnob::new(Latency {
            audit_ms: 30,
            identity_ms: 0,
            object_storage_ms: 500,
            cloud_guard_ms: 40,
            logging_search_ms: 20,
        });
        for (api, expected) in [
            (Some(Api::Audit), 30),
            (Some(Api::Identity), 0),
            (Some(Api::ObjectStorage), 500),
            (Some(Api::CloudGuard), 40),
            (Some(Api::LoggingSearch), 20),
            (None, 0),
        ] {
            let t = tokio::time::Instant::now();
            k.wait(api).await;
            assert_eq!(t.elapsed(), Duration::from_millis(expected), "{api:?}");
        }
        k.set(Latency::uniform(7));
        assert_eq!(k.get(), Latency::uniform(7));
        assert_eq!(k.get().of(Api::Identity), Duration::from_millis(7));
    }
}
