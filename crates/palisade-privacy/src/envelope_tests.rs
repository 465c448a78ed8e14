use super::*;

const MASTER: [u8; 32] = [7u8; 32];

fn keks() -> LocalKeks {
    LocalKeks::from_master_key(KekVersion(1), &MASTER).unwrap()
}

fn field<'a>(store: StoreId, row: &'a str) -> FieldRef<'a> {
    FieldRef { store, table: "buyers", column: "email", row }
}

#[test]
fn seal_open_round_trip_through_a_wrapped_key() {
    let keks = keks();
    let store = StoreId::new();
    let dek = DataKey::generate(store, DekVersion(1));
    let wrapped = dek.wrap(&keks, KekVersion(1)).unwrap();
    let ct = dek.seal(&field(store, "row-1"), b"ann@example.com").unwrap();
    let again = wrapped.unwrap_key(&keks).unwrap();
    assert_eq!(again.open(&field(store, "row-1"), &ct).unwrap().as_slice(), b"ann@example.com");
    assert_ne!(dek.seal(&field(store, "row-1"), b"ann@example.com").unwrap(), ct, "fresh nonce per seal");
    // Self-describing header.
    let header = FieldHeader::parse(&ct).unwrap();
    assert_eq!((header.format, header.version), (FIELD_FORMAT_V1, DekVersion(1)));
    assert_eq!(ct.len(), 1 + 4 + NONCE_LEN + b"ann@example.com".len() + TAG_LEN);
}

/// Abuse: a ciphertext copied to another row, column, table or store must not open there.
#[test]
fn a_ciphertext_moved_to_another_place_does_not_open() {
    let store = StoreId::new();
    let dek = DataKey::generate(store, DekVersion(1));
    let ct = dek.seal(&field(store, "row-1"), b"secret").unwrap();
    assert_eq!(dek.open(&field(store, "row-2"), &ct), Err(CryptoError::Open));
    let other_column = FieldRef { column: "phone", ..field(store, "row-1") };
    assert_eq!(dek.open(&other_column, &ct), Err(CryptoError::Open));
    let other_table = FieldRef { table: "addresses", ..field(store, "row-1") };
    assert_eq!(dek.open(&other_table, &ct), Err(CryptoError::Open));
    // Length prefixes: table "buyersemail" + column "" is not table "buyers" + column "email".
    let shifted = FieldRef { table: "buyersemail", column: "", ..field(store, "row-1") };
    assert_eq!(dek.open(&shifted, &ct), Err(CryptoError::Open));
    // Another store: refused by its key (wrong store) and by another store's key (authentication).
    let other = StoreId::new();
    assert_eq!(dek.open(&field(other, "row-1"), &ct), Err(CryptoError::WrongStore));
    let other_dek = DataKey::generate(other, DekVersion(1));
    assert_eq!(other_dek.open(&field(other, "row-1"), &ct), Err(CryptoError::Open));
    assert_eq!(dek.seal(&field(other, "row-1"), b"x"), Err(CryptoError::WrongStore));
}

#[test]
fn altered_truncated_and_foreign_ciphertexts_are_refused() {
    let store = StoreId::new();
    let dek = DataKey::generate(store, DekVersion(1));
    let f = field(store, "row-1");
    let ct = dek.seal(&f, b"secret").unwrap();
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        assert!(dek.open(&f, &bad).is_err(), "flipped byte {i} accepted");
    }
    for len in 0..(1 + 4 + NONCE_LEN + TAG_LEN) {
        assert!(dek.open(&f, &ct[..len]).is_err(), "truncated to {len} accepted");
    }
    let mut future = ct.clone();
    future[0] = 0x02;
    assert_eq!(dek.open(&f, &future), Err(CryptoError::UnknownFormat(0x02)));
    let newer = DataKey::generate(store, DekVersion(2));
    assert_eq!(
        newer.open(&f, &ct),
        Err(CryptoError::WrongKeyVersion { found: DekVersion(1), expected: DekVersion(2) })
    );
    assert_eq!(dek.open(&f, b""), Err(CryptoError::Malformed));
}

/// Abuse: a wrapped DEK copied onto another store's record (to read that store's data with a key we know, or
/// ours with theirs) does not unwrap.
#[test]
fn a_wrapped_key_moved_to_another_store_or_version_does_not_unwrap() {
    let keks = keks();
    let store = StoreId::new();
    let wrapped = DataKey::generate(store, DekVersion(1)).wrap(&keks, KekVersion(1)).unwrap();
    let moved = WrappedDek { store: StoreId::new(), ..wrapped.clone() };
    assert_eq!(moved.unwrap_key(&keks).unwrap_err(), CryptoError::Open);
    let relabelled = WrappedDek { dek_version: DekVersion(9), ..wrapped.clone() };
    assert_eq!(relabelled.unwrap_key(&keks).unwrap_err(), CryptoError::Open);
    let unknown = WrappedDek { kek_version: KekVersion(2), ..wrapped.clone() };
    assert_eq!(unknown.unwrap_key(&keks).unwrap_err(), CryptoError::UnknownKek(KekVersion(2)));
    // Another master key cannot unwrap.
    let stranger = LocalKeks::from_master_key(KekVersion(1), &[8u8; 32]).unwrap();
    assert_eq!(wrapped.unwrap_key(&stranger).unwrap_err(), CryptoError::Open);
    assert!(matches!(LocalKeks::from_master_key(KekVersion(1), &[1u8; 31]), Err(CryptoError::WeakMasterKey)));
}

