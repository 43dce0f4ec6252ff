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
//! Version-1 objects are found with one listing of the tenancy's `state/` prefix (a page per
//! 1,000 objects), so a new deployment, which has none, pays one LIST instead of a GET per
//! compartment. Shard states are written create-only, then the layout (marked migrated). Two runners
//! migrating at once write the same content; the loser's create fails and it reads the
//! winner's layout. The version-1 objects are left in place.

use std::collections::{BTreeMap, BTreeSet};

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
    let existing: BTreeSet<String> = store
        .list(&format!("state/{tenancy}/"), None)
        .await?
        .into_iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    if existing.is_empty() {
        return Ok(None);
    }
    let mut grouped: BTreeMap<ShardId, ShardState> = BTreeMap::new();
    let mut migration = Migration::default();
    for region in regions {
        for compartment in compartments {
            let scope = Scope::new(tenancy.clone(), region.clone(), compartment.clone());
            if !existing.contains(scope.state_key()?.as_str()) {
                continue;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EventIdSet;
    use crate::state::{AwaitingSettle, Gap};
    use crate::store::MemoryStore;
    use auditfwd_oci::{MinuteTimestamp, Window};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn m(s: &str) -> MinuteTimestamp {
        MinuteTimestamp::parse(s).unwrap()
    }

    fn w(a: &str, b: &str) -> Window {
        Window::parse(a, b).unwrap()
    }

    fn tenancy() -> Ocid {
        Ocid::parse("ocid1.tenancy.oc1..aaaa").unwrap()
    }

    fn compartment(c: &str) -> Ocid {
        Ocid::parse(format!("ocid1.compartment.oc1..{c}")).unwrap()
    }

    /// A version-1 state: delivered to 10:30, two windows awaiting their settle pass (their
    /// delivered ids), a gap and a failing window.
    fn v1(now: DateTime<Utc>) -> CompartmentState {
        let mut s = CompartmentState::starting_at(m("2026-11-22T10:30:00Z"), now, "old-runner");
        for (a, b, id) in [
            ("2026-11-22T10:20:00Z", "2026-11-22T10:30:00Z", "id-2"),
            ("2026-11-22T10:10:00Z", "2026-11-22T10:20:00Z", "id-1"),
        ] {
            let mut delivered = EventIdSet::new();
            delivered.insert(id);
            s.awaiting_settle.push(AwaitingSettle {
                window: w(a, b),
                delivered,
                failed_attempts: 0,
            });
        }
        s.gaps.push(Gap::new(
            w("2026-11-22T09:00:00Z", "2026-11-22T09:10:00Z"),
            "404",
            now,
        ));
        s.failing = Some(Gap::new(
            w("2026-11-22T10:30:00Z", "2026-11-22T10:40:00Z"),
            "503",
            now,
        ));
        s
    }

    #[test]
    fn a_cursor_keeps_delivery_settles_from_the_oldest_awaiting_window_and_keeps_its_ids() {
        let now = t("2026-11-22T10:41:00Z");
        let c = cursor_from_v1(&v1(now));
        assert_eq!(c.delivered_until, m("2026-11-22T10:30:00Z"));
        assert_eq!(c.settled_until, m("2026-11-22T10:10:00Z"));
        assert_eq!(
            c.recent.iter().map(|b| b.until).collect::<Vec<_>>(),
            [m("2026-11-22T10:20:00Z"), m("2026-11-22T10:30:00Z")]
        );
        assert!(c.remembered().contains("id-1") && c.remembered().contains("id-2"));
        assert_eq!(c.gaps.len(), 1);
        assert!(c.failing.is_some());
    }

    #[tokio::test]
    async fn version_1_state_moves_into_shards_once_and_stays_in_place() {
        let store = MemoryStore::default();
        let now = t("2026-11-22T10:41:00Z");
        let regions = ["r1".to_owned()];
        let all = [
            compartment("aaaa"),
            compartment("bbbb"),
            compartment("cccc"),
        ];
        // A new deployment: nothing to migrate, nothing written.
        assert_eq!(
            from_v1(&store, &tenancy(), &regions, &all, 2, now, "r")
                .await
                .unwrap(),
            None
        );
        assert!(layout::load(&store, &tenancy()).await.unwrap().is_none());

        // Two of the three compartments have version-1 state.
        for c in &all[..2] {
            let scope = Scope::new(tenancy(), "r1", c.clone());
            state::save(&store, &scope, &v1(now), None).await.unwrap();
        }
        let (layout, migration) = from_v1(&store, &tenancy(), &regions, &all, 2, now, "r")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(migration.compartments, 2);
        assert_eq!(layout.shards, 2);
        assert_eq!(layout.migrated_from_v1, Some(now));
        for c in &all {
            let id = layout.shard_of(&tenancy(), "r1", c.as_str());
            let cursor = shard::load(&store, &id)
                .await
                .unwrap()
                .and_then(|(s, _)| s.compartments.get(c.as_str()).cloned());
            if c == &all[2] {
                assert!(
                    cursor.is_none(),
                    "no version-1 state, no cursor: it starts fresh"
                );
            } else {
                assert_eq!(cursor, Some(cursor_from_v1(&v1(now))));
                assert!(layout.has_created(&id));
            }
        }
        // The old objects stay (a downgrade still reads them).
        let scope = Scope::new(tenancy(), "r1", all[0].clone());
        assert!(state::load(&store, &scope).await.unwrap().is_some());
        // A second runner migrating at the same time writes no shard and gets the winner's
        // layout.
        let (again, m) = from_v1(&store, &tenancy(), &regions, &all, 2, now, "r2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again, m.shards), (layout, 0));
    }
}
