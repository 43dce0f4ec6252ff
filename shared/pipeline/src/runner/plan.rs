//! Step 2, plan: read the compartment's state (or start a new compartment at the initial
//! look-back), and decide what is due now with the pure planner in [`crate::plan`]: gap-ledger
//! entries, settle passes, fresh windows from the cursor. Minutes that fell out of OCI's
//! retention before they were delivered go to the ledger here, never skipped silently.

use std::sync::Arc;

use auditfwd_checkpoint::state::{self, CompartmentState};
use auditfwd_checkpoint::{Etag, ObjectStore, Scope};
use auditfwd_oci::{MinuteTimestamp, Window};

use super::Runner;
use super::compartment::Work;
use super::failure::Pending;
use crate::plan::{Plan, plan};
use crate::sink::Sink;
use crate::source::AuditSource;

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// The compartment's state and its version; a compartment without one starts at the
    /// initial look-back (written with its first delivered window).
    pub(crate) async fn load_state(
        &self,
        scope: &Scope,
    ) -> Result<(CompartmentState, Option<Etag>), Pending> {
        match state::load(&*self.store, scope).await {
            Ok(Some((s, e))) => Ok((s, Some(e))),
            Ok(None) => {
                let now = self.clock.now();
                let start = plan(None, &[], now, &self.config.windows)
                    .fresh
                    .first()
                    .map_or_else(|| MinuteTimestamp::floor(now), |f| f.window.start());
                let s = CompartmentState::starting_at(start, now, self.config.owner.clone());
                Ok((s, None))
            }
            Err(e) => Err(Pending::CheckpointRead(Arc::new(e))),
        }
    }

    /// What is due for `state` now.
    pub(crate) fn due(&self, state: &CompartmentState) -> Plan {
        plan(
            Some(state.delivered_until),
            state.awaiting_settle.iter().map(|a| &a.window),
            self.clock.now(),
            &self.config.windows,
        )
    }

    /// Puts minutes that fell out of retention in the ledger and moves the cursor past them.
    pub(crate) async fn expire(
        &self,
        scope: &Scope,
        w: &mut Work,
        expired: Window,
    ) -> Result<(), Pending> {
        tracing::error!(%scope, window = %expired, "undelivered minutes fell out of OCI's audit retention");
        w.state.add_gap(
            expired,
            "fell out of OCI's audit retention before it was delivered (cannot be listed any more)",
            self.clock.now(),
            None,
        );
        w.state.delivered_until = expired.end();
        self.save(scope, w).await
    }
}
