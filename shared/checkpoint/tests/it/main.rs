//! Integration tests of the checkpoint layer. The conformance suite runs unchanged against
//! every backend, so each honours the same conditional-write contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod documents;
mod lease;
mod listing;
mod location;
mod oci;
mod s3;
