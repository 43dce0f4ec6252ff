//! Object Storage: namespace, single objects with the conditional writes a checkpoint store
//! needs, and object listings.
//!
//! `put_object().if_none_match_any()` creates only if absent; `.if_match(etag)` replaces only
//! the version read. Losing either race is [`Error::PreconditionFailed`], never a silent
//! overwrite. Note for callers that retry: if a conditional PUT succeeded but its answer was
//! lost, the retry fails its precondition against our own write; read the object back to tell
//! the two cases apart.
//!
//! `list_objects()` lists names in order, one page at a time ([`ListObjectsPaginator`] follows
//! `nextStartWith`). Its `start` is *inclusive*, as OCI's is.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::Method;
use serde::Deserialize;

use crate::config::Config;
use crate::error::Error;
use crate::pagination::{PagedRequest, Paginator};
use crate::region::Service;
use crate::signer::BodySigning;
use crate::transport::{OciRequest, OciResponse};

/// Client for Object Storage.
#[derive(Debug, Clone)]
pub struct Client {
    config: Config,
}

impl Client {
    /// A client using `config`'s region, credentials and policies.
    pub fn new(config: &Config) -> Self {
        Client {
            config: config.clone(),
        }
    }

    /// `GetNamespace`: the tenancy's Object Storage namespace.
    pub fn get_namespace(&self) -> GetNamespaceFluentBuilder {
        GetNamespaceFluentBuilder {
            client: self.clone(),
        }
    }

    /// `GetObject`.
    pub fn get_object(&self) -> GetObjectFluentBuilder {
        GetObjectFluentBuilder {
            client: self.clone(),
            location: ObjectLocation::default(),
        }
    }

    /// `HeadObject`.
    pub fn head_object(&self) -> HeadObjectFluentBuilder {
        HeadObjectFluentBuilder {
            client: self.clone(),
            location: ObjectLocation::default(),
        }
    }

    /// `PutObject`.
    pub fn put_object(&self) -> PutObjectFluentBuilder {
        PutObjectFluentBuilder {
            client: self.clone(),
            location: ObjectLocation::default(),
            body: Bytes::new(),
            content_type: None,
            condition: WriteCondition::None,
        }
    }

    /// `DeleteObject`.
    pub fn delete_object(&self) -> DeleteObjectFluentBuilder {
        DeleteObjectFluentBuilder {
            client: self.clone(),
            location: ObjectLocation::default(),
            if_match: None,
        }
    }

    /// `ListObjects`: object names in a bucket, in lexicographic order, one page per call.
    pub fn list_objects(&self) -> ListObjectsFluentBuilder {
        ListObjectsFluentBuilder {
            client: self.clone(),
            location: ObjectLocation::default(),
            prefix: None,
            start: None,
            end: None,
            limit: None,
        }
    }

    fn object_url(&self, loc: &ObjectLocation, op: &'static str) -> Result<url::Url, Error> {
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::Construction {
                    operation: op,
                    reason: format!("{what} is required"),
                })
        };
        let (ns, bucket, object) = (
            need(&loc.namespace, "namespace")?,
            need(&loc.bucket, "bucket")?,
            need(&loc.object, "object name")?,
        );
        let path = format!(
            "/n/{}/b/{}/o/{}",
            crate::encode_path_segment(&ns),
            crate::encode_path_segment(&bucket),
            crate::encode_path_segment(&object)
        );
        self.config.url(Service::ObjectStorage, &path, op)
    }
}

#[derive(Debug, Clone, Default)]
struct ObjectLocation {
    namespace: Option<String>,
    bucket: Option<String>,
    object: Option<String>,
}

macro_rules! location_setters {
    () => {
        /// The namespace (required).
        pub fn namespace(mut self, ns: impl Into<String>) -> Self {
            self.location.namespace = Some(ns.into());
            self
        }

        /// The bucket (required).
        pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
            self.location.bucket = Some(bucket.into());
            self
        }

        /// The object name (required; `/` is allowed and encoded).
        pub fn object(mut self, name: impl Into<String>) -> Self {
            self.location.object = Some(name.into());
            self
        }
    };
}

/// What the service says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMetadata {
    /// The version tag to use with `if-match`.
    pub etag: String,
    /// Size in bytes.
    pub content_length: Option<u64>,
    /// Content type.
    pub content_type: Option<String>,
    /// `last-modified`, as sent.
    pub last_modified: Option<String>,
    /// `opc-meta-*` user metadata, without the prefix.
    pub user_metadata: BTreeMap<String, String>,
    /// `opc-request-id`.
    pub request_id: Option<String>,
}

impl ObjectMetadata {
    fn from_response(resp: &OciResponse) -> Result<Self, Error> {
        let etag = resp
            .header("etag")
            .ok_or_else(|| resp.decode_error("no etag header"))?;
        let user_metadata = resp
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str().strip_prefix("opc-meta-")?.to_owned(),
                    v.to_str().ok()?.to_owned(),
                ))
            })
            .collect();
        Ok(ObjectMetadata {
            etag,
            content_length: resp.header("content-length").and_then(|v| v.parse().ok()),
            content_type: resp.header("content-type"),
            last_modified: resp.header("last-modified"),
            user_metadata,
            request_id: resp.request_id(),
        })
    }
}

