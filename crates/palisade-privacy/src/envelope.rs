//! Envelope encryption: per-store data keys (DEKs) seal personal-data fields; versioned key-encryption keys (KEKs)
//! wrap the DEKs.
//!
//! Two layers so that rotating the KEK re-wraps one small record per store instead of re-encrypting every field,
//! and so that destroying one store's wrapped DEK makes exactly that store's fields unreadable (crypto-shredding),
//! in every copy of the data that does not also hold the DEK.
//!
//! Field ciphertext (format 1), self-describing so that a later format or key version can be read beside it:
//! `format (1 byte, 0x01) || DEK version (4 bytes, big-endian) || nonce (24) || ciphertext || tag (16)`.
//! The associated data binds the header and the field's place — store id, table, column, row id — so a
//! ciphertext copied to another row, column or store fails to open rather than showing someone else's data.
//!
//! Wrapped DEK (format 1): `format (0x01) || nonce (24) || wrapped key (32) || tag (16)`, with the store id, the
//! DEK version and the KEK version as associated data (a wrapped key moved to another store does not unwrap).

use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use palisade_core::ids::StoreId;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of every symmetric key here (256 bits).
pub const KEY_LEN: usize = 32;
/// XChaCha20 nonce length: 192 bits, so nonces can be random for every write.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Format byte of a field ciphertext sealed with XChaCha20-Poly1305 under a store's DEK.
pub const FIELD_FORMAT_V1: u8 = 0x01;
/// Format byte of a DEK wrapped with XChaCha20-Poly1305 under a local KEK.
pub const WRAP_FORMAT_V1: u8 = 0x01;
const FIELD_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// The shortest master key accepted: a KEK derived from fewer than 256 bits of secret would be the weak link.
pub const MIN_MASTER_KEY_LEN: usize = 32;

/// A key-encryption key version. Every wrapped DEK records the version it is wrapped under, so rotation can be
/// counted and an old version retired only when nothing needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct KekVersion(pub u32);

impl fmt::Display for KekVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A store's data-key version: written into every field ciphertext so a store's DEK can itself be replaced later
/// (old ciphertexts name the key that opens them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct DekVersion(pub u32);

/// Why a key or a ciphertext could not be used. None of the messages carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Too short to be a ciphertext of the claimed format.
    #[error("ciphertext is malformed")]
    Malformed,
    /// A format byte this build does not know (written by a newer release, or not a ciphertext at all).
    #[error("unknown ciphertext format {0:#04x}")]
    UnknownFormat(u8),
    /// The ciphertext names a DEK version other than the key offered.
    #[error("ciphertext needs data key version {found:?}, this key is {expected:?}")]
    WrongKeyVersion {
        /// The version in the ciphertext.
        found: DekVersion,
        /// The version of the key offered.
        expected: DekVersion,
    },
    /// The field belongs to another store than the key.
    #[error("the field belongs to another store than this data key")]
    WrongStore,
    /// Authentication failed: wrong key, wrong place (row, column, table, store) or altered bytes.
    #[error("ciphertext does not open under this key and context")]
    Open,
    /// The KEK version is unknown or retired.
    #[error("key-encryption key {0} is not available")]
    UnknownKek(KekVersion),
    /// The master key offered is shorter than 256 bits.
    #[error("the master key must hold at least {MIN_MASTER_KEY_LEN} bytes")]
    WeakMasterKey,
    /// A KEK version was added that is not newer than every version held: re-using a number would replace the
    /// key that existing records are wrapped under (and make them unreadable), going back would undo a rotation.
    #[error("key-encryption key {0} is not newer than the versions held")]
    KekVersionNotNewer(KekVersion),
    /// An external key service failed (its message must not contain key material).
    #[error("the key service failed: {0}")]
    KeyService(String),
}

/// Where a field lives: the associated data every field ciphertext is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef<'a> {
    /// The tenant whose DEK seals the field.
    pub store: StoreId,
    /// Table name.
    pub table: &'a str,
    /// Column name.
    pub column: &'a str,
    /// The row's id as stored (a UUID's text form, usually).
    pub row: &'a str,
}

fn push_len_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

/// Associated data of a field ciphertext: an unambiguous encoding (length prefixes, so "ab"+"c" ≠ "a"+"bc").
fn field_aad(field: &FieldRef<'_>, format: u8, version: DekVersion) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + field.table.len() + field.column.len() + field.row.len());
    aad.extend_from_slice(b"palisade-field\0");
    aad.push(format);
    aad.extend_from_slice(&version.0.to_be_bytes());
    aad.extend_from_slice(field.store.as_uuid().as_bytes());
    push_len_prefixed(&mut aad, field.table.as_bytes());
    push_len_prefixed(&mut aad, field.column.as_bytes());
    push_len_prefixed(&mut aad, field.row.as_bytes());
    aad
}

