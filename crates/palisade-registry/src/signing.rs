//! Signatures: publishers sign release packages and the platform signs catalog snapshots, both with Ed25519 in
//! minisign's format, verified here with `minisign-verify` (this crate never holds a secret key).
//!
//! Publisher and platform keys are different types, so one cannot be passed where the other is meant: a
//! publisher's key can never vouch for catalog metadata, nor the platform's for a release.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::names::PublisherHandle;
use crate::package::{MAX_PACKAGE_BYTES, Package, PackageError};

/// Longest signature file accepted (a minisign signature is about 300 bytes plus its comments).
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// A minisign key id: eight bytes that say which key made a signature. Shown as `minisign` prints it (16
/// upper-case hex digits, the bytes read as a little-endian number).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// Parses the 16 hex digits `minisign` prints.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<KeyId> {
        if s.len() != 16 {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(|n| KeyId(n.to_le_bytes()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyId::from_hex(&s).ok_or_else(|| serde::de::Error::custom("a key id is 16 hex digits"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not a minisign Ed25519 public key")]
    BadKey,
    #[error("the signature is not a minisign signature")]
    Malformed,
    #[error("the signature is a legacy (not pre-hashed) minisign signature; sign with minisign 0.8 or later")]
    Legacy,
    #[error("signed by key {found}, but only key {expected} is trusted here")]
    WrongKey { expected: KeyId, found: KeyId },
    #[error("the signature does not match the signed bytes or the key")]
    Invalid,
}

impl SignatureError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::BadKey => "signature_bad_key",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::Legacy => "signature_legacy",
            SignatureError::WrongKey { .. } => "signature_wrong_key",
            SignatureError::Invalid => "signature_invalid",
        }
    }
}

/// A minisign public key that may verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    key: minisign_verify::PublicKey,
    id: KeyId,
    base64: String,
}

impl VerifyingKey {
    /// From the base64 line of a minisign public key, or a whole `minisign.pub` file (comment line first).
    pub fn parse(text: &str) -> Result<VerifyingKey, SignatureError> {
        let line = text.lines().map(str::trim).rfind(|l| !l.is_empty()).ok_or(SignatureError::BadKey)?;
        if line.len() > 100 {
            return Err(SignatureError::BadKey);
        }
        let key = minisign_verify::PublicKey::from_base64(line).map_err(|_| SignatureError::BadKey)?;
        let id = key_id_at(line, 2).ok_or(SignatureError::BadKey)?;
        Ok(VerifyingKey { key, id, base64: line.to_owned() })
    }

    /// Which key this is.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key's base64 line, as `minisign` writes it (for the catalog, which publishes publishers' keys).
    #[must_use]
    pub fn to_base64(&self) -> &str {
        &self.base64
    }

    /// Checks `signature` (a minisign `.sig` file's text) over `bytes`. Pre-hashed signatures only.
    fn verify(&self, bytes: &[u8], signature: &str) -> Result<(), SignatureError> {
        if signature.len() > MAX_SIGNATURE_BYTES {
            return Err(SignatureError::Malformed);
        }
        let sig = minisign_verify::Signature::decode(signature).map_err(|e| match e {
            minisign_verify::Error::UnsupportedAlgorithm => SignatureError::Legacy,
            _ => SignatureError::Malformed,
        })?;
        let found = signature.lines().nth(1).and_then(|l| key_id_at(l.trim(), 2)).ok_or(SignatureError::Malformed)?;
        if found != self.id {
            return Err(SignatureError::WrongKey { expected: self.id, found });
        }
        self.key.verify(bytes, &sig, false).map_err(|e| match e {
            minisign_verify::Error::UnexpectedAlgorithm | minisign_verify::Error::UnsupportedLegacyMode => {
                SignatureError::Legacy
            }
            _ => SignatureError::Invalid,
        })
    }
}

/// The key id stored at `offset` in a base64-encoded minisign key or signature blob (after the two algorithm
/// bytes in both).
fn key_id_at(b64: &str, offset: usize) -> Option<KeyId> {
    let bin = STANDARD.decode(b64).ok()?;
    let id: [u8; 8] = bin.get(offset..offset + 8)?.try_into().ok()?;
    Some(KeyId(id))
}

/// A publisher's registered signing key: only it may sign that publisher's releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherKey {
    pub publisher: PublisherHandle,
    pub key: VerifyingKey,
}

/// The platform's catalog signing key, as configured on every installing node (TUF's root of trust).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformKey(pub VerifyingKey);

impl PlatformKey {
    /// Checks the platform's signature over a catalog document.
    pub fn verify(&self, bytes: &[u8], signature: &str) -> Result<(), SignatureError> {
        self.0.verify(bytes, signature)
    }
}

/// Why a release was refused on upload or install.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("release signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("package: {0}")]
    Package(#[from] PackageError),
    #[error("the package says it is published by `{claimed}`, but it was signed with `{signer}`'s key")]
    WrongPublisher { claimed: PublisherHandle, signer: PublisherHandle },
}

impl ReleaseError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ReleaseError::Signature(e) => e.code(),
            ReleaseError::Package(e) => e.code(),
            ReleaseError::WrongPublisher { .. } => "release_wrong_publisher",
        }
    }
}

/// A package whose publisher signature has been checked, with the key that made it. Only [`verify_release`]
/// makes one, so holding one proves the check was done (the catalog accepts nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRelease {
    package: Package,
    publisher_key: PublisherKey,
}

impl VerifiedRelease {
    /// The checked package.
    #[must_use]
    pub fn package(&self) -> &Package {
        &self.package
    }

    /// The publisher key that signed it.
    #[must_use]
    pub fn publisher_key(&self) -> &PublisherKey {
        &self.publisher_key
    }

    /// Which key signed it.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.publisher_key.key.id()
    }

    /// The package, for the caller to keep.
    #[must_use]
    pub fn into_package(self) -> Package {
        self.package
    }
}

/// Verifies a release: the signature over the exact uploaded bytes first (so the decompressor and the tar and
/// TOML parsers only ever see bytes a registered publisher vouched for), then the package, then that the
/// manifest names the key's own publisher. Called on upload and again, by `check_install`, on install.
pub fn verify_release(
    package: &[u8],
    signature: &str,
    publisher_key: &PublisherKey,
) -> Result<VerifiedRelease, ReleaseError> {
    if package.len() > MAX_PACKAGE_BYTES {
        return Err(PackageError::TooLarge.into());
    }
    publisher_key.key.verify(package, signature)?;
    let package = Package::parse(package)?;
    if package.manifest.publisher != publisher_key.publisher {
        return Err(ReleaseError::WrongPublisher {
            claimed: package.manifest.publisher.clone(),
            signer: publisher_key.publisher.clone(),
        });
    }
    Ok(VerifiedRelease { package, publisher_key: publisher_key.clone() })
}
