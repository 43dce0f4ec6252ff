//! One shard's cycle, under the lease kept in its own state object: read the state (step 2),
//! take the lease with one conditional write, work the shard's compartments a few at a time
//! over one sink, and commit everything confirmed with one more conditional write that also
//! releases the lease. A busy window is committed as soon as it is delivered, and the lease is
//! renewed (with what was confirmed so far) once half its time is gone, between pages, so a
//! throttled listing cannot outlive it. See docs/design/scale.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use auditfwd_checkpoint::layout::{self, Layout};
use auditfwd_checkpoint::shard::{self, CompartmentCursor, ShardId, ShardLease, ShardState};
use auditfwd_checkpoint::shard_manifest::{self, RangeRecord, ShardManifest};
use auditfwd_checkpoint::{Etag, ObjectStore, StoreError};
use auditfwd_telemetry::names;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;

use super::Runner;
use super::context::RunContext;
use super::discover::WorkItem;
use super::failure::Pending;
use super::report::{CompartmentReport, Outcome};
use super::window::{KeepAlive, SharedSink};
use crate::sink::Sink;
use crate::source::AuditSource;

/// A shard and the compartments of it a run works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardItem {
    /// Which shard.
    pub shard: ShardId,
    /// Its compartments in this run.
    pub compartments: Vec<WorkItem>,
}

/// Groups `items` into their shards under `layout`.
pub fn group(items: Vec<WorkItem>, layout: &Layout) -> Vec<ShardItem> {
    let mut shards: std::collections::BTreeMap<ShardId, Vec<WorkItem>> = Default::default();
    for item in items {
        let s = layout.shard_of(
            &item.scope.tenancy,
            &item.scope.region,
            item.scope.compartment.as_str(),
        );
        shards.entry(s).or_default().push(item);
    }
    shards
        .into_iter()
        .map(|(shard, compartments)| ShardItem {
            shard,
            compartments,
        })
        .collect()
}

/// The shard's state while it is worked, shared by its compartments.
#[derive(Debug)]
pub(crate) struct ShardWork {
    pub(crate) state: ShardState,
    pub(crate) etag: Option<Etag>,
    /// Ranges confirmed since the last manifest was written.
    pub(crate) records: Vec<RangeRecord>,
    /// Manifests written this cycle.
    seq: u32,
    lease_until: DateTime<Utc>,
    /// The length of the state as last written (the next one is encoded into a buffer that
    /// size).
    state_size: usize,
}

/// What a shard's compartments share while they are worked.
pub(crate) struct ShardEnv<'r, 's, A, S, K> {
    pub(crate) runner: &'r Runner<A, S, K>,
    pub(crate) ctx: &'r RunContext,
    pub(crate) shard: &'r ShardId,
    pub(crate) work: tokio::sync::Mutex<ShardWork>,
    pub(crate) sink: SharedSink<'s, K>,
    /// A compartment found the sink down: the others start nothing more.
    pub(crate) sink_down: AtomicBool,
    /// The state changed under this runner (lease lost): nothing more may be committed.
    pub(crate) lost: AtomicBool,
}

impl<A, S, K> KeepAlive for ShardEnv<'_, '_, A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    async fn keep_alive(&self) -> Result<(), Pending> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(Pending::CheckpointConflict);
        }
        let now = self.runner.clock.now();
        let half = chrono::Duration::from_std(self.runner.config.lease_ttl / 2)
            .unwrap_or(chrono::Duration::zero());
        let mut work = self.work.lock().await;
        if work.lease_until - now >= half {
            return Ok(());
        }
        self.persist(&mut work, false).await
    }
}

