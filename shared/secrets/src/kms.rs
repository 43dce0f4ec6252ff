//! [`Decrypter`] over AWS KMS `Decrypt` (`aws-sdk-kms`).

use aws_sdk_kms::primitives::Blob;
use secrecy::SecretBox;

use crate::aws::{classify, timeouts};
use crate::{DecryptError, Decrypter, EncryptionContext};

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
        let config = aws_sdk_kms::config::Builder::from(sdk_config)
            .timeout_config(timeouts(sdk_config))
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
