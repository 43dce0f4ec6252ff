//! Step 6, commit: a delivered pass becomes durable as its manifest, then the compartment's
//! state, written only over the version this runner read or wrote (`if-match`), so a runner
//! that lost its lease can never move another's cursor. Failures are recorded in the state
//! too (`last_error`, `failing`, the gap ledger), through the same conditional write.

use std::sync::Arc;

use auditfwd_checkpoint::manifest::{self, Confirmation, DeliveryManifest, Pass};
use auditfwd_checkpoint::state::{self, LastError};
use auditfwd_checkpoint::{ObjectStore, Scope, StoreError};
use auditfwd_oci::Window;
use auditfwd_telemetry::names;

use super::Runner;
use super::compartment::Work;
use super::failure::Pending;
use super::list::passes;
use super::report::CompartmentReport;
use super::window::Delivered;
use crate::sink::{Sink, SinkFailure};
use crate::source::AuditSource;

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Writes the window's manifest, then the state. The caller has already moved the cursor
    /// (or the settle queue, or the ledger) in `w.state`.
    pub(crate) async fn commit(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        pass: Pass,
        d: &Delivered,
        rep: &mut CompartmentReport,
    ) -> Result<(), Pending> {
        let m = DeliveryManifest {
            window,
            pass,
            counts: d.counts,
            first_event_time: d.first,
            last_event_time: d.last,
            forwarded_ids_digest: d.digest.to_hex(),
            confirmation: d.confirmation.unwrap_or(Confirmation::NothingToSend),
            committed_at: self.clock.now(),
            committed_by: self.config.owner.clone(),
        };
        if let Err(e) = manifest::write(&*self.store, scope, &m).await {
            return Err(Pending::Manifest {
                window,
                error: Arc::new(e),
            });
        }
        w.state.last_error = None;
        self.save(scope, w).await?;
        rep.windows_committed += 1;
        rep.counts += &d.counts;
        metrics::counter!(names::WINDOWS_COMMITTED, "region" => scope.region.clone(), "pass" => pass.as_str())
            .increment(1);
        let c = &d.counts;
        if c.dropped > 0 {
            tracing::warn!(%scope, %window, dropped = c.dropped, "events dropped by per-event-type caps");
        }
        tracing::info!(%scope, %window, pass = pass.as_str(), listed = c.listed, forwarded = c.forwarded,
            deduplicated = c.deduplicated, filtered = c.filtered, late = c.late_arrivals, "window committed");
        Ok(())
    }

    /// Writes `w.state` over the version this runner holds.
    pub(crate) async fn save(&self, scope: &Scope, w: &mut Work) -> Result<(), Pending> {
        w.state.updated_at = self.clock.now();
        w.state.updated_by.clone_from(&self.config.owner);
        match state::save(&*self.store, scope, &w.state, w.etag.as_ref()).await {
            Ok(etag) => {
                w.etag = Some(etag);
                Ok(())
            }
            Err(StoreError::PreconditionFailed { .. }) => Err(Pending::CheckpointConflict),
            Err(e) => Err(Pending::CheckpointWrite(Arc::new(e))),
        }
    }

    /// Records a window OCI would not serve (the caller already placed it in `failing` or the
    /// ledger).
    pub(crate) async fn window_failed(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        e: &auditfwd_oci::Error,
    ) -> Result<(), Pending> {
        let reason = if passes(e) { "transient" } else { "refused" };
        metrics::counter!(names::WINDOWS_FAILED, "region" => scope.region.clone(), "reason" => reason)
            .increment(1);
        tracing::error!(%scope, %window, error = %e, "window not delivered");
        w.state.last_error = Some(LastError {
            at: self.clock.now(),
            message: format!("window {window}: {e}"),
        });
        self.save(scope, w).await
    }

    /// Records that the sink did not confirm a batch; the cursor stays. Returns why the
    /// compartment stops.
    pub(crate) async fn sink_failed(&self, scope: &Scope, w: &mut Work, e: SinkFailure) -> Pending {
        tracing::error!(%scope, error = %e, "syslog delivery failed; cursor unchanged");
        let pending = Pending::Sink(Arc::new(e));
        w.state.last_error = Some(LastError {
            at: self.clock.now(),
            message: pending.to_string(),
        });
        // Only an existing state is updated; a new compartment's first state waits for a
        // delivered window.
        if w.etag.is_some()
            && let Err(e) = self.save(scope, w).await
        {
            tracing::warn!(%scope, error = %e, "could not record the error in the checkpoint");
        }
        pending
    }
}
