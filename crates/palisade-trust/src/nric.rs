//! Singapore NRIC and FIN numbers: how an individual seller is verified, and how the platform keeps the number
//! without keeping it.
//!
//! Format: a prefix letter, 7 digits, a check letter. Prefixes: `S` (citizens and permanent residents registered
//! before 2000), `T` (from 2000), `F` (foreigners' FIN before 2000), `G` (FIN 2000–2021), `M` (FIN from 2022).
//! The digits are weighted 2 7 6 5 4 3 2 and summed; `T` and `G` add 4, `M` adds 3; the sum mod 11 indexes
//! `JZIHGFEDCBA` (S, T), `XWUTRQPNMLK` (F, G) or, for M, `KLJNPQRTUWX` read from the other end.
//!
//! Every weight is non-zero mod 11 and neighbouring weights differ, so a single wrong digit and a swap of two
//! neighbouring digits are always caught; and no two prefixes give the same letter for the same digits, so a
//! wrong prefix is caught too (the exhaustive tests check all three).
//!
//! The full number is personal data the platform must not keep (PDPA; the issue asks for a keyed hash and a
//! masked form only). [`Nric`] holds it in memory for as long as it takes to verify it and derive an
//! [`NricRecord`]; its `Debug`, `Display` and `Serialize` show the masked form only. The hash is HMAC-SHA-256
//! under a platform key, so equal numbers can be matched (one person, two seller accounts) without a table of
//! all 10⁷ numbers per prefix being enough to reverse it.

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize, Serializer};
use sha2::Sha256;

const WEIGHTS: [u32; 7] = [2, 7, 6, 5, 4, 3, 2];
const ST_LETTERS: &[u8; 11] = b"JZIHGFEDCBA";
const FG_LETTERS: &[u8; 11] = b"XWUTRQPNMLK";
const M_LETTERS: &[u8; 11] = b"KLJNPQRTUWX";

/// Domain separation for the keyed hash, so the same key used elsewhere cannot produce colliding values.
const HASH_CONTEXT: &[u8] = b"palisade.nric.v1\0";

/// Shortest HMAC key accepted (bytes): a short key would make the hash as guessable as the number itself.
pub const MIN_KEY_BYTES: usize = 32;

/// The prefix letter: who the number was issued to, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum NricPrefix {
    /// Citizens and permanent residents registered before 2000.
    S,
    /// Citizens and permanent residents registered from 2000.
    T,
    /// Foreigners (FIN) issued before 2000.
    F,
    /// Foreigners (FIN) issued 2000–2021.
    G,
    /// Foreigners (FIN) issued from 2022.
    M,
}

impl NricPrefix {
    fn from_byte(c: u8) -> Option<Self> {
        Some(match c {
            b'S' => NricPrefix::S,
            b'T' => NricPrefix::T,
            b'F' => NricPrefix::F,
            b'G' => NricPrefix::G,
            b'M' => NricPrefix::M,
            _ => return None,
        })
    }

    fn letter(self) -> char {
        match self {
            NricPrefix::S => 'S',
            NricPrefix::T => 'T',
            NricPrefix::F => 'F',
            NricPrefix::G => 'G',
            NricPrefix::M => 'M',
        }
    }

    /// Whether this is a FIN (issued to a foreigner) rather than an NRIC.
    pub fn is_fin(self) -> bool {
        matches!(self, NricPrefix::F | NricPrefix::G | NricPrefix::M)
    }

    fn check_letter(self, digits: &[u8; 7]) -> Option<u8> {
        let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| u32::from(*d) * w).sum();
        let (offset, table) = match self {
            NricPrefix::S => (0, ST_LETTERS),
            NricPrefix::T => (4, ST_LETTERS),
            NricPrefix::F => (0, FG_LETTERS),
            NricPrefix::G => (4, FG_LETTERS),
            NricPrefix::M => (3, M_LETTERS),
        };
        let r = ((sum + offset) % 11) as usize;
        let at = if self == NricPrefix::M { 10 - r } else { r };
        table.get(at).copied()
    }
}

