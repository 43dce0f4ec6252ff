//! Object Storage: `GET /n/` (namespace) and GET/HEAD/PUT/DELETE of objects with ETags and the
//! conditional headers a checkpoint store relies on (`if-match`, `if-none-match: *`).

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode, header};
use md5::{Digest as _, Md5};
use serde::Serialize;

use crate::error::ApiError;
use crate::http_util::Reply;
use crate::seed;

#[derive(Debug, Clone)]
pub(crate) struct StoredObject {
    data: Bytes,
    etag: String,
    content_type: String,
    md5: String,
    last_modified: DateTime<Utc>,
}

/// A bucket listing entry for the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectInfo {
    /// Object name.
    pub name: String,
    /// Current ETag.
    pub etag: String,
    /// Size in bytes.
    pub size: usize,
}

#[derive(Debug)]
pub(crate) struct ObjectStore {
    seed: u64,
    namespace: String,
    auto_create: bool,
    buckets: HashMap<String, BTreeMap<String, StoredObject>>,
    writes: u64,
}

/// What an object request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectPath {
    pub(crate) namespace: String,
    pub(crate) bucket: String,
    pub(crate) object: String,
}

impl ObjectStore {
    pub(crate) fn new(seed_value: u64, namespace: &str, auto_create: bool) -> Self {
        Self {
            seed: seed_value,
            namespace: namespace.to_string(),
            auto_create,
            buckets: HashMap::new(),
            writes: 0,
        }
    }

    pub(crate) fn create_bucket(&mut self, name: &str) {
        self.buckets.entry(name.to_string()).or_default();
    }

    pub(crate) fn list(&self, bucket: &str) -> Option<Vec<ObjectInfo>> {
        self.buckets.get(bucket).map(|b| {
            b.iter()
                .map(|(name, o)| ObjectInfo {
                    name: name.clone(),
                    etag: o.etag.clone(),
                    size: o.data.len(),
                })
                .collect()
        })
    }

