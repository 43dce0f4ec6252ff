//! The three kinds of pass over a compartment's windows, in the order they run, with the
//! failure rules of each (the table in [`super`]):
//!
//! 1. the gap ledger, oldest first: a gap that still fails stays (attempts counted) and stops
//!    gap work for this compartment, but fresh windows still run;
//! 2. settle passes: a failed one is retried next cycle, and goes to the ledger (with the ids it
//!    delivered) once it has failed `gap_after` times or OCI refuses it;
//! 3. fresh windows from the cursor: a window that may pass later holds the cursor as
//!    `failing` and goes to the ledger after `gap_after` failed cycles; a refused compartment
//!    moves its whole due range to the ledger at once, as one entry.

use std::sync::Arc;

use auditfwd_checkpoint::manifest::Pass;
use auditfwd_checkpoint::state::{AwaitingSettle, CompartmentState, Gap};
use auditfwd_checkpoint::{ObjectStore, Scope};
use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};

use super::Runner;
use super::compartment::Work;
use super::context::RunContext;
use super::failure::Pending;
use super::list::passes;
use super::report::CompartmentReport;
use super::window::{Delivered, Output, WindowError};
use crate::plan::FreshWindow;
use crate::sink::Sink;
use crate::source::AuditSource;

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Delivers what it can of the gap ledger.
    pub(crate) async fn retry_gaps(
        &self,
        ctx: &RunContext,
        scope: &Scope,
        sink: &mut K,
        rep: &mut CompartmentReport,
        w: &mut Work,
    ) -> Result<(), Pending> {
        let retention_floor = MinuteTimestamp::floor(
            self.clock.now()
                - chrono::Duration::from_std(self.config.windows.retention)
                    .unwrap_or(chrono::Duration::MAX),
        );
        for gap in w.state.gaps.clone() {
            if gap.window.end() <= retention_floor {
                continue;
            }
            for window in gap.window.split(self.config.windows.max_window_minutes) {
                if window.start() < retention_floor {
                    continue;
                }
                self.check_continue(ctx, w).await?;
                // A gap left by a failed settle pass is that pass, late; any other gap is the
                // window's first delivery.
                let pass = if gap.delivered.is_some() {
                    Pass::Settle
                } else {
                    Pass::Fresh
                };
                let delivered = gap.delivered.as_ref();
                match self
                    .deliver(scope, window, pass, delivered, Output::Sink(sink))
                    .await
                {
                    Ok(d) => {
                        self.gap_delivered(scope, w, &gap, window, pass, d, rep)
                            .await?
                    }
                    Err(WindowError::Source(e)) => {
                        let now = self.clock.now();
                        if let Some(g) = w
                            .state
                            .gaps
                            .iter_mut()
                            .find(|g| g.window.contains_window(&window))
                        {
                            g.attempts += 1;
                            g.last_failed_at = now;
                            g.reason = e.to_string();
                        }
                        self.window_failed(scope, w, window, &e).await?;
                        return Ok(());
                    }
                    Err(e) => return Err(self.stopped_by(scope, w, window, e).await),
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn gap_delivered(
        &self,
        scope: &Scope,
        w: &mut Work,
        gap: &Gap,
        window: Window,
        pass: Pass,
        mut d: Delivered,
        rep: &mut CompartmentReport,
    ) -> Result<(), Pending> {
        let windows = &self.config.windows;
        let settle_by = self.clock.now()
            - chrono::Duration::from_std(windows.settle_lag).unwrap_or(chrono::Duration::zero());
        close_gap_window(&mut w.state, gap, window);
        if pass == Pass::Fresh
            && !windows.settle_lag.is_zero()
            && window.end().as_datetime() > settle_by
        {
            w.state.awaiting_settle.push(AwaitingSettle {
                window,
                delivered: std::mem::take(&mut d.listed_ids),
                failed_attempts: 0,
            });
        }
        tracing::info!(%scope, %window, "gap delivered");
        self.commit(scope, w, window, pass, &d, rep).await
    }

    /// The settle passes due (`windows`, oldest first).
    pub(crate) async fn settle_passes(
        &self,
        ctx: &RunContext,
        scope: &Scope,
        sink: &mut K,
        rep: &mut CompartmentReport,
        w: &mut Work,
        windows: Vec<Window>,
    ) -> Result<(), Pending> {
        for window in windows {
            self.check_continue(ctx, w).await?;
            let Some(awaiting) = w.state.awaiting_settle.iter().find(|a| a.window == window) else {
                continue;
            };
            let persisted = awaiting.delivered.clone();
            match self
                .deliver(
                    scope,
                    window,
                    Pass::Settle,
                    Some(&persisted),
                    Output::Sink(sink),
                )
                .await
            {
                Ok(d) => {
                    w.state.awaiting_settle.retain(|a| a.window != window);
                    self.commit(scope, w, window, Pass::Settle, &d, rep).await?;
                }
                Err(WindowError::Source(e)) => {
                    return Err(self.settle_failed(scope, w, window, e).await);
                }
                Err(e) => return Err(self.stopped_by(scope, w, window, e).await),
            }
        }
        Ok(())
    }

    async fn settle_failed(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        e: auditfwd_oci::Error,
    ) -> Pending {
        let permanent = !passes(&e);
        let gap_after = self.config.gap_after;
        let st = &mut w.state;
        let mut to_ledger = None;
        if let Some(a) = st.awaiting_settle.iter_mut().find(|a| a.window == window) {
            a.failed_attempts += 1;
            if permanent || a.failed_attempts >= gap_after {
                to_ledger = Some(a.delivered.clone());
            }
        }
        if let Some(delivered) = to_ledger {
            st.awaiting_settle.retain(|a| a.window != window);
            let reason = format!("settle pass failed: {e}");
            st.add_gap(window, reason, self.clock.now(), Some(delivered));
        }
        self.source_failed(scope, w, window, Pass::Settle, e).await
    }

    /// Fresh windows from the cursor (contiguous, oldest first).
    pub(crate) async fn fresh_windows(
        &self,
        ctx: &RunContext,
        scope: &Scope,
        sink: &mut K,
        rep: &mut CompartmentReport,
        w: &mut Work,
        fresh: Vec<FreshWindow>,
    ) -> Result<(), Pending> {
        let due_until = fresh.last().map(|f| f.window.end());
        for fw in fresh {
            self.check_continue(ctx, w).await?;
            let window = fw.window;
            match self
                .deliver(scope, window, Pass::Fresh, None, Output::Sink(sink))
                .await
            {
                Ok(mut d) => {
                    let st = &mut w.state;
                    st.delivered_until = window.end();
                    if st.failing.as_ref().is_some_and(|g| g.window == window) {
                        st.failing = None;
                    }
                    if fw.needs_settle {
                        st.awaiting_settle.push(AwaitingSettle {
                            window,
                            delivered: std::mem::take(&mut d.listed_ids),
                            failed_attempts: 0,
                        });
                    }
                    self.commit(scope, w, window, Pass::Fresh, &d, rep).await?;
                }
                Err(WindowError::Source(e)) => {
                    let until = due_until.unwrap_or(window.end());
                    return Err(self.fresh_failed(scope, w, window, until, e).await);
                }
                Err(e) => return Err(self.stopped_by(scope, w, window, e).await),
            }
        }
        Ok(())
    }

    async fn fresh_failed(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        due_until: MinuteTimestamp,
        e: auditfwd_oci::Error,
    ) -> Pending {
        let now = self.clock.now();
        let reason = e.to_string();
        let st = &mut w.state;
        if passes(&e) {
            let attempts = note_failing(st, window, &reason, now);
            if attempts >= self.config.gap_after {
                tracing::error!(%scope, %window, attempts, "window keeps failing: moved to the gap ledger");
                st.failing = None;
                st.add_gap(window, reason, now, None);
                st.delivered_until = window.end();
            }
        } else {
            // OCI refuses the compartment outright (inaccessible, not found, not authorised):
            // nothing due can be listed now.
            let range = Window::new(window.start(), due_until).unwrap_or(window);
            tracing::error!(%scope, window = %range, error = %e, "compartment refused: window range moved to the gap ledger");
            st.failing = None;
            st.add_gap(range, reason, now, None);
            st.delivered_until = range.end();
        }
        self.source_failed(scope, w, window, Pass::Fresh, e).await
    }

    /// Records a window OCI would not serve (already placed by the caller); why the compartment
    /// stops.
    async fn source_failed(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        pass: Pass,
        e: auditfwd_oci::Error,
    ) -> Pending {
        if let Err(p) = self.window_failed(scope, w, window, &e).await {
            return p;
        }
        Pending::Source {
            window,
            pass,
            error: Arc::new(e),
        }
    }

    /// A failure that is not OCI's: the sink (recorded in the state), or an event that cannot
    /// be encoded.
    async fn stopped_by(
        &self,
        scope: &Scope,
        w: &mut Work,
        window: Window,
        e: WindowError,
    ) -> Pending {
        match e {
            WindowError::Sink(e) => self.sink_failed(scope, w, e).await,
            other => other.into_pending(window, Pass::Fresh),
        }
    }
}

/// Counts one more failed attempt of the window at the cursor; returns the attempts so far.
fn note_failing(
    st: &mut CompartmentState,
    window: Window,
    reason: &str,
    now: DateTime<Utc>,
) -> u32 {
    match st.failing.take() {
        Some(g) if g.window == window => {
            let attempts = g.attempts + 1;
            st.failing = Some(Gap {
                attempts,
                last_failed_at: now,
                reason: reason.to_owned(),
                ..g
            });
            attempts
        }
        _ => {
            st.failing = Some(Gap {
                window,
                reason: reason.to_owned(),
                first_failed_at: now,
                last_failed_at: now,
                attempts: 1,
                delivered: None,
            });
            1
        }
    }
}

/// Removes `done` (a sub-window of `gap`) from the ledger entry that holds it.
fn close_gap_window(st: &mut CompartmentState, gap: &Gap, done: Window) {
    let Some(idx) = st
        .gaps
        .iter()
        .position(|g| g.window.contains_window(&done) && g.delivered == gap.delivered)
    else {
        return;
    };
    let g = st.gaps.remove(idx);
    for (start, end) in [
        (g.window.start(), done.start()),
        (done.end(), g.window.end()),
    ] {
        if let Ok(rest) = Window::new(start, end) {
            st.gaps.push(Gap {
                window: rest,
                ..g.clone()
            });
        }
    }
    st.gaps.sort_by_key(|g| g.window);
}