/// A valid NRIC/FIN. Holds the full number; shows only the masked form (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct Nric {
    prefix: NricPrefix,
    digits: [u8; 7],
    check: u8,
}

/// What is wrong with an NRIC/FIN as typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NricError {
    #[error("an NRIC/FIN is 9 characters (a letter, 7 digits, a letter); this has {found}")]
    Length { found: usize },
    #[error("an NRIC/FIN starts with S, T, F, G or M")]
    Prefix,
    /// `position` is 1-based.
    #[error("character {position} of the NRIC/FIN should be a digit")]
    Digit { position: usize },
    #[error("an NRIC/FIN ends with a letter")]
    CheckLetterFormat,
    #[error("the NRIC/FIN's check letter does not match its digits (a typing mistake?)")]
    CheckLetter,
}

impl NricError {
    /// A stable machine-readable code for the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            NricError::Length { .. } => "nric_length",
            NricError::Prefix => "nric_prefix",
            NricError::Digit { .. } => "nric_digit",
            NricError::CheckLetterFormat => "nric_check_letter_format",
            NricError::CheckLetter => "nric_check_letter",
        }
    }
}

impl Nric {
    /// Parses and validates an NRIC/FIN as typed (surrounding whitespace and letter case ignored). Errors never
    /// echo the input, so they can be logged.
    pub fn parse(input: &str) -> Result<Nric, NricError> {
        let t = input.trim();
        let found = t.chars().take(100).count();
        let b: &[u8; 9] = t.as_bytes().try_into().map_err(|_| NricError::Length { found })?;
        let [p, d @ .., c] = b;
        let prefix = NricPrefix::from_byte(p.to_ascii_uppercase()).ok_or(NricError::Prefix)?;
        let mut digits = [0u8; 7];
        for (i, (slot, ch)) in digits.iter_mut().zip(d).enumerate() {
            if !ch.is_ascii_digit() {
                return Err(NricError::Digit { position: i + 2 });
            }
            *slot = ch - b'0';
        }
        let check = c.to_ascii_uppercase();
        if !check.is_ascii_uppercase() {
            return Err(NricError::CheckLetterFormat);
        }
        if prefix.check_letter(&digits) != Some(check) {
            return Err(NricError::CheckLetter);
        }
        Ok(Nric { prefix, digits, check })
    }

    /// The prefix (who the number was issued to).
    pub fn prefix(&self) -> NricPrefix {
        self.prefix
    }

    /// The masked form kept and shown: prefix, four stars, the last three digits, the check letter.
    pub fn masked(&self) -> MaskedNric {
        let mut s = String::with_capacity(9);
        s.push(self.prefix.letter());
        s.push_str("****");
        for d in self.digits.iter().skip(4) {
            s.push(char::from(b'0' + d));
        }
        s.push(char::from(self.check));
        MaskedNric(s)
    }

    /// The full number, for the one place that needs it: a query to the government records. Named loudly so a
    /// reviewer sees every use.
    pub fn expose_full_number(&self) -> String {
        let mut s = String::with_capacity(9);
        s.push(self.prefix.letter());
        s.extend(self.digits.iter().map(|d| char::from(b'0' + d)));
        s.push(char::from(self.check));
        s
    }

    /// The keyed hash of the number (HMAC-SHA-256, hex), equal for equal numbers under the same key.
    pub fn keyed_hash(&self, key: &NricKey) -> NricHash {
        // `new_from_slice` accepts any key length for HMAC; the key's length was checked when it was made.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.0.expose_secret()) else {
            return NricHash(String::new());
        };
        mac.update(HASH_CONTEXT);
        mac.update(self.expose_full_number().as_bytes());
        NricHash(hex::encode(mac.finalize().into_bytes()))
    }

    /// What the platform keeps: the keyed hash and the masked form.
    pub fn to_record(&self, key: &NricKey) -> NricRecord {
        NricRecord { hash: self.keyed_hash(key), masked: self.masked() }
    }
}

impl fmt::Debug for Nric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Nric").field(&self.masked().0).finish()
    }
}

impl fmt::Display for Nric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked().0)
    }
}

/// Serialises as the masked form, so a struct that happens to hold an [`Nric`] cannot leak it into JSON.
impl Serialize for Nric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked().0)
    }
}

