//! The three checkpoint backends a test can run `auditfwd` on (`file://`, `s3://` on moto,
//! `oci://` on the emulator's Object Storage), with a store handle of the same backend so the
//! test reads what the command wrote, and the checks every scenario makes on it.
//!
//! The checkpoint is sharded: the tenancy's layout fixes how many shards a region has, each
//! shard's state holds its compartments' cursors and the lease of the runner working it, and
//! each shard commit writes a manifest. Tests read per-compartment cursors ([`Cursors`])
//! through the layout, as the runner does.

use std::collections::BTreeMap;

use auditfwd_checkpoint::layout::{self, Layout};
use auditfwd_checkpoint::shard::{self, CompartmentCursor, ShardId, ShardLease, ShardState};
use auditfwd_checkpoint::shard_manifest::{self, ShardManifest};
use auditfwd_checkpoint::{AnyStore, FileStore, ObjectStore, OciStore, S3Store, Scope, known};
use auditfwd_oci::{Ocid, RetryConfig, object_storage};

use crate::moto::Moto;
use crate::tenancy::Tenancy;

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `file:///dir`.
    File,
    /// `s3://bucket/prefix` on a moto server.
    S3,
    /// `oci://namespace/bucket/prefix` on the emulator.
    Oci,
}

const BUCKET: &str = "auditfwd-state";
const PREFIX: &str = "e2e";

/// A checkpoint location and a store reading it.
#[derive(Debug)]
pub struct Checkpoint {
    /// The backend.
    pub backend: Backend,
    env: Vec<(String, String)>,
    store: AnyStore,
    _dir: Option<tempfile::TempDir>,
    _moto: Option<Moto>,
}

