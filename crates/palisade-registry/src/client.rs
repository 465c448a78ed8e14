//! The installing side: what a node remembers between updates ([`InstalledState`]) and the two checks every
//! metadata refresh and every install go through. Each attack on update systems that TUF names has its own
//! error here:
//!
//! | attack | refused by | error |
//! |---|---|---|
//! | rollback of metadata (an older snapshot) | `accept_metadata` | [`MetadataError::Rollback`] |
//! | freeze (a stale snapshot replayed) | `accept_metadata`, `check_install` | `Expired` |
//! | mix-and-match (an index not pinned by this snapshot) | `accept_metadata` | [`MetadataError::MixAndMatch`] |
//! | mix-and-match (a package not matching the signed hash or length) | `check_install` | [`InstallError::MixAndMatch`] |
//! | rollback of a release (older than installed) | `check_install` | [`InstallError::Rollback`] |
//! | wrong key (metadata or release signed by another key) | both | `Signature(WrongKey)` |
//! | a release changed after publication | both | `ReleaseChanged` |

use std::collections::BTreeMap;

use palisade_core::time::Timestamp;
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::metadata::{DocumentError, ReleaseIndex, Snapshot};
use crate::names::ExtensionId;
use crate::package::{Package, Sha256};
use crate::signing::{PlatformKey, ReleaseError, SignatureError, verify_release};

/// A snapshot as served: its exact bytes and the platform's minisign signature over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSnapshot {
    pub bytes: Vec<u8>,
    pub signature: String,
}

/// Why new metadata was refused; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("snapshot signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("snapshot: {0}")]
    Document(DocumentError),
    #[error("snapshot version {offered} is older than version {accepted}, already accepted")]
    Rollback { accepted: u64, offered: u64 },
    #[error("snapshot version {version} was already accepted with different content")]
    Conflicting { version: u64 },
    #[error("the snapshot expired at {expires}")]
    Expired { expires: Timestamp },
    #[error("`{extension}`'s release index: {reason}")]
    MixAndMatch { extension: String, reason: &'static str },
    #[error("`{extension}`'s release index went back from version {seen} to {offered}")]
    IndexRollback { extension: ExtensionId, seen: u64, offered: u64 },
    #[error("`{extension}` {version} now lists different content than before; releases are immutable")]
    ReleaseChanged { extension: ExtensionId, version: Version },
}

impl MetadataError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::Signature(e) => e.code(),
            MetadataError::Document(_) => "metadata_malformed",
            MetadataError::Rollback { .. } => "metadata_rollback",
            MetadataError::Conflicting { .. } => "metadata_conflicting",
            MetadataError::Expired { .. } => "metadata_expired",
            MetadataError::MixAndMatch { .. } => "metadata_mix_and_match",
            MetadataError::IndexRollback { .. } => "metadata_index_rollback",
            MetadataError::ReleaseChanged { .. } => "metadata_release_changed",
        }
    }
}

/// Why an install (or update) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("the catalog metadata expired at {expires}; refresh it first")]
    Expired { expires: Timestamp },
    #[error("this metadata (version {offered}) is not the latest accepted (version {accepted})")]
    StaleMetadata { accepted: u64, offered: u64 },
    #[error("`{extension}` is not in the catalog (or its index was not fetched)")]
    NotInCatalog { extension: ExtensionId },
    #[error("`{extension}` has no release {version}")]
    UnknownRelease { extension: ExtensionId, version: Version },
    #[error("the package does not match the signed metadata: {reason}")]
    MixAndMatch { reason: &'static str },
    #[error("release: {0}")]
    Release(#[from] ReleaseError),
    #[error("{requested} is older than the installed {installed}; only an operator may downgrade")]
    Rollback { installed: Version, requested: Version },
    #[error("{version} is installed with different content; releases are immutable")]
    ReleaseChanged { version: Version },
    #[error("this release supports Palisade {supported}, not {running}")]
    Incompatible { supported: String, running: Version },
}

impl InstallError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Expired { .. } => "install_metadata_expired",
            InstallError::StaleMetadata { .. } => "install_stale_metadata",
            InstallError::NotInCatalog { .. } => "install_not_in_catalog",
            InstallError::UnknownRelease { .. } => "install_unknown_release",
            InstallError::MixAndMatch { .. } => "install_mix_and_match",
            InstallError::Release(e) => e.code(),
            InstallError::Rollback { .. } => "install_rollback",
            InstallError::ReleaseChanged { .. } => "install_release_changed",
            InstallError::Incompatible { .. } => "install_incompatible",
        }
    }
}

