//! The keys of a backup: age recipients (public, on every node) that snapshots are encrypted to, the restore
//! identity (private, kept offline by the operator), and the chunk key that names chunks.
//!
//! A node only needs the recipients to write backups; it cannot read them back. The chunk key is derived from the
//! installation's master key so that every node of one platform names the same content the same way (that is what
//! makes deduplication work across nodes and runs); it is keyed so that a chunk's name does not reveal its content
//! to someone who can list the repository.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use secrecy::SecretBox;
use sha2::Sha256;

use crate::error::{BackupError, Result};

/// File names inside the key directory (`DATA_DIR/backups`).
pub const RECIPIENTS_FILE: &str = "recipients.txt";
pub const IDENTITY_FILE: &str = "restore-identity.txt";

/// The public half: who can decrypt what this node writes.
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(ToString::to_string)).finish()
    }
}

impl Recipients {
    /// Parses an age recipients file: one `age1…` key per line, `#` comments and blank lines allowed.
    pub fn parse(text: &str, origin: &Path) -> Result<Recipients> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = age::x25519::Recipient::from_str(line).map_err(|e| BackupError::KeyFile {
                path: origin.to_owned(),
                reason: format!("line {}: not an age recipient (age1…): {e}", n + 1),
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(BackupError::KeyFile { path: origin.to_owned(), reason: "no recipient in the file".into() });
        }
        Ok(Recipients(keys))
    }

    pub fn load(path: &Path) -> Result<Recipients> {
        let text = std::fs::read_to_string(path).map_err(BackupError::io(path))?;
        Recipients::parse(&text, path)
    }

    /// Encrypts `plain` so that any of the recipients' identities can read it.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let encryptor = age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| BackupError::Invalid(format!("cannot encrypt to these recipients: {e}")))?;
        let mut out = Vec::with_capacity(plain.len() + 256);
        let mut writer = encryptor.wrap_output(&mut out).map_err(BackupError::io("<memory>"))?;
        writer.write_all(plain).map_err(BackupError::io("<memory>"))?;
        writer.finish().map_err(BackupError::io("<memory>"))?;
        Ok(out)
    }
}

/// The private half, needed to verify data, drill and restore.
pub struct Identity(Vec<age::x25519::Identity>);

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({} key(s), redacted)", self.0.len())
    }
}

impl Identity {
    /// Reads an age identity file (`AGE-SECRET-KEY-1…` lines).
    pub fn load(path: &Path) -> Result<Identity> {
        let text = std::fs::read_to_string(path).map_err(BackupError::io(path))?;
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let key = age::x25519::Identity::from_str(line).map_err(|_| BackupError::KeyFile {
                path: path.to_owned(),
                reason: "a line is not an age identity (AGE-SECRET-KEY-1…)".into(),
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(BackupError::KeyFile { path: path.to_owned(), reason: "no identity in the file".into() });
        }
        Ok(Identity(keys))
    }

    /// A copy for worker threads that decrypt chunks in parallel (a restore).
    #[must_use]
    pub fn duplicate(&self) -> Identity {
        Identity(self.0.clone())
    }

    /// Decrypts what [`Recipients::seal`] wrote; `what` names it in the error.
    pub fn open(&self, sealed: &[u8], what: &str) -> Result<Vec<u8>> {
        let fail = |reason: String| BackupError::Decrypt { what: what.to_owned(), reason };
        let decryptor = age::Decryptor::new_buffered(sealed).map_err(|e| fail(e.to_string()))?;
        let mut reader =
            decryptor.decrypt(self.0.iter().map(|i| i as &dyn age::Identity)).map_err(|e| fail(e.to_string()))?;
        let mut plain = Vec::with_capacity(sealed.len());
        reader.read_to_end(&mut plain).map_err(|e| fail(e.to_string()))?;
        Ok(plain)
    }
}

/// Where a node's backup keys are, and whether this call created them.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub recipients: PathBuf,
    pub identity: PathBuf,
    pub created: bool,
}