/// Builder for `GetNamespace`.
#[derive(Debug, Clone)]
pub struct GetNamespaceFluentBuilder {
    client: Client,
}

impl GetNamespaceFluentBuilder {
    /// Fetches the namespace name.
    pub async fn send(&self) -> Result<String, Error> {
        const OP: &str = "GetNamespace";
        let url = self.client.config.url(Service::ObjectStorage, "/n/", OP)?;
        self.client
            .config
            .transport()
            .send(OciRequest::new(OP, Method::GET, url))
            .await?
            .json()
    }
}

/// Builder for `GetObject`.
#[derive(Debug, Clone)]
pub struct GetObjectFluentBuilder {
    client: Client,
    location: ObjectLocation,
}

/// An object's bytes and metadata.
#[derive(Debug, Clone)]
pub struct GetObjectOutput {
    /// The content.
    pub body: Bytes,
    /// Its metadata.
    pub metadata: ObjectMetadata,
}

impl GetObjectFluentBuilder {
    location_setters!();

    /// Fetches the object (a 404 is an error; see [`Error::is_not_found`]).
    pub async fn send(&self) -> Result<GetObjectOutput, Error> {
        const OP: &str = "GetObject";
        let url = self.client.object_url(&self.location, OP)?;
        let req = OciRequest::new(OP, Method::GET, url).header("accept", "*/*")?;
        let resp = self.client.config.transport().send(req).await?;
        let metadata = ObjectMetadata::from_response(&resp)?;
        Ok(GetObjectOutput {
            body: resp.body,
            metadata,
        })
    }
}

/// Builder for `HeadObject`.
#[derive(Debug, Clone)]
pub struct HeadObjectFluentBuilder {
    client: Client,
    location: ObjectLocation,
}

impl HeadObjectFluentBuilder {
    location_setters!();

    /// Fetches the metadata.
    pub async fn send(&self) -> Result<ObjectMetadata, Error> {
        const OP: &str = "HeadObject";
        let url = self.client.object_url(&self.location, OP)?;
        let resp = self
            .client
            .config
            .transport()
            .send(OciRequest::new(OP, Method::HEAD, url))
            .await?;
        ObjectMetadata::from_response(&resp)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum WriteCondition {
    None,
    IfMatch(String),
    IfNoneMatchAny,
}

/// Builder for `PutObject`.
#[derive(Debug, Clone)]
pub struct PutObjectFluentBuilder {
    client: Client,
    location: ObjectLocation,
    body: Bytes,
    content_type: Option<String>,
    condition: WriteCondition,
}

/// The result of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutObjectOutput {
    /// The new version's etag.
    pub etag: String,
    /// `opc-request-id`.
    pub request_id: Option<String>,
}

impl PutObjectFluentBuilder {
    location_setters!();

    /// The content.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Content type (default `application/octet-stream`).
    pub fn content_type(mut self, ct: impl Into<String>) -> Self {
        self.content_type = Some(ct.into());
        self
    }

    /// Write only over the version with this etag (`if-match`).
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.condition = WriteCondition::IfMatch(etag.into());
        self
    }

    /// Write only if no object exists (`if-none-match: *`).
    pub fn if_none_match_any(mut self) -> Self {
        self.condition = WriteCondition::IfNoneMatchAny;
        self
    }

    /// Writes the object; a lost condition is [`Error::PreconditionFailed`].
    pub async fn send(&self) -> Result<PutObjectOutput, Error> {
        const OP: &str = "PutObject";
        let url = self.client.object_url(&self.location, OP)?;
        let mut req = OciRequest::new(OP, Method::PUT, url).header(
            "content-type",
            self.content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        )?;
        req = match &self.condition {
            WriteCondition::None => req,
            WriteCondition::IfMatch(etag) => req.header("if-match", etag)?,
            WriteCondition::IfNoneMatchAny => req.header("if-none-match", "*")?,
        };
        req.body = Some(self.body.clone());
        // Object Storage streams object bodies, so PutObject is signed without body headers.
        req.body_signing = BodySigning::Exclude;
        let resp = self.client.config.transport().send(req).await?;
        let etag = resp
            .header("etag")
            .ok_or_else(|| resp.decode_error("PutObject answer has no etag header"))?;
        Ok(PutObjectOutput {
            etag,
            request_id: resp.request_id(),
        })
    }
}

/// Builder for `DeleteObject`.
#[derive(Debug, Clone)]
pub struct DeleteObjectFluentBuilder {
    client: Client,
    location: ObjectLocation,
    if_match: Option<String>,
}

impl DeleteObjectFluentBuilder {
    location_setters!();

    /// Delete only the version with this etag.
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }

    /// Deletes the object; returns the `opc-request-id`.
    pub async fn send(&self) -> Result<Option<String>, Error> {
        const OP: &str = "DeleteObject";
        let url = self.client.object_url(&self.location, OP)?;
        let mut req = OciRequest::new(OP, Method::DELETE, url);
        if let Some(etag) = &self.if_match {
            req = req.header("if-match", etag)?;
        }
        Ok(self.client.config.transport().send(req).await?.request_id())
    }
}

