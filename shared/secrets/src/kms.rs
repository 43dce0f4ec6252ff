//! [`Decrypter`] over AWS KMS `Decrypt` (`aws-sdk-kms`).

use std::time::Duration;

use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::decrypt::DecryptError as KmsDecryptError;
use aws_sdk_kms::primitives::Blob;
use secrecy::SecretBox;

use crate::{DecryptError, Decrypter, EncryptionContext};

/// Timeouts used where the caller's `SdkConfig` sets none: a Decrypt answers in milliseconds,
/// and a cold start that hangs on KMS is worse than one that fails and is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Error codes KMS uses for "not now" (the SDK has already retried them a few times).
const TRANSIENT_CODES: [&str; 6] = [
    "ThrottlingException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "ServiceUnavailableException",
    "InternalFailure",
];

/// Decrypts with AWS KMS. Built once at cold start; cheap to clone.
#[derive(Debug, Clone)]
pub struct KmsDecrypter {
    client: aws_sdk_kms::Client,
}

impl KmsDecrypter {
    /// A KMS client from the caller's shared AWS configuration (region, credentials and
    /// endpoint from the standard `AWS_*` variables, e.g. `AWS_ENDPOINT_URL` for moto), with
    /// connect, attempt and overall timeouts added where that configuration has none. The SDK's
    /// standard retries (3 attempts, backoff with jitter) apply.
    pub fn new(sdk_config: &aws_config::SdkConfig) -> Self {
        let defaults = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT);
        let timeouts = sdk_config
            .timeout_config()
            .map(TimeoutConfig::to_builder)
            .unwrap_or_default()
            .take_unset_from(defaults)
            .build();
        let config = aws_sdk_kms::config::Builder::from(sdk_config)
            .timeout_config(timeouts)
            .build();
        KmsDecrypter {
            client: aws_sdk_kms::Client::from_conf(config),
        }
    }

    /// Wraps a client configured by the caller as it is.
    pub fn from_client(client: aws_sdk_kms::Client) -> Self {
        KmsDecrypter { client }
    }
}

impl Decrypter for KmsDecrypter {
    async fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SecretBox<Vec<u8>>, DecryptError> {
        let output = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(
                context
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ))
            .send()
            .await
            .map_err(classify)?;
        // `DecryptOutput`'s Debug already redacts the plaintext; move it out without copying.
        match output.plaintext {
            Some(blob) => Ok(SecretBox::new(Box::new(blob.into_inner()))),
            None => Err(DecryptError::Invalid {
                message: "Decrypt succeeded without a plaintext".into(),
            }),
        }
    }
}

/// The one place KMS failures are classified.
fn classify(err: SdkError<KmsDecryptError>) -> DecryptError {
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            let code = e.code().unwrap_or("UnknownError").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            if status >= 500 || TRANSIENT_CODES.contains(&code.as_str()) {
                DecryptError::Unavailable { code, message }
            } else {
                DecryptError::Rejected { code, message }
            }
        }
        SdkError::ConstructionFailure(_) => DecryptError::Invalid {
            message: DisplayErrorContext(&err).to_string(),
        },
        // Timeouts, connection failures, unreadable responses.
        other => DecryptError::Transport {
            source: Box::new(other),
        },
    }
}