impl Checkpoint {
    /// Sets up `backend` for `tenancy` (starts moto for S3, creates the bucket).
    pub async fn new(backend: Backend, tenancy: &Tenancy) -> Self {
        let mut env = Vec::new();
        let (url, store, dir, moto) = match backend {
            Backend::File => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("file://{}", dir.path().display());
                let store = AnyStore::File(FileStore::new(dir.path()));
                (url, store, Some(dir), None)
            }
            Backend::S3 => {
                let moto = Moto::start();
                let client = moto.client();
                client
                    .create_bucket()
                    .bucket(BUCKET)
                    .send()
                    .await
                    .expect("create the bucket on moto");
                env.extend(moto.aws_env());
                let store = AnyStore::S3(S3Store::new(client, BUCKET, PREFIX));
                (format!("s3://{BUCKET}/{PREFIX}"), store, None, Some(moto))
            }
            Backend::Oci => {
                let emu = &tenancy.emu;
                let client =
                    object_storage::Client::new(&crate::client_config(emu, RetryConfig::default()));
                let ns = emu.namespace();
                let store = AnyStore::Oci(OciStore::new(client, &ns, BUCKET, PREFIX));
                (format!("oci://{ns}/{BUCKET}/{PREFIX}"), store, None, None)
            }
        };
        env.push(("AUDITFWD_CHECKPOINT_URL".into(), url));
        // What `auditfwd init` does: the commands refuse a location without its marker.
        auditfwd_checkpoint::store::location::initialise(
            &store,
            auditfwd_checkpoint::store::Init::Existing,
            "e2e",
            chrono::Utc::now(),
        )
        .await
        .expect("initialise the checkpoint location");
        Checkpoint {
            backend,
            env,
            store,
            _dir: dir,
            _moto: moto,
        }
    }

    /// `AUDITFWD_CHECKPOINT_URL` and whatever else the backend needs (AWS_* for moto).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// A store on the same location.
    pub fn store(&self) -> &AnyStore {
        &self.store
    }

    /// Every compartment's cursor (`None`: not written yet), read from its shard's state.
    /// Fails on an unreadable document.
    pub async fn states(&self, scopes: &[Scope]) -> Cursors {
        cursors(&self.store, scopes).await
    }

    /// The layout and every shard state the compartments of `scopes` map to (`None`: the shard
    /// has no state yet). Fails on an unreadable document.
    pub async fn shards(&self, scopes: &[Scope]) -> Shards {
        shards(&self.store, scopes).await
    }

    /// Fails unless every document auditfwd keeps is readable and consistent after a run that
    /// ended: the layout, a state for every shard (recorded as created in the layout) with a
    /// cursor for every compartment, no cursor settled past delivery, the compartment index,
    /// and no lease left behind (runs that ended release theirs), neither in a shard state nor
    /// as a version-1 per-compartment lease object.
    pub async fn assert_intact(&self, tenancy: &Ocid, scopes: &[Scope]) {
        let shards = self.shards(scopes).await;
        let layout = shards
            .layout
            .as_ref()
            .unwrap_or_else(|| panic!("no layout for {tenancy} after a complete run"));
        for (id, state) in &shards.states {
            let state = state
                .as_ref()
                .unwrap_or_else(|| panic!("shard {id} has no state after a complete run"));
            assert!(
                layout.has_created(id),
                "shard {id} has a state the layout does not record as created"
            );
            assert!(
                state.lease.is_none(),
                "lease of shard {id} left behind by a run that ended: {:?}",
                state.lease
            );
        }
        let states = shards.cursors(scopes);
        assert!(
            states.values().all(Option::is_some),
            "a compartment has no cursor after a complete run: {:?}",
            states
                .iter()
                .filter(|(_, s)| s.is_none())
                .map(|(c, _)| c)
                .collect::<Vec<_>>()
        );
        for (c, cursor) in states.iter().filter_map(|(c, s)| Some((c, s.as_ref()?))) {
            assert!(
                cursor.settled_until <= cursor.delivered_until,
                "compartment {c}: settled until {} past delivered until {}",
                cursor.settled_until,
                cursor.delivered_until
            );
        }
        let index = known::load(&self.store, tenancy)
            .await
            .unwrap_or_else(|e| panic!("compartment index unreadable: {e}"));
        assert_eq!(
            index.compartments.len(),
            scopes.len(),
            "the compartment index does not list every compartment"
        );
        for scope in scopes {
            let v1 = self
                .store
                .get(&scope.lease_key().expect("lease key"))
                .await
                .expect("read a version-1 lease");
            assert!(v1.is_none(), "a version-1 lease of {scope} exists");
        }
    }

    /// Marks every shard lease expired (a conditional write over the version read): what the
    /// next runner sees once the leases of a killed process have lapsed (`AUDITFWD_LEASE_TTL`,
    /// not waited for). Returns how many there were.
    pub async fn expire_leases(&self, scopes: &[Scope]) -> usize {
        let shards = self.shards(scopes).await;
        let mut n = 0;
        for id in shards.states.keys() {
            let Some((mut state, etag)) = shard::load(&self.store, id)
                .await
                .unwrap_or_else(|e| panic!("state of shard {id} unreadable: {e}"))
            else {
                continue;
            };
            let Some(lease) = state.lease.as_mut() else {
                continue;
            };
            lease.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
            shard::save(&self.store, id, &state, Some(&etag))
                .await
                .unwrap_or_else(|e| panic!("expire the lease of shard {id}: {e}"));
            n += 1;
        }
        n
    }

    /// Shard leases present now, with the compartments (of `scopes`) each covers.
    pub async fn leases(&self, scopes: &[Scope]) -> Vec<HeldLease> {
        let shards = self.shards(scopes).await;
        let Some(layout) = &shards.layout else {
            return Vec::new();
        };
        shards
            .states
            .iter()
            .filter_map(|(id, s)| {
                let lease = s.as_ref()?.lease.clone()?;
                let compartments = scopes
                    .iter()
                    .filter(|sc| shard_of(layout, sc) == *id)
                    .map(|sc| sc.compartment.to_string())
                    .collect();
                Some(HeldLease {
                    shard: id.clone(),
                    lease,
                    compartments,
                })
            })
            .collect()
    }

    /// Every shard manifest of the compartments of `scopes`, oldest first.
    pub async fn manifests(&self, scopes: &[Scope]) -> Vec<ShardManifest> {
        manifests(&self.store, scopes).await
    }
}

/// Compartment OCID → its cursor (`None`: not written yet).
pub type Cursors = BTreeMap<String, Option<CompartmentCursor>>;

