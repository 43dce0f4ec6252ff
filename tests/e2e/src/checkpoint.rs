//! The three checkpoint backends a test can run `auditfwd` on (`file://`, `s3://` on moto,
//! `oci://` on the emulator's Object Storage), with a store handle of the same backend so the
//! test reads what the command wrote, and the checks every scenario makes on it.

use std::collections::BTreeMap;

use auditfwd_checkpoint::state::{self, CompartmentState};
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

    /// Every compartment's state (`None`: not written yet). Fails on an unreadable document.
    pub async fn states(&self, scopes: &[Scope]) -> BTreeMap<String, Option<CompartmentState>> {
        let mut out = BTreeMap::new();
        for scope in scopes {
            let s = state::load(&self.store, scope)
                .await
                .unwrap_or_else(|e| panic!("state of {scope} unreadable: {e}"))
                .map(|(s, _)| s);
            out.insert(scope.compartment.to_string(), s);
        }
        out
    }

    /// Fails unless every document auditfwd keeps is readable: the states, the compartment
    /// index, and no lease left behind (runs that ended release theirs).
    pub async fn assert_intact(&self, tenancy: &Ocid, scopes: &[Scope]) {
        let states = self.states(scopes).await;
        assert!(
            states.values().all(Option::is_some),
            "a compartment has no state after a complete run: {:?}",
            states
                .iter()
                .filter(|(_, s)| s.is_none())
                .map(|(c, _)| c)
                .collect::<Vec<_>>()
        );
        let index = known::load(&self.store, tenancy)
            .await
            .unwrap_or_else(|e| panic!("compartment index unreadable: {e}"));
        assert_eq!(
            index.compartments.len(),
            scopes.len(),
            "the compartment index does not list every compartment"
        );
        for scope in scopes {
            let lease = self
                .store
                .get(&scope.lease_key().expect("lease key"))
                .await
                .expect("read lease");
            assert!(
                lease.is_none(),
                "lease of {scope} left behind by a run that ended"
            );
        }
    }

    /// Deletes every lease: what the next runner sees once the leases of a killed process
    /// have expired (auditfwd's lease TTL is 15 minutes and not configurable).
    pub async fn expire_leases(&self, scopes: &[Scope]) -> usize {
        let mut n = 0;
        for scope in scopes {
            let key = scope.lease_key().expect("lease key");
            if self.store.get(&key).await.expect("read lease").is_some() {
                self.store.delete(&key, None).await.expect("delete lease");
                n += 1;
            }
        }
        n
    }

    /// Leases present now, as (compartment, raw document).
    pub async fn leases(&self, scopes: &[Scope]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for scope in scopes {
            let key = scope.lease_key().expect("lease key");
            if let Some(o) = self.store.get(&key).await.expect("read lease") {
                out.push((
                    scope.compartment.to_string(),
                    String::from_utf8_lossy(&o.body).into_owned(),
                ));
            }
        }
        out
    }
}

/// Fails if a cursor is ahead of delivery: every event of a compartment before its
/// `delivered_until`, outside its gap ledger, must have been received.
pub fn assert_cursor_not_ahead(
    tenancy: &Tenancy,
    states: &BTreeMap<String, Option<CompartmentState>>,
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

/// Fails unless every event received more than once belongs to the window that was in flight
/// in its compartment when delivery was interrupted: at or after the compartment's cursor at
/// that moment (`states`), and less than one window (`max_window_minutes`) after it. For a
/// compartment without a state yet (nothing committed), the duplicates must fit in one window.
/// Returns the compartments with duplicates, and how many events each had re-sent.
pub fn assert_duplicates_within_interrupted_windows(
    tenancy: &Tenancy,
    states: &BTreeMap<String, Option<CompartmentState>>,
    received: &BTreeMap<String, usize>,
    max_window_minutes: i64,
) -> BTreeMap<String, usize> {
    let window = chrono::Duration::minutes(max_window_minutes);
    let mut by_compartment: BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> = BTreeMap::new();
    for e in tenancy.truth() {
        if received.get(&e.id).is_some_and(|n| *n > 1) {
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
        match states.get(c) {
            Some(Some(st)) => {
                let cursor = st.delivered_until.as_datetime();
                assert!(
                    *first >= cursor && *last < cursor + window,
                    "compartment {c}: {} duplicates between {first} and {last}, outside the window in flight at {cursor}",
                    times.len()
                );
            }
            _ => assert!(
                *last - *first < window,
                "compartment {c} (nothing committed yet): {} duplicates between {first} and {last}, more than one window",
                times.len()
            ),
        }
    }
    by_compartment
        .into_iter()
        .map(|(c, times)| (c, times.len()))
        .collect()
}
