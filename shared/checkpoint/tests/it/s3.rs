//! The S3 backend against a real moto server (started here, on loopback), held to the same
//! contract as every other backend.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditfwd_checkpoint::testing::{conditional_writes, lease_race, no_lost_updates};
use auditfwd_checkpoint::{ObjectKey, ObjectStore, S3Store, StoreError};
use aws_sdk_s3::config::{Credentials, Region};

use crate::documents::scope;

/// A moto server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let bin = std::env::var_os("AUDITFWD_MOTO_SERVER").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
            PathBuf::from,
        );
        assert!(
            bin.exists(),
            "moto_server is not installed at {}: run scripts/setup-dev (or set AUDITFWD_MOTO_SERVER)",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start listening on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