/// A tenancy's layout and the states of the shards some compartments map to.
#[derive(Debug, Clone, Default)]
pub struct Shards {
    /// The layout (`None` before the tenancy was first worked).
    pub layout: Option<Layout>,
    /// Each shard's state (`None`: not written yet).
    pub states: BTreeMap<ShardId, Option<ShardState>>,
}

impl Shards {
    /// Every compartment's cursor.
    pub fn cursors(&self, scopes: &[Scope]) -> Cursors {
        scopes
            .iter()
            .map(|scope| {
                let cursor = self.layout.as_ref().and_then(|l| {
                    self.states
                        .get(&shard_of(l, scope))?
                        .as_ref()?
                        .compartments
                        .get(scope.compartment.as_str())
                        .cloned()
                });
                (scope.compartment.to_string(), cursor)
            })
            .collect()
    }
}

/// A shard lease found in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    /// The shard.
    pub shard: ShardId,
    /// Its lease.
    pub lease: ShardLease,
    /// The compartments of the shard (among those asked about).
    pub compartments: Vec<String>,
}

fn shard_of(layout: &Layout, scope: &Scope) -> ShardId {
    layout.shard_of(&scope.tenancy, &scope.region, scope.compartment.as_str())
}

/// The layout of the tenancy of `scopes` and the states of their shards, from `store`.
pub async fn shards<S: ObjectStore>(store: &S, scopes: &[Scope]) -> Shards {
    let Some(tenancy) = scopes.first().map(|s| &s.tenancy) else {
        return Shards::default();
    };
    let layout = layout::load(store, tenancy)
        .await
        .unwrap_or_else(|e| panic!("layout of {tenancy} unreadable: {e}"));
    let mut states = BTreeMap::new();
    if let Some(l) = &layout {
        for scope in scopes {
            let id = shard_of(l, scope);
            if states.contains_key(&id) {
                continue;
            }
            let state = shard::load(store, &id)
                .await
                .unwrap_or_else(|e| panic!("state of shard {id} unreadable: {e}"))
                .map(|(s, _)| s);
            states.insert(id, state);
        }
    }
    Shards { layout, states }
}

/// Every compartment's cursor in `store` (see [`Checkpoint::states`]).
pub async fn cursors<S: ObjectStore>(store: &S, scopes: &[Scope]) -> Cursors {
    shards(store, scopes).await.cursors(scopes)
}

/// Every shard manifest in `store` of the shards of `scopes`, oldest first.
pub async fn manifests<S: ObjectStore>(store: &S, scopes: &[Scope]) -> Vec<ShardManifest> {
    let found = shards(store, scopes).await;
    let (from, to) = (
        chrono::Utc::now() - chrono::Duration::days(30),
        chrono::Utc::now() + chrono::Duration::days(30),
    );
    let mut out = Vec::new();
    for id in found.states.keys() {
        out.extend(
            shard_manifest::list(store, id, from, to)
                .await
                .unwrap_or_else(|e| panic!("manifests of shard {id} unreadable: {e}")),
        );
    }
    out.sort_by_key(|m| m.committed_at);
    out
}

/// Fails unless every compartment's gap ledger is closed: the only entries left are the settle
/// passes of minutes delivered from the ledger while younger than the settle lag (their ids
/// recorded, so the pass sends only late arrivals; waiting, so nothing needs attention).
pub fn assert_gaps_closed(states: &Cursors) {
    let now = chrono::Utc::now();
    let left: Vec<(&String, &auditfwd_checkpoint::state::Gap)> = states
        .iter()
        .filter_map(|(c, s)| Some((c, s.as_ref()?)))
        .flat_map(|(c, s)| s.gaps.iter().map(move |g| (c, g)))
        .filter(|(_, g)| g.needs_attention(now) || g.delivered.is_none() || g.not_before.is_none())
        .collect();
    assert!(left.is_empty(), "gaps left: {left:?}");
}

