//! Catalog metadata in the spirit of TUF: what the platform vouches for, versioned and expiring.
//!
//! Two documents, both JSON:
//! - a **release index** per extension: its publisher, the publisher's keys, and every release (version →
//!   SHA-256, length and the id of the key that signed it). Each index has its own version number.
//! - a **snapshot**, signed by the platform key: its own version number, an expiry, and for every extension the
//!   version, SHA-256 and length of its current index. An index is trusted only through a snapshot that pins it,
//!   so a client never mixes an index from one snapshot with another snapshot.
//!
//! This folds TUF's timestamp, snapshot and targets roles into one platform key (delegation to publishers is by
//! their keys listed in each index, and every package also carries the publisher's own signature). Root-key
//! rotation and threshold signatures are not modelled: the platform key is configuration.
//!
//! [`Registry`] is the platform's side (publishing, building snapshots); the client's side, which refuses
//! rollback, freeze, mix-and-match, wrong keys and changed releases, is in [`crate::client`].

use std::collections::BTreeMap;

use palisade_core::time::Timestamp;
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::names::{ExtensionId, PublisherHandle};
use crate::package::Sha256;
use crate::signing::{KeyId, PublisherKey, VerifiedRelease, VerifyingKey};

/// The metadata format version this release reads and writes.
pub const SPEC_VERSION: u32 = 1;
/// Largest snapshot accepted.
pub const MAX_SNAPSHOT_BYTES: usize = 8 * 1024 * 1024;
/// Largest release index accepted.
pub const MAX_INDEX_BYTES: usize = 1024 * 1024;
/// Most releases one extension may have.
pub const MAX_RELEASES: usize = 1000;
/// Most keys one publisher may have listed at once (old releases stay verifiable after a rotation).
pub const MAX_PUBLISHER_KEYS: usize = 8;

/// The `type` of a snapshot document, so that an index can never be read as a snapshot or the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotType {
    #[serde(rename = "palisade-snapshot")]
    Snapshot,
}

/// The `type` of a release index document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexType {
    #[serde(rename = "palisade-release-index")]
    ReleaseIndex,
}

/// The platform-signed list of current release indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    #[serde(rename = "type")]
    pub kind: SnapshotType,
    pub spec_version: u32,
    /// Increases with every snapshot the platform signs; clients refuse to go back.
    pub version: u64,
    /// After this instant the snapshot is refused (an attacker replaying an old one can freeze a client only
    /// until then).
    pub expires: Timestamp,
    pub indexes: BTreeMap<ExtensionId, IndexPin>,
}

/// What a snapshot says about one extension's release index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexPin {
    pub version: u64,
    pub sha256: Sha256,
    pub length: u64,
}

/// One extension's releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseIndex {
    #[serde(rename = "type")]
    pub kind: IndexType,
    pub spec_version: u32,
    pub extension: ExtensionId,
    /// Increases whenever a release is added.
    pub version: u64,
    /// The publisher that owns the extension id: only its keys sign its releases.
    pub publisher: PublisherHandle,
    /// The publisher's keys, by key id (minisign base64 public keys).
    pub publisher_keys: BTreeMap<KeyId, String>,
    pub releases: BTreeMap<Version, ReleaseEntry>,
}

/// One release: what its package must hash to, its length, and the key that signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseEntry {
    pub sha256: Sha256,
    pub length: u64,
    pub key_id: KeyId,
}

/// Why a metadata document could not be read (the client's and the registry's errors wrap this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the document is not valid metadata: {0}")]
    Malformed(String),
    #[error("spec_version {0} is not supported (this release reads {SPEC_VERSION})")]
    UnsupportedSpec(u32),
    #[error("the document is inconsistent: {0}")]
    Inconsistent(&'static str),
}

