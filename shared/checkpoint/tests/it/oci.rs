//! The OCI Object Storage backend's listing against the emulator (signed requests, real
//! `nextStartWith` paging, OCI's inclusive `start`).

use auditfwd_checkpoint::{ObjectStore, OciStore, StoreError};
use auditfwd_oci::auth::{ApiKeyCredentials, PrivateKeySource};
use auditfwd_oci::{Config, Endpoint, Region, RetryConfig, object_storage};
use oci_emulator::{Emulator, EmulatorHandle, TEST_USER_ID, TestKey};

use crate::listing::{KEYS, lists_keys_by_prefix_in_order};

const BUCKET: &str = "auditfwd-state";

async fn emulator() -> (EmulatorHandle, object_storage::Client) {
    let emu = Emulator::builder()
        .seed(3)
        .compartments(1)
        .backlog(chrono::Duration::zero())
        .live(false)
        .auto_create_buckets(false)
        .start()
        .await
        .unwrap();
    emu.create_bucket(BUCKET);
    let key = TestKey::shared().unwrap();
    emu.register_key(key.public_key()).unwrap();
    let credentials = ApiKeyCredentials::builder()
        .tenancy(emu.tenancy_id())
        .user(TEST_USER_ID)
        .private_key(PrivateKeySource::Pem(key.private_pem().to_owned().into()))
        .build()
        .unwrap();
    let config = Config::builder()
        .credentials(credentials)
        .region(Region::parse(&emu.region()).unwrap())
        .endpoint_override_all(Endpoint::parse(&emu.base_url()).unwrap())
        .retry_config(RetryConfig::disabled())
        .build()
        .unwrap();
    (emu, object_storage::Client::new(&config))
}

#[tokio::test]
async fn oci_store_lists_every_page_relative_to_its_prefix() {
    let (emu, client) = emulator().await;
    let ns = emu.namespace();
    // A neighbour whose name shares the store prefix's text but not its directory.
    client
        .put_object()
        .namespace(&ns)
        .bucket(BUCKET)
        .object("prod/eux/manifests/t/r/c/x.json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let store = OciStore::new(client.clone(), &ns, BUCKET, "prod/eu").with_list_page_size(2);
    emu.clear_request_log();
    lists_keys_by_prefix_in_order(&store).await;

    let names: Vec<String> = emu
        .objects(BUCKET)
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names.len(), KEYS.len() + 1);
    assert!(names.iter().all(|n| n.starts_with("prod/eu")), "{names:?}");

    let log = emu.request_log();
    let lists: Vec<_> = log
        .iter()
        .filter(|r| r.operation == "ListObjects")
        .collect();
    assert!(lists.iter().all(|r| r.status == 200), "{lists:?}");
    // Listing all nine keys two at a time took five pages, each after the first starting
    // (inclusively) at the `nextStartWith` it was given. The contract's next listing starts
    // after "manifests/t/r/d/", which ends the run.
    let first = lists
        .iter()
        .position(|r| {
            r.target
                .ends_with("/o?prefix=prod%2Feu%2F&limit=2&fields=name")
        })
        .unwrap();
    let continued = lists[first + 1..]
        .iter()
        .take_while(|r| {
            r.target.contains("?prefix=prod%2Feu%2F&start=")
                && !r
                    .target
                    .contains("start=prod%2Feu%2Fmanifests%2Ft%2Fr%2Fd%2F&")
        })
        .count();
    assert_eq!(1 + continued, 5, "{lists:?}");
    // `start_after` travels as an inclusive `start` and the equal name is dropped by the store.
    assert!(
        lists.iter().any(|r| r.target.contains(
            "start=prod%2Feu%2Fmanifests%2Ft%2Fr%2Fc%2F20261122T1000Z_20261122T1010Z.fresh.json"
        )),
        "{lists:?}"
    );
}

#[tokio::test]
async fn oci_store_listing_a_missing_bucket_is_an_error_not_an_empty_list() {
    let (emu, client) = emulator().await;
    let store = OciStore::new(client, emu.namespace(), "no-such-bucket", "");
    let err = store.list("manifests/", None).await.unwrap_err();
    let StoreError::LocationMissing { location, .. } = &err else {
        panic!("expected a missing location, got {err}")
    };
    assert_eq!(
        location,
        &format!("oci://{}/no-such-bucket/", emu.namespace())
    );
    assert!(!err.is_retryable(), "{err}");
}

#[tokio::test]
async fn oci_location_must_exist_and_be_initialised() {
    let (emu, client) = emulator().await;
    let ns = emu.namespace();
    crate::location::location_lifecycle(
        &OciStore::new(client.clone(), &ns, "no-such-bucket", "auditfwd"),
        &OciStore::new(client.clone(), &ns, BUCKET, "auditfwd"),
        auditfwd_checkpoint::store::Init::Existing,
    )
    .await;
    // A namespace that does not exist is a missing location too.
    let wrong = OciStore::new(client, "no-such-namespace", BUCKET, "auditfwd");
    let err = auditfwd_checkpoint::store::location::open(&wrong)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LocationMissing { .. }), "{err}");
}
