//! The signed catalog: the happy path, then one test per attack class (rollback of metadata, freeze,
//! mix-and-match, rollback of a release, wrong key, immutability).

use std::time::Duration;

use palisade_core::time::Timestamp;
use palisade_registry::metadata::{IndexPin, SnapshotType};
use palisade_registry::{
    Downgrade, ExtensionId, InstallError, InstallRequest, InstalledState, MetadataError, PublishError, Published,
    PublisherHandle, PublisherKey, Registry, ReleaseIndex, SignatureError, SignedSnapshot, Snapshot, TrustedMetadata,
    VerifyingKey, verify_release,
};
use semver::Version;

use crate::support::{Keys, MANIFEST, Tarball, example_package, relabel};

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const DAY: Duration = Duration::from_secs(86_400);

/// The platform, one publisher, and a store's installing node.
struct World {
    platform: Keys,
    publisher: Keys,
    registry: Registry,
    state: InstalledState,
    palisade: Version,
}

/// A release as a node fetches it.
struct Fetched {
    version: Version,
    package: Vec<u8>,
    signature: String,
}

/// What the platform serves after a snapshot: the signed snapshot and the index documents.
struct Served {
    snapshot: SignedSnapshot,
    indexes: Vec<Vec<u8>>,
}

impl World {
    fn new() -> World {
        World {
            platform: Keys::new(),
            publisher: Keys::new(),
            registry: Registry::new(),
            state: InstalledState::default(),
            palisade: Version::new(0, 2, 0),
        }
    }

    /// The publisher signs and uploads a release; the platform verifies it and adds it to the catalog.
    fn publish(&mut self, version: &str) -> Fetched {
        let package = example_package(version);
        let signature = self.publisher.sign(&package);
        let verified = verify_release(&package, &signature, &self.publisher.publisher("example-labs")).unwrap();
        assert_eq!(self.registry.publish(&verified).unwrap(), Published::Added);
        Fetched { version: Version::parse(version).unwrap(), package, signature }
    }

    /// The platform signs its next snapshot, valid for a week.
    fn serve(&mut self) -> Served {
        let unsigned = self.registry.snapshot(NOW.plus(DAY * 7)).unwrap();
        let signature = self.platform.sign(&unsigned.snapshot);
        Served {
            snapshot: SignedSnapshot { bytes: unsigned.snapshot, signature },
            indexes: unsigned.indexes.into_values().collect(),
        }
    }

    fn accept(&mut self, served: &Served, now: Timestamp) -> Result<TrustedMetadata, MetadataError> {
        let indexes: Vec<&[u8]> = served.indexes.iter().map(Vec::as_slice).collect();
        self.state.accept_metadata(&self.platform.platform(), &served.snapshot, &indexes, now)
    }

    fn install(
        &mut self,
        trusted: &TrustedMetadata,
        release: &Fetched,
        downgrade: Downgrade,
    ) -> Result<(), InstallError> {
        let approved = self.state.check_install(trusted, &request(release, &self.palisade, downgrade), NOW)?;
        self.state.record_install(approved)
    }
}

fn reviews() -> ExtensionId {
    ExtensionId::parse("com.example.reviews").unwrap()
}

fn request<'a>(release: &'a Fetched, palisade: &'a Version, downgrade: Downgrade) -> InstallRequest<'a> {
    static ID: std::sync::LazyLock<ExtensionId> = std::sync::LazyLock::new(reviews);
    InstallRequest {
        extension: &ID,
        version: &release.version,
        package: &release.package,
        signature: &release.signature,
        palisade_version: palisade,
        downgrade,
    }
}

/// A snapshot the platform key signs over arbitrary content (a compromised or buggy catalog database).
fn sign_snapshot(platform: &Keys, snapshot: &Snapshot) -> SignedSnapshot {
    let bytes = serde_json::to_vec(snapshot).unwrap();
    SignedSnapshot { signature: platform.sign(&bytes), bytes }
}

