//! A byte budget that work waits on: [`MemoryBudget`].
//!
//! Page memory is bounded in two places with the same rule: the pipeline schedules its page
//! fetches by the bytes it expects each page to hold, and the client reads a large response
//! body only within the same kind of budget (`body_pool`). Both admit work while less than the
//! budget is held, so one item larger than the whole budget still runs (alone), and both wait,
//! holding nothing, until something is given back. This is that rule, written once.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Bytes held against a budget; a reservation is admitted while less than the budget is held.
#[derive(Debug)]
pub struct MemoryBudget {
    held: AtomicUsize,
    budget: usize,
    freed: Notify,
}

/// A share of a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct Held<'b> {
    budget: &'b MemoryBudget,
    bytes: usize,
}

impl MemoryBudget {
    /// A budget of `budget` bytes (at least one).
    pub const fn new(budget: usize) -> Self {
        MemoryBudget {
            held: AtomicUsize::new(0),
            budget: if budget == 0 { 1 } else { budget },
            freed: Notify::const_new(),
        }
    }

    /// Reserves `bytes`, waiting while the budget is spent. Waiting holds nothing, so those
    /// who wait never wait on each other.
    pub async fn reserve(&self, bytes: usize) -> Held<'_> {
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before the check: bytes given back in between still wake this wait.
            freed.as_mut().enable();
            if let Some(held) = self.try_reserve(bytes) {
                return held;
            }
            freed.await;
        }
    }

    /// Reserves `bytes` if less than the budget is held (at once when nothing is, so `bytes`
    /// larger than the budget are admitted alone).
    pub fn try_reserve(&self, bytes: usize) -> Option<Held<'_>> {
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held < self.budget).then(|| held.saturating_add(bytes))
            })
            .ok()
            .map(|_| Held {
                budget: self,
                bytes,
            })
    }

    /// The bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
            self.freed.notify_waiters();
        }
    }
}

impl Held<'_> {
    /// Counts `bytes` instead of what was reserved (a page's true size once it is known).
    /// Growing never waits: what is already fetched is held either way.
    pub fn resize(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.budget
                .held
                .fetch_add(bytes - self.bytes, Ordering::Relaxed);
        } else {
            self.budget.give_back(self.bytes - bytes);
        }
        self.bytes = bytes;
    }

    /// The bytes counted.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const BUDGET: usize = 8 << 20;

    #[test]
    fn admits_while_less_than_the_budget_is_held_and_one_large_item_alone() {
        let budget = MemoryBudget::new(BUDGET);
        let third = BUDGET / 3 + 1;
        let a = budget.try_reserve(third).expect("room");
        let b = budget.try_reserve(third).expect("room");
        let c = budget
            .try_reserve(third)
            .expect("less than the budget held: room");
        assert!(budget.try_reserve(1).is_none(), "the budget is spent");
        drop(a);
        assert!(budget.try_reserve(third).is_some());
        drop((b, c));
        assert_eq!(budget.held(), 0);
        let big = budget.try_reserve(BUDGET * 2).expect("nothing held: room");
        assert!(budget.try_reserve(1).is_none());
        drop(big);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_reservation_waits_while_the_budget_is_spent_and_is_woken_when_bytes_come_back() {
        let budget = MemoryBudget::new(BUDGET);
        let worked = budget.reserve(BUDGET).await;
        let mut waiting = std::pin::pin!(budget.reserve(1 << 20));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(worked);
        let next = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken once the bytes were given back");
        assert_eq!(next.bytes(), 1 << 20);
        assert_eq!(budget.held(), 1 << 20);
    }

    #[tokio::test]
    async fn shrinking_a_reservation_wakes_a_waiter_and_growing_counts_at_once() {
        let budget = MemoryBudget::new(BUDGET);
        let mut worked = budget.reserve(BUDGET).await;
        let mut waiting = std::pin::pin!(budget.reserve(1));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        worked.resize(BUDGET / 2);
        let next = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken by the shrink");
        assert_eq!(budget.held(), BUDGET / 2 + 1);
        worked.resize(BUDGET * 2);
        assert_eq!(budget.held(), BUDGET * 2 + 1);
        drop((worked, next));
        assert_eq!(budget.held(), 0);
    }
}
