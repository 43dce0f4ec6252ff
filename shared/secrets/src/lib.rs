//! Secrets given to auditfwd as AWS KMS ciphertext, decrypted once at cold start and held in
//! `secrecy` types, never logged.
//!
//! A Lambda function's environment is readable by anyone who may read the function's
//! configuration, so the secrets it needs — the OCI API private key, its passphrase and the
//! syslog mutual-TLS client key — can be given as KMS ciphertext instead of plaintext:
//!
//! | ciphertext variable | becomes | encryption context |
//! | --- | --- | --- |
//! | `AUDITFWD_OCI_KEY_KMS` | `AUDITFWD_OCI_KEY` (PEM text) | `auditfwd:variable=AUDITFWD_OCI_KEY` |
//! | `AUDITFWD_OCI_KEY_PASSPHRASE_KMS` | `AUDITFWD_OCI_KEY_PASSPHRASE` | `auditfwd:variable=AUDITFWD_OCI_KEY_PASSPHRASE` |
//! | `AUDITFWD_SYSLOG_TLS_KEY_KMS` | `AUDITFWD_SYSLOG_TLS_KEY` (PEM text) | `auditfwd:variable=AUDITFWD_SYSLOG_TLS_KEY` |
//!
//! Each value is the base64 of a KMS `CiphertextBlob` (what `aws kms encrypt --query
//! CiphertextBlob --output text` prints; `scripts/encrypt-secret` does it for you). It must
//! have been encrypted with the **encryption context** `{"auditfwd:variable": "<name without
//! _KMS>"}`: KMS binds the context to the ciphertext, so Decrypt fails unless the same context
//! is given again. A ciphertext made for the passphrase therefore cannot be swapped into the
//! key's variable, and the context shows in CloudTrail for each Decrypt. (The key used is the one
//! recorded in the ciphertext; the function's IAM role allows Decrypt on auditfwd's key only.)
//!
//! [`decrypt_kms_vars`] finds the `*_KMS` variables among the environment, checks their names
//! (an unknown `AUDITFWD_*_KMS` name is an error, so a typo fails fast instead of silently
//! running without the secret), decodes, decrypts them concurrently through a [`Decrypter`],
//! checks the plaintext is UTF-8 and returns it under the name without `_KMS`, for the caller
//! to merge into the variables `auditfwd-config` parses (replacing an empty value of that
//! name). An empty variable counts as unset, as everywhere in auditfwd's configuration.
//!
//! - [`Decrypter`]: the narrow trait over KMS `Decrypt`; [`KmsDecrypter`] is the
//!   `aws-sdk-kms` implementation, built from the caller's `aws_config::SdkConfig` (so the
//!   standard `AWS_*` variables, including `AWS_ENDPOINT_URL`, configure it).
//! - [`SecretsError`] and [`DecryptError`]: each says [`is_retryable`](SecretsError::is_retryable);
//!   messages name the variable and never contain the secret.
//! - `testing` (feature `test-util`): a fake KMS for other crates' tests.

mod error;
mod kms;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod vars;

use std::collections::BTreeMap;
use std::future::Future;

pub use error::{DecryptError, SecretsError};
pub use kms::KmsDecrypter;
pub use secrecy::{ExposeSecret, SecretBox, SecretString};
pub use vars::{CONTEXT_KEY, KMS_SUFFIX, SECRET_VARIABLES, decrypt_kms_vars, encryption_context};

/// A KMS encryption context: non-secret key/value pairs bound to a ciphertext.
pub type EncryptionContext = BTreeMap<String, String>;

/// Decrypts KMS ciphertext. The one I/O edge of this crate, so the variable logic is tested
/// with a fake.
pub trait Decrypter: Send + Sync {
    /// Decrypts `ciphertext` (the raw `CiphertextBlob` bytes, not base64) under `context`,
    /// which must be the encryption context it was encrypted with.
    fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<SecretBox<Vec<u8>>, DecryptError>> + Send;
}
