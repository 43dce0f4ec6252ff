//! The shards a runner holds the lease of right now, so a cycle abandoned mid-listing (its
//! future dropped at a shutdown timeout) can still give them up: the shard's state is read
//! back and written without the lease, over the version read, when this runner still holds it.
//! Nothing after the shard's last commit is kept; releasing only lets the next runner start at
//! once instead of after the lease's time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use auditfwd_checkpoint::ObjectStore;
use auditfwd_checkpoint::shard::{self, ShardId};

use super::Runner;
use crate::sink::Sink;
use crate::source::AuditSource;

/// The shards whose lease a runner holds.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeldShards(Arc<Mutex<BTreeSet<ShardId>>>);

impl HeldShards {
    pub(crate) fn hold(&self, shard: &ShardId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(shard.clone());
    }

    pub(crate) fn unhold(&self, shard: &ShardId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(shard);
    }

    fn take_all(&self) -> BTreeSet<ShardId> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Releases the lease of every shard a dropped (abandoned) cycle still holds. Returns how
    /// many were released.
    pub async fn release_held_leases(&self) -> usize {
        let mut released = 0;
        for id in self.held.take_all() {
            match self.release_shard(&id).await {
                Ok(true) => released += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(shard = %id, error = %e, "could not release the shard's lease (it will expire)");
                }
            }
        }
        released
    }

    async fn release_shard(&self, id: &ShardId) -> Result<bool, auditfwd_checkpoint::StoreError> {
        let Some((mut state, etag)) = shard::load(&*self.store, id).await? else {
            return Ok(false);
        };
        if state
            .lease
            .as_ref()
            .is_none_or(|l| l.owner != self.config.owner)
        {
            return Ok(false);
        }
        state.lease = None;
        state.updated_at = Some(self.clock.now());
        shard::save(&*self.store, id, &state, Some(&etag)).await?;
        Ok(true)
    }
}