/// Crypto-shredding: once a store's wrapped DEK is destroyed, nothing else that is kept (the master key, the
/// KEKs, the other stores' keys, a new key for the same store) opens its ciphertexts.
#[test]
fn destroying_a_stores_key_makes_its_data_unreadable() {
    let keks = keks();
    let (doomed, kept) = (StoreId::new(), StoreId::new());
    let mut key_table: Vec<WrappedDek> = Vec::new();
    let mut data: Vec<(StoreId, String, Vec<u8>)> = Vec::new();
    for store in [doomed, kept] {
        let dek = DataKey::generate(store, DekVersion(1));
        key_table.push(dek.wrap(&keks, KekVersion(1)).unwrap());
        for i in 0..5 {
            let row = format!("row-{i}");
            let ct = dek.seal(&field(store, &row), format!("person {i}").as_bytes()).unwrap();
            data.push((store, row, ct));
        }
    }
    // Destroy: the wrapped DEK record is deleted (and the in-memory key dropped, zeroized).
    key_table.retain(|w| w.store != doomed);
    let replacement = DataKey::generate(doomed, DekVersion(1));
    for (store, row, ct) in &data {
        let f = field(*store, row);
        let readable: Vec<_> =
            key_table.iter().filter_map(|w| w.unwrap_key(&keks).ok()).filter_map(|k| k.open(&f, ct).ok()).collect();
        if *store == doomed {
            assert!(readable.is_empty(), "shredded data opened");
            assert!(replacement.open(&f, ct).is_err(), "a new key for the same store opened old data");
        } else {
            assert_eq!(readable.len(), 1, "kept store's data must still open");
        }
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let keks = keks();
    let dek = DataKey::generate(StoreId::new(), DekVersion(1));
    let wrapped = dek.wrap(&keks, KekVersion(1)).unwrap();
    let key_hex = hex::encode(*dek.key);
    let kek_hex = hex::encode(**keks.keys.get(&KekVersion(1)).unwrap());
    for text in [format!("{dek:?}"), format!("{keks:?}"), format!("{wrapped:?}"), format!("{dek:#?}")] {
        assert!(!text.contains(&key_hex) && !text.contains(&kek_hex), "{text}");
        assert!(!text.contains(&hex::encode(&wrapped.blob)), "{text}");
        // No byte arrays at all (a key printed in decimal would also leak).
        let digit_list = text.as_bytes().windows(2).any(|w| w[0] == b'[' && w[1].is_ascii_digit());
        assert!(!digit_list, "{text}");
    }
    assert!(format!("{dek:?}").contains("[redacted]"));
}

/// Abuse/operator error: re-adding a held version from another master key would silently replace the key its
/// records are wrapped under; going back to an older number would undo a rotation. Both are refused.
#[test]
fn a_kek_version_cannot_be_reused_or_go_backwards() {
    let mut keks = keks();
    let wrapped = DataKey::generate(StoreId::new(), DekVersion(1)).wrap(&keks, KekVersion(1)).unwrap();
    assert_eq!(keks.add_current(KekVersion(1), &[9u8; 32]), Err(CryptoError::KekVersionNotNewer(KekVersion(1))));
    assert_eq!(keks.add_current(KekVersion(0), &[9u8; 32]), Err(CryptoError::KekVersionNotNewer(KekVersion(0))));
    assert!(wrapped.unwrap_key(&keks).is_ok(), "the held key is unchanged");
    keks.add_current(KekVersion(3), &[9u8; 32]).unwrap();
    assert_eq!(keks.current(), KekVersion(3));
    assert_eq!(keks.add_current(KekVersion(2), &[9u8; 32]), Err(CryptoError::KekVersionNotNewer(KekVersion(2))));
    assert_eq!(keks.versions(), vec![KekVersion(1), KekVersion(3)]);
}

proptest::proptest! {
    /// Abuse: arbitrary bytes offered as a ciphertext or a wrapped key never panic and never open.
    #[test]
    fn arbitrary_bytes_never_panic_or_open(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let keks = keks();
        let store = StoreId::new();
        let dek = DataKey::generate(store, DekVersion(1));
        proptest::prop_assert!(dek.open(&field(store, "r"), &bytes).is_err());
        let forged = WrappedDek { store, dek_version: DekVersion(1), kek_version: KekVersion(1), blob: bytes };
        proptest::prop_assert!(forged.unwrap_key(&keks).is_err());
    }

    /// Any plaintext (empty, binary, large) round-trips.
    #[test]
    fn any_plaintext_round_trips(plain in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
        let store = StoreId::new();
        let dek = DataKey::generate(store, DekVersion(7));
        let ct = dek.seal(&field(store, "r"), &plain).unwrap();
        let opened = dek.open(&field(store, "r"), &ct).unwrap();
        proptest::prop_assert_eq!(opened.as_slice(), plain.as_slice());
    }
}
