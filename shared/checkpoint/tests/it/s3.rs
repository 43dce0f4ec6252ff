//! The S3 backend against a real moto server (started here, on loopback), held to the same
//! contract as every other backend.

use std::sync::Arc;

use auditfwd_checkpoint::testing::{conditional_writes, lease_race, no_lost_updates};
use auditfwd_checkpoint::{ObjectKey, ObjectStore, S3Store, StoreError};
use auditfwd_test_support::MotoServer;
use aws_sdk_s3::config::{Credentials, Region};

use crate::documents::scope;
use crate::listing::{KEYS, lists_keys_by_prefix_in_order};

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
        matches!(&err, StoreError::LocationMissing { location, .. } if location == "s3://no-such-bucket/"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_lists_every_page_relative_to_its_prefix_on_moto() {
    let moto = Moto::start();
    let client = moto.client();
    client
        .create_bucket()
        .bucket("auditfwd-list")
        .send()
        .await
        .unwrap();
    // A neighbour whose name shares the store prefix's text but not its directory.
    client
        .put_object()
        .bucket("auditfwd-list")
        .key("prod/eux/manifests/t/r/c/x.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    // Two keys a page: the contract's full listings take up to five pages each.
    let store = S3Store::new(client.clone(), "auditfwd-list", "prod/eu").with_list_page_size(2);
    lists_keys_by_prefix_in_order(&store).await;
    let stored = client
        .list_objects_v2()
        .bucket("auditfwd-list")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.key_count(),
        Some(i32::try_from(KEYS.len()).unwrap() + 1)
    );

    let missing = S3Store::new(client, "no-such-bucket", "");
    let err = missing.list("manifests/", None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::LocationMissing { location, .. } if location == "s3://no-such-bucket/"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn s3_location_must_exist_and_be_initialised() {
    let moto = Moto::start();
    let client = moto.client();
    client
        .create_bucket()
        .bucket("auditfwd-state")
        .send()
        .await
        .unwrap();
    crate::location::location_lifecycle(
        &S3Store::new(client.clone(), "no-such-bucket", "auditfwd"),
        &S3Store::new(client, "auditfwd-state", "auditfwd"),
        auditfwd_checkpoint::store::Init::Create,
    )
    .await;
}