#[test]
fn a_release_is_published_served_and_installed() {
    let mut w = World::new();
    let v1 = w.publish("1.0.0");
    let served = w.serve();
    let trusted = w.accept(&served, NOW).unwrap();
    assert_eq!(w.state.metadata_version(), 1);
    assert_eq!(trusted.index(&reviews()).unwrap().releases.len(), 1);
    w.install(&trusted, &v1, Downgrade::Refuse).unwrap();
    assert_eq!(w.state.installed(&reviews()).unwrap().version, Version::new(1, 0, 0));
    // An update, then the state survives a round trip through its stored form.
    let v2 = w.publish("1.2.0");
    let served = w.serve();
    let trusted = w.accept(&served, NOW).unwrap();
    w.install(&trusted, &v2, Downgrade::Refuse).unwrap();
    let stored = serde_json::to_string(&w.state).unwrap();
    let restored: InstalledState = serde_json::from_str(&stored).unwrap();
    assert_eq!(restored, w.state);
    // Accepting the same snapshot again (to fetch more indexes, or after a restart) is fine.
    w.accept(&served, NOW).unwrap();
    // A release for another Palisade is refused.
    w.palisade = Version::new(0, 3, 0);
    let err = w.state.check_install(&trusted, &request(&v2, &w.palisade, Downgrade::Refuse), NOW).unwrap_err();
    assert_eq!(err.code(), "install_incompatible");
}

#[test]
fn attack_rollback_of_metadata() {
    let mut w = World::new();
    w.publish("1.0.0");
    let old = w.serve();
    w.publish("1.2.0");
    let new = w.serve();
    let stale_trusted = w.accept(&old, NOW).unwrap();
    w.accept(&new, NOW).unwrap();
    // The old snapshot is validly signed and not expired, but older than one already seen.
    let err = w.accept(&old, NOW).unwrap_err();
    assert_eq!(err, MetadataError::Rollback { accepted: 2, offered: 1 });
    // Nor may metadata accepted earlier be used once newer metadata was accepted.
    let v1 = Fetched { version: Version::new(1, 0, 0), package: example_package("1.0.0"), signature: String::new() };
    let err = w.state.check_install(&stale_trusted, &request(&v1, &w.palisade, Downgrade::Refuse), NOW).unwrap_err();
    assert_eq!(err.code(), "install_stale_metadata");
    // The same version number with other content (equivocation) is refused too.
    let mut forked: Snapshot = serde_json::from_slice(&new.snapshot.bytes).unwrap();
    forked.indexes.clear();
    let err = w.state.accept_metadata(&w.platform.platform(), &sign_snapshot(&w.platform, &forked), &[], NOW);
    assert_eq!(err.unwrap_err().code(), "metadata_conflicting");
    assert_eq!(w.state.metadata_version(), 2, "refused metadata leaves the state unchanged");
}

#[test]
fn attack_freeze() {
    let mut w = World::new();
    let v1 = w.publish("1.0.0");
    let served = w.serve();
    let trusted = w.accept(&served, NOW).unwrap();
    // A week and a day later the same snapshot (say, replayed by a mirror that stopped updating) is refused...
    let later = NOW.plus(DAY * 8);
    let err = w.accept(&served, later).unwrap_err();
    assert!(matches!(err, MetadataError::Expired { .. }), "{err:?}");
    // ...and metadata accepted while fresh cannot be used to install once it is stale.
    let err = w.state.check_install(&trusted, &request(&v1, &w.palisade, Downgrade::Refuse), later).unwrap_err();
    assert_eq!(err.code(), "install_metadata_expired");
    // Expiry is exclusive: at the instant itself it is already stale.
    let err = w.accept(&served, NOW.plus(DAY * 7)).unwrap_err();
    assert_eq!(err.code(), "metadata_expired");
}

