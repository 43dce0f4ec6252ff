//! Integration tests: `KmsDecrypter`, `scripts/encrypt-secret`, `SecretsManagerFetcher` and
//! `SsmParameterFetcher` against a real moto server (KMS, Secrets Manager, SSM), started here
//! on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod encrypt_secret;
mod kms;
mod moto;
mod stores;