/// Associated data of a wrapped DEK.
fn wrap_aad(store: StoreId, dek: DekVersion, kek: KekVersion) -> Vec<u8> {
    let mut aad = Vec::with_capacity(40);
    aad.extend_from_slice(b"palisade-dek\0");
    aad.push(WRAP_FORMAT_V1);
    aad.extend_from_slice(store.as_uuid().as_bytes());
    aad.extend_from_slice(&dek.0.to_be_bytes());
    aad.extend_from_slice(&kek.0.to_be_bytes());
    aad
}

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    let key: &Key = key.into();
    XChaCha20Poly1305::new(key)
}

/// A store's data key, in the clear, in memory only. Zeroized on drop; its `Debug` output never shows the key.
pub struct DataKey {
    store: StoreId,
    version: DekVersion,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("store", &self.store)
            .field("version", &self.version)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl DataKey {
    /// A fresh random 256-bit key for `store` (a new store, or a DEK replacement).
    #[must_use]
    pub fn generate(store: StoreId, version: DekVersion) -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(key.as_mut());
        Self { store, version, key }
    }

    /// The store this key belongs to.
    #[must_use]
    pub fn store(&self) -> StoreId {
        self.store
    }

    /// This key's version (written into every ciphertext it makes).
    #[must_use]
    pub fn version(&self) -> DekVersion {
        self.version
    }

    /// Seals `plaintext` for the field at `field`. A random nonce per call: sealing twice gives different bytes.
    pub fn seal(&self, field: &FieldRef<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if field.store != self.store {
            return Err(CryptoError::WrongStore);
        }
        let nonce = random_nonce();
        let aad = field_aad(field, FIELD_FORMAT_V1, self.version);
        let sealed = cipher(&self.key)
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| CryptoError::Open)?;
        let mut out = Vec::with_capacity(FIELD_HEADER_LEN + sealed.len());
        out.push(FIELD_FORMAT_V1);
        out.extend_from_slice(&self.version.0.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a field ciphertext made by [`DataKey::seal`] for the same place. The plaintext is zeroized on drop.
    pub fn open(&self, field: &FieldRef<'_>, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if field.store != self.store {
            return Err(CryptoError::WrongStore);
        }
        let header = FieldHeader::parse(ciphertext)?;
        if header.version != self.version {
            return Err(CryptoError::WrongKeyVersion { found: header.version, expected: self.version });
        }
        let aad = field_aad(field, header.format, header.version);
        cipher(&self.key)
            .decrypt(&XNonce::from(header.nonce), Payload { msg: header.body, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }

    /// Wraps this key under KEK `kek`, for storage.
    pub fn wrap(&self, keks: &dyn KeyEncryptionKeys, kek: KekVersion) -> Result<WrappedDek, CryptoError> {
        let aad = wrap_aad(self.store, self.version, kek);
        let blob = keks.wrap(kek, &self.key, &aad)?;
        Ok(WrappedDek { store: self.store, dek_version: self.version, kek_version: kek, blob })
    }
}

/// The parsed header of a field ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldHeader<'a> {
    /// The format byte.
    pub format: u8,
    /// The DEK version that sealed it (so a reader can pick the right key before trying).
    pub version: DekVersion,
    nonce: [u8; NONCE_LEN],
    body: &'a [u8],
}

impl<'a> FieldHeader<'a> {
    /// Reads the header without any key (which DEK to fetch); refuses unknown formats and short input.
    pub fn parse(ciphertext: &'a [u8]) -> Result<Self, CryptoError> {
        let (&format, rest) = ciphertext.split_first().ok_or(CryptoError::Malformed)?;
        if format != FIELD_FORMAT_V1 {
            return Err(CryptoError::UnknownFormat(format));
        }
        let (version, rest) = rest.split_first_chunk::<4>().ok_or(CryptoError::Malformed)?;
        let (nonce, body) = rest.split_first_chunk::<NONCE_LEN>().ok_or(CryptoError::Malformed)?;
        if body.len() < TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        Ok(Self { format, version: DekVersion(u32::from_be_bytes(*version)), nonce: *nonce, body })
    }
}

/// A DEK as stored: wrapped under one KEK version. Holds no secret in the clear, but `Debug` shows only the
/// blob's length anyway (the bytes are useless in a log and noisy).
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDek {
    /// The store the DEK belongs to.
    pub store: StoreId,
    /// The DEK's version.
    pub dek_version: DekVersion,
    /// The KEK version it is wrapped under (what rotation moves and the census counts).
    pub kek_version: KekVersion,
    /// The wrapped key, in the KEK provider's format.
    pub blob: Vec<u8>,
}

impl fmt::Debug for WrappedDek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDek")
            .field("store", &self.store)
            .field("dek_version", &self.dek_version)
            .field("kek_version", &self.kek_version)
            .field("blob_len", &self.blob.len())
            .finish()
    }
}

