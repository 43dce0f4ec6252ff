//! Object Storage: `GET /n/` (namespace), GET/HEAD/PUT/DELETE of objects with ETags and the
//! conditional headers a checkpoint store relies on (`if-match`, `if-none-match: *`), and
//! `ListObjects` with `prefix`, `start` (inclusive), `startAfter`, `end`, `limit`, `fields` and
//! `nextStartWith` paging.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode, header};
use md5::{Digest as _, Md5};
use serde::Serialize;

use crate::error::ApiError;
use crate::http_util::Reply;
use crate::seed;
use crate::tenancy::rfc3339_ms;

/// `ListObjects` page size when the request gives no `limit` (OCI's maximum, as the service).
const DEFAULT_LIST_LIMIT: usize = 1000;

/// The summary fields `ListObjects` can return (`fields`, case-insensitive).
const LIST_FIELDS: [&str; 8] = [
    "name",
    "size",
    "etag",
    "md5",
    "timeCreated",
    "timeModified",
    "storageTier",
    "archivalState",
];

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

/// What a bucket-level request (`ListObjects`) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketPath {
    pub(crate) namespace: String,
    pub(crate) bucket: String,
}

/// The parameters of one `ListObjects` call, checked.
#[derive(Debug)]
struct ListQuery<'q> {
    prefix: &'q str,
    start: Option<&'q str>,
    start_after: Option<&'q str>,
    end: Option<&'q str>,
    limit: usize,
    /// Every requested field, `name` first, spelled as in [`LIST_FIELDS`].
    fields: Vec<&'static str>,
}

