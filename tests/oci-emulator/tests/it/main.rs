//! Integration tests for the OCI emulator: the wire protocol through a real HTTP client, both
//! readings of the Audit time range, the scale instruments (counters, latency, thousands of
//! compartments), the official OCI CLI against the emulator, and determinism across runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod determinism;
mod faults;
mod oci_cli;
mod scale;
mod selection;
mod support;
mod wire;
