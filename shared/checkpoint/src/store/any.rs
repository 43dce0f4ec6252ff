//! [`AnyStore`]: the backend an `AUDITFWD_CHECKPOINT_URL` names, chosen at run time.

use bytes::Bytes;

use super::{
    Etag, FileStore, Location, ObjectKey, ObjectStore, OciStore, S3Store, StoredObject,
    WriteCondition,
};
use crate::error::StoreError;

/// One of the backends, picked by the checkpoint URL's scheme.
#[derive(Debug)]
pub enum AnyStore {
    /// `file:///dir`.
    File(FileStore),
    /// `s3://bucket/prefix`.
    S3(S3Store),
    /// `oci://namespace/bucket/prefix`.
    Oci(OciStore),
}

impl ObjectStore for AnyStore {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        match self {
            AnyStore::File(s) => s.get(key).await,
            AnyStore::S3(s) => s.get(key).await,
            AnyStore::Oci(s) => s.get(key).await,
        }
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        match self {
            AnyStore::File(s) => s.put(key, body, condition).await,
            AnyStore::S3(s) => s.put(key, body, condition).await,
            AnyStore::Oci(s) => s.put(key, body, condition).await,
        }
    }

    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.delete(key, if_match).await,
            AnyStore::S3(s) => s.delete(key, if_match).await,
            AnyStore::Oci(s) => s.delete(key, if_match).await,
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        match self {
            AnyStore::File(s) => s.list(prefix, start_after).await,
            AnyStore::S3(s) => s.list(prefix, start_after).await,
            AnyStore::Oci(s) => s.list(prefix, start_after).await,
        }
    }
}

impl Location for AnyStore {
    fn url(&self) -> String {
        match self {
            AnyStore::File(s) => s.url(),
            AnyStore::S3(s) => s.url(),
            AnyStore::Oci(s) => s.url(),
        }
    }

    async fn exists(&self) -> Result<bool, StoreError> {
        match self {
            AnyStore::File(s) => s.exists().await,
            AnyStore::S3(s) => s.exists().await,
            AnyStore::Oci(s) => s.exists().await,
        }
    }

    async fn create(&self) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.create().await,
            AnyStore::S3(s) => s.create().await,
            AnyStore::Oci(s) => s.create().await,
        }
    }
}
