//! Release signatures: verified over the exact bytes, with the publisher's own key, before anything is parsed.

use palisade_registry::{
    KeyId, PublisherHandle, PublisherKey, ReleaseError, SignatureError, VerifyingKey, verify_release,
};

use crate::support::{Keys, MANIFEST, Tarball, example_package, relabel, relabel_algorithm};

#[test]
fn a_release_signed_by_its_publisher_verifies() {
    let keys = Keys::new();
    let bytes = example_package("1.2.0");
    let release = verify_release(&bytes, &keys.sign(&bytes), &keys.publisher("example-labs")).unwrap();
    assert_eq!(release.package().manifest.version.to_string(), "1.2.0");
    assert_eq!(release.key_id(), keys.verifying().id());
    // The key id reads as minisign prints it, and the whole minisign.pub file is accepted too.
    let shown = keys.verifying().id().to_string();
    assert_eq!(KeyId::from_hex(&shown), Some(keys.verifying().id()));
    let pub_file = format!("untrusted comment: minisign public key {shown}\n{}\n", keys.verifying().to_base64());
    assert_eq!(VerifyingKey::parse(&pub_file).unwrap(), keys.verifying());
}

#[test]
fn tampered_bytes_are_refused() {
    let keys = Keys::new();
    let bytes = example_package("1.2.0");
    let sig = keys.sign(&bytes);
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let err = verify_release(&tampered, &sig, &keys.publisher("example-labs")).unwrap_err();
    assert_eq!(err, ReleaseError::Signature(SignatureError::Invalid));
}

#[test]
fn another_key_is_refused_even_with_a_forged_key_id() {
    let publisher = Keys::new();
    let attacker = Keys::new();
    let bytes = example_package("1.2.0");
    let sig = attacker.sign(&bytes);
    let err = verify_release(&bytes, &sig, &publisher.publisher("example-labs")).unwrap_err();
    assert!(matches!(err, ReleaseError::Signature(SignatureError::WrongKey { .. })), "{err:?}");
    // The attacker relabels the signature with the publisher's key id: the Ed25519 check still fails.
    let forged = relabel(&sig, publisher.verifying().id());
    let err = verify_release(&bytes, &forged, &publisher.publisher("example-labs")).unwrap_err();
    assert_eq!(err, ReleaseError::Signature(SignatureError::Invalid));
}

#[test]
fn a_publisher_cannot_sign_for_another() {
    let keys = Keys::new();
    let bytes = Tarball::example(&MANIFEST.replace("example-labs", "someone-else")).gz();
    let err = verify_release(&bytes, &keys.sign(&bytes), &keys.publisher("example-labs")).unwrap_err();
    assert_eq!(err.code(), "release_wrong_publisher");
}

#[test]
fn garbage_signatures_and_keys_are_refused() {
    let keys = Keys::new();
    let bytes = example_package("1.2.0");
    for sig in ["", "untrusted comment: x\nnot base64\n", &"A".repeat(10_000)] {
        let err = verify_release(&bytes, sig, &keys.publisher("example-labs")).unwrap_err();
        assert_eq!(err.code(), "signature_malformed", "{sig:.40}");
    }
    // A legacy (not pre-hashed) signature: algorithm bytes "Ed" instead of "ED".
    let legacy = relabel_algorithm(&keys.sign(&bytes), *b"Ed");
    let err = verify_release(&bytes, &legacy, &keys.publisher("example-labs")).unwrap_err();
    assert_eq!(err.code(), "signature_legacy");
    for key in ["", "RWQ", "not a key", &"RWQ".repeat(100)] {
        assert_eq!(VerifyingKey::parse(key).unwrap_err(), SignatureError::BadKey, "{key:.20}");
    }
}

#[test]
fn a_release_packed_with_tar_and_signed_with_the_minisign_cli_verifies() {
    // Made as the README says: `tar -czf reviews-1.2.0.tar.gz -C reviews .` (GNU tar) and
    // `minisign -S -s example-labs.key -m reviews-1.2.0.tar.gz -t "com.example.reviews 1.2.0"` (minisign 0.11).
    let package = include_bytes!("../../testdata/cli/reviews-1.2.0.tar.gz");
    let signature = include_str!("../../testdata/cli/reviews-1.2.0.tar.gz.minisig");
    let key_file = include_str!("../../testdata/cli/example-labs.pub");
    let key = PublisherKey {
        publisher: PublisherHandle::parse("example-labs").unwrap(),
        key: VerifyingKey::parse(key_file).unwrap(),
    };
    let release = verify_release(package, signature, &key).unwrap();
    assert_eq!(release.package().manifest.id.as_str(), "com.example.reviews");
    assert_eq!(release.package().files.len(), 4);
    // The CLI prints the key id without leading zeros (`EC1652210D9F3E9`); the catalog writes all 16 digits.
    assert_eq!(release.key_id().to_string(), "0EC1652210D9F3E9");
    let mut tampered = package.to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(verify_release(&tampered, signature, &key).unwrap_err().code(), "signature_invalid");
}
