//! The S3 backend against a real moto server (started here, on loopback), held to the same
//! contract as every other backend.

use std::sync::Arc;

use auditfwd_checkpoint::testing::{conditional_writes, lease_race, no_lost_updates};
use auditfwd_checkpoint::{ObjectKey, ObjectStore, S3Store, StoreError};
use auditfwd_test_support::MotoServer;
use aws_sdk_s3::config::{Credentials, Region};

use crate::documents::scope;

/// A moto server with an S3 client for it.
struct Moto(MotoServer);

impl Moto {
    fn start() -> Moto {
        Moto(MotoServer::start())
    }

    fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(self.0.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_store_keeps_the_checkpoint_contract_on_moto() {
    let moto = Moto::start();
    let client = moto.client();
    client
        .create_bucket()
        .bucket("auditfwd-state")
        .send()
        .await
        .unwrap();

    conditional_writes(&S3Store::new(client.clone(), "auditfwd-state", "contract")).await;
    no_lost_updates(Arc::new(S3Store::new(
        client.clone(),
        "auditfwd-state",
        "counter",
    )))
    .await;

    lease_race(
        Arc::new(S3Store::new(client.clone(), "auditfwd-state", "leases")),
        &scope(),
        6,
    )
    .await;

    // A missing bucket must not read as "no checkpoint yet", which would restart from scratch.
    let missing = S3Store::new(client, "no-such-bucket", "");
    let err = missing
        .get(&ObjectKey::new("state/x.json").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Backend {
                retryable: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
}
