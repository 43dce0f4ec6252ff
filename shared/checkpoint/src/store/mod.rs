//! Conditional object stores: the narrow I/O edge every checkpoint write goes through.
//!
//! A store holds opaque bytes under a key and hands back an [`Etag`] per version. Writes can
//! be made conditional on the object being absent or on its current etag, which is what keeps
//! two runners from clobbering each other: the loser gets [`StoreError::PreconditionFailed`]
//! and must re-read. Backends are chosen by URL ([`CheckpointLocation`]).
//!
//! [`location`] checks that the location exists and was initialised (the `auditfwd.json`
//! marker) before any state is read from it, so a wrong URL never reads as a fresh start.
//!
//! [`ObjectStore::list`] lists keys by prefix in key order, for readers that scan a range
//! (manifests by window start). It is not a consistent snapshot: a key written or deleted while
//! the listing runs may or may not appear.

mod any;
mod file;
pub mod location;
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
pub use location::{Init, Initialised, Location, MARKER_KEY, Marker};
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

impl WriteCondition {
    /// Over the version `expected` was read as, or only if none exists when `expected` is
    /// `None`: a read-modify-write of a document that may not exist yet.
    pub fn over(expected: Option<&Etag>) -> Self {
        expected.map_or(WriteCondition::IfAbsent, |e| {
            WriteCondition::IfMatch(e.clone())
        })
    }
}

/// A key inside a store: `/`-separated, non-empty segments, no `.` or `..`, no control
/// characters, so it can never escape a file store's root. Segments named like the file store's
/// own files (`.tmp-*` temporaries, `.lock` and the older `.<name>.lock` lock files) are reserved, so such a file can
/// never be mistaken for an object, read or listed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

/// Whether `seg` may be one segment of a key.
fn valid_segment(seg: &str) -> bool {
    !seg.is_empty()
        && seg != "."
        && seg != ".."
        && !seg.starts_with(".tmp-")
        && !(seg.starts_with('.') && seg.ends_with(".lock"))
}

/// Whether `s` is free of characters no key may hold.
fn valid_chars(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || c == '\\')
}

impl ObjectKey {
    /// Checks and wraps a key.
    pub fn new(key: impl Into<String>) -> Result<Self, StoreError> {
        let key = key.into();
        let ok = !key.is_empty()
            && key.len() <= 1024
            && key.split('/').all(valid_segment)
            && valid_chars(&key);
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

    /// Every key that starts with `prefix` and sorts strictly after `start_after` (when given),
    /// in ascending order, every page gathered. Keys are in the form [`get`](Self::get) takes
    /// (relative to the store's own prefix). `prefix` need not end at a `/` (`manifests/x/2026`
    /// is fine), but its complete segments must be valid key segments
    /// ([`StoreError::InvalidKey`] otherwise). Objects whose names are not valid keys (written
    /// by something else) are skipped with a warning.
    fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ObjectKey>, StoreError>> + Send;
}

/// Checks a listing prefix: every complete segment (before the last `/`) must be a valid key
/// segment, and the whole must hold no character a key cannot.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    let complete = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
    let ok = prefix.len() <= 1024
        && valid_chars(prefix)
        && !prefix.starts_with('/')
        && (complete.is_empty() || complete.split('/').all(valid_segment));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(prefix.to_owned()))
    }
}

/// Whether `key` belongs in a listing of `prefix` after `start_after`.
pub(crate) fn in_listing(key: &str, prefix: &str, start_after: Option<&str>) -> bool {
    key.starts_with(prefix) && start_after.is_none_or(|after| key > after)
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
    /// The same location, under `sub` (a `/`-separated path of valid key segments): where a
    /// runner whose progress must never mix with the main one's keeps its own (a log search's
    /// runner keeps `sources/log-search`).
    pub fn under(&self, sub: &str) -> CheckpointLocation {
        match self {
            CheckpointLocation::File(dir) => CheckpointLocation::File(dir.join(sub)),
            CheckpointLocation::S3 { bucket, prefix } => CheckpointLocation::S3 {
                bucket: bucket.clone(),
                prefix: prefixed_str(prefix, sub),
            },
            CheckpointLocation::Oci {
                namespace,
                bucket,
                prefix,
            } => CheckpointLocation::Oci {
                namespace: namespace.clone(),
                bucket: bucket.clone(),
                prefix: prefixed_str(prefix, sub),
            },
        }
    }

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
    prefixed_str(prefix, key.as_str())
}

/// Joins a store prefix and a key (or a part of one) with one `/`.
pub(crate) fn prefixed_str(prefix: &str, key: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

/// Turns the full object names a remote listing returned into keys: strips the store prefix,
/// applies the listing's own filters again (so a lax server cannot widen them), skips names
/// that are not keys, and sorts.
pub(crate) fn keys_from_names(
    store_prefix: &str,
    names: impl IntoIterator<Item = String>,
    prefix: &str,
    start_after: Option<&str>,
) -> Vec<ObjectKey> {
    let base = prefixed_str(store_prefix, "");
    let mut keys: Vec<ObjectKey> = names
        .into_iter()
        .filter_map(|name| {
            let Some(rel) = name.strip_prefix(&base) else {
                tracing::warn!(object = %name, prefix = %base, "listing returned an object outside the store's prefix; skipped");
                return None;
            };
            if !in_listing(rel, prefix, start_after) {
                return None;
            }
            match ObjectKey::new(rel) {
                Ok(key) => Some(key),
                Err(_) => {
                    tracing::warn!(object = %name, "object name is not a checkpoint key; not listed");
                    None
                }
            }
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
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
            "",
            "/abs",
            "a//b",
            "a/../b",
            "./a",
            "a/.",
            "a\\b",
            "a\nb",
            "x/.tmp-1",
            "x/.c.json.lock",
            ".lock",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?}");
        }
        // Only the file store's own names are reserved, not every dotted name.
        for ok in ["x/.hidden", "x/a.lock", ".well-known/x"] {
            assert!(ObjectKey::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn listing_prefixes_may_end_mid_segment_but_never_escape() {
        for ok in ["", "manifests/", "manifests/t/r/c/2026", "m", "a/."] {
            assert!(check_prefix(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "/abs",
            "../x",
            "a/../b/",
            "a//b",
            "x/.tmp-1/",
            "a\\b",
            "a\n",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn remote_names_become_sorted_keys_inside_the_prefix() {
        let names = [
            "prod/manifests/b",
            "prod/manifests/a",
            "prod/manifests/c//bad",
            "prod/state/x",
            "other/manifests/z",
            "prod/manifests/a",
        ]
        .map(String::from);
        let keys = keys_from_names("/prod/", names.clone(), "manifests/", None);
        assert_eq!(
            keys.iter().map(ObjectKey::as_str).collect::<Vec<_>>(),
            ["manifests/a", "manifests/b"]
        );
        let keys = keys_from_names("prod", names, "", Some("manifests/a"));
        assert_eq!(
            keys.iter().map(ObjectKey::as_str).collect::<Vec<_>>(),
            ["manifests/b", "state/x"]
        );
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
