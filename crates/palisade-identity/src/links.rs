//! Signed links: access to one thing (a guest's order) for whoever holds the link, without an account. The
//! tag is an HMAC of the subject under a key derived from the master key, checked in constant time.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs and checks link tags.
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

impl LinkSigner {
    #[must_use]
    pub fn new(master_key: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"palisade-links"), master_key);
        let mut key = [0u8; 32];
        let _ = hk.expand(b"palisade signed links v1", &mut key);
        Self { key }
    }

    fn mac(&self, purpose: &str, subject: &str) -> Option<Hmac<Sha256>> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        m.update(purpose.as_bytes());
        m.update(b"\0");
        m.update(subject.as_bytes());
        Some(m)
    }

    /// The tag for `subject` under `purpose` (e.g. "order").
    #[must_use]
    pub fn sign(&self, purpose: &str, subject: &str) -> String {
        self.mac(purpose, subject).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default()
    }

    /// Whether `tag` is the tag of `subject` under `purpose`.
    #[must_use]
    pub fn verify(&self, purpose: &str, subject: &str, tag: &str) -> bool {
        let Ok(tag) = hex::decode(tag) else { return false };
        self.mac(purpose, subject).is_some_and(|m| m.verify_slice(&tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_hold_only_for_their_subject_purpose_and_key() {
        let s = LinkSigner::new(&[7u8; 32]);
        let t = s.sign("order", "abc");
        assert!(s.verify("order", "abc", &t));
        assert!(!s.verify("order", "abd", &t));
        assert!(!s.verify("invoice", "abc", &t));
        assert!(!LinkSigner::new(&[8u8; 32]).verify("order", "abc", &t));
        assert!(!s.verify("order", "abc", "zz"));
    }
}
