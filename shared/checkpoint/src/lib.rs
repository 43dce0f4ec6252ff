//! Checkpoint state for auditfwd: the record of what has been delivered, which may only move
//! forward after the syslog sink confirmed delivery.
//!
//! - [`store`]: the narrow I/O edge, a conditional object store ([`ObjectStore`]) with
//!   backends chosen by URL: `file:///dir` ([`FileStore`], atomic writes and a lock for
//!   conditional ones) and `oci://namespace/bucket/prefix` ([`OciStore`], Object Storage through
//!   `auditfwd-oci`) and `s3://bucket/prefix` ([`S3Store`], S3's `If-Match`/`If-None-Match`);
//!   `MemoryStore` behind the `test-util` feature.
//! - [`doc`]: typed JSON documents on a store, and the one rule for a conditional write whose
//!   answer was lost.
//! - [`keys`]: one object per (tenancy, region, compartment), so fan-out workers never contend.
//! - [`state`]: the versioned per-compartment document: `delivered_until`, windows awaiting
//!   their settle pass with the ids they delivered, the gap ledger.
//! - [`manifest`]: per-window delivery manifests; [`counts`]: the one tally of listed events.
//! - [`known`]: the compartments seen so far, to report new and disappeared ones.
//! - [`shard`]: the delivery progress of a group of compartments, with its lease, in one
//!   object ([`layout`]: how many shards, which exist; [`migrate`]: from version-1 state).
//! - [`lease`]: at most one runner per compartment (version-1 state).
//! - [`ids`]: compact event-id sets and an order-independent digest of ids.
//!
//! The pipeline that decides *when* to write lives elsewhere; this crate guarantees that what
//! it writes is atomic, versioned, and never silently overwrites another runner's progress.

pub mod counts;
pub mod doc;
mod error;
pub mod ids;
pub mod keys;
pub mod known;
pub mod layout;
pub mod lease;
pub mod manifest;
pub mod migrate;
pub mod shard;
pub mod shard_manifest;
pub mod state;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;

pub use counts::Counts;
pub use error::StoreError;
pub use ids::{EventIdSet, IdDigest};
pub use keys::Scope;
pub use lease::{Lease, LeaseError};
#[cfg(feature = "test-util")]
pub use store::MemoryStore;
pub use store::{
    AnyStore, CheckpointLocation, Etag, FileStore, Location, ObjectKey, ObjectStore, OciStore,
    S3Store, StoredObject, WriteCondition,
};
