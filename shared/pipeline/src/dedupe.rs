//! Dedupe by `eventId`, in two layers.
//!
//! - In the process, a bounded, expiring set of ids delivered recently ([`RecentIds`]), so an
//!   event that OCI returns in two windows (or twice in one listing) is sent once.
//! - In the checkpoint, the compact set of ids delivered for each window still awaiting its
//!   settle pass (`auditfwd_checkpoint::EventIdSet`), so the settle pass and a cold start send
//!   nothing twice.
//!
//! Each id is hashed once per event ([`IdHash`]); both layers, the window's own id set and the
//! manifest digest take that hash.
//!
//! An id is recorded only after the sink confirmed its delivery: recording it earlier would
//! turn a failed send into a silent loss when the window is retried.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use auditfwd_checkpoint::ids::{IdHash, IdHashing};
use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Clock;

/// The in-process layer (the caller consults the persisted set of the window itself): the
/// last `capacity` ids delivered, each for `ttl`, oldest out first. Clones share one set.
///
/// Every id is looked up once and recorded once, in delivery order, so the oldest delivery is
/// also the least recently used one: a ring in delivery order and a table of the ids in it
/// are all a bounded cache needs here. It costs about 80 bytes and a few tens of nanoseconds
/// an id; the general-purpose concurrent cache it replaced (moka, LRU policy) cost 340 bytes
/// and 0.6 µs an id once full, mostly in evictions (docs/benchmarks.md, sixth round of issue
/// 14).
#[derive(Debug, Clone)]
pub struct RecentIds {
    ring: Arc<Mutex<Ring>>,
    capacity: usize,
    ttl: TimeDelta,
    clock: Arc<dyn Clock>,
}

/// Deliveries in order, and for each id in the ring the sequence number of its newest entry
/// (an id confirmed twice has two entries; dropping the older one keeps the id).
#[derive(Debug, Default)]
struct Ring {
    order: VecDeque<Entry>,
    newest: HashMap<u128, u64, IdHashing>,
    /// The sequence number the next entry takes; the front's is `next - order.len()`.
    next: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u128,
    at: DateTime<Utc>,
}

impl RecentIds {
    /// Remembers up to `capacity` ids for `ttl` each (they only need to outlive the settle lag
    /// plus a cycle; the checkpoint covers longer spans and restarts), reading time from
    /// `clock`.
    pub fn new(capacity: u64, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        RecentIds {
            ring: Arc::new(Mutex::new(Ring {
                order: VecDeque::with_capacity(capacity.min(1 << 20)),
                newest: HashMap::with_capacity_and_hasher(
                    capacity.min(1 << 20),
                    IdHashing::default(),
                ),
                next: 0,
            })),
            capacity,
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX),
            clock,
        }
    }

    /// Whether this process delivered `id` recently. Reads the clock only for an id it holds.
    pub fn contains(&self, id: &IdHash) -> bool {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(&seq) = ring.newest.get(&id.short()) else {
            return false;
        };
        let front = ring.next - ring.order.len() as u64;
        let at = usize::try_from(seq - front)
            .ok()
            .and_then(|i| ring.order.get(i))
            .map(|e| e.at);
        at.is_some_and(|at| self.clock.now() < at + self.ttl)
    }

    /// Records ids whose delivery the sink confirmed, and forgets the oldest beyond the
    /// capacity and those older than the ttl.
    pub fn confirmed<'a>(&self, ids: impl IntoIterator<Item = &'a IdHash>) {
        let now = self.clock.now();
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            let seq = ring.next;
            ring.next += 1;
            ring.order.push_back(Entry {
                id: id.short(),
                at: now,
            });
            ring.newest.insert(id.short(), seq);
            if ring.order.len() > self.capacity {
                ring.pop_oldest();
            }
        }
        while ring.order.front().is_some_and(|e| e.at + self.ttl <= now) {
            ring.pop_oldest();
        }
    }

    /// How many ids are remembered (each id once, however often it was confirmed).
    pub fn len(&self) -> usize {
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .newest
            .len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Ring {
    fn pop_oldest(&mut self) {
        let seq = self.next - self.order.len() as u64;
        if let Some(oldest) = self.order.pop_front()
            && self.newest.get(&oldest.id) == Some(&seq)
        {
            self.newest.remove(&oldest.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test moves.
    #[derive(Debug)]
    struct TestClock(Mutex<DateTime<Utc>>);

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    fn clock() -> Arc<TestClock> {
        let t = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").unwrap();
        Arc::new(TestClock(Mutex::new(t.into())))
    }

    fn recent(capacity: u64, ttl_secs: u64) -> (RecentIds, Arc<TestClock>) {
        let c = clock();
        (
            RecentIds::new(capacity, Duration::from_secs(ttl_secs), c.clone()),
            c,
        )
    }

    #[test]
    fn only_confirmed_ids_count_as_delivered() {
        let (recent, _) = recent(1000, 3600);
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
        let (recent, _) = recent(1000, 3600);
        let ids: Vec<IdHash> = (0..20_000).map(|i| IdHash::of(&format!("e{i}"))).collect();
        for batch in ids.chunks(500) {
            for id in batch {
                assert!(!recent.contains(id));
            }
            recent.confirmed(batch);
        }
        assert_eq!(recent.len(), 1000);
        let kept = |range: &[IdHash]| range.iter().filter(|id| recent.contains(id)).count();
        assert_eq!(
            kept(&ids[ids.len() - 1000..]),
            1000,
            "the newest 1,000 are kept"
        );
        assert_eq!(
            kept(&ids[..ids.len() - 1000]),
            0,
            "older ones are forgotten"
        );
    }

    #[test]
    fn an_id_confirmed_again_stays_until_its_newest_delivery_is_the_oldest() {
        let (recent, _) = recent(3, 3600);
        let [a, b, c, d] = ["a", "b", "c", "d"].map(IdHash::of);
        recent.confirmed([&a, &b]);
        recent.confirmed([&a]);
        // The ring holds a, b, a: dropping the first a must not forget a.
        recent.confirmed([&c]);
        assert!(
            recent.contains(&a),
            "a's newer delivery is still in the ring"
        );
        recent.confirmed([&d]);
        assert!(!recent.contains(&b), "b was the oldest");
        assert!(recent.contains(&a) && recent.contains(&c) && recent.contains(&d));
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn ids_expire_after_the_ttl() {
        let (recent, clock) = recent(1000, 60);
        let [a, b] = ["a", "b"].map(IdHash::of);
        recent.confirmed([&a]);
        *clock.0.lock().unwrap() += TimeDelta::seconds(30);
        recent.confirmed([&b]);
        *clock.0.lock().unwrap() += TimeDelta::seconds(30);
        assert!(!recent.contains(&a), "a is 60 s old");
        assert!(recent.contains(&b), "b is 30 s old");
        // The next confirmation drops what expired.
        recent.confirmed([]);
        assert_eq!(recent.len(), 1);
    }
}