/// Builder for `ListObjects` (`GET /n/{namespace}/b/{bucket}/o`). Asks for names only
/// (`fields=name`).
#[derive(Debug, Clone)]
pub struct ListObjectsFluentBuilder {
    client: Client,
    location: ObjectLocation,
    prefix: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<u32>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ObjectSummary {
    /// The object's name.
    pub name: String,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsOutput {
    /// The objects on this page, in name order.
    pub objects: Vec<ObjectSummary>,
    /// Common prefixes (only filled in by delimiter listings, which this client does not make).
    pub prefixes: Vec<String>,
    /// `nextStartWith`: the first name of the next page (send it as the inclusive `start`);
    /// `None` on the last page.
    pub next_start_with: Option<String>,
    /// `opc-request-id`.
    pub request_id: Option<String>,
}

/// The body of a `ListObjects` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListObjectsBody {
    objects: Vec<ObjectSummary>,
    #[serde(default)]
    prefixes: Option<Vec<String>>,
    #[serde(default)]
    next_start_with: Option<String>,
}

impl ListObjectsFluentBuilder {
    /// The namespace (required).
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.location.namespace = Some(ns.into());
        self
    }

    /// The bucket (required).
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.location.bucket = Some(bucket.into());
        self
    }

    /// `prefix`: only names that start with this.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// `start`: only names lexicographically **greater than or equal to** this (OCI's `start`
    /// is inclusive; a caller that wants "after" must drop an equal name itself).
    pub fn start(mut self, start: impl Into<String>) -> Self {
        self.start = Some(start.into());
        self
    }

    /// `end`: only names lexicographically less than this (exclusive).
    pub fn end(mut self, end: impl Into<String>) -> Self {
        self.end = Some(end.into());
        self
    }

    /// `limit`: page size (OCI allows 1 to 1000, and uses 1000 when none is given).
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }

    /// Fetches one page.
    pub async fn send(&self) -> Result<ListObjectsOutput, Error> {
        self.fetch(self.start.as_deref()).await
    }

    /// A paginator over every page, following `nextStartWith`.
    pub fn into_paginator(self) -> ListObjectsPaginator {
        let start = self.start.clone();
        Paginator::new(self, start)
    }

    async fn fetch(&self, start: Option<&str>) -> Result<ListObjectsOutput, Error> {
        const OP: &str = "ListObjects";
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::Construction {
                    operation: OP,
                    reason: format!("{what} is required"),
                })
        };
        let (ns, bucket) = (
            need(&self.location.namespace, "namespace")?,
            need(&self.location.bucket, "bucket")?,
        );
        if let Some(n) = self.limit.filter(|n| !(1..=1000).contains(n)) {
            return Err(Error::Construction {
                operation: OP,
                reason: format!("limit {n} is outside 1..=1000"),
            });
        }
        let path = format!(
            "/n/{}/b/{}/o",
            crate::encode_path_segment(&ns),
            crate::encode_path_segment(&bucket)
        );
        let mut url = self.client.config.url(Service::ObjectStorage, &path, OP)?;
        // Strict percent-encoding (only RFC 3986 unreserved characters stay as they are), so the
        // target we sign is exactly what goes on the wire and a '+' or ' ' in a name cannot be
        // read two ways.
        let limit = self.limit.map(|n| n.to_string());
        let pairs = [
            ("prefix", self.prefix.as_deref().filter(|p| !p.is_empty())),
            ("start", start.filter(|s| !s.is_empty())),
            ("end", self.end.as_deref().filter(|e| !e.is_empty())),
            ("limit", limit.as_deref()),
            ("fields", Some("name")),
        ];
        let query = pairs
            .iter()
            .filter_map(|(k, v)| Some(format!("{k}={}", crate::encode_path_segment((*v)?))))
            .collect::<Vec<_>>()
            .join("&");
        url.set_query(Some(&query));
        let resp = self
            .client
            .config
            .transport()
            .send(OciRequest::new(OP, Method::GET, url))
            .await?;
        let body: ListObjectsBody = resp.json()?;
        Ok(ListObjectsOutput {
            objects: body.objects,
            prefixes: body.prefixes.unwrap_or_default(),
            next_start_with: body.next_start_with.filter(|s| !s.is_empty()),
            request_id: resp.request_id(),
        })
    }
}

/// Yields the pages of a `ListObjects` call in order.
pub type ListObjectsPaginator = Paginator<ListObjectsFluentBuilder>;

impl PagedRequest for ListObjectsFluentBuilder {
    type Page = ListObjectsOutput;
    const OPERATION: &'static str = "ListObjects";

    fn fetch(
        &self,
        token: Option<&str>,
    ) -> impl Future<Output = Result<ListObjectsOutput, Error>> + Send {
        self.fetch(token)
    }

    fn next_token(page: &ListObjectsOutput) -> Option<String> {
        page.next_start_with.clone()
    }

    fn request_id(page: &ListObjectsOutput) -> Option<String> {
        page.request_id.clone()
    }
}
