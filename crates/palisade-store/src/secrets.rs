//! The master key: 32 random bytes in a file only the service user can read.
//!
//! It will encrypt personal data at rest (envelope encryption) and must be backed up with the database but
//! stored apart from it. The file is created with mode 0600; a looser mode is reported by the matrix control
//! `platform.master-key-permissions` rather than silently accepted.

use std::io::Write;
use std::path::Path;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};

use crate::error::{Result, StoreError};

/// The platform's master key. Its `Debug` output is redacted.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// The raw key bytes, for deriving purpose-specific keys.
    #[must_use]
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

/// Loads the key at `path`, creating it (mode 0600) if the file does not exist. Returns whether it was created.
pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool)> {
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bytes = hex::decode(text.trim())
            .map_err(|_| StoreError::Corrupt(format!("{} is not a hex key", path.display())))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Corrupt(format!("{} must hold exactly 32 bytes (64 hex digits)", path.display()))
        })?;
        return Ok((MasterKey(SecretBox::new(Box::new(key))), false));
    }
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok((MasterKey(SecretBox::new(Box::new(key))), true))
}

/// The permission bits of the key file (`None` if it cannot be read, or on non-Unix systems).
#[must_use]
pub fn file_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_once_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (k1, created) = load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(file_mode(&path), Some(0o600));
        let (k2, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k1.expose(), k2.expose());
        assert_eq!(format!("{k1:?}"), "MasterKey([redacted])");
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, "abcd").unwrap();
        assert!(matches!(load_or_create(&path), Err(StoreError::Corrupt(_))));
    }
}