impl Snapshot {
    /// Reads a snapshot's bytes (after its signature was checked).
    pub fn parse(bytes: &[u8]) -> Result<Snapshot, DocumentError> {
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(DocumentError::TooLarge(MAX_SNAPSHOT_BYTES));
        }
        let s: Snapshot = serde_json::from_slice(bytes).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        check_canonical(&s, bytes)?;
        if s.spec_version != SPEC_VERSION {
            return Err(DocumentError::UnsupportedSpec(s.spec_version));
        }
        if s.version == 0 {
            return Err(DocumentError::Inconsistent("snapshot versions start at 1"));
        }
        Ok(s)
    }
}

impl ReleaseIndex {
    /// Reads an index's bytes (after the snapshot pinning them was checked), checking that every release names
    /// a listed key, every key is a minisign key with the id it is listed under, and no version has build
    /// metadata (two such versions would compare equal).
    pub fn parse(bytes: &[u8]) -> Result<ReleaseIndex, DocumentError> {
        if bytes.len() > MAX_INDEX_BYTES {
            return Err(DocumentError::TooLarge(MAX_INDEX_BYTES));
        }
        let index: ReleaseIndex = serde_json::from_slice(bytes).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        check_canonical(&index, bytes)?;
        if index.spec_version != SPEC_VERSION {
            return Err(DocumentError::UnsupportedSpec(index.spec_version));
        }
        if index.releases.len() > MAX_RELEASES || index.publisher_keys.len() > MAX_PUBLISHER_KEYS {
            return Err(DocumentError::Inconsistent("too many releases or keys"));
        }
        for (id, key) in &index.publisher_keys {
            if VerifyingKey::parse(key).map(|k| k.id()) != Ok(*id) {
                return Err(DocumentError::Inconsistent("a publisher key is not listed under its own id"));
            }
        }
        for (version, entry) in &index.releases {
            if !version.build.is_empty() {
                return Err(DocumentError::Inconsistent("a release version has build metadata"));
            }
            if !index.publisher_keys.contains_key(&entry.key_id) {
                return Err(DocumentError::Inconsistent("a release names a key the index does not list"));
            }
        }
        Ok(index)
    }

    /// The publisher key that signed releases made with `key_id`.
    #[must_use]
    pub fn publisher_key(&self, key_id: KeyId) -> Option<PublisherKey> {
        let key = VerifyingKey::parse(self.publisher_keys.get(&key_id)?).ok()?;
        Some(PublisherKey { publisher: self.publisher.clone(), key })
    }
}

/// A document must be exactly what [`Registry`] writes for its content (compact JSON, fields in order, map keys
/// sorted, each once): then no two readers can disagree about what was signed, and a duplicated key cannot
/// say one thing to one parser and another to the next.
fn check_canonical<T: Serialize>(parsed: &T, bytes: &[u8]) -> Result<(), DocumentError> {
    let canonical = serde_json::to_vec(parsed).map_err(|e| DocumentError::Malformed(e.to_string()))?;
    if canonical == bytes {
        Ok(())
    } else {
        Err(DocumentError::Inconsistent("not in canonical form (compact JSON as the registry writes it)"))
    }
}

/// Why the registry refused to publish a release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("`{extension}` belongs to publisher `{owner}`")]
    NotOwner { extension: ExtensionId, owner: PublisherHandle },
    #[error("`{extension}` {version} is already published with different content; releases are immutable")]
    Immutable { extension: ExtensionId, version: Version },
    #[error("`{extension}` has the maximum of {MAX_RELEASES} releases")]
    TooManyReleases { extension: ExtensionId },
    #[error("`{extension}`'s publisher already has {MAX_PUBLISHER_KEYS} keys listed")]
    TooManyKeys { extension: ExtensionId },
    #[error("another key with id {key_id} is already listed for `{extension}`; generate a new key")]
    KeyIdClash { extension: ExtensionId, key_id: KeyId },
}

impl PublishError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::NotOwner { .. } => "publish_not_owner",
            PublishError::Immutable { .. } => "publish_release_immutable",
            PublishError::TooManyReleases { .. } => "publish_too_many_releases",
            PublishError::TooManyKeys { .. } => "publish_too_many_keys",
            PublishError::KeyIdClash { .. } => "publish_key_id_clash",
        }
    }
}