/// Creates the key pair in `dir` on first use (zero-config): `recipients.txt` (public) and
/// `restore-identity.txt` (private, mode 0600, to be moved off the machine by the operator).
pub fn ensure_key_pair(dir: &Path) -> Result<KeyFiles> {
    let recipients = dir.join(RECIPIENTS_FILE);
    let identity = dir.join(IDENTITY_FILE);
    if recipients.exists() {
        return Ok(KeyFiles { recipients, identity, created: false });
    }
    create_private_dir(dir)?;
    let key = age::x25519::Identity::generate();
    let public = key.to_public().to_string();
    let secret = key.to_string();
    let identity_text = format!(
        "# Palisade backup restore identity, created for recipient {public}\n\
         # Move this file OFF this machine (password manager, offline media); anyone holding it can read every backup.\n\
         {}\n",
        secret.expose_secret()
    );
    write_private(&identity, identity_text.as_bytes())?;
    let recipients_text = format!("# Palisade backups are encrypted to these age recipients (public keys)\n{public}\n");
    write_private(&recipients, recipients_text.as_bytes())?;
    Ok(KeyFiles { recipients, identity, created: true })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(BackupError::io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(BackupError::io(dir))?;
    }
    Ok(())
}

/// Writes a file readable only by its owner, atomically (temp file + rename).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(BackupError::io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600)).map_err(BackupError::io(path))?;
    }
    tmp.write_all(bytes).map_err(BackupError::io(path))?;
    tmp.as_file().sync_all().map_err(BackupError::io(path))?;
    tmp.persist(path).map_err(|e| BackupError::Io { path: path.to_owned(), source: e.error })?;
    Ok(())
}

type HmacSha256 = Hmac<Sha256>;

/// The row-digest state of one table, cloned per row.
#[derive(Clone)]
pub struct RowHasher(HmacSha256);

impl RowHasher {
    #[must_use]
    pub fn digest(&self, row: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(row);
        mac.finalize().into_bytes().into()
    }
}

/// Names chunks (HMAC-SHA256 of the plaintext) and keys table checksums.
pub struct ChunkKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for ChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkKey(redacted)")
    }
}

impl ChunkKey {
    /// Derives the chunk key from the installation's master key (HKDF-SHA256, its own label).
    #[must_use]
    pub fn derive(master: &[u8; 32]) -> ChunkKey {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"palisade-backup"), master);
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        if hk.expand(b"chunk-id v1", &mut key).is_err() {
            key = [0u8; 32];
        }
        ChunkKey(SecretBox::new(Box::new(key)))
    }

    /// The raw key, for sealing into the repository (`keys/chunk-key.age`).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<ChunkKey> {
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(ChunkKey(SecretBox::new(Box::new(key))))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        use secrecy::ExposeSecret as _;
        self.0.expose_secret()
    }

    fn mac(&self) -> HmacSha256 {
        // A key shorter than SHA-256's 64-byte block is zero-padded by HMAC's definition; padding it here gives
        // the same MAC through the infallible fixed-size constructor.
        let mut block = [0u8; 64];
        for (d, s) in block.iter_mut().zip(self.bytes()) {
            *d = *s;
        }
        <HmacSha256 as KeyInit>::new(&block.into())
    }

    /// The id of a chunk with this content.
    #[must_use]
    pub fn chunk_id(&self, plain: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"chunk\0");
        mac.update(plain);
        mac.finalize().into_bytes().into()
    }

    /// The name of an erasure tombstone object (see `tombstones`): a keyed hash of the account id, so the
    /// repository's listing reveals no account and only the installation can name one.
    #[must_use]
    pub fn tombstone_id(&self, account_id: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"tombstone\0");
        mac.update(account_id.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The keyed digest of one table row (see `dump`).
    #[must_use]
    pub fn row_digest(&self, table: &str, row: &[u8]) -> [u8; 32] {
        self.row_hasher(table).digest(row)
    }

    /// [`ChunkKey::row_digest`] for many rows of one table: the key and table prefix are absorbed once.
    #[must_use]
    pub fn row_hasher(&self, table: &str) -> RowHasher {
        let mut mac = self.mac();
        mac.update(b"row\0");
        mac.update(table.as_bytes());
        mac.update(b"\0");
        RowHasher(mac)
    }

    /// A copy of the key for a worker thread (it stays in a zeroising box there too).
    #[must_use]
    pub fn duplicate(&self) -> ChunkKey {
        ChunkKey(SecretBox::new(Box::new(*self.bytes())))
    }

    /// A public fingerprint that tells whether two installations share a chunk key, without revealing it.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"fingerprint\0");
        hex::encode(mac.finalize().into_bytes().get(..16).unwrap_or_default())
    }

    /// Constant-time comparison of fingerprints.
    #[must_use]
    pub fn matches(&self, fingerprint: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.fingerprint().as_bytes().ct_eq(fingerprint.as_bytes()).into()
    }
}
