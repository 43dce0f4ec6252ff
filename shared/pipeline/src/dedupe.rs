//! Dedupe by `eventId`, in two layers.
//!
//! - In the process, a bounded, expiring `moka` cache of ids delivered recently, so an event
//!   that OCI returns in two windows (or twice in one listing) is sent once.
//! - In the checkpoint, the compact set of ids delivered for each window still awaiting its
//!   settle pass (`auditfwd_checkpoint::EventIdSet`), so the settle pass and a cold start send
//!   nothing twice.
//!
//! Each id is hashed once per event ([`IdHash`]); both layers, the window's own id set and the
//! manifest digest take that hash.
//!
//! An id is recorded only after the sink confirmed its delivery: recording it earlier would
//! turn a failed send into a silent loss when the window is retried.

use std::time::Duration;

use auditfwd_checkpoint::ids::{IdHash, IdHashing};

/// The in-process layer (the caller consults the persisted set of the window itself).
#[derive(Debug, Clone)]
pub struct RecentIds {
    cache: moka::sync::Cache<u128, (), IdHashing>,
}

impl RecentIds {
    /// Remembers up to `capacity` ids for `ttl` each (they only need to outlive the settle lag
    /// plus a cycle; the checkpoint covers longer spans and restarts).
    ///
    /// Least recently used ids make room: every delivered id is admitted. (moka's default
    /// TinyLFU admits a new key only when it is looked up more often than the one it would
    /// evict; every id here is looked up once, so a full cache refused every new one.)
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        RecentIds {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(ttl)
                .build_with_hasher(IdHashing::default()),
        }
    }

    /// Whether this process delivered `id` recently.
    pub fn contains(&self, id: &IdHash) -> bool {
        self.cache.contains_key(&id.short())
    }

    /// Records ids whose delivery the sink confirmed.
    pub fn confirmed<'a>(&self, ids: impl IntoIterator<Item = &'a IdHash>) {
        for id in ids {
            self.cache.insert(id.short(), ());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confirmed_ids_count_as_delivered() {
        let recent = RecentIds::new(1000, Duration::from_secs(3600));
        let (a, b) = (IdHash::of("a"), IdHash::of("b"));
        assert!(!recent.contains(&a));
        // Checking does not record: a send that fails must be retried.
        assert!(!recent.contains(&a));
        recent.confirmed([&a]);
        assert!(recent.contains(&a));
        assert!(!recent.contains(&b));
    }

    #[test]
    fn a_full_cache_remembers_the_latest_deliveries() {
        // The pipeline's pattern: each id is looked up once, then recorded once delivered.
        let recent = RecentIds::new(1000, Duration::from_secs(3600));
        let ids: Vec<IdHash> = (0..20_000).map(|i| IdHash::of(&format!("e{i}"))).collect();
        for batch in ids.chunks(500) {
            for id in batch {
                assert!(!recent.contains(id));
            }
            recent.confirmed(batch);
        }
        recent.cache.run_pending_tasks();
        let latest = &ids[ids.len() - 500..];
        let kept = latest.iter().filter(|id| recent.contains(id)).count();
        assert_eq!(
            kept,
            latest.len(),
            "of the last 500 delivered, {kept} remembered"
        );
    }
}
