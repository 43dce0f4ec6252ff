//! Conditional object stores: the narrow I/O edge every checkpoint write goes through.
//!
//! A store holds opaque bytes under a key and hands back an [`Etag`] per version. Writes can
//! be made conditional on the object being absent or on its current etag, which is what keeps
//! two runners from clobbering each other: the loser gets [`StoreError::PreconditionFailed`]
//! and must re-read. Backends are chosen by URL ([`CheckpointLocation`]).

mod any;
mod file;
#[cfg(feature = "test-util")]
mod memory;
mod oci;
mod s3;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;

use bytes::Bytes;

pub use any::AnyStore;
pub use file::FileStore;
#[cfg(feature = "test-util")]
pub use memory::MemoryStore;
pub use oci::OciStore;
pub use s3::S3Store;

use crate::error::StoreError;

/// An opaque version tag of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Etag(String);

impl Etag {
    /// Wraps a backend's etag.
    pub fn new(s: impl Into<String>) -> Self {
        Etag(s.into())
    }

    /// The etag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored object's content and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes.
    pub body: Bytes,
    /// The version they belong to.
    pub etag: Etag,
}

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Always (last writer wins): only for write-once records such as manifests.
    Unconditional,
    /// Only if no object exists under the key.
    IfAbsent,
    /// Only if the current version has this etag.
    IfMatch(Etag),
}

/// A key inside a store: `/`-separated, non-empty segments, no `.` or `..`, no control
/// characters, so it can never escape a file store's root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Checks and wraps a key.
    pub fn new(key: impl Into<String>) -> Result<Self, StoreError> {
        let key = key.into();
        let ok = !key.is_empty()
            && key.len() <= 1024
            && key.split('/').all(|seg| {
                !seg.is_empty() && seg != "." && seg != ".." && !seg.starts_with(".tmp-")
            })
            && !key.chars().any(|c| c.is_control() || c == '\\');
        if ok {
            Ok(ObjectKey(key))
        } else {
            Err(StoreError::InvalidKey(key))
        }
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A conditional key-value store for checkpoint state.
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// The object under `key`, or `None` if there is none.
    fn get(
        &self,
        key: &ObjectKey,
    ) -> impl Future<Output = Result<Option<StoredObject>, StoreError>> + Send;

    /// Writes `body` under `key` if `condition` holds; returns the new version's etag.
    fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<Etag, StoreError>> + Send;

    /// Deletes `key` (only the version `if_match` names, when given). Deleting an absent
    /// object succeeds without `if_match`; with it, the named version is gone, so the
    /// precondition fails.
    fn delete(
        &self,
        key: &ObjectKey,
        if_match: Option<&Etag>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where checkpoint state lives, parsed from `AUDITFWD_CHECKPOINT_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointLocation {
    /// `file:///var/lib/auditfwd`: a local directory.
    File(PathBuf),
    /// `oci://namespace/bucket/prefix`: OCI Object Storage.
    Oci {
        /// Object Storage namespace.
        namespace: String,
        /// Bucket.
        bucket: String,
        /// Key prefix (may be empty).
        prefix: String,
    },
    /// `s3://bucket/prefix`: Amazon S3.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix (may be empty).
        prefix: String,
    },
}

impl CheckpointLocation {
    /// Parses a checkpoint URL.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidUrl {
            url: s.to_owned(),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(s.trim()).map_err(|e| invalid(&format!("not a URL ({e}); expected file:///dir, s3://bucket/prefix or oci://namespace/bucket/prefix")))?;
        let path_segments = || {
            url.path()
                .split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        match url.scheme() {
            "file" => {
                if url
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return Err(invalid(
                        "a file URL cannot name a remote host; use file:///absolute/path",
                    ));
                }
                let path = url.to_file_path().map_err(|()| {
                    invalid("not an absolute local path; use file:///absolute/path")
                })?;
                Ok(CheckpointLocation::File(path))
            }
            "s3" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid("no bucket; expected s3://bucket/prefix"))?;
                Ok(CheckpointLocation::S3 {
                    bucket: bucket.to_owned(),
                    prefix: path_segments().join("/"),
                })
            }
            "oci" => {
                let namespace = url.host_str().filter(|n| !n.is_empty()).ok_or_else(|| {
                    invalid("no namespace; expected oci://namespace/bucket/prefix")
                })?;
                let mut segs = path_segments();
                if segs.is_empty() {
                    return Err(invalid("no bucket; expected oci://namespace/bucket/prefix"));
                }
                let bucket = segs.remove(0);
                Ok(CheckpointLocation::Oci {
                    namespace: namespace.to_owned(),
                    bucket,
                    prefix: segs.join("/"),
                })
            }
            other => Err(invalid(&format!(
                "unsupported scheme {other:?}; expected file://, s3:// or oci://"
            ))),
        }
    }
}

impl fmt::Display for CheckpointLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointLocation::File(p) => write!(f, "file://{}", p.display()),
            CheckpointLocation::Oci {
                namespace,
                bucket,
                prefix,
            } => write!(f, "oci://{namespace}/{bucket}/{prefix}"),
            CheckpointLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Joins a prefix and a key with one `/`.
pub(crate) fn prefixed(prefix: &str, key: &ObjectKey) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        key.as_str().to_owned()
    } else {
        format!("{prefix}/{}", key.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        for ok in [
            "state/t/r/c.json",
            "a",
            "leases/ocid1.compartment.oc1..x/us-ashburn-1.json",
        ] {
            assert!(ObjectKey::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/abs", "a//b", "a/../b", "./a", "a/.", "a\\b", "a\nb", "x/.tmp-1",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            CheckpointLocation::parse("file:///var/lib/auditfwd").unwrap(),
            CheckpointLocation::File("/var/lib/auditfwd".into())
        );
        assert_eq!(
            CheckpointLocation::parse("oci://acme-ns/auditfwd-state/prod/eu").unwrap(),
            CheckpointLocation::Oci {
                namespace: "acme-ns".into(),
                bucket: "auditfwd-state".into(),
                prefix: "prod/eu".into()
            }
        );
        assert_eq!(
            CheckpointLocation::parse("s3://my-bucket").unwrap(),
            CheckpointLocation::S3 {
                bucket: "my-bucket".into(),
                prefix: String::new()
            }
        );
        for (bad, says) in [
            ("relative/dir", "not a URL"),
            ("file://server/share", "remote host"),
            ("oci://ns", "no bucket"),
            ("gs://bucket", "unsupported scheme"),
        ] {
            let err = CheckpointLocation::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("AUDITFWD_CHECKPOINT_URL") && err.contains(says),
                "{bad}: {err}"
            );
        }
    }
}
