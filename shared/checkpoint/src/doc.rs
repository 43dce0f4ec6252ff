//! Typed documents on a store: JSON in, JSON out, with one rule for conditional writes whose
//! answer was lost.
//!
//! A backend client may retry a conditional write after a timeout. If the first attempt
//! landed, the retry fails its precondition against our own write. [`write`] therefore
//! re-reads after a lost precondition: if the stored bytes are exactly the bytes we wrote, the
//! write succeeded. Documents carry the writer and a timestamp, so another runner's document is
//! never byte-identical to ours.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::error::StoreError;
use crate::store::{Etag, ObjectKey, ObjectStore, WriteCondition};

/// Reads and decodes the document under `key`.
pub async fn read<T: DeserializeOwned, S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
) -> Result<Option<(T, Etag)>, StoreError> {
    let Some(obj) = store.get(key).await? else {
        return Ok(None);
    };
    let doc = serde_json::from_slice(&obj.body).map_err(|e| StoreError::Corrupt {
        key: key.as_str().to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Some((doc, obj.etag)))
}

/// Encodes and writes `doc` under `key` if `condition` holds.
pub async fn write<T: Serialize, S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    doc: &T,
    condition: WriteCondition,
) -> Result<Etag, StoreError> {
    write_sized(store, key, doc, condition, &mut 0).await
}

/// [`write`] for a document written again and again as it changes (a shard's state): `size`
/// is the length of its last encoding, updated to this one's. The encoding goes into a buffer
/// of about that size, grown by an eighth of it at a time when the document grew, instead of
/// one doubled as it fills, which at its last growth held up to three times the document
/// (megabytes for a shard whose windows await their settle pass, and a shard's state doubles
/// more than once as those windows fill it).
pub async fn write_sized<T: Serialize, S: ObjectStore>(
    store: &S,
    key: &ObjectKey,
    doc: &T,
    condition: WriteCondition,
    size: &mut usize,
) -> Result<Etag, StoreError> {
    // Held until the write is answered: the encoding lives that long.
    let _room = reserve_encoding(*size).await;
    let mut encoded = SteppedBuffer {
        buf: Vec::with_capacity(size.saturating_add(*size / 8)),
        step: (*size / 8).max(GROWTH_STEP_MIN),
    };
    serde_json::to_writer(&mut encoded, doc).map_err(|e| StoreError::Corrupt {
        key: key.as_str().to_owned(),
        reason: format!("cannot encode: {e}"),
    })?;
    let encoded = encoded.buf;
    *size = encoded.len();
    let body = Bytes::from(encoded);
    match store.put(key, body.clone(), condition).await {
        Err(StoreError::PreconditionFailed { key: k }) => match store.get(key).await? {
            Some(current) if current.body == body => {
                tracing::debug!(key = %key, "conditional write had landed before its answer was lost");
                Ok(current.etag)
            }
            _ => Err(StoreError::PreconditionFailed { key: k }),
        },
        other => other,
    }
}

/// What the documents being encoded and written at once may hold, in KiB, by their last
/// encoded size. A shard's state is megabytes while its windows await their settle pass, and
/// at the end of a backlog every shard commits at once: without a bound their encodings were
/// the largest swing of the 1M-event backlog's peak memory (docs/benchmarks.md, sixth round
/// of issue 14). Documents wait in turn (first come, first written) only while those ahead
/// hold the budget, so small ones are written beside a large one; a document larger than the
/// budget is written alone.
const ENCODING_BUDGET_KIB: usize = 8 << 10;

static ENCODING: Semaphore = Semaphore::const_new(ENCODING_BUDGET_KIB);

/// Room for a document whose last encoding took `size` bytes (and the eighth it may grow by).
async fn reserve_encoding(size: usize) -> Option<tokio::sync::SemaphorePermit<'static>> {
    let kib = (size.saturating_add(size / 8) >> 10).clamp(1, ENCODING_BUDGET_KIB);
    // The semaphore is never closed, so this is always a permit.
    ENCODING
        .acquire_many(u32::try_from(kib).unwrap_or(u32::MAX))
        .await
        .ok()
}

/// The least a [`SteppedBuffer`] grows by.
const GROWTH_STEP_MIN: usize = 64 << 10;

/// A buffer that grows by a fixed step when full, not by doubling: large ones are reallocated
/// in place (`mremap`), so growing costs no copy and holds no second buffer.
struct SteppedBuffer {
    buf: Vec<u8>,
    step: usize,
}

impl std::io::Write for SteppedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < data.len() {
            self.buf.reserve_exact(data.len().max(self.step));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;
    use crate::store::MemoryStore;
    use crate::store::StoredObject;

    /// A memory store whose writes wait until the test opens the gate.
    #[derive(Debug, Default)]
    struct GatedStore {
        inner: MemoryStore,
        gate: Notify,
        started: AtomicUsize,
    }

    impl ObjectStore for GatedStore {
        async fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
            self.inner.get(key).await
        }
        async fn put(
            &self,
            key: &ObjectKey,
            body: Bytes,
            condition: WriteCondition,
        ) -> Result<Etag, StoreError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.gate.notified().await;
            self.inner.put(key, body, condition).await
        }
        async fn delete(&self, key: &ObjectKey, if_match: Option<&Etag>) -> Result<(), StoreError> {
            self.inner.delete(key, if_match).await
        }
        async fn list(
            &self,
            prefix: &str,
            start_after: Option<&str>,
        ) -> Result<Vec<ObjectKey>, StoreError> {
            self.inner.list(prefix, start_after).await
        }
    }

    /// Waits until `n` writes have reached the store (at most 5 s).
    async fn started(store: &GatedStore, n: usize) {
        for _ in 0..5000 {
            if store.started.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("{n} writes never reached the store");
    }

    /// Gives every write that could run the time to reach the store.
    async fn settle() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // One test: the budget is the process's, and the crate's tests run side by side.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_documents_are_written_one_after_another_and_small_ones_beside_them() {
        // A document larger than the whole budget is written (alone), not stuck.
        let memory = MemoryStore::new();
        let key = ObjectKey::new("huge").unwrap();
        let mut size = 64 << 20;
        write_sized(
            &memory,
            &key,
            &"doc",
            WriteCondition::Unconditional,
            &mut size,
        )
        .await
        .unwrap();
        assert_eq!(size, "\"doc\"".len());

        let store = Arc::new(GatedStore::default());
        let spawn_write = |name: &'static str, mut size: usize| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let key = ObjectKey::new(name).unwrap();
                write_sized(
                    &*store,
                    &key,
                    &name,
                    WriteCondition::Unconditional,
                    &mut size,
                )
                .await
            })
        };
        // Two shard states last encoded at 5 MiB each: together over the 8 MiB budget.
        let first = spawn_write("first", 5 << 20);
        started(&store, 1).await;
        // A small document fits beside the first.
        let small = spawn_write("small", 1 << 10);
        started(&store, 2).await;
        let second = spawn_write("second", 5 << 20);
        settle().await;
        assert_eq!(
            store.started.load(Ordering::SeqCst),
            2,
            "the second large document waits while the first is being written"
        );
        // Let one write through at a time until the second large one has reached the store.
        while store.started.load(Ordering::SeqCst) < 3 {
            store.gate.notify_one();
            settle().await;
        }
        assert!(
            first.is_finished(),
            "the second started only after the first"
        );
        store.gate.notify_waiters();
        store.gate.notify_one();
        for task in [first, second, small] {
            task.await.unwrap().unwrap();
        }
    }
}
