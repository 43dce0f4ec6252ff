//! moto for the KMS tests: the shared [`MotoServer`] harness plus the AWS configuration a
//! function would load from `AWS_*` variables.

use std::path::PathBuf;

use auditfwd_test_support::MotoServer;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::{Credentials, SharedCredentialsProvider};

pub(crate) struct Moto(MotoServer);

/// The project's venv, where scripts/setup-dev installs moto_server and the aws CLI.
pub(crate) fn venv_bin() -> PathBuf {
    auditfwd_test_support::venv_bin()
}

impl Moto {
    pub(crate) fn start() -> Moto {
        Moto(MotoServer::start())
    }

    pub(crate) fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// The shared AWS configuration a function would load from `AWS_*` variables, here built
    /// by hand so the test does not depend on the machine's environment.
    pub(crate) fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint())
    }
}

pub(crate) fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "moto",
        )))
        .build()
}

/// Plans and fetches `vars` with `kms`; the Secrets Manager and SSM clients point nowhere (the
/// KMS tests name no secret there).
pub(crate) async fn resolve(
    vars: impl IntoIterator<Item = (String, String)>,
    kms: &auditfwd_secrets::KmsDecrypter,
) -> Result<Vec<(String, auditfwd_secrets::SecretString)>, auditfwd_secrets::SecretsError> {
    let nowhere = sdk_config("http://127.0.0.1:9");
    auditfwd_secrets::SecretPlan::from_vars(vars)?
        .fetch(
            kms,
            &auditfwd_secrets::SecretsManagerFetcher::new(&nowhere),
            &auditfwd_secrets::SsmParameterFetcher::new(&nowhere),
        )
        .await
}
