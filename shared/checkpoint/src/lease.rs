//! Leases: at most one runner works on a compartment at a time.
//!
//! A lease is a small document (owner, expiry) written conditionally: created only if absent,
//! taken over only when expired (and only over the exact version that was read), renewed and
//! released only by the version its holder wrote. Two runners racing for the same lease both
//! read, both try to write, and exactly one write's precondition holds.
//!
//! Expiry is compared against the caller's clock, so runners need roughly synchronised clocks
//! (NTP; Lambda's are). Choose a TTL well above the longest expected skew.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc;
use crate::error::StoreError;
use crate::keys::Scope;
use crate::store::{Etag, ObjectStore, WriteCondition};

/// The stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
enum LeaseDocument {
    #[serde(rename = "1")]
    V1(LeaseRecord),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LeaseRecord {
    owner: String,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    scope: Scope,
    owner: String,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    etag: Etag,
}

impl Lease {
    /// Who holds it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// When it lapses unless renewed.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// The compartment it covers.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// Why a lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another runner holds an unexpired lease.
    #[error("{scope}: leased by {owner} until {expires_at}")]
    Held {
        /// The compartment.
        scope: Scope,
        /// The holder.
        owner: String,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// The lease was taken over (it had expired) or removed: stop working on the compartment.
    #[error("{scope}: lease lost (it expired and another runner took it over)")]
    Lost {
        /// The compartment.
        scope: Scope,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LeaseError {
    /// Whether trying again later may succeed (a held lease frees up; a store error may pass).
    pub fn is_retryable(&self) -> bool {
        match self {
            LeaseError::Held { .. } => true,
            LeaseError::Lost { .. } => false,
            LeaseError::Store(e) => e.is_retryable(),
        }
    }
}

fn ttl_after(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Takes the lease on `scope` for `owner` until `now + ttl`: if nobody holds it, if it has
/// expired, or if `owner` already holds it.
pub async fn acquire<S: ObjectStore>(
    store: &S,
    scope: &Scope,
    owner: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Lease, LeaseError> {
    let key = scope.lease_key()?;
    // Two rounds: a lost race re-reads once, then reports whoever won.
    for _ in 0..2 {
        let current = doc::read::<LeaseDocument, _>(store, &key).await?;
        let (condition, acquired_at) = match current {
            None => (WriteCondition::IfAbsent, now),
            Some((LeaseDocument::V1(rec), etag)) if rec.owner == owner => {
                (WriteCondition::IfMatch(etag), rec.acquired_at)
            }
            Some((LeaseDocument::V1(rec), etag)) if rec.expires_at <= now => {
                tracing::info!(%scope, previous = %rec.owner, expired = %rec.expires_at, "taking over an expired lease");
                (WriteCondition::IfMatch(etag), now)
            }
            Some((LeaseDocument::V1(rec), _)) => {
                return Err(LeaseError::Held {
                    scope: scope.clone(),
                    owner: rec.owner,
                    expires_at: rec.expires_at,
                });
            }
        };
        let rec = LeaseRecord {
            owner: owner.to_owned(),
            acquired_at,
            expires_at: ttl_after(now, ttl),
        };
        match doc::write(store, &key, &LeaseDocument::V1(rec.clone()), condition).await {
            Ok(etag) => {
                return Ok(Lease {
                    scope: scope.clone(),
                    owner: rec.owner,
                    acquired_at: rec.acquired_at,
                    expires_at: rec.expires_at,
                    etag,
                });
            }
            Err(StoreError::PreconditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    match doc::read::<LeaseDocument, _>(store, &key).await? {
        Some((LeaseDocument::V1(rec), _)) => Err(LeaseError::Held {
            scope: scope.clone(),
            owner: rec.owner,
            expires_at: rec.expires_at,
        }),
        None => Err(LeaseError::Lost {
            scope: scope.clone(),
        }),
    }
}

/// Extends a held lease to `now + ttl`. Fails with [`LeaseError::Lost`] if another runner has
/// taken it over in the meantime: the caller must stop and commit nothing more.
pub async fn renew<S: ObjectStore>(
    store: &S,
    lease: &Lease,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Lease, LeaseError> {
    let key = lease.scope.lease_key()?;
    let rec = LeaseRecord {
        owner: lease.owner.clone(),
        acquired_at: lease.acquired_at,
        expires_at: ttl_after(now, ttl),
    };
    match doc::write(
        store,
        &key,
        &LeaseDocument::V1(rec.clone()),
        WriteCondition::IfMatch(lease.etag.clone()),
    )
    .await
    {
        Ok(etag) => Ok(Lease {
            expires_at: rec.expires_at,
            etag,
            ..lease.clone()
        }),
        Err(StoreError::PreconditionFailed { .. }) => Err(LeaseError::Lost {
            scope: lease.scope.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Gives a lease up. Releasing a lease that was already taken over is not an error.
pub async fn release<S: ObjectStore>(store: &S, lease: Lease) -> Result<(), LeaseError> {
    match store
        .delete(&lease.scope.lease_key()?, Some(&lease.etag))
        .await
    {
        Ok(()) | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
