//! A moto S3 server for the `s3://` checkpoint (the shared harness in `tests/support`), with
//! what the `auditfwd` command and the test's own S3 client need to reach it.

use auditfwd_test_support::MotoServer;
use aws_sdk_s3::config::{Credentials, Region};

/// A running moto server, stopped on drop.
#[derive(Debug)]
pub struct Moto {
    server: MotoServer,
}

impl Moto {
    /// Starts moto (from `.venv`, installed by `scripts/setup-dev`).
    pub fn start() -> Moto {
        Moto {
            server: MotoServer::start(),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The variables that point an AWS SDK (the `auditfwd` command's) at this server.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AUDITFWD_S3_FORCE_PATH_STYLE", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A client for this server (path-style, static test credentials).
    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}
