//! One compartment's work inside its shard's cycle: plan (step 2) from its cursors, then its
//! open gap-ledger entries, then its live range(s), each walked in listings ([`super::walk`])
//! that go through the per-listing path ([`super::window`]) and are committed one by one
//! ([`super::commit`]). What happens on failure (each row is a [`Pending`] variant):
//!
//! | failure | cursors | where it shows |
//! |---|---|---|
//! | sink (syslog down) | stay | `last_error`; no further listing starts in the shard or the run |
//! | OCI, may pass (429/5xx/timeouts after the client's retries, bad pages) | stay | `failing`; after `gap_after` failed cycles the range goes to the gap ledger and the cursors move on |
//! | OCI, will not pass (404 inaccessible, 401, 400) | move past everything due | the gap ledger at once, as one entry |
//! | a gap that still fails | stay | the gap's attempts; live ranges still run |

use std::sync::atomic::Ordering;

use auditfwd_checkpoint::ObjectStore;
use auditfwd_checkpoint::manifest::Pass;
use auditfwd_checkpoint::shard::CompartmentCursor;
use auditfwd_checkpoint::state::{self, Gap, LastError};
use auditfwd_oci::Window;
use auditfwd_telemetry::names;
use chrono::{DateTime, Utc};

use super::Runner;
use super::context::Mode;
use super::discover::WorkItem;
use super::failure::Pending;
use super::list::passes;
use super::plan::due;
use super::report::{CompartmentReport, Outcome};
use super::shard::ShardEnv;
use super::walk::Walk;
use super::window::{Output, Unit, WindowError};
use crate::sink::Sink;
use crate::source::AuditSource;

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Works one compartment of a shard.
    pub(crate) async fn compartment(
        &self,
        env: &ShardEnv<'_, '_, A, S, K>,
        item: &WorkItem,
    ) -> CompartmentReport {
        let mut rep = CompartmentReport::new(item.scope.clone(), item.name.clone());
        let mut cursor = env.cursor(item.scope.compartment.as_str()).await;
        let result = self
            .work_compartment(env, item, &mut cursor, &mut rep)
            .await;
        rep.outcome = match result {
            Ok(()) => Outcome::Complete,
            Err(p) => Outcome::Pending(p),
        };
        rep
    }

    async fn work_compartment(
        &self,
        env: &ShardEnv<'_, '_, A, S, K>,
        item: &WorkItem,
        cursor: &mut CompartmentCursor,
        rep: &mut CompartmentReport,
    ) -> Result<(), Pending> {
        let id = item.scope.compartment.as_str();
        let now = self.clock.now();
        let due = due(cursor, now, &self.config.windows);
        if let Some(lost) = due.expired {
            tracing::error!(scope = %item.scope, window = %lost, "undelivered minutes fell out of OCI's audit retention");
            metrics::counter!(names::GAPS_LOST, self.labels(&item.scope.region, None)).increment(1);
            cursor.gaps.push(Gap {
                lost: true,
                ..Gap::new(
                    lost,
                    "fell out of OCI's audit retention before it was delivered (cannot be listed any more)",
                    now,
                )
            });
            cursor.skip_to(lost.end());
            env.commit(id, cursor, None, false).await?;
        }
        self.deliver_gaps(env, item, cursor, &due.gaps, rep).await?;
        if env.ctx.mode == Mode::GapsOnly {
            return Ok(());
        }
        let due_until = due.ranges.last().map(Window::end);
        let mut busy = false;
        for range in due.ranges {
            let mut walk = Walk::new(range, self.config.windows.max_window_minutes);
            while let Some((unit, probe)) = walk.next_unit() {
                self.may_start(env)?;
                let delivered_before = cursor.delivered_until;
                let pass = if unit.end() <= delivered_before {
                    Pass::Settle
                } else {
                    Pass::Fresh
                };
                let started = self.clock.now();
                let late_before =
                    (unit.start() < delivered_before).then(|| delivered_before.as_datetime());
                let listed = {
                    let remembered: &CompartmentCursor = cursor;
                    let u = Unit {
                        window: unit,
                        pass,
                        remembered: Some(remembered),
                        late_before,
                        probe,
                    };
                    self.deliver(&item.scope, &u, &Output::Sink(&env.sink), env)
                        .await
                };
                match listed {
                    Ok(None) => {
                        busy = true;
                        walk.busy();
                    }
                    Ok(Some(d)) => {
                        let paged = d.pages > 1;
                        busy |= paged;
                        let record =
                            self.record_listing(cursor, id, unit, started, delivered_before, d);
                        self.count_commit(&item.scope.region, pass);
                        rep.windows_committed += 1;
                        rep.counts += &record.counts;
                        env.commit(id, cursor, Some(record), paged).await?;
                        walk.delivered(unit.end(), paged);
                    }
                    Err(WindowError::Source(e)) => {
                        let until = due_until.unwrap_or(unit.end());
                        return Err(self.range_failed(env, item, cursor, unit, until, e).await);
                    }
                    Err(e) => return Err(self.stopped_by(env, item, cursor, unit, e).await),
                }
            }
        }
        cursor.busy = busy;
        cursor.failing = None;
        cursor.last_error = None;
        env.commit(id, cursor, None, false).await
    }

    /// Delivers what it can of the open gap-ledger entries; a gap that still fails stays (its
    /// attempts counted) and ends gap work for this compartment.
    async fn deliver_gaps(
        &self,
        env: &ShardEnv<'_, '_, A, S, K>,
        item: &WorkItem,
        cursor: &mut CompartmentCursor,
        gaps: &[Window],
        rep: &mut CompartmentReport,
    ) -> Result<(), Pending> {
        let id = item.scope.compartment.as_str();
        for &range in gaps {
            let Some(gap) = cursor
                .gaps
                .iter()
                .find(|g| g.window.contains_window(&range))
                .cloned()
            else {
                continue;
            };
            let mut walk = Walk::new(range, self.config.windows.max_window_minutes);
            while let Some((unit, probe)) = walk.next_unit() {
                self.may_start(env)?;
                let started = self.clock.now();
                let u = Unit {
                    window: unit,
                    pass: if gap.delivered.is_some() {
                        Pass::Settle
                    } else {
                        Pass::Fresh
                    },
                    remembered: gap.delivered.as_ref().map(|d| d as _),
                    late_before: gap.delivered.as_ref().map(|_| unit.end().as_datetime()),
                    probe,
                };
                match self
                    .deliver(&item.scope, &u, &Output::Sink(&env.sink), env)
                    .await
                {
                    Ok(None) => walk.busy(),
                    Ok(Some(d)) => {
                        let paged = d.pages > 1;
                        let record = self.gap_delivered(cursor, id, &gap, unit, started, d);
                        self.count_commit(&item.scope.region, u.pass);
                        rep.windows_committed += 1;
                        rep.counts += &record.counts;
                        tracing::info!(scope = %item.scope, window = %unit, "gap delivered");
                        env.commit(id, cursor, Some(record), paged).await?;
                        walk.delivered(unit.end(), paged);
                    }
                    Err(WindowError::Source(e)) => {
                        let now = self.clock.now();
                        if let Some(g) = cursor
                            .gaps
                            .iter_mut()
                            .find(|g| g.window.contains_window(&unit))
                        {
                            g.attempts += 1;
                            g.last_failed_at = now;
                            g.reason = e.to_string();
                        }
                        self.note_error(item, cursor, unit, &e, now);
                        env.commit(id, cursor, None, false).await?;
                        return Ok(());
                    }
                    Err(e) => return Err(self.stopped_by(env, item, cursor, unit, e).await),
                }
            }
        }
        Ok(())
    }

    /// Whether another listing may start: not when the run is stopping, the sink is down or
    /// the shard's state was taken over.
    fn may_start(&self, env: &ShardEnv<'_, '_, A, S, K>) -> Result<(), Pending> {
        if let Some(why) = env.ctx.should_stop() {
            return Err(Pending::Stopped(why));
        }
        if env.sink_down.load(Ordering::Relaxed) {
            return Err(Pending::SinkDown);
        }
        if env.lost.load(Ordering::Relaxed) {
            return Err(Pending::CheckpointConflict);
        }
        Ok(())
    }

    /// A live range OCI would not serve: the failure rules of the table above. Returns why the
    /// compartment stops.
    async fn range_failed(
        &self,
        env: &ShardEnv<'_, '_, A, S, K>,
        item: &WorkItem,
        cursor: &mut CompartmentCursor,
        unit: Window,
        due_until: auditfwd_oci::MinuteTimestamp,
        e: auditfwd_oci::Error,
    ) -> Pending {
        let now = self.clock.now();
        let reason = e.to_string();
        // Ids already listed for these minutes: delivering the gap later must not resend them.
        let listed = (unit.start() < cursor.delivered_until).then(|| cursor.remembered());
        if passes(&e) {
            let attempts = note_failing(cursor, unit, &reason, now);
            if attempts >= self.config.gap_after {
                tracing::error!(scope = %item.scope, window = %unit, attempts, "range keeps failing: moved to the gap ledger");
                cursor.failing = None;
                state::add_gap(&mut cursor.gaps, unit, reason, now, listed);
                cursor.skip_to(unit.end());
            }
        } else {
            // OCI refuses the compartment outright (inaccessible, not found, not authorised):
            // nothing due can be listed now.
            let range = Window::new(unit.start(), due_until).unwrap_or(unit);
            tracing::error!(scope = %item.scope, window = %range, error = %e, "compartment refused: its due range moved to the gap ledger");
            cursor.failing = None;
            state::add_gap(&mut cursor.gaps, range, reason, now, listed);
            cursor.skip_to(range.end());
        }
        self.note_error(item, cursor, unit, &e, now);
        let pass = if unit.end() <= cursor.delivered_until {
            Pass::Settle
        } else {
            Pass::Fresh
        };
        if let Err(p) = env
            .commit(item.scope.compartment.as_str(), cursor, None, false)
            .await
        {
            return p;
        }
        WindowError::Source(e).into_pending(unit, pass)
    }

    fn note_error(
        &self,
        item: &WorkItem,
        cursor: &mut CompartmentCursor,
        window: Window,
        e: &auditfwd_oci::Error,
        now: DateTime<Utc>,
    ) {
        let reason = if passes(e) { "transient" } else { "refused" };
        metrics::counter!(
            names::WINDOWS_FAILED,
            self.labels(&item.scope.region, Some(("reason", reason)))
        )
        .increment(1);
        tracing::error!(scope = %item.scope, %window, error = %e, "range not delivered");
        cursor.last_error = Some(LastError {
            at: now,
            message: format!("window {window}: {e}"),
        });
    }

    /// A failure that is not OCI's: the sink (recorded, and no further listing starts), an
    /// event that cannot be encoded, or the shard's lease lost.
    async fn stopped_by(
        &self,
        env: &ShardEnv<'_, '_, A, S, K>,
        item: &WorkItem,
        cursor: &mut CompartmentCursor,
        unit: Window,
        e: WindowError,
    ) -> Pending {
        let pending = e.into_pending(unit, Pass::Fresh);
        if pending.is_sink() {
            env.sink_down.store(true, Ordering::Relaxed);
            tracing::error!(scope = %item.scope, error = %pending, "syslog delivery failed; cursor unchanged");
            cursor.last_error = Some(LastError {
                at: self.clock.now(),
                message: pending.to_string(),
            });
            if let Err(p) = env
                .commit(item.scope.compartment.as_str(), cursor, None, false)
                .await
            {
                tracing::warn!(scope = %item.scope, error = %p, "could not record the error in the checkpoint");
            }
        }
        pending
    }
}

/// Counts one more failed attempt of the range at the cursor; returns the attempts so far.
fn note_failing(
    cursor: &mut CompartmentCursor,
    window: Window,
    reason: &str,
    now: DateTime<Utc>,
) -> u32 {
    match cursor.failing.take() {
        Some(g) if g.window.start() == window.start() => {
            let attempts = g.attempts + 1;
            cursor.failing = Some(Gap {
                window,
                attempts,
                last_failed_at: now,
                reason: reason.to_owned(),
                ..g
            });
            attempts
        }
        _ => {
            cursor.failing = Some(Gap::new(window, reason, now));
            1
        }
    }
}
