//! `file:///dir`: checkpoint objects as files in a local directory.
//!
//! Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a crash
//! leaves either the old or the new version, never a torn one. Writes and deletes take an
//! exclusive advisory lock on the directory's lock file (`.lock`) for the check-then-rename, so
//! two processes on the same machine (or on a shared filesystem with working `flock`) cannot
//! both win. The etag is a digest of the content.
//!
//! The root directory is never created here (`auditfwd init` does it, see
//! [`location`](super::location)): a missing root is [`StoreError::LocationMissing`] on every
//! operation, so a mistyped path or an unmounted volume can never read as "no state yet".
//! Directories below the root are created as objects need them.
//!
//! Listing walks only the directory the prefix names (and what lies below it), and never shows
//! the store's own files: `.tmp-*` temporaries a crash left behind and `.lock` files (also the
//! `.<name>.lock` files of earlier versions), which [`ObjectKey`] reserves.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::location::{DIRECTORY_REMEDY, Location};
use super::{Etag, ObjectKey, ObjectStore, StoredObject, WriteCondition, check_prefix, in_listing};
use crate::error::StoreError;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A checkpoint store in a local directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store rooted at `root`, which must exist (see [`Location::create`]).
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
    etag_of_digest(Sha256::digest(body).as_slice())
}

fn etag_of_digest(digest: &[u8]) -> Etag {
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

fn file_url(root: &Path) -> String {
    format!("file://{}", root.display())
}

fn missing(root: &Path) -> StoreError {
    StoreError::LocationMissing {
        location: file_url(root),
        remedy: DIRECTORY_REMEDY,
    }
}

/// A "not found" below `root` means "no such object" only while `root` itself exists.
fn not_found(root: &Path) -> Result<(), StoreError> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(missing(root))
    }
}

fn read_current(
    root: &Path,
    path: &Path,
    key: &ObjectKey,
) -> Result<Option<StoredObject>, StoreError> {
    match fs::read(path) {
        Ok(body) => Ok(Some(StoredObject {
            etag: etag_of(&body),
            body: Bytes::from(body),
        })),
        Err(e) if absent(&e) => not_found(root).map(|()| None),
        Err(e) => Err(io(key, "read")(e)),
    }
}

/// The etag of the object at `path`, hashed as it is read (a shard's state can be megabytes:
/// a conditional write does not hold a copy of the old version beside the new one).
fn current_etag(root: &Path, path: &Path, key: &ObjectKey) -> Result<Option<Etag>, StoreError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if absent(&e) => return not_found(root).map(|()| None),
        Err(e) => return Err(io(key, "read")(e)),
    };
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(key, "read"))?;
    Ok(Some(etag_of_digest(hasher.finalize().as_slice())))
}

/// Creates the directories between `root` (which must exist) and `dir`, one level at a time,
/// so a missing root fails instead of being created.
fn create_below(root: &Path, dir: &Path, key: &ObjectKey) -> Result<(), StoreError> {
    let Ok(rel) = dir.strip_prefix(root) else {
        return Ok(());
    };
    let mut path = root.to_path_buf();
    for part in rel.components() {
        path.push(part);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) if absent(&e) => return Err(missing(root)),
            Err(e) => return Err(io(key, "create directory")(e)),
        }
    }
    Ok(())
}

/// The name of a directory's lock file (reserved by [`ObjectKey`]).
const LOCK_FILE: &str = ".lock";

/// Holds the lock of the directory `path` is in until dropped.
///
/// One lock file per directory rather than per object: a per-object lock file cannot be removed
/// after use without a race (a process that opened it just before the unlink goes on to lock
/// the orphaned file while a third creates and locks a new one, and both believe they hold the
/// lock), so it had to stay forever, one for every object ever written. A directory's lock file
/// is one more file in a directory that exists anyway. The price is that writes to objects of
/// the same directory take turns, each for one write and fsync.
fn lock(root: &Path, path: &Path, key: &ObjectKey) -> Result<File, StoreError> {
    let parent = path.parent().unwrap_or(root);
    create_below(root, parent, key)?;
    let lock = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.join(LOCK_FILE))
    {
        Ok(f) => f,
        Err(e) if absent(&e) => return Err(missing(root)),
        Err(e) => return Err(io(key, "open lock file")(e)),
    };
    lock.lock().map_err(io(key, "lock"))?;
    Ok(lock)
}

