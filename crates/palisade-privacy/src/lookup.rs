//! Keyed hashes for equality lookups on encrypted columns ("blind indexes"), e.g. sign-in by email.
//!
//! An encrypted column cannot be searched, so a lookup column holds `HMAC-SHA-256(lookup key, domain || value)`.
//! The lookup key is derived from the master key separately from the KEKs (HKDF info `palisade lookup v1`) so a
//! leak of one does not give the other, and a plain hash (guessable: emails are a small space) is never stored.
//! The value is normalised first so that `Ann@Example.COM ` finds `ann@example.com`.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use palisade_core::ids::StoreId;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::envelope::{CryptoError, KEY_LEN, MIN_MASTER_KEY_LEN};

/// Which tenant's lookup space a hash lives in: the same email in two stores gives two unrelated hashes, so a
/// hash copied between stores matches nothing and the stores' buyer lists cannot be joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupScope {
    /// The platform's own accounts (merchants, staff).
    Platform,
    /// One store's buyers.
    Store(StoreId),
}

/// A lookup hash (32 bytes); `to_hex` for a TEXT column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookupHash(pub [u8; 32]);

impl LookupHash {
    /// Lower-case hex, as stored.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// An email address in the form lookups compare: trimmed and lower-cased (mail providers treat the local part
/// case-insensitively in practice). Dots and `+tags` are kept: whether they matter is the provider's rule, and
/// folding them would merge different people's addresses at some providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedEmail(String);

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Not `local@domain` with both parts present and no whitespace.
    #[error("not an email address")]
    Invalid,
    /// Longer than the 254 characters SMTP allows.
    #[error("email address longer than 254 characters")]
    TooLong,
}

impl NormalisedEmail {
    /// Parses and normalises an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        // Lower-casing can lengthen a string (`Ⱥ` is 2 bytes, `ⱥ` 3): the limit applies to the normalised form, or
        // an address accepted once would be refused when parsed again. (Bounded before lower-casing too.)
        if trimmed.len() > 254 * 3 {
            return Err(EmailError::TooLong);
        }
        let lower = trimmed.to_lowercase();
        if lower.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = lower.rsplit_once('@').ok_or(EmailError::Invalid)?;
        let bad = |part: &str| part.is_empty() || part.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad(local) || bad(domain) || local.contains('@') || !domain.contains('.') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(lower))
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lookup-hash key. Zeroized on drop; `Debug` is redacted.
pub struct LookupKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for LookupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LookupKey([redacted])")
    }
}

impl LookupKey {
    /// Derives the lookup key from the master key's bytes (HKDF-SHA-256, its own salt and info).
    pub fn derive(master: &[u8]) -> Result<Self, CryptoError> {
        if master.len() < MIN_MASTER_KEY_LEN {
            return Err(CryptoError::WeakMasterKey);
        }
        let hk = Hkdf::<Sha256>::new(Some(b"palisade-lookup"), master);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        hk.expand(b"palisade lookup v1", key.as_mut()).map_err(|_| CryptoError::WeakMasterKey)?;
        Ok(Self(key))
    }

    /// The keyed hash of `value` for lookups of kind `purpose` (e.g. `"email"`) in `scope`. Inputs are
    /// length-prefixed so no two (purpose, value) pairs encode alike.
    #[must_use]
    pub fn hash(&self, scope: LookupScope, purpose: &str, value: &str) -> LookupHash {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice()) else {
            // HMAC accepts keys of any length; this branch cannot be taken.
            return LookupHash([0; 32]);
        };
        match scope {
            LookupScope::Platform => mac.update(&[0]),
            LookupScope::Store(store) => {
                mac.update(&[1]);
                mac.update(store.as_uuid().as_bytes());
            }
        }
        for part in [purpose, value] {
            mac.update(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            mac.update(part.as_bytes());
        }
        LookupHash(mac.finalize().into_bytes().into())
    }

    /// The lookup hash of a normalised email.
    #[must_use]
    pub fn email(&self, scope: LookupScope, email: &NormalisedEmail) -> LookupHash {
        self.hash(scope, "email", email.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_emails_hash_alike_and_scopes_do_not() {
        let key = LookupKey::derive(&[3u8; 32]).unwrap();
        let a = NormalisedEmail::parse("  Ann.Lee+shop@Example.COM ").unwrap();
        let b = NormalisedEmail::parse("ann.lee+shop@example.com").unwrap();
        assert_eq!(a, b);
        let store = StoreId::new();
        assert_eq!(key.email(LookupScope::Store(store), &a), key.email(LookupScope::Store(store), &b));
        assert_ne!(key.email(LookupScope::Store(store), &a), key.email(LookupScope::Store(StoreId::new()), &a));
        assert_ne!(key.email(LookupScope::Store(store), &a), key.email(LookupScope::Platform, &a));
        // Not a plain hash: another master key gives another value.
        let other = LookupKey::derive(&[4u8; 32]).unwrap();
        assert_ne!(key.email(LookupScope::Platform, &a), other.email(LookupScope::Platform, &a));
        // Dots and tags are not folded (another person at some providers).
        let c = NormalisedEmail::parse("annlee@example.com").unwrap();
        assert_ne!(key.email(LookupScope::Platform, &a), key.email(LookupScope::Platform, &c));
        assert_eq!(key.email(LookupScope::Platform, &a).to_hex().len(), 64);
    }

    #[test]
    fn purpose_and_value_do_not_run_together() {
        let key = LookupKey::derive(&[3u8; 32]).unwrap();
        assert_ne!(key.hash(LookupScope::Platform, "ab", "c"), key.hash(LookupScope::Platform, "a", "bc"));
    }

    #[test]
    fn bad_addresses_are_refused() {
        for raw in ["", "ann", "@example.com", "ann@", "ann@localhost", "a nn@example.com", "ann@exa mple.com"] {
            assert_eq!(NormalisedEmail::parse(raw), Err(EmailError::Invalid), "{raw:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(NormalisedEmail::parse(&long), Err(EmailError::TooLong));
        assert!(matches!(LookupKey::derive(&[1u8; 16]), Err(CryptoError::WeakMasterKey)));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = LookupKey::derive(&[0xAB; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "LookupKey([redacted])");
    }

    #[test]
    fn the_length_limit_applies_to_the_lower_cased_address() {
        // 100 × `Ⱥ` (2 bytes each, 3 once lower-cased) + `@x.sg`: 205 bytes typed, 305 normalised.
        let typed = format!("{}@x.sg", "Ⱥ".repeat(100));
        assert!(typed.len() <= 254 * 3);
        assert_eq!(NormalisedEmail::parse(&typed), Err(EmailError::TooLong));
        let fits = format!("{}@x.sg", "Ⱥ".repeat(80));
        let parsed = NormalisedEmail::parse(&fits).unwrap();
        assert_eq!(NormalisedEmail::parse(parsed.as_str()), Ok(parsed.clone()));
    }

    proptest::proptest! {
        /// Abuse: any input (control characters, huge strings, odd unicode) is parsed or refused, never a panic,
        /// and a parsed address is stable under re-parsing.
        #[test]
        fn email_parsing_never_panics_and_is_idempotent(raw in "\\PC{0,300}") {
            if let Ok(email) = NormalisedEmail::parse(&raw) {
                proptest::prop_assert_eq!(NormalisedEmail::parse(email.as_str()), Ok(email.clone()));
            }
        }
    }
}
