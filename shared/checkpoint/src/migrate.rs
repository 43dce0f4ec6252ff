//! The upgrade from version-1 state (one object per compartment, with a queue of windows
//! awaiting their settle pass) to shards (one object per group of compartments, with two
//! cursors and id buckets per compartment).
//!
//! Per compartment, nothing delivered is forgotten and nothing is re-sent:
//!
//! - `delivered_until` is kept;
//! - each window awaiting its settle pass becomes an id bucket ending at the window's end, and
//!   `settled_until` becomes the start of the oldest such window (or `delivered_until`);
//! - the gap ledger, the failing window and the last error are kept as they are.
//!
//! Shard states are written create-only, then the layout (marked migrated). Two runners
//! migrating at once write the same content; the loser's create fails and it reads the
//! winner's layout. The version-1 objects are left in place.

use std::collections::BTreeMap;

use auditfwd_oci::Ocid;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::keys::Scope;
use crate::layout::{self, Layout};
use crate::shard::{self, CompartmentCursor, IdBucket, ShardId, ShardState};
use crate::state::{self, CompartmentState};
use crate::store::ObjectStore;

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// Compartments whose version-1 state was carried over.
    pub compartments: usize,
    /// Shard states written.
    pub shards: usize,
}

/// The shard form of one compartment's version-1 state.
pub fn cursor_from_v1(v1: &CompartmentState) -> CompartmentCursor {
    let mut c = CompartmentCursor::starting_at(v1.delivered_until);
    let mut awaiting: Vec<_> = v1.awaiting_settle.iter().collect();
    awaiting.sort_by_key(|a| a.window);
    if let Some(oldest) = awaiting.first() {
        c.settled_until = oldest.window.start().min(v1.delivered_until);
    }
    c.recent = awaiting
        .iter()
        .map(|a| IdBucket {
            until: a.window.end(),
            ids: a.delivered.clone(),
        })
        .collect();
    c.gaps.clone_from(&v1.gaps);
    c.failing.clone_from(&v1.failing);
    c.last_error.clone_from(&v1.last_error);
    c
}

/// Migrates the version-1 state of `compartments` (OCIDs) in `regions` into a layout of
/// `shards` shards per region. Returns the layout in force and what was carried over; when no
/// compartment has version-1 state, nothing is written and `None` is returned.
pub async fn from_v1<S: ObjectStore>(
    store: &S,
    tenancy: &Ocid,
    regions: &[String],
    compartments: &[Ocid],
    shards: u32,
    now: DateTime<Utc>,
    by: &str,
) -> Result<Option<(Layout, Migration)>, StoreError> {
    let mut grouped: BTreeMap<ShardId, ShardState> = BTreeMap::new();
    let mut migration = Migration::default();
    for region in regions {
        for compartment in compartments {
            let scope = Scope::new(tenancy.clone(), region.clone(), compartment.clone());
            let Some((v1, _)) = state::load(store, &scope).await? else {
                continue;
            };
            let id = ShardId::of(tenancy, region, compartment.as_str(), shards);
            grouped
                .entry(id)
                .or_default()
                .compartments
                .insert(compartment.to_string(), cursor_from_v1(&v1));
            migration.compartments += 1;
        }
    }
    if grouped.is_empty() {
        return Ok(None);
    }
    let mut layout = Layout::new(shards, now);
    layout.migrated_from_v1 = Some(now);
    for (id, mut state) in grouped {
        state.updated_at = Some(now);
        state.updated_by = by.to_owned();
        match shard::save(store, &id, &state, None).await {
            Ok(_) => migration.shards += 1,
            // Another runner migrated this shard first (the same content).
            Err(StoreError::PreconditionFailed { .. }) => {}
            Err(e) => return Err(e),
        }
        layout.created.insert((id.region.clone(), id.index));
    }
    let layout = layout::create(store, tenancy, &layout).await?;
    Ok(Some((layout, migration)))
}