    pub(crate) fn bucket_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.buckets.keys().cloned().collect();
        v.sort();
        v
    }

    pub(crate) fn namespace_reply(&self) -> Reply {
        Reply::json_value(StatusCode::OK, &self.namespace)
    }

    fn check_bucket(&mut self, p: &ObjectPath, creating: bool) -> Result<(), ApiError> {
        if p.namespace != self.namespace {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NamespaceNotFound",
                format!(
                    "You do not have authorization to perform this request, or the requested resource could not be found (namespace '{}')",
                    p.namespace
                ),
            ));
        }
        if !self.buckets.contains_key(&p.bucket) {
            if self.auto_create && creating {
                self.create_bucket(&p.bucket);
            } else if !self.auto_create {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "BucketNotFound",
                    format!(
                        "Either the bucket named '{}' does not exist in the namespace '{}' or you are not authorized to access it",
                        p.bucket, p.namespace
                    ),
                ));
            }
        }
        Ok(())
    }

    fn not_found(p: &ObjectPath) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ObjectNotFound",
            format!(
                "The object '{}' was not found in the bucket '{}'",
                p.object, p.bucket
            ),
        )
    }

    fn no_etag_match(p: &ObjectPath, given: &str) -> ApiError {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "NoEtagMatch",
            format!(
                "The If-Match header '{given}' does not match the current ETag of object '{}'",
                p.object
            ),
        )
    }

    fn object_headers(r: Reply, o: &StoredObject) -> Reply {
        r.header(header::ETAG, &o.etag)
            .header(header::CONTENT_TYPE, &o.content_type)
            .header(header::HeaderName::from_static("opc-content-md5"), &o.md5)
            .header(
                header::LAST_MODIFIED,
                httpdate::fmt_http_date(o.last_modified.into()),
            )
            .header(header::ACCEPT_RANGES, "bytes")
    }

    pub(crate) fn handle(
        &mut self,
        method: &Method,
        p: &ObjectPath,
        headers: &HeaderMap,
        body: Bytes,
        now: DateTime<Utc>,
    ) -> Result<Reply, ApiError> {
        let h = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let if_match = h("if-match");
        let if_none_match = h("if-none-match");
        match *method {
            Method::GET | Method::HEAD => {
                self.check_bucket(p, false)?;
                let o = self
                    .buckets
                    .get(&p.bucket)
                    .and_then(|b| b.get(&p.object))
                    .ok_or_else(|| Self::not_found(p))?;
                if let Some(m) = if_match
                    && m != o.etag
                    && m != "*"
                {
                    return Err(Self::no_etag_match(p, m));
                }
                if let Some(m) = if_none_match
                    && (m == "*" || m == o.etag)
                {
                    return Ok(Self::object_headers(
                        Reply::new(StatusCode::NOT_MODIFIED),
                        o,
                    ));
                }
                let mut r = Self::object_headers(Reply::new(StatusCode::OK), o);
                if *method == Method::HEAD {
                    r.head_length = Some(o.data.len());
                } else {
                    r.body = o.data.clone();
                }
                Ok(r)
            }
            Method::PUT => {
                self.check_bucket(p, true)?;
                let bucket = self.buckets.entry(p.bucket.clone()).or_default();
                let existing = bucket.get(&p.object);
                if let Some(m) = if_match {
                    match existing {
                        Some(o) if o.etag == m || m == "*" => {}
                        _ => return Err(Self::no_etag_match(p, m)),
                    }
                }
                if let Some(m) = if_none_match {
                    if m != "*" {
                        return Err(ApiError::invalid_parameter(
                            "PutObject supports only 'If-None-Match: *'",
                        ));
                    }
                    if existing.is_some() {
                        return Err(ApiError::new(
                            StatusCode::PRECONDITION_FAILED,
                            "IfNoneMatchFailed",
                            format!(
                                "The object '{}' already exists in bucket '{}' (If-None-Match: *)",
                                p.object, p.bucket
                            ),
                        ));
                    }
                }
                self.writes += 1;
                let mut rng = seed::rng(self.seed, &[b"etag", &self.writes.to_le_bytes()]);
                let o = StoredObject {
                    md5: base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body)),
                    data: body,
                    etag: seed::guid(&mut rng),
                    content_type: h("content-type")
                        .unwrap_or("application/octet-stream")
                        .to_string(),
                    last_modified: now,
                };
                let r = Reply::new(StatusCode::OK)
                    .header(header::ETAG, &o.etag)
                    .header(header::HeaderName::from_static("opc-content-md5"), &o.md5)
                    .header(header::LAST_MODIFIED, httpdate::fmt_http_date(now.into()));
                bucket.insert(p.object.clone(), o);
                Ok(r)
            }
            Method::DELETE => {
                self.check_bucket(p, false)?;
                let bucket = self
                    .buckets
                    .get_mut(&p.bucket)
                    .ok_or_else(|| Self::not_found(p))?;
                let o = bucket.get(&p.object).ok_or_else(|| Self::not_found(p))?;
                if let Some(m) = if_match
                    && m != o.etag
                    && m != "*"
                {
                    return Err(Self::no_etag_match(p, m));
                }
                bucket.remove(&p.object);
                Ok(Reply::new(StatusCode::NO_CONTENT)
                    .header(header::LAST_MODIFIED, httpdate::fmt_http_date(now.into())))
            }
            _ => Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{method} is not supported on objects"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_puts_and_deletes() {
        let mut s = ObjectStore::new(1, "ns", true);
        let p = ObjectPath {
            namespace: "ns".into(),
            bucket: "b".into(),
            object: "dir/state.json".into(),
        };
        let now = Utc::now();
        let put = |s: &mut ObjectStore, h: &[(&'static str, &str)], body: &'static str| {
            let mut hm = HeaderMap::new();
            for (k, v) in h {
                hm.insert(*k, v.parse().unwrap());
            }
            s.handle(
                &Method::PUT,
                &p,
                &hm,
                Bytes::from_static(body.as_bytes()),
                now,
            )
        };
        let etag_of = |r: &Reply| {
            r.headers
                .iter()
                .find(|(k, _)| k == header::ETAG)
                .map(|(_, v)| v.to_str().unwrap().to_string())
                .unwrap()
        };
        let first = put(&mut s, &[("if-none-match", "*")], "v1").unwrap();
        let e1 = etag_of(&first);
        assert_eq!(
            put(&mut s, &[("if-none-match", "*")], "v2")
                .unwrap_err()
                .code,
            "IfNoneMatchFailed"
        );
        assert_eq!(
            put(&mut s, &[("if-match", "nope")], "v2").unwrap_err().code,
            "NoEtagMatch"
        );
        let second = put(&mut s, &[("if-match", &e1)], "v2").unwrap();
        assert_ne!(etag_of(&second), e1);
        let got = s
            .handle(&Method::GET, &p, &HeaderMap::new(), Bytes::new(), now)
            .unwrap();
        assert_eq!(&got.body[..], b"v2");
        let mut stale = HeaderMap::new();
        stale.insert("if-match", e1.parse().unwrap());
        let err = s
            .handle(&Method::DELETE, &p, &stale, Bytes::new(), now)
            .unwrap_err();
        assert_eq!(err.status, StatusCode::PRECONDITION_FAILED);
        let del = s
            .handle(&Method::DELETE, &p, &HeaderMap::new(), Bytes::new(), now)
            .unwrap();
        assert_eq!(del.status, StatusCode::NO_CONTENT);
        let err = s
            .handle(&Method::GET, &p, &HeaderMap::new(), Bytes::new(), now)
            .unwrap_err();
        assert_eq!(err.code, "ObjectNotFound");
        let mut strict = ObjectStore::new(1, "ns", false);
        let err = strict
            .handle(&Method::PUT, &p, &HeaderMap::new(), Bytes::new(), now)
            .unwrap_err();
        assert_eq!(err.code, "BucketNotFound");
    }
}
