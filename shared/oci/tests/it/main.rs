//! Integration tests of the OCI client against a real HTTP server on loopback (wiremock),
//! one behaviour per test. The OCI emulator (tests/oci-emulator) covers the full API surface;
//! these pin down the client's own edge cases: pagination, retries, errors, conditional writes
//! and what actually goes on the wire. Cloud Guard and Logging Search run against the emulator
//! itself, whose problems and ingested log records are state a mock could not keep.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod cloud_guard;
mod identity;
mod logging_search;
mod object_storage;
mod signing;
mod support;
