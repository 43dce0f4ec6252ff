//! At most one runner per compartment: the lease taken before a compartment's state is read,
//! renewed between windows once half its time is gone, and released at the end. Leases held
//! right now are also kept in a registry, so a cycle abandoned mid-window (its future dropped at
//! a shutdown timeout) can still release them ([`Runner::release_held_leases`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use auditfwd_checkpoint::{Lease, LeaseError, ObjectStore, Scope, lease};
use auditfwd_telemetry::names;

use super::Runner;
use super::failure::Pending;
use super::report::Outcome;
use crate::sink::Sink;
use crate::source::AuditSource;

/// The leases a runner holds right now.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeldLeases(Arc<Mutex<BTreeMap<Scope, Lease>>>);

impl HeldLeases {
    fn hold(&self, lease: &Lease) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(lease.scope().clone(), lease.clone());
    }

    fn unhold(&self, scope: &Scope) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(scope);
    }

    fn take_all(&self) -> Vec<Lease> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
            .into_values()
            .collect()
    }
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Takes `scope`'s lease; another runner's unexpired lease is
    /// [`Outcome::LeasedElsewhere`], a store failure [`Pending::Lease`].
    pub(crate) async fn take_lease(&self, scope: &Scope) -> Result<Lease, Outcome> {
        let now = self.clock.now();
        match lease::acquire(
            &*self.store,
            scope,
            &self.config.owner,
            self.config.lease_ttl,
            now,
        )
        .await
        {
            Ok(l) => {
                self.held.hold(&l);
                Ok(l)
            }
            Err(LeaseError::Held {
                owner, expires_at, ..
            }) => {
                metrics::counter!(names::COMPARTMENTS_LEASED_ELSEWHERE).increment(1);
                tracing::info!(%scope, %owner, until = %expires_at, "another runner holds the lease; skipping");
                Err(Outcome::LeasedElsewhere {
                    owner,
                    until: expires_at,
                })
            }
            Err(e) => Err(Outcome::Pending(Pending::Lease(Arc::new(e)))),
        }
    }

    /// Renews `lease` once less than half its time is left.
    pub(crate) async fn keep_lease(&self, lease: &mut Lease) -> Result<(), Pending> {
        let now = self.clock.now();
        let ttl = self.config.lease_ttl;
        let half = chrono::Duration::from_std(ttl / 2).unwrap_or(chrono::Duration::zero());
        if lease.expires_at() - now >= half {
            return Ok(());
        }
        let renewed = lease::renew(&*self.store, lease, ttl, now)
            .await
            .map_err(|e| Pending::LeaseRenewal(Arc::new(e)))?;
        self.held.hold(&renewed);
        *lease = renewed;
        Ok(())
    }

    /// Releases `lease` (it expires anyway if this fails).
    pub(crate) async fn release_lease(&self, lease: Lease) {
        let scope = lease.scope().clone();
        self.held.unhold(&scope);
        if let Err(e) = lease::release(&*self.store, lease).await {
            tracing::warn!(%scope, error = %e, "could not release the lease (it will expire)");
        }
    }

    /// Releases every lease a dropped (abandoned) cycle still holds, so a restart does not
    /// wait out `lease_ttl` for those compartments. Nothing of an abandoned window was
    /// committed; releasing only lets the next runner start at once. Returns how many were
    /// released.
    pub async fn release_held_leases(&self) -> usize {
        let mut released = 0;
        for l in self.held.take_all() {
            let scope = l.scope().clone();
            match lease::release(&*self.store, l).await {
                Ok(()) => released += 1,
                Err(e) => {
                    tracing::warn!(%scope, error = %e, "could not release the lease (it will expire)");
                }
            }
        }
        released
    }
}
