//! A local OCI tenancy that speaks the real wire protocol, so auditfwd (and the official OCI
//! CLI, which proves the emulator faithful) can be tested without a cloud account.
//!
//! One loopback port serves Audit `ListEvents`, Identity `ListCompartments`/`GetCompartment`,
//! Object Storage namespace and objects, Cloud Guard `ListProblems`, Logging Search
//! `SearchLogs`, and an unauthenticated control API under `/_emulator/`.
//! Every OCI request must carry a valid OCI HTTP signature from a registered key.
//!
//! How the modules fit:
//! - [`emulator`]: the public entry point: [`Emulator::builder`] and [`EmulatorHandle`].
//! - `config`: [`EmulatorConfig`]; `clock`: injectable time ([`ManualClock`], [`SystemClock`]).
//! - `tenancy`, `events`, `delay`: the seeded synthetic tenancy, schema-v2 events and their
//!   ingestion delay; `seed` derives one RNG per generated thing so output is reproducible;
//!   `generation`: which events exist (per-compartment rate, a thin tenancy-wide stream, or a
//!   backlog spread evenly over compartments).
//! - `store`: events per compartment, pre-rendered, sorted by event time and by processing
//!   time ([`TimeSelection`]); paging and ground truth.
//! - `keys`, `signature`: key parsing, fingerprints, [`TestKey`] (a signer for tests) and the
//!   independent signature verifier.
//! - `server`: accept loop, routing, auth, request counters (`stats`), added latency
//!   (`latency`), fault injection, request log; it dispatches to `audit`, `identity`,
//!   `object_storage`, `cloud_guard`, `logging_search` and `control`.
//! - `cloud_guard`: mutable Cloud Guard problems, every version kept as ground truth, and
//!   their listing (filters, subtree scope, keyset pages).
//! - `logging_search`: log groups, logs (enabled or not) and their records with ingestion
//!   times, a small subset of the Logging query language, and `SearchLogs` with keyset pages.
//! - `faults`: seeded, run-time switchable [`FaultRule`]s.
//! - `state`: shared state and the operations both the wire and the control API use.
//!
//! ```no_run
//! # async fn demo() -> Result<(), oci_emulator::EmulatorError> {
//! let emu = oci_emulator::Emulator::builder().seed(7).compartments(5).start().await?;
//! let signer = emu.test_signer()?; // registers a key, signs like the OCI SDKs
//! let now = emu.now();
//! let truth = emu.ground_truth(None, now - chrono::Duration::hours(1), now)?;
//! # let _ = (signer, truth); Ok(()) }
//! ```

mod audit;
pub mod cli_config;
mod clock;
mod cloud_guard;
mod config;
mod control;
mod delay;
pub mod emulator;
mod error;
mod events;
mod faults;
mod generation;
mod http_util;
mod identity;
mod keys;
mod latency;
mod logging_search;
mod object_storage;
mod seed;
mod server;
mod signature;
mod state;
mod stats;
mod store;
mod tenancy;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cloud_guard::{NewProblem, Problem, ProblemUpdate, ProblemVersion};
pub use config::EmulatorConfig;
pub use delay::{DelayBand, DelayDistribution};
pub use emulator::{Emulator, EmulatorBuilder, EmulatorHandle, RequestSigner};
pub use error::{ApiError, EmulatorError};
pub use events::EventSpec;
pub use faults::{Api, FaultKind, FaultRule};
pub use keys::{
    KeyError, SignedHeaders, TEST_USER_ID, TestKey, fingerprint, private_key_from_pem,
    public_key_from_pem,
};
pub use latency::Latency;
pub use logging_search::{
    FLOW_LOG_TYPE, Log, LogGroup, LogRecord, NewLog, NewLogGroup, NewLogRecords,
};
pub use object_storage::ObjectInfo;
pub use signature::MAX_CLOCK_SKEW;
pub use state::{CompartmentInfo, NewEvents, RequestRecord, TenancyInfo};
pub use stats::{Operation, OperationCounts, RequestStats};
pub use store::{EventInfo, TimeSelection};
pub use tenancy::{Access, Compartment, TenancySpec};
