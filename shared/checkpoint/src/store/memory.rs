//! An in-memory store with the same conditional semantics, for deterministic tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

use super::{
    Etag, Location, ObjectKey, ObjectStore, StoredObject, WriteCondition, check_prefix, in_listing,
};
use crate::error::StoreError;

/// A conditional object store in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<ObjectKey, StoredObject>>,
    versions: Mutex<u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key currently stored, in order.
    pub fn keys(&self) -> Vec<String> {
        self.objects
            .lock()
            .map(|m| m.keys().map(|k| k.as_str().to_owned()).collect())
            .unwrap_or_default()
    }

    fn poisoned(key: &ObjectKey) -> StoreError {
        Self::poisoned_at(key.as_str())
    }

    fn poisoned_at(key: &str) -> StoreError {
        StoreError::Io {
            key: key.to_owned(),
            op: "lock",
            source: std::io::Error::other("memory store lock poisoned"),
        }
    }
}

impl ObjectStore for MemoryStore {
    async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        Ok(self
            .objects
            .lock()
            .map_err(|_| Self::poisoned(key))?
            .get(key)
            .cloned())
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        condition: WriteCondition,
    ) -> Result<Etag, StoreError> {
        let mut objects = self.objects.lock().map_err(|_| Self::poisoned(key))?;
        let current = objects.get(key);
        let holds = match &condition {
            WriteCondition::Unconditional => true,
            WriteCondition::IfAbsent => current.is_none(),
            WriteCondition::IfMatch(e) => current.is_some_and(|c| &c.etag == e),
        };
        if !holds {
            return Err(StoreError::PreconditionFailed {
                key: key.as_str().to_owned(),
            });
        }
        let mut v = self.versions.lock().map_err(|_| Self::poisoned(key))?;
        *v += 1;
        let etag = Etag::new(format!("mem-{v}"));
        objects.insert(
            key.clone(),
            StoredObject {
                body,
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }

    async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
        let mut objects = self.objects.lock().map_err(|_| Self::poisoned(key))?;
        if let Some(want) = if_match
            && objects.get(key).is_none_or(|cur| &cur.etag != want)
        {
            return Err(StoreError::PreconditionFailed {
                key: key.as_str().to_owned(),
            });
        }
        objects.remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        check_prefix(prefix)?;
        let objects = self.objects.lock().map_err(|_| Self::poisoned_at(prefix))?;
        Ok(objects
            .keys()
            .filter(|k| in_listing(k.as_str(), prefix, start_after))
            .cloned()
            .collect())
    }
}

/// Always there: the location checks have nothing to find missing in memory.
impl Location for MemoryStore {
    fn url(&self) -> String {
        "memory://".to_owned()
    }

    async fn exists(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn create(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