#[test]
fn attack_mix_and_match() {
    let mut w = World::new();
    let v1 = w.publish("1.0.0");
    let old = w.serve();
    let v2 = w.publish("1.2.0");
    let new = w.serve();
    // An index from the previous snapshot offered with the new one: pieces from different versions.
    let mixed = Served { snapshot: new.snapshot.clone(), indexes: old.indexes.clone() };
    let err = w.accept(&mixed, NOW).unwrap_err();
    assert_eq!(err.code(), "metadata_mix_and_match");
    // The pinned index edited in place (same length, same version, one release hash changed).
    let text = String::from_utf8(new.indexes[0].clone()).unwrap();
    let at = text.find("\"sha256\":\"").unwrap() + 10;
    let flipped = if &text[at..=at] == "0" { "1" } else { "0" };
    let edited = format!("{}{}{}", &text[..at], flipped, &text[at + 1..]);
    assert_eq!(edited.len(), text.len());
    let in_place = Served { snapshot: new.snapshot.clone(), indexes: vec![edited.into_bytes()] };
    let err = w.accept(&in_place, NOW).unwrap_err();
    assert_eq!(err.code(), "metadata_mix_and_match");
    // An index for an extension the snapshot does not list.
    let mut stray: ReleaseIndex = ReleaseIndex::parse(&new.indexes[0]).unwrap();
    stray.extension = ExtensionId::parse("com.example.other").unwrap();
    let stray_doc = Served { snapshot: new.snapshot.clone(), indexes: vec![serde_json::to_vec(&stray).unwrap()] };
    assert_eq!(w.accept(&stray_doc, NOW).unwrap_err().code(), "metadata_mix_and_match");
    // With the right metadata, a package that is not the listed one: 1.0.0's bytes offered as 1.2.0...
    let trusted = w.accept(&new, NOW).unwrap();
    let swapped = Fetched { version: v2.version.clone(), package: v1.package.clone(), signature: v1.signature.clone() };
    let err = w.state.check_install(&trusted, &request(&swapped, &w.palisade, Downgrade::Refuse), NOW).unwrap_err();
    assert!(matches!(err, InstallError::MixAndMatch { .. }), "{err:?}");
    // ...or the right length with one byte changed (the hash is checked before the signature or the archive).
    let mut flipped = v2.package.clone();
    flipped[20] ^= 0xff;
    let tampered = Fetched { version: v2.version.clone(), package: flipped, signature: v2.signature.clone() };
    let err = w.state.check_install(&trusted, &request(&tampered, &w.palisade, Downgrade::Refuse), NOW).unwrap_err();
    assert_eq!(err, InstallError::MixAndMatch { reason: "its SHA-256 differs from the signed metadata" });
    w.install(&trusted, &v2, Downgrade::Refuse).unwrap();
}

#[test]
fn attack_rollback_of_a_release() {
    let mut w = World::new();
    let v1 = w.publish("1.0.0");
    let v2 = w.publish("1.2.0");
    let served = w.serve();
    let trusted = w.accept(&served, NOW).unwrap();
    w.install(&trusted, &v2, Downgrade::Refuse).unwrap();
    // 1.0.0 is validly signed and listed, but older than what is installed (it may have a known hole).
    let err = w.install(&trusted, &v1, Downgrade::Refuse).unwrap_err();
    assert_eq!(err, InstallError::Rollback { installed: Version::new(1, 2, 0), requested: Version::new(1, 0, 0) });
    assert_eq!(w.state.installed(&reviews()).unwrap().version, Version::new(1, 2, 0));
    // Approvals checked before an update cannot be recorded after it: 1.0.0 approved while nothing newer was
    // installed is checked again when it is recorded.
    let mut fresh = InstalledState::default();
    let trusted_fresh =
        fresh.accept_metadata(&w.platform.platform(), &served.snapshot, &[&served.indexes[0]], NOW).unwrap();
    let old_ok = fresh.check_install(&trusted_fresh, &request(&v1, &w.palisade, Downgrade::Refuse), NOW).unwrap();
    let new_ok = fresh.check_install(&trusted_fresh, &request(&v2, &w.palisade, Downgrade::Refuse), NOW).unwrap();
    fresh.record_install(new_ok).unwrap();
    assert_eq!(fresh.record_install(old_ok).unwrap_err().code(), "install_rollback");
    // An operator may choose the downgrade explicitly.
    w.install(&trusted, &v1, Downgrade::AllowedByOperator).unwrap();
    assert_eq!(w.state.installed(&reviews()).unwrap().version, Version::new(1, 0, 0));
}