/// Whether an install may go to an older version than the one installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downgrade {
    /// The default: a rollback attack looks exactly like an "update" to an older release.
    Refuse,
    /// An operator chose this downgrade explicitly (audited by the caller).
    AllowedByOperator,
}

/// One installed release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledRelease {
    pub version: Version,
    pub sha256: Sha256,
}

/// What an installing node keeps between refreshes (persist it as JSON): the newest snapshot accepted, the
/// newest index version seen per extension, every release hash seen, and what is installed. Only the checks
/// below change it, and only when they succeed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledState {
    metadata_version: u64,
    metadata_sha256: Option<Sha256>,
    index_versions: BTreeMap<ExtensionId, u64>,
    known_releases: BTreeMap<ExtensionId, BTreeMap<Version, Sha256>>,
    installed: BTreeMap<ExtensionId, InstalledRelease>,
}

/// Metadata that passed [`InstalledState::accept_metadata`]; only that function makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedMetadata {
    snapshot: Snapshot,
    indexes: BTreeMap<ExtensionId, ReleaseIndex>,
}

impl TrustedMetadata {
    /// The accepted snapshot.
    #[must_use]
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// An accepted release index.
    #[must_use]
    pub fn index(&self, extension: &ExtensionId) -> Option<&ReleaseIndex> {
        self.indexes.get(extension)
    }
}

/// What to install: a release as fetched (package bytes and the publisher's signature), on this Palisade.
#[derive(Debug, Clone, Copy)]
pub struct InstallRequest<'a> {
    pub extension: &'a ExtensionId,
    pub version: &'a Version,
    pub package: &'a [u8],
    pub signature: &'a str,
    pub palisade_version: &'a Version,
    pub downgrade: Downgrade,
}

/// A release that passed [`InstalledState::check_install`]; record it with [`InstalledState::record_install`]
/// once it is in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedInstall {
    extension: ExtensionId,
    package: Package,
    downgrade: Downgrade,
}

impl ApprovedInstall {
    /// The checked package.
    #[must_use]
    pub fn package(&self) -> &Package {
        &self.package
    }
}

impl InstalledState {
    /// The newest snapshot version accepted (0: none yet).
    #[must_use]
    pub fn metadata_version(&self) -> u64 {
        self.metadata_version
    }

    /// The installed release of an extension.
    #[must_use]
    pub fn installed(&self, extension: &ExtensionId) -> Option<&InstalledRelease> {
        self.installed.get(extension)
    }

    /// Checks a signed snapshot and the release indexes fetched with it, and on success remembers them.
    /// `indexes` may be any subset of the snapshot's (a node fetches those of the extensions it cares about).
    pub fn accept_metadata(
        &mut self,
        platform: &PlatformKey,
        signed: &SignedSnapshot,
        indexes: &[&[u8]],
        now: Timestamp,
    ) -> Result<TrustedMetadata, MetadataError> {
        platform.verify(&signed.bytes, &signed.signature)?;
        let snapshot = Snapshot::parse(&signed.bytes).map_err(MetadataError::Document)?;
        let digest = Sha256::of(&signed.bytes);
        if snapshot.version < self.metadata_version {
            return Err(MetadataError::Rollback { accepted: self.metadata_version, offered: snapshot.version });
        }
        if snapshot.version == self.metadata_version && self.metadata_sha256 != Some(digest) {
            return Err(MetadataError::Conflicting { version: snapshot.version });
        }
        if snapshot.expires <= now {
            return Err(MetadataError::Expired { expires: snapshot.expires });
        }
        let mut trusted = BTreeMap::new();
        for bytes in indexes {
            let index = self.check_index(&snapshot, bytes)?;
            trusted.insert(index.extension.clone(), index);
        }
        self.metadata_version = snapshot.version;
        self.metadata_sha256 = Some(digest);
        for (id, index) in &trusted {
            self.index_versions.insert(id.clone(), index.version);
            let known = self.known_releases.entry(id.clone()).or_default();
            known.extend(index.releases.iter().map(|(v, e)| (v.clone(), e.sha256)));
        }
        Ok(TrustedMetadata { snapshot, indexes: trusted })
    }