/// What publishing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// A new release was added.
    Added,
    /// The very same package was already published: nothing changed.
    AlreadyPresent,
}

/// A snapshot ready for the platform key to sign, with the index documents it pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedSnapshot {
    /// The exact bytes to sign (`minisign -S -m snapshot.json`) and serve.
    pub snapshot: Vec<u8>,
    pub indexes: BTreeMap<ExtensionId, Vec<u8>>,
}

/// The platform's catalog, in memory: releases are added only as [`VerifiedRelease`]s, never replaced.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    snapshot_version: u64,
    indexes: BTreeMap<ExtensionId, ReleaseIndex>,
}

impl Registry {
    /// An empty catalog.
    #[must_use]
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The current index of an extension.
    #[must_use]
    pub fn index(&self, extension: &ExtensionId) -> Option<&ReleaseIndex> {
        self.indexes.get(extension)
    }

    /// Adds a release. The first release of an id makes its publisher the owner; a version already published
    /// with other bytes is refused (republishing the identical package is a no-op).
    pub fn publish(&mut self, release: &VerifiedRelease) -> Result<Published, PublishError> {
        let manifest = &release.package().manifest;
        let key = release.publisher_key();
        let extension = manifest.id.clone();
        let index = self.indexes.entry(extension.clone()).or_insert_with(|| ReleaseIndex {
            kind: IndexType::ReleaseIndex,
            spec_version: SPEC_VERSION,
            extension: extension.clone(),
            version: 0,
            publisher: key.publisher.clone(),
            publisher_keys: BTreeMap::new(),
            releases: BTreeMap::new(),
        });
        if index.publisher != key.publisher {
            return Err(PublishError::NotOwner { extension, owner: index.publisher.clone() });
        }
        let entry = ReleaseEntry {
            sha256: release.package().sha256,
            length: release.package().length,
            key_id: release.key_id(),
        };
        match index.releases.get(&manifest.version) {
            Some(existing) if *existing == entry => return Ok(Published::AlreadyPresent),
            Some(_) => return Err(PublishError::Immutable { extension, version: manifest.version.clone() }),
            None if index.releases.len() >= MAX_RELEASES => return Err(PublishError::TooManyReleases { extension }),
            None => {}
        }
        match index.publisher_keys.get(&entry.key_id) {
            // Two keys under one id: releases signed by the second could never verify with the first.
            Some(listed) if listed != key.key.to_base64() => {
                return Err(PublishError::KeyIdClash { extension, key_id: entry.key_id });
            }
            Some(_) => {}
            None if index.publisher_keys.len() >= MAX_PUBLISHER_KEYS => {
                return Err(PublishError::TooManyKeys { extension });
            }
            None => {
                index.publisher_keys.insert(entry.key_id, key.key.to_base64().to_owned());
            }
        }
        index.releases.insert(manifest.version.clone(), entry);
        index.version = index.version.saturating_add(1);
        Ok(Published::Added)
    }

    /// The next snapshot, valid until `expires`, with the index documents it pins. Each call is a new version.
    pub fn snapshot(&mut self, expires: Timestamp) -> Result<UnsignedSnapshot, serde_json::Error> {
        let mut pins = BTreeMap::new();
        let mut documents = BTreeMap::new();
        for (id, index) in &self.indexes {
            let bytes = serde_json::to_vec(index)?;
            let pin = IndexPin {
                version: index.version,
                sha256: Sha256::of(&bytes),
                length: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            };
            pins.insert(id.clone(), pin);
            documents.insert(id.clone(), bytes);
        }
        self.snapshot_version = self.snapshot_version.saturating_add(1);
        let snapshot = Snapshot {
            kind: SnapshotType::Snapshot,
            spec_version: SPEC_VERSION,
            version: self.snapshot_version,
            expires,
            indexes: pins,
        };
        Ok(UnsignedSnapshot { snapshot: serde_json::to_vec(&snapshot)?, indexes: documents })
    }
}
