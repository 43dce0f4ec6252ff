//! Buffers for large response bodies (`ListEvents` pages of several megabytes), kept and
//! reused instead of freed.
//!
//! A page is read into one buffer and its events stay zero-copy slices of it until their batch
//! is confirmed, so page buffers are allocated on the threads that fetch and freed on the one
//! that sends, a few megabytes at a time, many times a second. glibc's malloc serves such
//! blocks from per-thread arenas and keeps much of what is freed there: forwarding 500,000
//! events from one compartment peaked at about 70 MiB with 24 MB of live heap, and at 49 MiB
//! when blocks of a megabyte and more were mapped and unmapped each time (at twice the system
//! CPU). Reusing the buffers keeps the live set without either cost (docs/benchmarks.md).
//!
//! The pool is also where page memory is bounded exactly: a body is read into a pooled buffer
//! only while the pooled bodies in use (being read, or held as a page's events) add up to less
//! than [`PAGE_BODIES_BUDGET`]; otherwise reading waits until a page is done. The pipeline
//! schedules its fetches by the pages it expects, and this catches the pages larger than
//! expected (a compartment's first page): at most the budget plus one body is in use at once.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::memory::{Held, MemoryBudget};

/// Bodies announced at least this large are read into pooled buffers.
const POOLED_FROM: u64 = 256 << 10;

/// At most this many buffers wait for reuse (a page budget's worth: the pipeline holds at most
/// a few pages per listing).
const KEEP_BUFFERS: usize = 8;

/// Buffer sizes are multiples of this.
const GRAIN: usize = 256 << 10;

/// Buffers larger than this are freed rather than kept.
const KEEP_AT_MOST: usize = 32 << 20;

/// A body is read into a pooled buffer only while the pooled bodies in use hold less than
/// this; the pipeline's own page budget (`RunnerConfig::page_memory`) has the same default.
/// Two pages of 1,000 events of about 4 KB.
pub(crate) const PAGE_BODIES_BUDGET: usize = 8 << 20;

/// The process's pool of body buffers.
static BODIES: BodyPool = BodyPool::new(PAGE_BODIES_BUDGET);

/// A buffer with room for `len` bytes for a body announced as `announced` bytes: from the pool
/// when it is as large as a page of events (waiting while the pooled bodies in use spend the
/// budget), else a plain one, freed after use.
pub(crate) async fn buffer_for(announced: u64, len: usize) -> PooledBody {
    if announced >= POOLED_FROM {
        BODIES.take_within_budget(len).await
    } else {
        PooledBody {
            buf: Vec::with_capacity(len),
            pool: None,
            held: None,
        }
    }
}

/// Free buffers, any size up to [`KEEP_AT_MOST`], and the bytes of the pooled bodies in use.
#[derive(Debug)]
pub(crate) struct BodyPool {
    free: Mutex<Vec<Vec<u8>>>,
    in_use: MemoryBudget,
}

impl BodyPool {
    pub(crate) const fn new(budget: usize) -> Self {
        BodyPool {
            free: Mutex::new(Vec::new()),
            in_use: MemoryBudget::new(budget),
        }
    }

    /// [`BodyPool::take`], once the bodies in use hold less than the budget (at once when none
    /// is in use, so a body larger than the budget is read alone). Waiting holds nothing of
    /// the pool's.
    pub(crate) async fn take_within_budget(&'static self, len: usize) -> PooledBody {
        let held = self.in_use.reserve(len).await;
        let mut body = self.take(len);
        body.held = Some(held);
        body
    }

    /// An empty buffer with room for `len` bytes: the smallest kept one that is large enough,
    /// else the largest kept one, grown (so that buffers are only added while every kept one
    /// is in use: as many as pages are held at once), else a new one. Sizes are rounded up to
    /// a [`GRAIN`], so that pages of slightly different sizes fit the same buffers.
    pub(crate) fn take(&'static self, len: usize) -> PooledBody {
        let len = len.div_ceil(GRAIN).saturating_mul(GRAIN);
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let fit = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        let largest = || {
            free.iter()
                .enumerate()
                .max_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)
        };
        let buf = match fit.or_else(largest) {
            Some(i) => {
                let mut buf = free.swap_remove(i);
                buf.reserve_exact(len);
                buf
            }
            None => Vec::with_capacity(len),
        };
        PooledBody {
            buf,
            pool: Some(self),
            held: None,
        }
    }

    /// Keeps `buf` for reuse, in place of the smallest kept one when the pool is full.
    fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() > KEEP_AT_MOST || buf.capacity() == 0 {
            return;
        }
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < KEEP_BUFFERS {
            free.push(buf);
        } else if let Some(smallest) = free.iter_mut().min_by_key(|b| b.capacity())
            && smallest.capacity() < buf.capacity()
        {
            *smallest = buf;
        }
    }

    #[cfg(test)]
    fn kept(&self) -> Vec<usize> {
        let free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        free.iter().map(Vec::capacity).collect()
    }
}

/// A body being read; a pooled buffer goes back to its pool once the [`Bytes`] made of it,
/// and every slice of those, are dropped.
#[derive(Debug)]
pub(crate) struct PooledBody {
    buf: Vec<u8>,
    pool: Option<&'static BodyPool>,
    /// Its share of the pool's budget, given back after the buffer (fields drop after `drop`).
    held: Option<Held<'static>>,
}

impl PooledBody {
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The body, shared and sliceable; a pooled buffer returns to the pool when the last
    /// slice goes.
    pub(crate) fn freeze(mut self) -> Bytes {
        match self.pool {
            Some(_) => Bytes::from_owner(self),
            None => Bytes::from(std::mem::take(&mut self.buf)),
        }
    }
}

