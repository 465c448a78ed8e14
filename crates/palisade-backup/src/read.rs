//! Reading chunks back: every check a chunk must pass before its bytes are used.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::error::{BackupError, Result};
use crate::format::ChunkRef;
use crate::keys::{ChunkKey, Identity};
use crate::repo::Repository;

/// Checks a stored chunk against the manifest without decrypting it: present, right size, right hash.
pub fn check_stored(id: &str, file: &str, chunk: &ChunkRef, stored: Option<&Bytes>) -> Result<()> {
    let bad = |problem: String| BackupError::BadChunk { chunk: short(id), file: file.to_owned(), problem };
    let Some(stored) = stored else { return Err(bad("missing from the repository".into())) };
    let len = stored.len() as u64;
    if len < chunk.stored_size {
        return Err(bad(format!("truncated: {len} of {} bytes", chunk.stored_size)));
    }
    if len > chunk.stored_size {
        return Err(bad(format!("{len} bytes where {} were written", chunk.stored_size)));
    }
    if hex::encode(Sha256::digest(stored)) != chunk.stored_sha256 {
        return Err(bad("content changed since it was written (SHA-256 mismatch)".into()));
    }
    Ok(())
}

/// Decrypts, decompresses and checks the keyed id of a chunk whose stored form passed [`check_stored`].
pub fn open_chunk(
    id: &str,
    file: &str,
    chunk: &ChunkRef,
    stored: &[u8],
    identity: &Identity,
    key: &ChunkKey,
) -> Result<Vec<u8>> {
    let bad = |problem: String| BackupError::BadChunk { chunk: short(id), file: file.to_owned(), problem };
    let compressed = identity.open(stored, &format!("chunk {}", short(id))).map_err(|e| bad(e.to_string()))?;
    let capacity = usize::try_from(chunk.size).unwrap_or(usize::MAX).min(64 * 1024 * 1024);
    let plain = zstd::bulk::decompress(&compressed, capacity).map_err(|e| bad(format!("does not decompress: {e}")))?;
    if plain.len() as u64 != chunk.size {
        return Err(bad(format!("decrypts to {} bytes, expected {}", plain.len(), chunk.size)));
    }
    if hex::encode(key.chunk_id(&plain)) != id {
        return Err(bad("content does not match its id".into()));
    }
    Ok(plain)
}

/// Fetches and fully checks a chunk.
pub async fn read_chunk(
    repo: &Repository,
    id: &str,
    file: &str,
    chunk: &ChunkRef,
    identity: &Identity,
    key: &ChunkKey,
) -> Result<Vec<u8>> {
    let stored = repo.get_chunk(id).await?;
    check_stored(id, file, chunk, stored.as_ref())?;
    let stored = stored.unwrap_or_default();
    open_chunk(id, file, chunk, &stored, identity, key)
}

/// Owned copies of the keys, so that chunks can be opened on the blocking pool: a restore opens several at once
/// (one per core) while the database loads the ones before.
#[derive(Clone)]
pub struct Opener {
    identity: Arc<Identity>,
    key: Arc<ChunkKey>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener(redacted)")
    }
}

impl Opener {
    #[must_use]
    pub fn new(identity: &Identity, key: &ChunkKey) -> Opener {
        Opener { identity: Arc::new(identity.duplicate()), key: Arc::new(key.duplicate()) }
    }

    /// Starts fetching a chunk and, on the blocking pool, checking it, opening it and passing its plaintext to
    /// `then` (CPU work on the same bytes while they are hot). The task runs whether or not the handle is polled,
    /// so chunks are read ahead while the caller is busy with earlier ones.
    pub fn spawn<T, F>(
        &self,
        repo: &Repository,
        id: &str,
        file: &str,
        chunk: &ChunkRef,
        then: F,
    ) -> JoinHandle<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(Vec<u8>) -> Result<T> + Send + 'static,
    {
        let (opener, repo, id, file, chunk) =
            (self.clone(), repo.clone(), id.to_owned(), file.to_owned(), chunk.clone());
        tokio::spawn(async move {
            let stored = repo.get_chunk(&id).await?;
            tokio::task::spawn_blocking(move || {
                check_stored(&id, &file, &chunk, stored.as_ref())?;
                let stored = stored.unwrap_or_default();
                then(open_chunk(&id, &file, &chunk, &stored, &opener.identity, &opener.key)?)
            })
            .await
            .map_err(|e| BackupError::Invalid(format!("a chunk-reading task failed: {e}")))?
        })
    }
}

/// Tasks started ahead, taken in the order they were started; the ones still running when it is dropped (an
/// error stopped the caller) are aborted.
#[derive(Debug)]
pub struct Ahead<T>(VecDeque<JoinHandle<Result<T>>>);

impl<T> Default for Ahead<T> {
    fn default() -> Self {
        Ahead(VecDeque::new())
    }
}

impl<T> Ahead<T> {
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, task: JoinHandle<Result<T>>) {
        self.0.push_back(task);
    }

    /// The result of the oldest task, `None` when none is left.
    pub async fn next(&mut self) -> Option<Result<T>> {
        let task = self.0.pop_front()?;
        Some(task.await.map_err(|e| BackupError::Invalid(format!("a chunk-reading task failed: {e}"))).and_then(|r| r))
    }
}

impl<T> Drop for Ahead<T> {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The first 16 hex digits: enough to find the chunk, short enough to read.
#[must_use]
pub fn short(id: &str) -> String {
    id.get(..16).unwrap_or(id).to_owned()
}
