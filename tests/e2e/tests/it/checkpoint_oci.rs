//! The OCI Object Storage checkpoint backend against the emulator, held to the same contract as
//! every other backend, plus the lease race on real conditional writes.

use std::sync::Arc;
use std::time::Duration;

use auditfwd_checkpoint::testing::{conditional_writes, no_lost_updates};
use auditfwd_checkpoint::{LeaseError, OciStore, Scope, lease};
use auditfwd_e2e::{client_config, emulator};
use auditfwd_oci::{Ocid, RetryConfig, object_storage};

#[tokio::test]
async fn oci_store_keeps_the_checkpoint_contract() {
    let (builder, _clock) = emulator(8);
    let emu = builder.compartments(1).start().await.unwrap();
    let client = object_storage::Client::new(&client_config(&emu, RetryConfig::disabled()));
    let ns = client.get_namespace().send().await.unwrap();
    assert_eq!(ns, emu.namespace());

    conditional_writes(&OciStore::new(
        client.clone(),
        &ns,
        "auditfwd-state",
        "e2e/contract",
    ))
    .await;
    no_lost_updates(Arc::new(OciStore::new(
        client.clone(),
        &ns,
        "auditfwd-state",
        "e2e/counter",
    )))
    .await;

    let store = Arc::new(OciStore::new(client, &ns, "auditfwd-state", "e2e/leases"));
    let scope = Scope::new(
        Ocid::parse(emu.tenancy_id()).unwrap(),
        emu.region(),
        Ocid::parse(emu.tenancy_id()).unwrap(),
    );
    let now = chrono::Utc::now();
    let mut racers = Vec::new();
    for i in 0..6 {
        let (store, scope) = (store.clone(), scope.clone());
        racers.push(tokio::spawn(async move {
            lease::acquire(
                &*store,
                &scope,
                &format!("runner-{i}"),
                Duration::from_secs(60),
                now,
            )
            .await
        }));
    }
    let mut winners = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(_) => winners += 1,
            Err(LeaseError::Held { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(winners, 1);
}
