//! End-to-end tests across crates. Everything runs on loopback: the OCI emulator in-process,
//! receivers started by the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checkpoint_oci;
mod oci_client;