impl<A, S, K> ShardEnv<'_, '_, A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// The compartment's cursor, or a new one at the initial look-back.
    pub(crate) async fn cursor(&self, compartment: &str) -> CompartmentCursor {
        let existing = self
            .work
            .lock()
            .await
            .state
            .compartments
            .get(compartment)
            .cloned();
        existing.unwrap_or_else(|| {
            let start =
                super::plan::first_start(self.runner.clock.now(), &self.runner.config.windows);
            CompartmentCursor::starting_at(start)
        })
    }

    /// Records a compartment's progress (and the range it delivered, for the manifest); writes
    /// it now when `persist` (a busy window: bound what a crash re-sends).
    pub(crate) async fn commit(
        &self,
        compartment: &str,
        cursor: &CompartmentCursor,
        record: Option<RangeRecord>,
        persist: bool,
    ) -> Result<(), Pending> {
        let mut work = self.work.lock().await;
        work.state
            .compartments
            .insert(compartment.to_owned(), cursor.clone());
        work.records.extend(record);
        if persist {
            self.persist(&mut work, false).await?;
        }
        Ok(())
    }

    /// Writes what was confirmed so far and renews the lease.
    pub(crate) async fn persist(&self, work: &mut ShardWork, release: bool) -> Result<(), Pending> {
        persist(self.runner, self.shard, &self.lost, work, release).await
    }
}

