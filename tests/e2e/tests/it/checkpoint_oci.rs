//! The OCI Object Storage checkpoint backend against the emulator, held to the same contract as
//! every other backend, plus the lease race on real conditional writes.

use std::sync::Arc;

use auditfwd_checkpoint::testing::{conditional_writes, lease_race, no_lost_updates};
use auditfwd_checkpoint::{OciStore, Scope};
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

    let scope = Scope::new(
        Ocid::parse(emu.tenancy_id()).unwrap(),
        emu.region(),
        Ocid::parse(emu.tenancy_id()).unwrap(),
    );
    lease_race(
        Arc::new(OciStore::new(client, &ns, "auditfwd-state", "e2e/leases")),
        &scope,
        6,
    )
    .await;
}
