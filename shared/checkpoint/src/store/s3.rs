//! `s3://bucket/prefix`: checkpoint objects in Amazon S3 with S3's conditional writes
//! (`If-None-Match: *` to create, `If-Match: <etag>` to replace, `If-Match` on delete). A 412,
//! or a 409 `ConditionalRequestConflict` (a concurrent conditional write), is a lost race.
//!
//! Listing is `ListObjectsV2` with `Prefix` and `StartAfter`, following continuation tokens.
//! A missing bucket (`NoSuchBucket`) is [`StoreError::LocationMissing`] on every operation.
//!
//! The caller builds the `aws_sdk_s3::Client` (from `aws-config`, so the standard `AWS_*`
//! variables, including `AWS_ENDPOINT_URL`, apply).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::location::{BUCKET_REMEDY, Location};
use super::{
    Etag, ObjectKey, ObjectStore, StoredObject, WriteCondition, check_prefix, keys_from_names,
    prefixed, prefixed_str,
};
use crate::error::StoreError;

/// A checkpoint store in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    list_page_size: Option<i32>,
}

impl S3Store {
    /// A store in `bucket` under `prefix`.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
            list_page_size: None,
        }
    }

    /// Keys per `ListObjectsV2` page (`MaxKeys`, 1 to 1000; S3's default of 1000 when not set).
    /// A listing still gathers every page; this only changes how many requests that takes.
    pub fn with_list_page_size(mut self, keys: u16) -> Self {
        self.list_page_size = Some(i32::from(keys.clamp(1, 1000)));
        self
    }

    fn name(&self, key: &ObjectKey) -> String {
        prefixed(&self.prefix, key)
    }

    fn map_err<E>(&self, key: &str, op: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if err.code() == Some("NoSuchBucket") {
            return StoreError::LocationMissing {
                location: self.url(),
                remedy: BUCKET_REMEDY,
            };
        }
        map_err(key, op, err)
    }
}

fn map_err<E>(key: &str, op: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default();
    if status == Some(412)
        || code == "PreconditionFailed"
        || (status == Some(409) && code == "ConditionalRequestConflict")
    {
        return StoreError::PreconditionFailed {
            key: key.to_owned(),
        };
    }
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => {
            matches!(status, Some(429 | 500..=599)) || matches!(code, "SlowDown" | "RequestTimeout")
        }
        _ => false,
    };
    let message = match (&err, status) {
        // A service answer: its code, message and request id say it all (the raw response,
        // with headers and body, is too much for a log line).
        (SdkError::ServiceError(_), Some(status)) => {
            let request_id = err.meta().extra("aws_request_id").unwrap_or("-");
            format!(
                "HTTP {status} {code}: {} (request id {request_id})",
                err.message().unwrap_or_default()
            )
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    StoreError::Backend {
        key: key.to_owned(),
        op,
        retryable,
        message,
    }
}

impl ObjectStore for S3Store {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        let res = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.name(key))
            .send()
            .await;
        let out = match res {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(self.map_err(key.as_str(), "GetObject", e)),
        };
        let etag = out
            .e_tag()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Backend {
                key: key.as_str().to_owned(),
                op: "GetObject",
                retryable: false,
                message: "S3 answered without an ETag".into(),
            })?;
        let body = out.body.collect().await.map_err(|e| StoreError::Backend {
            key: key.as_str().to_owned(),
            op: "GetObject",
            retryable: true,
            message: format!("reading the body: {e}"),
        })?;
        Ok(Some(StoredObject {
            body: body.into_bytes(),
            etag: Etag::new(etag),
        }))
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
            .bucket(&self.bucket)
            .key(self.name(key))
            .content_type("application/json")
            .body(ByteStream::from(body));
        req = match &condition {
            WriteCondition::Unconditional => req,
            WriteCondition::IfAbsent => req.if_none_match("*"),
            WriteCondition::IfMatch(etag) => req.if_match(etag.as_str()),
        };
        let conditional_on_version = matches!(condition, WriteCondition::IfMatch(_));
        let out = match req.send().await {
            Ok(out) => out,
            // S3 answers If-Match on a missing key with 404: the named version is gone.
            Err(SdkError::ServiceError(e))
                if conditional_on_version && e.err().code() == Some("NoSuchKey") =>
            {
                return Err(StoreError::PreconditionFailed {
                    key: key.as_str().to_owned(),
                });
            }
            Err(e) => return Err(self.map_err(key.as_str(), "PutObject", e)),
        };
        out.e_tag()
            .map(Etag::new)
            .ok_or_else(|| StoreError::Backend {
                key: key.as_str().to_owned(),
                op: "PutObject",
                retryable: false,
                message: "S3 answered without an ETag".into(),
            })
    }

    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        if let Some(etag) = if_match {
            // S3 answers 404 to a conditional delete of an absent object: the version is gone.
            if self.get(key).await?.is_none() {
                return Err(StoreError::PreconditionFailed {
                    key: key.as_str().to_owned(),
                });
            }
            let req = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.name(key))
                .if_match(etag.as_str());
            return match req.send().await {
                Ok(_) => Ok(()),
                Err(SdkError::ServiceError(e)) if e.err().code() == Some("NoSuchKey") => {
                    Err(StoreError::PreconditionFailed {
                        key: key.as_str().to_owned(),
                    })
                }
                Err(e) => Err(self.map_err(key.as_str(), "DeleteObject", e)),
            };
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.name(key))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.map_err(key.as_str(), "DeleteObject", e))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        check_prefix(prefix)?;
        let full_prefix = prefixed_str(&self.prefix, prefix);
        let mut req = self.client.list_objects_v2().bucket(&self.bucket);
        if !full_prefix.is_empty() {
            req = req.prefix(&full_prefix);
        }
        if let Some(after) = start_after {
            req = req.start_after(prefixed_str(&self.prefix, after));
        }
        if let Some(n) = self.list_page_size {
            req = req.max_keys(n);
        }
        // The paginator follows `NextContinuationToken` and stops on a repeated one.
        let mut pages = req.into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.map_err(prefix, "ListObjectsV2", e))?;
            names.extend(
                page.contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| o.key),
            );
        }
        Ok(keys_from_names(&self.prefix, names, prefix, start_after))
    }
}

impl Location for S3Store {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_matches('/'))
    }

    async fn exists(&self) -> Result<bool, StoreError> {
        // One key of the prefix: needs only s3:ListBucket, which the store needs anyway.
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .max_keys(1);
        let prefix = prefixed_str(&self.prefix, "");
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => match self.map_err("", "ListObjectsV2", e) {
                StoreError::LocationMissing { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn create(&self) -> Result<(), StoreError> {
        Err(StoreError::LocationMissing {
            location: self.url(),
            remedy: BUCKET_REMEDY,
        })
    }
}