impl WrappedDek {
    /// Unwraps the DEK (with the KEK version the record names).
    pub fn unwrap_key(&self, keks: &dyn KeyEncryptionKeys) -> Result<DataKey, CryptoError> {
        let aad = wrap_aad(self.store, self.dek_version, self.kek_version);
        let key = keks.unwrap(self.kek_version, &self.blob, &aad)?;
        Ok(DataKey { store: self.store, version: self.dek_version, key })
    }
}

/// The key-encryption keys, by version. The local implementation derives them from the master key; an external
/// KMS implements the same three calls (its wrap/unwrap are remote, its keys never leave it).
pub trait KeyEncryptionKeys: Send + Sync {
    /// The version new DEKs are wrapped under and rotations move to.
    fn current(&self) -> KekVersion;

    /// Wraps `dek` under KEK `version`, binding `aad`.
    fn wrap(&self, version: KekVersion, dek: &[u8; KEY_LEN], aad: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// Unwraps a blob made by [`KeyEncryptionKeys::wrap`] with the same version and `aad`.
    fn unwrap(&self, version: KekVersion, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError>;
}

/// KEKs derived from master key bytes with HKDF-SHA-256 (salt `palisade-kek`, info `palisade kek v<N>`), one per
/// version. A version may come from a new master key file (real rotation of the secret) or from the same one (a
/// new cryptoperiod). `Debug` lists versions only.
pub struct LocalKeks {
    current: KekVersion,
    keys: BTreeMap<KekVersion, Zeroizing<[u8; KEY_LEN]>>,
}

impl fmt::Debug for LocalKeks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeks")
            .field("current", &self.current)
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn derive_kek(master: &[u8], version: KekVersion) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
    if master.len() < MIN_MASTER_KEY_LEN {
        return Err(CryptoError::WeakMasterKey);
    }
    let hk = Hkdf::<Sha256>::new(Some(b"palisade-kek"), master);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let info = format!("palisade kek v{}", version.0);
    hk.expand(info.as_bytes(), key.as_mut()).map_err(|_| CryptoError::WeakMasterKey)?;
    Ok(key)
}

impl LocalKeks {
    /// One KEK version, derived from the master key file's bytes, and current.
    pub fn from_master_key(version: KekVersion, master: &[u8]) -> Result<Self, CryptoError> {
        let mut keys = BTreeMap::new();
        keys.insert(version, derive_kek(master, version)?);
        Ok(Self { current: version, keys })
    }

    /// Adds version `version` (from `master`) and makes it current: new DEKs and rotations use it from now on,
    /// while the older versions keep unwrapping what they wrapped.
    pub fn add_current(&mut self, version: KekVersion, master: &[u8]) -> Result<(), CryptoError> {
        if self.keys.keys().next_back().is_some_and(|newest| version <= *newest) || version <= self.current {
            return Err(CryptoError::KekVersionNotNewer(version));
        }
        let key = derive_kek(master, version)?;
        self.keys.insert(version, key);
        self.current = version;
        Ok(())
    }

    /// The versions held (current and not yet retired).
    #[must_use]
    pub fn versions(&self) -> Vec<KekVersion> {
        self.keys.keys().copied().collect()
    }

    /// Drops (and zeroizes) a version; only the rotation module's permit reaches this.
    pub(crate) fn remove(&mut self, version: KekVersion) -> bool {
        self.keys.remove(&version).is_some()
    }

    fn key(&self, version: KekVersion) -> Result<&[u8; KEY_LEN], CryptoError> {
        self.keys.get(&version).map(|k| &**k).ok_or(CryptoError::UnknownKek(version))
    }
}

impl KeyEncryptionKeys for LocalKeks {
    fn current(&self) -> KekVersion {
        self.current
    }

    fn wrap(&self, version: KekVersion, dek: &[u8; KEY_LEN], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let kek = self.key(version)?;
        let nonce = random_nonce();
        let sealed =
            cipher(kek).encrypt(&XNonce::from(nonce), Payload { msg: dek, aad }).map_err(|_| CryptoError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(WRAP_FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, version: KekVersion, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        let kek = self.key(version)?;
        let (&format, rest) = blob.split_first().ok_or(CryptoError::Malformed)?;
        if format != WRAP_FORMAT_V1 {
            return Err(CryptoError::UnknownFormat(format));
        }
        let (nonce, body) = rest.split_first_chunk::<NONCE_LEN>().ok_or(CryptoError::Malformed)?;
        let plain = Zeroizing::new(
            cipher(kek).decrypt(&XNonce::from(*nonce), Payload { msg: body, aad }).map_err(|_| CryptoError::Open)?,
        );
        if plain.len() != KEY_LEN {
            return Err(CryptoError::Malformed);
        }
        // Copied straight into zeroizing storage: no stray stack copy of the key.
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&plain);
        Ok(key)
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
