//! Integration tests of the pipeline crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod runner;
mod sweep;
