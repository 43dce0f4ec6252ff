//! Secrets given to auditfwd outside its plain variables, fetched once at start-up and held in
//! `secrecy` types, never logged.
//!
//! A Lambda function's environment is readable by anyone who may read the function's
//! configuration, and shares Lambda's 4 KB limit. So each secret auditfwd needs — the OCI API
//! private key, its passphrase and the syslog mutual-TLS client key ([`SECRET_VARIABLES`]) —
//! may be given in one of three other forms instead of plaintext (one form per secret):
//!
//! | variable | holds | read with |
//! | --- | --- | --- |
//! | `<NAME>_KMS` | base64 KMS ciphertext, encryption context `auditfwd:variable=<NAME>` | KMS `Decrypt` |
//! | `<NAME>_SECRET_ARN` | a Secrets Manager secret's ARN or name; its SecretString is the value | `GetSecretValue` |
//! | `<NAME>_SSM_PARAMETER` | an SSM Parameter Store parameter's name or ARN (a SecureString) | `GetParameter` with decryption |
//!
//! KMS ciphertext is what `aws kms encrypt --query CiphertextBlob --output text` prints
//! (`scripts/encrypt-secret` does it for you). It must have been encrypted with the
//! **encryption context** `{"auditfwd:variable": "<NAME>"}`: KMS binds the context to the
//! ciphertext, so a ciphertext made for the passphrase cannot be swapped into the key's
//! variable, and the context shows in CloudTrail for each Decrypt. Secrets Manager and
//! Parameter Store keep the value out of the function's configuration altogether, and a
//! rotation needs no redeploy (the value is read at each cold start).
//!
//! [`SecretPlan::from_vars`] finds these variables among the environment and checks their
//! names first (an unknown `AUDITFWD_*_KMS`, `_SECRET_ARN` or `_SSM_PARAMETER` name is an error,
//! so a typo fails fast instead of silently running without the secret; so is a secret given
//! twice). [`SecretPlan::fetch`] then fetches them concurrently and returns them under the
//! plain names, for the caller to merge into the variables `auditfwd-config` parses. An empty
//! variable counts as unset, as everywhere in auditfwd's configuration.
//!
//! - I/O edges, one narrow trait each: [`Decrypter`] (KMS; [`KmsDecrypter`]) and
//!   [`SecretFetcher`] (Secrets Manager, [`SecretsManagerFetcher`]; SSM,
//!   [`SsmParameterFetcher`]), all built from the caller's `aws_config::SdkConfig` (so the
//!   standard `AWS_*` variables, including `AWS_ENDPOINT_URL`, configure them).
//! - [`SecretsError`] and [`CallError`]: each says [`is_retryable`](SecretsError::is_retryable);
//!   messages name the variable (and the secret's ARN or name, which is not secret) and never
//!   contain the value.
//! - `testing` (feature `test-util`): fakes for other crates' tests.

mod aws;
mod error;
mod kms;
mod stores;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod vars;

use std::collections::BTreeMap;
use std::future::Future;

pub use error::{CallError, DecryptError, SecretsError, Service};
pub use kms::KmsDecrypter;
pub use secrecy::{ExposeSecret, SecretBox, SecretString};
pub use stores::{SecretsManagerFetcher, SsmParameterFetcher};
pub use vars::{
    CONTEXT_KEY, KMS_SUFFIX, PER_TENANCY_SECRET_VARIABLES, SECRET_ARN_SUFFIX, SECRET_VARIABLES,
    SSM_PARAMETER_SUFFIX, SecretPlan, encryption_context,
};

/// A KMS encryption context: non-secret key/value pairs bound to a ciphertext.
pub type EncryptionContext = BTreeMap<String, String>;

/// Decrypts KMS ciphertext.
pub trait Decrypter: Send + Sync {
    /// Decrypts `ciphertext` (the raw `CiphertextBlob` bytes, not base64) under `context`,
    /// which must be the encryption context it was encrypted with.
    fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<SecretBox<Vec<u8>>, DecryptError>> + Send;
}

/// Reads a secret stored by name (a Secrets Manager secret, an SSM parameter).
pub trait SecretFetcher: Send + Sync {
    /// The value stored under `id` (an ARN or a name).
    fn fetch(&self, id: &str) -> impl Future<Output = Result<SecretString, CallError>> + Send;
}

/// The three real clients, from one shared AWS configuration.
#[derive(Debug, Clone)]
pub struct AwsSecrets {
    /// KMS.
    pub kms: KmsDecrypter,
    /// Secrets Manager.
    pub secrets_manager: SecretsManagerFetcher,
    /// SSM Parameter Store.
    pub ssm: SsmParameterFetcher,
}

impl AwsSecrets {
    /// The clients (no call is made until a secret is fetched).
    pub fn new(sdk_config: &aws_config::SdkConfig) -> Self {
        AwsSecrets {
            kms: KmsDecrypter::new(sdk_config),
            secrets_manager: SecretsManagerFetcher::new(sdk_config),
            ssm: SsmParameterFetcher::new(sdk_config),
        }
    }

    /// Fetches what `plan` names.
    pub async fn fetch(
        &self,
        plan: SecretPlan,
    ) -> Result<Vec<(String, SecretString)>, SecretsError> {
        plan.fetch(&self.kms, &self.secrets_manager, &self.ssm)
            .await
    }
}
