//! End-to-end tests across crates. Everything runs on loopback: the OCI emulator in-process,
//! receivers started by the tests themselves. The `pipeline_*` modules run the real `auditfwd`
//! command (or, where time must be simulated, its runtime in-process) against the emulator,
//! a private rsyslogd, and each checkpoint backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checkpoint_oci;
mod cloud_guard;
mod daemon;
mod lambda_common;
mod lambda_cost;
mod lambda_handlers;
mod lambda_local;
mod lambda_tenancies;
mod log_search;
mod oci_client;
mod operations;
mod pipeline_backlog;
mod pipeline_concurrency;
mod pipeline_faults;
mod pipeline_kill;
mod pipeline_live;
mod pipeline_outage;
mod pipeline_throttle;
mod receivers;
mod state_location;
mod state_missing;
mod tenancies;