impl AsRef<[u8]> for PooledBody {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if let Some(pool) = self.pool {
            pool.give_back(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> &'static BodyPool {
        Box::leak(Box::new(BodyPool::new(PAGE_BODIES_BUDGET)))
    }

    fn filled(pool: &'static BodyPool, len: usize) -> Bytes {
        let mut body = pool.take(len);
        body.extend_from_slice(&vec![b'x'; len]);
        body.freeze()
    }

    #[test]
    fn a_buffer_returns_when_its_last_slice_is_dropped_and_is_reused() {
        let pool = pool();
        let body = filled(pool, 1 << 20);
        let at = body.as_ptr();
        let event = body.slice(10..20);
        drop(body);
        assert!(pool.kept().is_empty(), "a slice still uses the buffer");
        assert_eq!(event.as_ref(), b"xxxxxxxxxx");
        drop(event);
        assert_eq!(pool.kept(), [1 << 20]);
        // A smaller body reuses it, empty, at the same address.
        let mut again = pool.take(4096);
        assert!(again.as_ref().is_empty());
        again.extend_from_slice(b"[]");
        let again = again.freeze();
        assert_eq!(again.as_ptr(), at);
        assert_eq!(again.as_ref(), b"[]");
        assert!(pool.kept().is_empty());
    }

    #[test]
    fn the_pool_keeps_the_largest_few_and_never_huge_ones() {
        let pool = pool();
        let bodies: Vec<Bytes> = (1..=KEEP_BUFFERS + 2)
            .map(|mb| filled(pool, mb << 20))
            .collect();
        drop(bodies);
        let mut kept = pool.kept();
        kept.sort_unstable();
        let expected: Vec<usize> = (3..=KEEP_BUFFERS + 2).map(|mb| mb << 20).collect();
        assert_eq!(kept, expected);
        // The best fit is taken: the smallest kept buffer that is large enough.
        let taken = pool.take(3 << 20);
        let mut left = pool.kept();
        left.sort_unstable();
        assert_eq!(left.first(), Some(&(4 << 20)));
        drop(taken);
        assert_eq!(pool.kept().len(), KEEP_BUFFERS);
        // None is large enough: the largest is grown rather than a buffer added.
        let big = pool.take(20 << 20);
        assert_eq!(pool.kept().len(), KEEP_BUFFERS - 1);
        assert!(!pool.kept().contains(&(10 << 20)));
        drop(big);
        assert!(pool.kept().contains(&(20 << 20)));
        // A buffer grown past the limit is freed, not kept.
        drop(filled(pool, KEEP_AT_MOST + 1));
        assert_eq!(pool.kept().len(), KEEP_BUFFERS - 1);
        assert!(pool.kept().iter().all(|&c| c <= KEEP_AT_MOST));
    }

    #[tokio::test]
    async fn only_bodies_as_large_as_a_page_are_pooled() {
        let mut small = buffer_for(POOLED_FROM - 1, 4096).await;
        small.extend_from_slice(b"{}");
        assert!(small.pool.is_none());
        assert_eq!(small.freeze().as_ref(), b"{}");
        assert!(buffer_for(POOLED_FROM, 4096).await.pool.is_some());
    }

    #[tokio::test]
    async fn a_body_waits_while_the_bodies_in_use_spend_the_budget() {
        let pool: &'static BodyPool = Box::leak(Box::new(BodyPool::new(5 << 20)));
        let fill = |mut body: PooledBody, len: usize| {
            body.extend_from_slice(&vec![b'x'; len]);
            body.freeze()
        };
        // Nothing in use: a body larger than the budget is read alone.
        let huge = fill(pool.take_within_budget(6 << 20).await, 6 << 20);
        let mut next = std::pin::pin!(pool.take_within_budget(1 << 20));
        assert!(futures::poll!(next.as_mut()).is_pending());
        // A page's events outlive the body they were sliced from: the room is given back only
        // when the last of them goes.
        let event = huge.slice(0..10);
        drop(huge);
        assert!(futures::poll!(next.as_mut()).is_pending());
        drop(event);
        let first = fill(next.await, 1 << 20);
        // Under the budget: a second and a third are read at once; then it is spent.
        let second = fill(pool.take_within_budget(2 << 20).await, 2 << 20);
        let third = fill(pool.take_within_budget(3 << 20).await, 3 << 20);
        let mut fourth = std::pin::pin!(pool.take_within_budget(1 << 20));
        assert!(futures::poll!(fourth.as_mut()).is_pending());
        drop(third);
        let fourth = tokio::time::timeout(std::time::Duration::from_secs(5), fourth)
            .await
            .expect("woken once a body was given back");
        drop((first, second, fourth));
        assert_eq!(pool.in_use.held(), 0);
    }

    #[test]
    fn as_many_buffers_as_pages_held_at_once() {
        let pool = pool();
        // Pages of varying sizes, two held at a time: two buffers serve them all.
        let mut held = std::collections::VecDeque::new();
        for (i, len) in [
            3_900_000, 4_100_000, 4_000_000, 4_300_000, 3_700_000, 4_200_000,
        ]
        .into_iter()
        .enumerate()
        {
            held.push_back(filled(pool, len));
            if held.len() > 2 {
                held.pop_front();
            }
            assert!(
                pool.kept().len() + held.len() <= 3,
                "page {i}: {:?}",
                pool.kept()
            );
        }
        drop(held);
        assert!(pool.kept().len() <= 3, "{:?}", pool.kept());
    }
}