/// Writes the manifest of what was confirmed since the last one, then the state (over the
/// version this runner holds), renewing the lease or releasing it.
async fn persist<A, S, K>(
    runner: &Runner<A, S, K>,
    shard: &ShardId,
    lost: &AtomicBool,
    work: &mut ShardWork,
    release: bool,
) -> Result<(), Pending>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    if lost.load(Ordering::Relaxed) {
        return Err(Pending::CheckpointConflict);
    }
    let now = runner.clock.now();
    if !work.records.is_empty() {
        let manifest = ShardManifest {
            shard: shard.clone(),
            committed_at: now,
            committed_by: runner.config.owner.clone(),
            ranges: work.records.clone(),
        };
        if let Err(e) = shard_manifest::write(&*runner.store, &manifest, work.seq).await {
            return Err(Pending::Manifest {
                window: work.records[0].range,
                error: Arc::new(e),
            });
        }
        work.seq += 1;
        work.records.clear();
    }
    let lease_until = now + chrono::Duration::from_std(runner.config.lease_ttl).unwrap_or_default();
    work.state.lease = (!release).then(|| ShardLease {
        owner: runner.config.owner.clone(),
        acquired_at: work.state.lease.as_ref().map_or(now, |l| l.acquired_at),
        expires_at: lease_until,
    });
    work.state.updated_at = Some(now);
    work.state.updated_by.clone_from(&runner.config.owner);
    let saved = shard::save_sized(
        &*runner.store,
        shard,
        &work.state,
        work.etag.as_ref(),
        &mut work.state_size,
    )
    .await;
    match saved {
        Ok(etag) => {
            work.etag = Some(etag);
            work.lease_until = lease_until;
            Ok(())
        }
        Err(StoreError::PreconditionFailed { .. }) => {
            lost.store(true, Ordering::Relaxed);
            Err(Pending::CheckpointConflict)
        }
        Err(e) => Err(Pending::CheckpointWrite(Arc::new(e))),
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Works one shard; the reports of its compartments, and whether the sink failed.
    pub(crate) async fn shard(
        &self,
        ctx: &RunContext,
        item: &ShardItem,
        layout: &Layout,
        sink: &mut K,
    ) -> (Vec<CompartmentReport>, bool) {
        let all = |outcome: Outcome| -> Vec<CompartmentReport> {
            item.compartments
                .iter()
                .map(|c| {
                    let mut r = CompartmentReport::new(c.scope.clone(), c.name.clone());
                    r.outcome = outcome.clone();
                    r
                })
                .collect()
        };
        let work = match self.take_shard(&item.shard, layout).await {
            Ok(w) => w,
            Err(outcome) => return (all(outcome), false),
        };
        let env = ShardEnv {
            runner: self,
            ctx,
            shard: &item.shard,
            work: tokio::sync::Mutex::new(work),
            sink: SharedSink::new(sink),
            sink_down: AtomicBool::new(false),
            lost: AtomicBool::new(false),
        };
        // The futures are made first (they do nothing until polled), then run a few at a time.
        let work: Vec<_> = item
            .compartments
            .iter()
            .map(|c| self.compartment(&env, c))
            .collect();
        let mut reports: Vec<CompartmentReport> = futures::stream::iter(work)
            .buffer_unordered(self.config.compartments_at_once.max(1))
            .collect()
            .await;
        let ShardEnv {
            work,
            sink_down,
            lost,
            ..
        } = env;
        let mut work = work.into_inner();
        let final_write = persist(self, &item.shard, &lost, &mut work, true).await;
        for r in &mut reports {
            if let Some(c) = work.state.compartments.get(r.scope.compartment.as_str()) {
                r.delivered_until = Some(c.delivered_until);
                let now = self.clock.now();
                r.open_gaps = c.gaps.iter().filter(|g| g.is_open(now)).cloned().collect();
                r.lost_gaps = c
                    .gaps
                    .iter()
                    .filter(|g| g.lost && g.acknowledged.is_none())
                    .cloned()
                    .collect();
                r.failing.clone_from(&c.failing);
            }
            if let Err(p) = &final_write
                && matches!(r.outcome, Outcome::Complete)
            {
                r.outcome = Outcome::Pending(p.clone());
            }
        }
        (reports, sink_down.into_inner())
    }

    /// [`Outcome::LeasedElsewhere`] when `state` carries another runner's lease, still valid at
    /// `now`.
    fn leased_elsewhere(
        &self,
        shard: &ShardId,
        state: &ShardState,
        now: DateTime<Utc>,
    ) -> Option<Outcome> {
        let l = state.lease.as_ref()?;
        if l.owner == self.config.owner || l.expires_at <= now {
            return None;
        }
        metrics::counter!(names::COMPARTMENTS_LEASED_ELSEWHERE).increment(1);
        tracing::info!(%shard, owner = %l.owner, until = %l.expires_at, "another runner holds the shard's lease; skipping");
        Some(Outcome::LeasedElsewhere {
            owner: l.owner.clone(),
            until: l.expires_at,
        })
    }

    /// Reads the shard's state and takes its lease (one conditional write).
    async fn take_shard(&self, shard: &ShardId, layout: &Layout) -> Result<ShardWork, Outcome> {
        let (mut state, etag) = match shard::load(&*self.store, shard).await {
            Ok(Some((s, e))) => (s, Some(e)),
            Ok(None) if layout.has_created(shard) => {
                let key = shard.state_key().map(|k| k.to_string()).unwrap_or_default();
                return Err(Outcome::Pending(Pending::ShardStateMissing { key }));
            }
            Ok(None) => (ShardState::default(), None),
            Err(e) => return Err(Outcome::Pending(Pending::CheckpointRead(Arc::new(e)))),
        };
        let now = self.clock.now();
        if let Some(held) = self.leased_elsewhere(shard, &state, now) {
            return Err(held);
        }
        let lease_until =
            now + chrono::Duration::from_std(self.config.lease_ttl).unwrap_or_default();
        state.lease = Some(ShardLease {
            owner: self.config.owner.clone(),
            acquired_at: now,
            expires_at: lease_until,
        });
        state.updated_at = Some(now);
        state.updated_by.clone_from(&self.config.owner);
        let created = etag.is_none();
        let etag = match shard::save(&*self.store, shard, &state, etag.as_ref()).await {
            Ok(e) => e,
            Err(StoreError::PreconditionFailed { .. }) => {
                // Another runner wrote the state between our read and our write: normally it
                // took the lease (two runners started together), which is what to report.
                let winner = shard::load(&*self.store, shard).await;
                return Err(match winner {
                    Ok(Some((s, _))) => self.leased_elsewhere(shard, &s, now),
                    _ => None,
                }
                .unwrap_or(Outcome::Pending(Pending::CheckpointConflict)));
            }
            Err(e) => return Err(Outcome::Pending(Pending::CheckpointWrite(Arc::new(e)))),
        };
        if created && let Err(e) = layout::mark_created(&*self.store, shard).await {
            tracing::warn!(%shard, error = %e, "could not record the new shard in the layout");
        }
        Ok(ShardWork {
            state,
            etag: Some(etag),
            records: Vec::new(),
            seq: 0,
            lease_until,
            state_size: 0,
        })
    }
}
