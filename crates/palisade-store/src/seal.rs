//! Encryption of secrets the server must read back (TOTP seeds, merchants' export passphrases and delivery
//! credentials), under a key derived from the master key.
//!
//! It lives next to the master key ([`crate::secrets`]) because every crate that keeps such a secret needs it —
//! identity for TOTP seeds, backup for export passphrases — and neither should depend on the other for it.
//!
//! XChaCha20-Poly1305 (random 192-bit nonces are safe at any volume) with the record's purpose and owner as
//! associated data, so a sealed value copied to another account or column does not open. The stored format is
//! `hex(nonce(24) || ciphertext || tag(16))` with the key `HKDF-SHA256(salt "palisade-seal", ikm master key,
//! info purpose)`; values sealed by earlier releases must keep opening (a fixed vector below checks it).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

/// A sealing key for one purpose.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// A sealed value that does not open (wrong key, wrong owner, or altered).
#[derive(Debug, thiserror::Error)]
#[error("sealed secret could not be opened (wrong key or tampered data)")]
pub struct OpenError;

impl Sealer {
    /// Derives the key for `purpose` (e.g. `b"palisade totp v1"`) from the master key with HKDF-SHA256.
    #[must_use]
    pub fn new(master_key: &[u8; 32], purpose: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"palisade-seal"), master_key);
        let mut key = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hk.expand(purpose, &mut key);
        Self { cipher: XChaCha20Poly1305::new(&key.into()) }
    }

    /// Seals `plaintext` bound to `context` (e.g. the account id); returns hex(nonce || ciphertext).
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        hex::encode(out)
    }

    /// Opens a value made by [`Sealer::seal`] with the same context.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, OpenError> {
        let bytes = hex::decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < 24 + 16 {
            return Err(OpenError);
        }
        let (nonce, ct) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| OpenError)?;
        self.cipher.decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: context.as_bytes() }).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_contexts_keys_and_edits() {
        let s = Sealer::new(&[7u8; 32], b"test v1");
        let sealed = s.seal(b"seed", "account:1");
        assert_eq!(s.open(&sealed, "account:1").unwrap(), b"seed");
        assert!(s.open(&sealed, "account:2").is_err());
        assert!(Sealer::new(&[8u8; 32], b"test v1").open(&sealed, "account:1").is_err());
        assert!(Sealer::new(&[7u8; 32], b"other v1").open(&sealed, "account:1").is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert!(s.open(std::str::from_utf8(&tampered).unwrap(), "account:1").is_err());
        assert_ne!(s.seal(b"seed", "account:1"), sealed, "fresh nonce each time");
    }

    /// Values sealed before the sealer moved from `palisade-identity` to this crate (computed independently from
    /// the format described in the module docs: HKDF-SHA256, HChaCha20 + ChaCha20-Poly1305, fixed nonce) still
    /// open, so stored TOTP seeds and export passphrases survive the move and any later refactoring.
    #[test]
    fn values_sealed_by_earlier_releases_still_open() {
        let totp = "6465666768696a6b6c6d6e6f707172737475767778797a7b260f767ef9543390d4a4440b4491473be76d1951f7517559172fee8f7d2eb9bb";
        let sealer = Sealer::new(&[7u8; 32], b"palisade totp v1");
        assert_eq!(sealer.open(totp, "0190f0c2-0000-7000-8000-000000000001").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(sealer.open(totp, "0190f0c2-0000-7000-8000-000000000002").is_err());

        let export = "6465666768696a6b6c6d6e6f707172737475767778797a7b48d86c7041ed04b821b4f5c60cdb093889bc91d79e3de489e0176e46089d88758884a1d1273e56049007eff0";
        let sealer = Sealer::new(&[7u8; 32], b"palisade export passphrase v1");
        assert_eq!(sealer.open(export, "store:x").unwrap(), b"correct horse battery staple");
        assert!(Sealer::new(&[7u8; 32], b"palisade totp v1").open(export, "store:x").is_err());
    }
}
