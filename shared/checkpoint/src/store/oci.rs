//! `oci://namespace/bucket/prefix`: checkpoint objects in OCI Object Storage, through the
//! project's own OCI client (`if-match` / `if-none-match: *`, 412 as a lost precondition).
//! Listing is `ListObjects` with `prefix` and `start`, following `nextStartWith`; OCI's `start`
//! is inclusive, so a name equal to `start_after` is dropped here. A missing bucket or namespace
//! (`BucketNotFound`, `NamespaceNotFound`) is [`StoreError::LocationMissing`] on every operation.

use auditfwd_oci::{Error as OciError, object_storage};
use bytes::Bytes;

use super::location::{BUCKET_REMEDY, Location};
use super::{
    Etag, ObjectKey, ObjectStore, StoredObject, WriteCondition, check_prefix, keys_from_names,
    prefixed, prefixed_str,
};
use crate::error::StoreError;

/// A checkpoint store in an OCI Object Storage bucket.
#[derive(Debug, Clone)]
pub struct OciStore {
    client: object_storage::Client,
    namespace: String,
    bucket: String,
    prefix: String,
    list_page_size: Option<u32>,
}

impl OciStore {
    /// A store in `namespace`/`bucket` under `prefix`.
    pub fn new(
        client: object_storage::Client,
        namespace: impl Into<String>,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        OciStore {
            client,
            namespace: namespace.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
            list_page_size: None,
        }
    }

    /// Names per `ListObjects` page (`limit`, 1 to 1000; OCI's default of 1000 when not set).
    /// A listing still gathers every page; this only changes how many requests that takes.
    pub fn with_list_page_size(mut self, names: u16) -> Self {
        self.list_page_size = Some(u32::from(names.clamp(1, 1000)));
        self
    }

    fn name(&self, key: &ObjectKey) -> String {
        prefixed(&self.prefix, key)
    }

    fn map_err(&self, key: &ObjectKey, source: OciError) -> StoreError {
        self.map_err_at(key.as_str(), source)
    }

    fn map_err_at(&self, key: &str, source: OciError) -> StoreError {
        match source {
            OciError::PreconditionFailed { .. } => StoreError::PreconditionFailed {
                key: key.to_owned(),
            },
            source if location_missing(&source) => StoreError::LocationMissing {
                location: self.url(),
                remedy: BUCKET_REMEDY,
            },
            source => StoreError::Oci {
                key: key.to_owned(),
                source: Box::new(source),
            },
        }
    }
}

/// Whether OCI answered that the bucket or the namespace does not exist (both are 404s, like a
/// missing object, and must never read as "no checkpoint yet").
fn location_missing(e: &OciError) -> bool {
    e.is_not_found()
        && e.service_error()
            .is_some_and(|s| matches!(s.code.as_str(), "BucketNotFound" | "NamespaceNotFound"))
}

impl ObjectStore for OciStore {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        let res = self
            .client
            .get_object()
            .namespace(&self.namespace)
            .bucket(&self.bucket)
            .object(self.name(key))
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(StoredObject {
                body: out.body,
                etag: Etag::new(out.metadata.etag),
            })),
            Err(e) if e.is_not_found() && !location_missing(&e) => Ok(None),
            Err(e) => Err(self.map_err(key, e)),
        }
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        let mut req = self
            .client
            .put_object()
            .namespace(&self.namespace)
            .bucket(&self.bucket)
            .object(self.name(key))
            .content_type("application/json")
            .body(body);
        req = match condition {
            WriteCondition::Unconditional => req,
            WriteCondition::IfAbsent => req.if_none_match_any(),
            WriteCondition::IfMatch(etag) => req.if_match(etag.as_str()),
        };
        let out = req.send().await.map_err(|e| self.map_err(key, e))?;
        Ok(Etag::new(out.etag))
    }

    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        let mut req = self
            .client
            .delete_object()
            .namespace(&self.namespace)
            .bucket(&self.bucket)
            .object(self.name(key));
        if let Some(e) = if_match {
            req = req.if_match(e.as_str());
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if location_missing(&e) => Err(self.map_err(key, e)),
            // Absent: done, unless a version was named, which then no longer exists.
            Err(e) if e.is_not_found() && if_match.is_none() => Ok(()),
            Err(e) if e.is_not_found() => Err(StoreError::PreconditionFailed {
                key: key.as_str().to_owned(),
            }),
            Err(e) => Err(self.map_err(key, e)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        check_prefix(prefix)?;
        let mut req = self
            .client
            .list_objects()
            .namespace(&self.namespace)
            .bucket(&self.bucket)
            .prefix(prefixed_str(&self.prefix, prefix));
        if let Some(after) = start_after {
            // Inclusive: the name equal to `after` comes back and is dropped below.
            req = req.start(prefixed_str(&self.prefix, after));
        }
        if let Some(n) = self.list_page_size {
            req = req.limit(n);
        }
        let mut pages = req.into_paginator();
        let mut names = Vec::new();
        while let Some(page) = pages.next_page().await {
            let page = page.map_err(|e| self.map_err_at(prefix, e))?;
            names.extend(page.objects.into_iter().map(|o| o.name));
        }
        Ok(keys_from_names(&self.prefix, names, prefix, start_after))
    }
}

impl Location for OciStore {
    fn url(&self) -> String {
        format!(
            "oci://{}/{}/{}",
            self.namespace,
            self.bucket,
            self.prefix.trim_matches('/')
        )
    }

    async fn exists(&self) -> Result<bool, StoreError> {
        let res = self
            .client
            .list_objects()
            .namespace(&self.namespace)
            .bucket(&self.bucket)
            .prefix(prefixed_str(&self.prefix, ""))
            .limit(1)
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if location_missing(&e) => Ok(false),
            Err(e) => Err(self.map_err_at("", e)),
        }
    }

    async fn create(&self) -> Result<(), StoreError> {
        Err(StoreError::LocationMissing {
            location: self.url(),
            remedy: BUCKET_REMEDY,
        })
    }
}
