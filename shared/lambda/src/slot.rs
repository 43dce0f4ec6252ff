//! The runner a function builds once at cold start, lent to one invocation at a time with that
//! invocation's deadline.
//!
//! [`Runner::with_deadline`] takes the runner by value, and the runner must outlive
//! invocations (its clients, connection pools and recently-delivered ids are worth keeping in a
//! warm container), so the slot hands it out and takes it back when the [`Lent`] guard drops,
//! even when the invocation's future is dropped at the hard stop.

use std::ops::Deref;
use std::sync::{Mutex, PoisonError};

use auditfwd_checkpoint::ObjectStore;
use auditfwd_pipeline::{AuditSource, Runner, Sink};
use tokio::time::Instant;

use crate::error::LambdaError;

/// Holds the runner between invocations.
#[derive(Debug)]
pub struct RunnerSlot<A, S, K> {
    runner: Mutex<Option<Runner<A, S, K>>>,
}

/// The runner, lent to one invocation; returned to its slot on drop.
#[derive(Debug)]
pub struct Lent<'a, A, S, K> {
    slot: &'a RunnerSlot<A, S, K>,
    runner: Option<Runner<A, S, K>>,
}

impl<A, S, K> RunnerSlot<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// A slot holding `runner`.
    pub fn new(runner: Runner<A, S, K>) -> Self {
        RunnerSlot {
            runner: Mutex::new(Some(runner)),
        }
    }

    /// Lends the runner, set to start no new window after `stop_at`.
    pub fn lend(&self, stop_at: Instant) -> Result<Lent<'_, A, S, K>, LambdaError> {
        let runner = self
            .runner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(LambdaError::Busy)?;
        Ok(Lent {
            slot: self,
            runner: Some(runner.with_deadline(stop_at)),
        })
    }
}

impl<A, S, K> Deref for Lent<'_, A, S, K> {
    type Target = Runner<A, S, K>;

    fn deref(&self) -> &Runner<A, S, K> {
        match &self.runner {
            Some(r) => r,
            // Only `drop` takes the runner out.
            None => unreachable!("a lent runner is present until the guard drops"),
        }
    }
}

impl<A, S, K> Drop for Lent<'_, A, S, K> {
    fn drop(&mut self) {
        if let Some(r) = self.runner.take() {
            *self
                .slot
                .runner
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(r);
        }
    }
}
