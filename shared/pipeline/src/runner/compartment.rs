//! One compartment's work in one run, under its lease: plan (step 2), then the gap ledger,
//! settle passes and fresh windows in that order (see [`super::passes`]), each window through
//! the per-window path and committed on its own. The report records how it ended.

use auditfwd_checkpoint::state::CompartmentState;
use auditfwd_checkpoint::{Etag, Lease, ObjectStore, Scope};

use super::Runner;
use super::context::{Mode, RunContext};
use super::discover::WorkItem;
use super::failure::Pending;
use super::report::{CompartmentReport, Outcome};
use crate::sink::Sink;
use crate::source::AuditSource;

/// A compartment's lease and state while it is worked on.
#[derive(Debug)]
pub(crate) struct Work {
    pub(crate) lease: Lease,
    pub(crate) state: CompartmentState,
    /// The stored version `state` was read as (or last written as); `None` before the first
    /// write of a new compartment.
    pub(crate) etag: Option<Etag>,
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Works one compartment under its lease. Returns its report, and whether the sink failed
    /// (no further compartment is started then).
    pub(crate) async fn compartment(
        &self,
        ctx: &RunContext,
        item: &WorkItem,
        sink: &mut K,
    ) -> (CompartmentReport, bool) {
        let scope = &item.scope;
        let mut rep = CompartmentReport::new(scope.clone(), item.name.clone());
        let lease = match self.take_lease(scope).await {
            Ok(l) => l,
            Err(outcome) => {
                rep.outcome = outcome;
                return (rep, false);
            }
        };
        let (state, etag) = match self.load_state(scope).await {
            Ok(loaded) => loaded,
            Err(p) => {
                self.release_lease(lease).await;
                rep.outcome = Outcome::Pending(p);
                return (rep, false);
            }
        };
        let mut w = Work { lease, state, etag };
        let result = self.work(ctx, scope, sink, &mut rep, &mut w).await;
        let sink_failed = matches!(result, Err(Pending::Sink(_)));
        rep.outcome = match result {
            Ok(()) => Outcome::Complete,
            Err(p) => Outcome::Pending(p),
        };
        rep.delivered_until = Some(w.state.delivered_until);
        rep.open_gaps.clone_from(&w.state.gaps);
        rep.failing.clone_from(&w.state.failing);
        self.release_lease(w.lease).await;
        (rep, sink_failed)
    }

    async fn work(
        &self,
        ctx: &RunContext,
        scope: &Scope,
        sink: &mut K,
        rep: &mut CompartmentReport,
        w: &mut Work,
    ) -> Result<(), Pending> {
        if ctx.mode == Mode::GapsOnly {
            return self.retry_gaps(ctx, scope, sink, rep, w).await;
        }
        let due = self.due(&w.state);
        if let Some(expired) = due.expired {
            self.expire(scope, w, expired).await?;
        }
        self.retry_gaps(ctx, scope, sink, rep, w).await?;
        self.settle_passes(ctx, scope, sink, rep, w, due.settle)
            .await?;
        self.fresh_windows(ctx, scope, sink, rep, w, due.fresh)
            .await
    }

    /// Before each window: stop when asked, and keep the lease fresh.
    pub(crate) async fn check_continue(
        &self,
        ctx: &RunContext,
        w: &mut Work,
    ) -> Result<(), Pending> {
        if let Some(why) = ctx.should_stop() {
            return Err(Pending::Stopped(why));
        }
        self.keep_lease(&mut w.lease).await
    }
}