impl<'q> ListQuery<'q> {
    fn parse(q: &'q HashMap<String, String>) -> Result<Self, ApiError> {
        if let Some(d) = q.get("delimiter") {
            return Err(ApiError::invalid_parameter(format!(
                "delimiter '{d}' is not supported by the emulator (list without a delimiter)"
            )));
        }
        let limit = match q.get("limit") {
            None => DEFAULT_LIST_LIMIT,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid_parameter(format!(
                        "limit '{v}' must be 1..1000"
                    )));
                }
            },
        };
        let mut fields = vec!["name"];
        if let Some(list) = q.get("fields") {
            for f in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                let known = LIST_FIELDS
                    .into_iter()
                    .find(|known| known.eq_ignore_ascii_case(f))
                    .ok_or_else(|| {
                        ApiError::invalid_parameter(format!(
                            "fields: '{f}' is not one of {}",
                            LIST_FIELDS.join(", ")
                        ))
                    })?;
                if !fields.contains(&known) {
                    fields.push(known);
                }
            }
        }
        let opt = |name: &str| q.get(name).map(String::as_str).filter(|s| !s.is_empty());
        Ok(Self {
            prefix: opt("prefix").unwrap_or(""),
            start: opt("start"),
            start_after: opt("startAfter"),
            end: opt("end"),
            limit,
            fields,
        })
    }

    /// Whether `name` passes every filter but the lower bounds the range already applied.
    fn wants(&self, name: &str) -> bool {
        self.start_after.is_none_or(|a| name > a) && self.end.is_none_or(|e| name < e)
    }
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

    fn check_bucket(&mut self, p: &BucketPath, creating: bool) -> Result<(), ApiError> {
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

    /// `ListObjects`: names in byte order, filtered by `prefix`, `start` (inclusive),
    /// `startAfter`, `end` (exclusive); at most `limit` per page, and `nextStartWith` (the first
    /// name left out, to send back as `start`) when there are more.
    pub(crate) fn list_objects(
        &mut self,
        p: &BucketPath,
        q: &HashMap<String, String>,
    ) -> Result<Reply, ApiError> {
        let q = ListQuery::parse(q)?;
        self.check_bucket(p, false)?;
        let empty = BTreeMap::new();
        // With auto-created buckets, a bucket nobody wrote to yet is simply empty.
        let bucket = self.buckets.get(&p.bucket).unwrap_or(&empty);
        // Everything before the prefix (or before `start`) can be skipped outright.
        let lower = match q.start {
            Some(s) if s > q.prefix => s,
            _ => q.prefix,
        };
        let mut matching = bucket
            .range::<str, _>((Bound::Included(lower), Bound::Unbounded))
            .take_while(|(name, _)| name.starts_with(q.prefix))
            .filter(|(name, _)| q.wants(name));
        let mut objects = Vec::new();
        for (name, o) in matching.by_ref().take(q.limit) {
            objects.push(Self::summary(name, o, &q.fields));
        }
        let mut body = serde_json::Map::new();
        body.insert("objects".into(), serde_json::Value::Array(objects));
        if let Some((next, _)) = matching.next() {
            body.insert("nextStartWith".into(), next.clone().into());
        }
        Ok(Reply::json_value(StatusCode::OK, &body))
    }

    fn summary(name: &str, o: &StoredObject, fields: &[&'static str]) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for &field in fields {
            let value = match field {
                "name" => name.into(),
                "size" => o.data.len().into(),
                "etag" => o.etag.clone().into(),
                "md5" => o.md5.clone().into(),
                // Objects are never modified in place: every PUT creates the object anew.
                "timeCreated" | "timeModified" => rfc3339_ms(o.last_modified).into(),
                "storageTier" => "Standard".into(),
                // Only archived objects have an archival state; there are none here.
                _ => continue,
            };
            m.insert(field.to_string(), value);
        }
        serde_json::Value::Object(m)
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
        let bucket_path = BucketPath {
            namespace: p.namespace.clone(),
            bucket: p.bucket.clone(),
        };
        match *method {
            Method::GET | Method::HEAD => {
                self.check_bucket(&bucket_path, false)?;
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
                self.check_bucket(&bucket_path, true)?;
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
                self.check_bucket(&bucket_path, false)?;
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

    fn list(s: &mut ObjectStore, pairs: &[(&str, &str)]) -> Result<serde_json::Value, ApiError> {
        let q = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let p = BucketPath {
            namespace: "ns".into(),
            bucket: "b".into(),
        };
        let r = s.list_objects(&p, &q)?;
        assert_eq!(r.status, StatusCode::OK);
        Ok(serde_json::from_slice(&r.body).unwrap())
    }

    fn names(v: &serde_json::Value) -> Vec<&str> {
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn list_objects_filters_pages_with_inclusive_start_and_picks_fields() {
        let mut s = ObjectStore::new(1, "ns", false);
        let now = Utc::now();
        s.create_bucket("b");
        for name in ["a/1", "a/2", "a/3", "a/4", "a0", "b/1", "a/0 x"] {
            let p = ObjectPath {
                namespace: "ns".into(),
                bucket: "b".into(),
                object: name.into(),
            };
            s.handle(
                &Method::PUT,
                &p,
                &HeaderMap::new(),
                Bytes::from_static(b"abc"),
                now,
            )
            .unwrap();
        }
        let all = list(&mut s, &[]).unwrap();
        assert_eq!(
            names(&all),
            ["a/0 x", "a/1", "a/2", "a/3", "a/4", "a0", "b/1"]
        );
        assert!(all.get("nextStartWith").is_none());
        // Only the name unless more fields are asked for.
        assert_eq!(all["objects"][0], serde_json::json!({"name": "a/0 x"}));

        // Pages of two under a prefix; nextStartWith is the first name left out and goes
        // back as the inclusive `start`.
        let p1 = list(&mut s, &[("prefix", "a/"), ("limit", "2")]).unwrap();
        assert_eq!(names(&p1), ["a/0 x", "a/1"]);
        assert_eq!(p1["nextStartWith"], "a/2");
        let p2 = list(
            &mut s,
            &[("prefix", "a/"), ("limit", "2"), ("start", "a/2")],
        )
        .unwrap();
        assert_eq!(names(&p2), ["a/2", "a/3"]);
        assert_eq!(p2["nextStartWith"], "a/4");
        let p3 = list(
            &mut s,
            &[("prefix", "a/"), ("limit", "2"), ("start", "a/4")],
        )
        .unwrap();
        assert_eq!(names(&p3), ["a/4"]);
        assert!(p3.get("nextStartWith").is_none());

        // startAfter is exclusive, end is exclusive; a start before the prefix is harmless.
        let r = list(
            &mut s,
            &[
                ("prefix", "a/"),
                ("startAfter", "a/1"),
                ("end", "a/4"),
                ("start", "0"),
            ],
        )
        .unwrap();
        assert_eq!(names(&r), ["a/2", "a/3"]);

        let r = list(
            &mut s,
            &[
                ("prefix", "b/"),
                ("fields", "NAME,size,Etag,md5,timeCreated,storageTier"),
            ],
        )
        .unwrap();
        let o = &r["objects"][0];
        assert_eq!(
            (o["name"].as_str(), o["size"].as_u64()),
            (Some("b/1"), Some(3))
        );
        assert_eq!(o["storageTier"], "Standard");
        assert!(o["etag"].is_string() && o["md5"].is_string() && o["timeCreated"].is_string());
        assert!(o.get("timeModified").is_none());

        for bad in [
            &[("limit", "0")][..],
            &[("limit", "1001")][..],
            &[("fields", "name,colour")][..],
            &[("delimiter", "/")][..],
        ] {
            assert_eq!(
                list(&mut s, bad).unwrap_err().code,
                "InvalidParameter",
                "{bad:?}"
            );
        }
        let missing = BucketPath {
            namespace: "ns".into(),
            bucket: "nope".into(),
        };
        assert_eq!(
            s.list_objects(&missing, &HashMap::new()).unwrap_err().code,
            "BucketNotFound"
        );
        // With auto-created buckets, a bucket not written yet lists empty.
        let mut auto = ObjectStore::new(1, "ns", true);
        assert_eq!(names(&list(&mut auto, &[]).unwrap()), Vec::<&str>::new());
    }
}
