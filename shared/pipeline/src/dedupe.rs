//! Dedupe by `eventId`, in two layers.
//!
//! - In the process, a bounded, expiring `moka` cache of ids delivered recently, so an event
//!   that OCI returns in two windows (or twice in one listing) is sent once.
//! - In the checkpoint, the compact set of ids delivered for each window still awaiting its
//!   settle pass ([`EventIdSet`]), so the settle pass and a cold start send nothing twice.
//!
//! An id is recorded only after the sink confirmed its delivery: recording it earlier would
//! turn a failed send into a silent loss when the window is retried.

use std::time::Duration;

use auditfwd_checkpoint::EventIdSet;
use auditfwd_checkpoint::ids::digest128;

/// Whether an event should be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not delivered before: send it.
    New,
    /// Delivered before by this process (cache) or recorded in the checkpoint: skip it.
    Duplicate,
}

/// The in-process layer.
#[derive(Debug, Clone)]
pub struct RecentIds {
    cache: moka::sync::Cache<u128, ()>,
}

impl RecentIds {
    /// Remembers up to `capacity` ids for `ttl` each (they only need to outlive the settle lag
    /// plus a cycle; the checkpoint covers longer spans and restarts).
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        RecentIds {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Whether `id` was delivered already, by this process or according to `persisted`.
    pub fn check(&self, id: &str, persisted: Option<&EventIdSet>) -> Seen {
        if self.cache.contains_key(&digest128(id)) || persisted.is_some_and(|p| p.contains(id)) {
            Seen::Duplicate
        } else {
            Seen::New
        }
    }

    /// Records ids whose delivery the sink confirmed.
    pub fn confirmed<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            self.cache.insert(digest128(id), ());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confirmed_ids_count_as_delivered() {
        let recent = RecentIds::new(1000, Duration::from_secs(3600));
        assert_eq!(recent.check("a", None), Seen::New);
        // Checking does not record: a send that fails must be retried.
        assert_eq!(recent.check("a", None), Seen::New);
        recent.confirmed(["a"]);
        assert_eq!(recent.check("a", None), Seen::Duplicate);
        assert_eq!(recent.check("b", None), Seen::New);
    }

    #[test]
    fn the_persisted_set_covers_a_cold_start() {
        let mut persisted = EventIdSet::new();
        persisted.insert("delivered-before-restart");
        let fresh_process = RecentIds::new(1000, Duration::from_secs(3600));
        assert_eq!(
            fresh_process.check("delivered-before-restart", Some(&persisted)),
            Seen::Duplicate
        );
        assert_eq!(
            fresh_process.check("late-arrival", Some(&persisted)),
            Seen::New
        );
    }
}
