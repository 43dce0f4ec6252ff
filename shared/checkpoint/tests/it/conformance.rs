//! The contract every backend must keep (the suite lives in `auditfwd_checkpoint::testing`).

use std::sync::Arc;

use auditfwd_checkpoint::testing::{conditional_writes, no_lost_updates};
use auditfwd_checkpoint::{FileStore, MemoryStore, ObjectKey, ObjectStore, WriteCondition};
use bytes::Bytes;

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    conditional_writes(&MemoryStore::new()).await;
    no_lost_updates(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    conditional_writes(&FileStore::new(dir.path().join("a"))).await;
    no_lost_updates(Arc::new(FileStore::new(dir.path().join("b")))).await;
}

#[tokio::test]
async fn file_store_writes_whole_files_and_ignores_leftover_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let key = ObjectKey::new("state/t/r/c.json").unwrap();
    // A crash between writing a temporary file and renaming it leaves the temporary behind.
    std::fs::create_dir_all(dir.path().join("state/t/r")).unwrap();
    std::fs::write(dir.path().join("state/t/r/.tmp-99-0"), b"half a docu").unwrap();
    assert!(store.get(&key).await.unwrap().is_none());
    let body = Bytes::from(vec![b'x'; 1 << 20]);
    let etag = store
        .put(&key, body.clone(), WriteCondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("state/t/r/c.json"))
            .unwrap()
            .len(),
        1 << 20
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap().etag, etag);
    // A second store over the same directory (another process, a restart) sees the same etag.
    assert_eq!(
        FileStore::new(dir.path())
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .etag,
        etag
    );
}
