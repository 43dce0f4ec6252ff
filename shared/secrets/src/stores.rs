//! [`SecretFetcher`]s over AWS Secrets Manager (`GetSecretValue`, the secret's SecretString)
//! and SSM Parameter Store (`GetParameter` with decryption), built like [`crate::KmsDecrypter`]
//! from the caller's shared AWS configuration, with the same timeouts and classification.

use secrecy::SecretString;

use crate::aws::{classify, timeouts};
use crate::{CallError, SecretFetcher};

/// Reads secrets from AWS Secrets Manager. Built once at cold start; cheap to clone.
#[derive(Debug, Clone)]
pub struct SecretsManagerFetcher {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerFetcher {
    /// A Secrets Manager client from the caller's shared AWS configuration.
    pub fn new(sdk_config: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
            .timeout_config(timeouts(sdk_config))
            .build();
        SecretsManagerFetcher {
            client: aws_sdk_secretsmanager::Client::from_conf(config),
        }
    }
}

impl SecretFetcher for SecretsManagerFetcher {
    async fn fetch(&self, id: &str) -> Result<SecretString, CallError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(classify)?;
        // The output's Debug redacts the value; move it out.
        output
            .secret_string
            .map(SecretString::from)
            .ok_or_else(|| CallError::Invalid {
                message: "the secret has no SecretString (a binary secret): store the PEM or \
                          passphrase as text"
                    .into(),
            })
    }
}

/// Reads parameters from SSM Parameter Store, decrypting SecureStrings. Built once at cold
/// start; cheap to clone.
#[derive(Debug, Clone)]
pub struct SsmParameterFetcher {
    client: aws_sdk_ssm::Client,
}

impl SsmParameterFetcher {
    /// An SSM client from the caller's shared AWS configuration.
    pub fn new(sdk_config: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_ssm::config::Builder::from(sdk_config)
            .timeout_config(timeouts(sdk_config))
            .build();
        SsmParameterFetcher {
            client: aws_sdk_ssm::Client::from_conf(config),
        }
    }
}

impl SecretFetcher for SsmParameterFetcher {
    async fn fetch(&self, id: &str) -> Result<SecretString, CallError> {
        let output = self
            .client
            .get_parameter()
            .name(id)
            .with_decryption(true)
            .send()
            .await
            .map_err(classify)?;
        output
            .parameter
            .and_then(|p| p.value)
            .map(SecretString::from)
            .ok_or_else(|| CallError::Invalid {
                message: "GetParameter succeeded without a value".into(),
            })
    }
}