#[test]
fn attack_wrong_key() {
    let mut w = World::new();
    let v1 = w.publish("1.0.0");
    let served = w.serve();
    // The snapshot signed by the publisher's key, or by anyone's but the platform's, is refused.
    let attacker = Keys::new();
    for signer in [&w.publisher, &attacker] {
        let forged =
            SignedSnapshot { bytes: served.snapshot.bytes.clone(), signature: signer.sign(&served.snapshot.bytes) };
        let indexes: Vec<&[u8]> = served.indexes.iter().map(Vec::as_slice).collect();
        let err = w.state.accept_metadata(&w.platform.platform(), &forged, &indexes, NOW).unwrap_err();
        assert!(matches!(err, MetadataError::Signature(SignatureError::WrongKey { .. })), "{err:?}");
    }
    assert_eq!(w.state.metadata_version(), 0);
    // The listed package signed by a key that is not the publisher's is refused at install.
    let trusted = w.accept(&served, NOW).unwrap();
    let resigned = Fetched { signature: attacker.sign(&v1.package), ..v1 };
    let err = w.install(&trusted, &resigned, Downgrade::Refuse).unwrap_err();
    assert_eq!(err.code(), "signature_wrong_key");
    // On upload, the platform refuses a release whose signature is not the uploading publisher's key.
    let package = example_package("1.3.0");
    let err = verify_release(&package, &attacker.sign(&package), &w.publisher.publisher("example-labs")).unwrap_err();
    assert_eq!(err.code(), "signature_wrong_key");
}

#[test]
fn attack_changed_release_immutability() {
    let mut w = World::new();
    let v1 = w.publish("1.0.0");
    // Republishing 1.0.0 with other content is refused; the identical package is a no-op.
    let changed = Tarball::example(MANIFEST.replace("version = \"1.2.0\"", "version = \"1.0.0\"").as_str())
        .file("theme/templates/extra.html", b"<script src=https://evil.example/x.js></script>")
        .gz();
    let key = w.publisher.publisher("example-labs");
    let verified = verify_release(&changed, &w.publisher.sign(&changed), &key).unwrap();
    assert_eq!(w.registry.publish(&verified).unwrap_err().code(), "publish_release_immutable");
    let same = verify_release(&v1.package, &v1.signature, &key).unwrap();
    assert_eq!(w.registry.publish(&same).unwrap(), Published::AlreadyPresent);
    // Another publisher cannot publish under the id.
    let other = Keys::new();
    let theirs = Tarball::example(&MANIFEST.replace("example-labs", "other-labs")).gz();
    let verified = verify_release(&theirs, &other.sign(&theirs), &other.publisher("other-labs")).unwrap();
    assert!(matches!(w.registry.publish(&verified).unwrap_err(), PublishError::NotOwner { .. }));
    // A client that saw 1.0.0 refuses later metadata that lists 1.0.0 with other content, even signed by the
    // platform (a catalog database edited behind the registry's back).
    let served = w.serve();
    let trusted = w.accept(&served, NOW).unwrap();
    w.install(&trusted, &v1, Downgrade::Refuse).unwrap();
    let mut index = ReleaseIndex::parse(&served.indexes[0]).unwrap();
    let entry = index.releases.get_mut(&Version::new(1, 0, 0)).unwrap();
    entry.sha256 = palisade_registry::Sha256::of(&changed);
    entry.length = changed.len() as u64;
    index.version += 1;
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let snapshot = Snapshot {
        kind: SnapshotType::Snapshot,
        spec_version: 1,
        version: 2,
        expires: NOW.plus(DAY),
        indexes: [(
            reviews(),
            IndexPin {
                version: index.version,
                sha256: palisade_registry::Sha256::of(&index_bytes),
                length: index_bytes.len() as u64,
            },
        )]
        .into(),
    };
    let signed = sign_snapshot(&w.platform, &snapshot);
    let err = w.state.accept_metadata(&w.platform.platform(), &signed, &[&index_bytes], NOW).unwrap_err();
    assert_eq!(err.code(), "metadata_release_changed");
}

