//! Reading chunks back: every check a chunk must pass before its bytes are used.

use bytes::Bytes;
use sha2::{Digest, Sha256};

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

/// The first 16 hex digits: enough to find the chunk, short enough to read.
#[must_use]
pub fn short(id: &str) -> String {
    id.get(..16).unwrap_or(id).to_owned()
}
