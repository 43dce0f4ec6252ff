//! Integration tests: `KmsDecrypter` and `scripts/encrypt-secret` against a real moto server
//! (KMS), started here on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod encrypt_secret;
mod kms;
mod moto;
