//! Object storage for uploaded files (product images, theme assets): a local directory by default, any
//! `object_store` backend (S3-compatible) when several nodes must share it.
//!
//! Keys are content-addressed (`images/<sha256>`), so a file is written once however often it is uploaded, an
//! object never changes after it is written, and a backup can deduplicate by key.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

/// Where uploaded files live. Cheap to clone.
#[derive(Clone)]
pub struct Objects {
    inner: Arc<dyn ObjectStore>,
    label: String,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects").field("at", &self.label).finish()
    }
}

fn objects_error(e: object_store::Error) -> StoreError {
    StoreError::Objects(e.to_string())
}

impl Objects {
    /// Objects in a local directory (created if missing).
    pub fn local(dir: &Path) -> Result<Objects> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(objects_error)?;
        Ok(Objects { inner: Arc::new(fs), label: dir.display().to_string() })
    }

    /// Objects in any backend (S3 and friends), named `label` in logs.
    #[must_use]
    pub fn from_store(inner: Arc<dyn ObjectStore>, label: impl Into<String>) -> Objects {
        Objects { inner, label: label.into() }
    }

    /// The content-addressed key for `bytes` under `prefix`.
    #[must_use]
    pub fn key_for(prefix: &str, bytes: &[u8]) -> String {
        format!("{prefix}/{}", hex::encode(Sha256::digest(bytes)))
    }

    fn path(key: &str) -> Result<ObjectPath> {
        ObjectPath::parse(key).map_err(|e| StoreError::Invalid(format!("object key `{key}`: {e}")))
    }

    /// Stores `bytes` under its content address and returns the key. Writing the same content twice is a no-op.
    pub async fn put_content(&self, prefix: &str, bytes: Bytes) -> Result<String> {
        let key = Self::key_for(prefix, &bytes);
        let path = Self::path(&key)?;
        if self.inner.head(&path).await.is_ok() {
            return Ok(key);
        }
        self.inner.put(&path, PutPayload::from_bytes(bytes)).await.map_err(objects_error)?;
        Ok(key)
    }

    /// The object's bytes, or `None` if there is none under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.inner.get(&Self::path(key)?).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(objects_error)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(objects_error(e)),
        }
    }

    /// The underlying store, for bulk work (backups list and copy every object).
    #[must_use]
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }
}