#[test]
fn a_release_index_cannot_go_back_even_under_a_newer_snapshot() {
    let mut w = World::new();
    w.publish("1.0.0");
    let first = w.serve();
    w.publish("1.2.0");
    let second = w.serve();
    w.accept(&second, NOW).unwrap();
    // A newer snapshot (version 3) that pins the older index.
    let mut snapshot: Snapshot = serde_json::from_slice(&first.snapshot.bytes).unwrap();
    snapshot.version = 3;
    let signed = sign_snapshot(&w.platform, &snapshot);
    let err = w.state.accept_metadata(&w.platform.platform(), &signed, &[&first.indexes[0]], NOW).unwrap_err();
    assert_eq!(err.code(), "metadata_index_rollback");
}

#[test]
fn malformed_metadata_is_refused() {
    let mut w = World::new();
    w.publish("1.0.0");
    let served = w.serve();
    // A release index passed off as a snapshot (type confusion), correctly signed.
    let confused = SignedSnapshot { signature: w.platform.sign(&served.indexes[0]), bytes: served.indexes[0].clone() };
    let err = w.state.accept_metadata(&w.platform.platform(), &confused, &[], NOW).unwrap_err();
    assert_eq!(err.code(), "metadata_malformed");
    let mut snapshot: Snapshot = serde_json::from_slice(&served.snapshot.bytes).unwrap();
    snapshot.spec_version = 2;
    let err = w.state.accept_metadata(&w.platform.platform(), &sign_snapshot(&w.platform, &snapshot), &[], NOW);
    assert_eq!(err.unwrap_err().code(), "metadata_malformed");
    // The same content in another form (pretty-printed; a key given twice) is refused: one document, one reading.
    let pretty = serde_json::to_vec_pretty(&ReleaseIndex::parse(&served.indexes[0]).unwrap()).unwrap();
    assert!(ReleaseIndex::parse(&pretty).is_err());
    let text = String::from_utf8(served.indexes[0].clone()).unwrap();
    let doubled = text.replacen("\"version\":1,", "\"version\":1,\"version\":1,", 1);
    assert_ne!(doubled, text);
    assert!(ReleaseIndex::parse(doubled.as_bytes()).is_err());
    // An index whose release names a key it does not list.
    let mut index = ReleaseIndex::parse(&served.indexes[0]).unwrap();
    index.publisher_keys.clear();
    let bytes = serde_json::to_vec(&index).unwrap();
    assert!(ReleaseIndex::parse(&bytes).is_err());
    assert_eq!(w.state.metadata_version(), 0);
}

#[test]
fn a_second_key_under_a_listed_key_id_is_refused() {
    let mut w = World::new();
    w.publish("1.0.0");
    // Another key of the same publisher relabelled with the listed key's id (minisign does not sign key ids).
    let listed = w.publisher.verifying().id();
    let other = Keys::new();
    let package = example_package("1.3.0");
    let signature = relabel(&other.sign(&package), listed);
    let b64 = {
        use base64::Engine as _;
        let mut bin = base64::engine::general_purpose::STANDARD.decode(other.verifying().to_base64()).unwrap();
        bin[2..10].copy_from_slice(&listed.0);
        base64::engine::general_purpose::STANDARD.encode(bin)
    };
    let clashing = PublisherKey {
        publisher: PublisherHandle::parse("example-labs").unwrap(),
        key: VerifyingKey::parse(&b64).unwrap(),
    };
    let verified = verify_release(&package, &signature, &clashing).unwrap();
    assert_eq!(w.registry.publish(&verified).unwrap_err().code(), "publish_key_id_clash");
}