    /// One index: pinned by this snapshot (same length, hash and version), not older than one seen before, and
    /// not changing any release seen before.
    fn check_index(&self, snapshot: &Snapshot, bytes: &[u8]) -> Result<ReleaseIndex, MetadataError> {
        let index = ReleaseIndex::parse(bytes).map_err(MetadataError::Document)?;
        let mix = |reason| MetadataError::MixAndMatch { extension: index.extension.to_string(), reason };
        let pin = snapshot.indexes.get(&index.extension).ok_or_else(|| mix("not listed in this snapshot"))?;
        if u64::try_from(bytes.len()).ok() != Some(pin.length) || Sha256::of(bytes) != pin.sha256 {
            return Err(mix("its length or SHA-256 differs from what this snapshot pins"));
        }
        if index.version != pin.version {
            return Err(mix("its version differs from what this snapshot pins"));
        }
        let seen = self.index_versions.get(&index.extension).copied().unwrap_or(0);
        if index.version < seen {
            return Err(MetadataError::IndexRollback {
                extension: index.extension.clone(),
                seen,
                offered: index.version,
            });
        }
        let known = self.known_releases.get(&index.extension);
        for (version, entry) in &index.releases {
            if known.and_then(|k| k.get(version)).is_some_and(|old| *old != entry.sha256) {
                return Err(MetadataError::ReleaseChanged {
                    extension: index.extension.clone(),
                    version: version.clone(),
                });
            }
        }
        Ok(index)
    }

    /// Checks a release before it is installed: the metadata is current and fresh, the package is exactly what
    /// the signed index lists (length, then SHA-256, before anything parses it), its publisher signature
    /// verifies with the key the index names, it is the release asked for, not a downgrade unless an operator
    /// allowed it, not a changed copy of the installed release, and it runs on this Palisade.
    pub fn check_install(
        &self,
        trusted: &TrustedMetadata,
        request: &InstallRequest<'_>,
        now: Timestamp,
    ) -> Result<ApprovedInstall, InstallError> {
        let snapshot = &trusted.snapshot;
        if snapshot.version != self.metadata_version {
            return Err(InstallError::StaleMetadata { accepted: self.metadata_version, offered: snapshot.version });
        }
        if snapshot.expires <= now {
            return Err(InstallError::Expired { expires: snapshot.expires });
        }
        let extension = request.extension;
        let index = trusted
            .indexes
            .get(extension)
            .ok_or_else(|| InstallError::NotInCatalog { extension: extension.clone() })?;
        let entry = index.releases.get(request.version).ok_or_else(|| InstallError::UnknownRelease {
            extension: extension.clone(),
            version: request.version.clone(),
        })?;
        if u64::try_from(request.package.len()).ok() != Some(entry.length) {
            return Err(InstallError::MixAndMatch { reason: "its length differs from the signed metadata" });
        }
        if Sha256::of(request.package) != entry.sha256 {
            return Err(InstallError::MixAndMatch { reason: "its SHA-256 differs from the signed metadata" });
        }
        let key = index
            .publisher_key(entry.key_id)
            .ok_or(InstallError::Release(ReleaseError::Signature(SignatureError::BadKey)))?;
        let package = verify_release(request.package, request.signature, &key)?.into_package();
        let manifest = &package.manifest;
        if &manifest.id != extension || &manifest.version != request.version {
            return Err(InstallError::MixAndMatch { reason: "the package is another extension or release" });
        }
        self.check_against_installed(extension, &package, request.downgrade)?;
        if !manifest.palisade.matches(request.palisade_version) {
            return Err(InstallError::Incompatible {
                supported: manifest.palisade.to_string(),
                running: request.palisade_version.clone(),
            });
        }
        Ok(ApprovedInstall { extension: extension.clone(), package, downgrade: request.downgrade })
    }

    fn check_against_installed(
        &self,
        extension: &ExtensionId,
        package: &Package,
        downgrade: Downgrade,
    ) -> Result<(), InstallError> {
        let version = &package.manifest.version;
        let known = self.known_releases.get(extension).and_then(|k| k.get(version));
        if known.is_some_and(|old| *old != package.sha256) {
            return Err(InstallError::ReleaseChanged { version: version.clone() });
        }
        let Some(current) = self.installed.get(extension) else { return Ok(()) };
        if current.version == *version && current.sha256 != package.sha256 {
            return Err(InstallError::ReleaseChanged { version: version.clone() });
        }
        if *version < current.version && downgrade != Downgrade::AllowedByOperator {
            return Err(InstallError::Rollback { installed: current.version.clone(), requested: version.clone() });
        }
        Ok(())
    }

    /// Records a checked release as installed. The approval is used up, and checked again against what is
    /// installed now: two approvals recorded out of order cannot turn into an unapproved downgrade.
    pub fn record_install(&mut self, approved: ApprovedInstall) -> Result<(), InstallError> {
        self.check_against_installed(&approved.extension, &approved.package, approved.downgrade)?;
        let version = approved.package.manifest.version.clone();
        let sha256 = approved.package.sha256;
        self.known_releases.entry(approved.extension.clone()).or_default().insert(version.clone(), sha256);
        self.installed.insert(approved.extension, InstalledRelease { version, sha256 });
        Ok(())
    }
}
