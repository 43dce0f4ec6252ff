//! `file:///dir`: checkpoint objects as files in a local directory.
//!
//! Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a crash
//! leaves either the old or the new version, never a torn one. Conditional writes take an
//! exclusive advisory lock on a per-object lock file for the check-then-rename, so two
//! processes on the same machine (or on a shared filesystem with working `flock`) cannot both
//! win. The etag is a digest of the content.
//!
//! Listing walks only the directory the prefix names (and what lies below it), and never shows
//! the store's own files: `.tmp-*` temporaries a crash left behind and `.<name>.lock` lock
//! files, which [`ObjectKey`] reserves.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::{Etag, ObjectKey, ObjectStore, StoredObject, WriteCondition, check_prefix, in_listing};
use crate::error::StoreError;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A checkpoint store in a local directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FileStore { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |p, seg| p.join(seg))
    }
}

fn etag_of(body: &[u8]) -> Etag {
    let digest = Sha256::digest(body);
    Etag::new(
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

fn io(key: &ObjectKey, op: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    let key = key.as_str().to_owned();
    move |source| StoreError::Io { key, op, source }
}

fn read_current(path: &Path, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
    match fs::read(path) {
        Ok(body) => Ok(Some(StoredObject {
            etag: etag_of(&body),
            body: Bytes::from(body),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(key, "read")(e)),
    }
}

/// Holds the object's lock file locked until dropped.
fn lock(path: &Path, key: &ObjectKey) -> Result<File, StoreError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(key, "create directory"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.join(format!(".{name}.lock")))
        .map_err(io(key, "open lock file"))?;
    lock.lock().map_err(io(key, "lock"))?;
    Ok(lock)
}

fn check(
    current: Option<&StoredObject>,
    condition: &WriteCondition,
    key: &ObjectKey,
) -> Result<(), StoreError> {
    let holds = match condition {
        WriteCondition::Unconditional => true,
        WriteCondition::IfAbsent => current.is_none(),
        WriteCondition::IfMatch(etag) => current.is_some_and(|c| &c.etag == etag),
    };
    if holds {
        Ok(())
    } else {
        Err(StoreError::PreconditionFailed {
            key: key.as_str().to_owned(),
        })
    }
}

fn sync_dir(dir: &Path, key: &ObjectKey) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(key, "fsync directory"))
}

fn put_blocking(
    path: &Path,
    key: &ObjectKey,
    body: &[u8],
    condition: &WriteCondition,
) -> Result<Etag, StoreError> {
    let _lock = lock(path, key)?;
    check(read_current(path, key)?.as_ref(), condition, key)?;
    let parent = path.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new().create_new(true).write(true).open(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io(key, "write")(e));
    }
    sync_dir(parent, key)?;
    Ok(etag_of(body))
}

fn delete_blocking(
    path: &Path,
    key: &ObjectKey,
    if_match: Option<&Etag>,
) -> Result<(), StoreError> {
    let _lock = lock(path, key)?;
    let current = read_current(path, key)?;
    if let Some(etag) = if_match {
        check(
            current.as_ref(),
            &WriteCondition::IfMatch(etag.clone()),
            key,
        )?;
    }
    if current.is_some() {
        fs::remove_file(path).map_err(io(key, "delete"))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")), key)?;
    }
    Ok(())
}

/// Whether an I/O error means "nothing there" for a listing: the directory does not exist (yet,
/// or any more), or a path segment is a file.
fn absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Lists keys under `root` for [`ObjectStore::list`]: only the directory the prefix's complete
/// segments name is walked, entries in it must start with the prefix's last, partial segment,
/// and whole subtrees that sort before `start_after` are skipped.
fn list_blocking(
    root: &Path,
    prefix: &str,
    start_after: Option<&str>,
) -> Result<Vec<ObjectKey>, StoreError> {
    let (dir_key, partial) = match prefix.rsplit_once('/') {
        Some((dir, partial)) => (format!("{dir}/"), partial),
        None => (String::new(), prefix),
    };
    let dir = dir_key
        .split('/')
        .filter(|s| !s.is_empty())
        .fold(root.to_path_buf(), |p, seg| p.join(seg));
    let fail = |op: &'static str| {
        move |source| StoreError::Io {
            key: prefix.to_owned(),
            op,
            source,
        }
    };
    let mut keys = Vec::new();
    // (directory, the key prefix of what is in it, whether entries must match `partial`)
    let mut pending = vec![(dir, dir_key, true)];
    while let Some((dir, key_prefix, top)) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if absent(&e) => continue,
            Err(e) => return Err(fail("list directory")(e)),
        };
        for entry in entries {
            let entry = entry.map_err(fail("list directory"))?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::debug!(path = %entry.path().display(), "file name is not UTF-8; not a key");
                continue;
            };
            if top && !name.starts_with(partial) {
                continue;
            }
            let key = format!("{key_prefix}{name}");
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if absent(&e) => continue,
                Err(e) => return Err(fail("stat")(e)),
            };
            // A symbolic link counts as what it points to; links to directories are not
            // followed, so a link loop cannot trap the walk.
            let is_file = if file_type.is_symlink() {
                match fs::metadata(entry.path()) {
                    Ok(m) => m.is_file(),
                    Err(e) if absent(&e) => false,
                    Err(e) => return Err(fail("stat")(e)),
                }
            } else {
                file_type.is_file()
            };
            if file_type.is_dir() {
                let sub = format!("{key}/");
                // Every key below sorts after `sub`; if `start_after` is past `sub` without
                // starting with it, it is past all of them.
                let all_before =
                    start_after.is_some_and(|a| a > sub.as_str() && !a.starts_with(&sub));
                if ObjectKey::new(key).is_ok() && !all_before {
                    pending.push((entry.path(), sub, false));
                }
            } else if is_file && in_listing(&key, prefix, start_after) {
                // Temporaries and lock files are not valid keys, so they are never listed.
                if let Ok(key) = ObjectKey::new(key) {
                    keys.push(key);
                }
            }
        }
    }
    keys.sort();
    Ok(keys)
}

async fn blocking<T: Send + 'static>(
    key: &str,
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io {
            key: key.to_owned(),
            op: "background file task",
            source: std::io::Error::other(e.to_string()),
        })?
}

impl ObjectStore for FileStore {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        let (path, k) = (self.path(key), key.clone());
        blocking(key.as_str(), move || read_current(&path, &k)).await
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        let (path, k) = (self.path(key), key.clone());
        blocking(key.as_str(), move || {
            put_blocking(&path, &k, &body, &condition)
        })
        .await
    }

    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        let (path, k, etag) = (self.path(key), key.clone(), if_match.cloned());
        blocking(key.as_str(), move || {
            delete_blocking(&path, &k, etag.as_ref())
        })
        .await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        check_prefix(prefix)?;
        let (root, p, after) = (
            self.root.clone(),
            prefix.to_owned(),
            start_after.map(str::to_owned),
        );
        blocking(prefix, move || list_blocking(&root, &p, after.as_deref())).await
    }
}