/// Fails if a cursor is ahead of delivery: every event of a compartment before its
/// `delivered_until`, outside its gap ledger, must have been received.
pub fn assert_cursor_not_ahead(
    tenancy: &Tenancy,
    states: &Cursors,
    received: &BTreeMap<String, usize>,
) {
    let truth = tenancy.truth();
    let mut behind = Vec::new();
    for e in &truth {
        let Some(Some(st)) = states.get(&e.compartment) else {
            continue;
        };
        let before_cursor = e.time < st.delivered_until.as_datetime();
        let in_gap = st.gaps.iter().any(|g| {
            e.time >= g.window.start().as_datetime() && e.time < g.window.end().as_datetime()
        });
        if before_cursor && !in_gap && !received.contains_key(&e.id) {
            behind.push((e.compartment.clone(), e.time, st.delivered_until));
        }
    }
    assert!(
        behind.is_empty(),
        "{} events before their compartment's cursor were never delivered (cursor ahead of delivery), e.g. {:?}",
        behind.len(),
        behind.iter().take(5).collect::<Vec<_>>()
    );
}

/// What was in flight, uncommitted, when delivery was interrupted, per compartment: where
/// the events it may re-send are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The run stopped on a failure (the receiver went away) and committed everything
    /// confirmed before it: per compartment, only the listing that was being sent is re-sent.
    /// A listing is one window of a busy range (`max_window_minutes`), or a range that came
    /// back as one page (`page_size` events at most).
    OneListing {
        /// `AUDITFWD_MAX_WINDOW` in minutes.
        max_window_minutes: i64,
        /// The emulator's page size.
        page_size: usize,
    },
    /// The process was killed: what its shards delivered since their last state write is
    /// re-sent (idle ranges are committed with the shard's end-of-cycle write; a busy window
    /// as soon as it is delivered).
    SinceLastCommit,
}

/// Fails unless every event received more than once was in a range in flight in its
/// compartment when delivery was interrupted (`in_flight`): after a kill, at or after the
/// compartment's cursor at that moment (`states`; nothing committed is re-sent) and received at
/// most twice (once before, once after); after a stop on a failing receiver, within one listing
/// (a batch is sent again on each connection attempt, which is expected, and may be committed
/// once an attempt is confirmed).
/// A compartment without a cursor yet (nothing committed) has its duplicates checked against
/// the listing bound alone. Returns the compartments with duplicates, and how many events each
/// had re-sent.
pub fn assert_duplicates_within_interrupted_ranges(
    tenancy: &Tenancy,
    states: &Cursors,
    received: &BTreeMap<String, usize>,
    in_flight: Interrupted,
) -> BTreeMap<String, usize> {
    let mut by_compartment: BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> = BTreeMap::new();
    for e in tenancy.truth() {
        let n = received.get(&e.id).copied().unwrap_or(0);
        // A killed process sent each event once; a run that stopped on a failing receiver
        // may have sent a batch on each of its connection attempts.
        assert!(
            n <= 2 || in_flight != Interrupted::SinceLastCommit,
            "event {} of {} received {n} times after one kill",
            e.id,
            e.compartment
        );
        if n > 1 {
            by_compartment
                .entry(e.compartment)
                .or_default()
                .push(e.time);
        }
    }
    for (c, times) in &by_compartment {
        let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
            continue;
        };
        let cursor = states
            .get(c)
            .and_then(Option::as_ref)
            .map(|st| st.delivered_until.as_datetime());
        // After a kill nothing committed is re-sent. After a failing receiver, a batch the
        // receiver read part of before hanging up is sent again on the next connection and may
        // then be confirmed and committed: its duplicates can sit before the cursor, and are
        // bounded by the one-listing check below instead.
        if let (Some(cursor), Interrupted::SinceLastCommit) = (cursor, in_flight) {
            assert!(
                *first >= cursor,
                "compartment {c}: {} duplicates between {first} and {last}, before its cursor {cursor} (committed events re-sent)",
                times.len()
            );
        }
        if let Interrupted::OneListing {
            max_window_minutes,
            page_size,
        } = in_flight
        {
            // The listing in flight started at the cursor (or, with nothing committed yet,
            // somewhere at or before the first duplicate).
            let start = cursor.map_or(*first, |c| c.min(*first));
            assert!(
                *last < start + chrono::Duration::minutes(max_window_minutes)
                    || times.len() <= page_size,
                "compartment {c}: {} duplicates between {first} and {last}, listing from {start}: more than one window and more than one page ({page_size})",
                times.len()
            );
        }
    }
    by_compartment
        .into_iter()
        .map(|(c, times)| (c, times.len()))
        .collect()
}