fn check(
    current: Option<&Etag>,
    condition: &WriteCondition,
    key: &ObjectKey,
) -> Result<(), StoreError> {
    let holds = match condition {
        WriteCondition::Unconditional => true,
        WriteCondition::IfAbsent => current.is_none(),
        WriteCondition::IfMatch(etag) => current == Some(etag),
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
    root: &Path,
    path: &Path,
    key: &ObjectKey,
    body: &[u8],
    condition: &WriteCondition,
) -> Result<Etag, StoreError> {
    let _lock = lock(root, path, key)?;
    check(current_etag(root, path, key)?.as_ref(), condition, key)?;
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
    root: &Path,
    path: &Path,
    key: &ObjectKey,
    if_match: Option<&Etag>,
) -> Result<(), StoreError> {
    let _lock = lock(root, path, key)?;
    let current = current_etag(root, path, key)?;
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
    not_found(root)?;
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
        let (root, path, k) = (self.root.clone(), self.path(key), key.clone());
        blocking(key.as_str(), move || read_current(&root, &path, &k)).await
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        let (root, path, k) = (self.root.clone(), self.path(key), key.clone());
        blocking(key.as_str(), move || {
            put_blocking(&root, &path, &k, &body, &condition)
        })
        .await
    }

    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        let (root, path, k, etag) = (
            self.root.clone(),
            self.path(key),
            key.clone(),
            if_match.cloned(),
        );
        blocking(key.as_str(), move || {
            delete_blocking(&root, &path, &k, etag.as_ref())
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

impl Location for FileStore {
    fn url(&self) -> String {
        file_url(&self.root)
    }

    async fn exists(&self) -> Result<bool, StoreError> {
        let root = self.root.clone();
        blocking("", move || match fs::metadata(&root) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if absent(&e) => Ok(false),
            Err(source) => Err(StoreError::Io {
                key: String::new(),
                op: "stat the checkpoint directory",
                source,
            }),
        })
        .await
    }

    async fn create(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        blocking("", move || {
            fs::create_dir_all(&root).map_err(|source| StoreError::Io {
                key: String::new(),
                op: "create the checkpoint directory",
                source,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn files_named(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                if e.file_type().unwrap().is_dir() {
                    pending.push(e.path());
                } else if pred(&name) {
                    out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn one_lock_file_per_directory_however_many_objects() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        for i in 0..20 {
            let key = ObjectKey::new(format!("state/t/r/c{i}.json")).unwrap();
            let etag = store
                .put(&key, Bytes::from_static(b"{}"), WriteCondition::IfAbsent)
                .await
                .unwrap();
            store
                .put(
                    &key,
                    Bytes::from_static(b"{ }"),
                    WriteCondition::IfMatch(etag),
                )
                .await
                .unwrap();
            if i % 2 == 0 {
                store.delete(&key, None).await.unwrap();
            }
        }
        let key = ObjectKey::new("top.json").unwrap();
        store
            .put(
                &key,
                Bytes::from_static(b"1"),
                WriteCondition::Unconditional,
            )
            .await
            .unwrap();
        assert_eq!(
            files_named(dir.path(), |n| n.ends_with(".lock")),
            [".lock", "state/t/r/.lock"]
        );
        assert_eq!(store.list("", None).await.unwrap().len(), 11);
    }

    #[tokio::test]
    async fn a_missing_root_is_never_created_and_never_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("unmounted");
        let store = FileStore::new(&root);
        let key = ObjectKey::new("state/t/r/c.json").unwrap();
        let missing = |e: StoreError| {
            assert!(
                matches!(&e, StoreError::LocationMissing { location, .. } if location == &format!("file://{}", root.display())),
                "{e}"
            );
        };
        missing(store.get(&key).await.unwrap_err());
        missing(store.list("state/", None).await.unwrap_err());
        missing(store.delete(&key, None).await.unwrap_err());
        missing(
            store
                .put(&key, Bytes::from_static(b"{}"), WriteCondition::IfAbsent)
                .await
                .unwrap_err(),
        );
        assert!(!root.exists(), "the store created its root");
        assert!(!store.exists().await.unwrap());
        store.create().await.unwrap();
        assert!(store.exists().await.unwrap());
        assert_eq!(store.get(&key).await.unwrap(), None);
    }
}