/// The masked form, e.g. `S****567D`: enough for the seller to recognise their number, not enough to use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaskedNric(String);

impl MaskedNric {
    /// The masked text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MaskedNric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keyed hash of a number, lower-case hex (64 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NricHash(String);

impl NricHash {
    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The stored form of a seller's NRIC/FIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NricRecord {
    pub hash: NricHash,
    pub masked: MaskedNric,
}

/// The platform's HMAC key for NRIC hashes: zeroed on drop, `Debug` redacted, never serialised.
pub struct NricKey(SecretSlice<u8>);

/// A key shorter than [`MIN_KEY_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the NRIC hash key must be at least {MIN_KEY_BYTES} bytes")]
pub struct ShortKey;

impl NricKey {
    /// Wraps key material (from the operator's secret store); refuses short keys.
    pub fn new(bytes: Vec<u8>) -> Result<Self, ShortKey> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(ShortKey);
        }
        Ok(NricKey(SecretSlice::from(bytes)))
    }
}

impl fmt::Debug for NricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NricKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> NricKey {
        NricKey::new(vec![b; 32]).unwrap()
    }

    #[test]
    fn known_numbers() {
        for s in ["S1234567D", "T1234567J", "F1234567N", "G1234567X", "M1234567K", "s0000001i", " T0000000G "] {
            assert!(Nric::parse(s).is_ok(), "{s}");
        }
        assert_eq!(Nric::parse("S1234567A").unwrap_err(), NricError::CheckLetter);
        assert_eq!(Nric::parse("A1234567D").unwrap_err(), NricError::Prefix);
        assert_eq!(Nric::parse("S12345A7D").unwrap_err(), NricError::Digit { position: 7 });
        assert_eq!(Nric::parse("S12345679").unwrap_err(), NricError::CheckLetterFormat);
        assert_eq!(Nric::parse("S123456D").unwrap_err(), NricError::Length { found: 8 });
        assert_eq!(Nric::parse("S1234567Ä").unwrap_err(), NricError::Length { found: 9 });
        assert_eq!(Nric::parse("S1234567D").unwrap().prefix(), NricPrefix::S);
        assert!(Nric::parse("M1234567K").unwrap().prefix().is_fin());
    }

    #[test]
    fn the_full_number_never_shows() {
        let n = Nric::parse("s1234567d").unwrap();
        let rec = n.to_record(&key(7));
        let outputs = [
            format!("{n:?}"),
            format!("{n:#?}"),
            n.to_string(),
            serde_json::to_string(&n).unwrap(),
            serde_json::to_string(&rec).unwrap(),
            format!("{rec:?}"),
            format!("{:?}", Some(&n)),
        ];
        for out in &outputs {
            assert!(!out.contains("1234567"), "{out}");
            assert!(!out.contains("1234"), "{out}");
        }
        assert_eq!(n.masked().as_str(), "S****567D");
        assert_eq!(n.to_string(), "S****567D");
        assert_eq!(n.expose_full_number(), "S1234567D");
        assert_eq!(format!("{:?}", key(1)), "NricKey([redacted])");
    }

    #[test]
    fn hash_is_keyed_and_normalised() {
        let a = Nric::parse("S1234567D").unwrap();
        let b = Nric::parse(" s1234567d").unwrap();
        assert_eq!(a.keyed_hash(&key(1)), b.keyed_hash(&key(1)));
        assert_ne!(a.keyed_hash(&key(1)), a.keyed_hash(&key(2)));
        let t = Nric::parse("T1234567J").unwrap();
        assert_ne!(a.keyed_hash(&key(1)), t.keyed_hash(&key(1)));
        assert_eq!(a.keyed_hash(&key(1)).as_str().len(), 64);
        // Not a bare SHA-256 of the number (which anyone could recompute).
        use sha2::Digest;
        let bare = hex::encode(Sha256::digest(b"S1234567D"));
        assert_ne!(a.keyed_hash(&key(1)).as_str(), bare);
        assert_eq!(NricKey::new(vec![0; 31]).unwrap_err(), ShortKey);
    }
}
