//! Synchronizer tokens for the platform's own forms: the second line of CSRF defence behind the browser's
//! `Sec-Fetch-Site`/`Origin` check. A token is an HMAC of what the browser's cookie binds it to — the session, or
//! for visitors without one a random pre-session cookie — under a key derived from the master key. Nothing is
//! stored: the server recomputes the token from the request's cookie and compares in constant time, so a page
//! from another site (which cannot read our cookies or pages) and a same-origin page the platform did not render
//! (which never receives the token) cannot produce it.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a token is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding<'a> {
    /// The session cookie's value (signed-in and half-signed-in browsers).
    Session(&'a str),
    /// The pre-session cookie's value (visitors without a session).
    Visitor(&'a str),
}

/// Makes and checks synchronizer tokens.
pub struct CsrfSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for CsrfSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfSigner([redacted])")
    }
}

impl CsrfSigner {
    #[must_use]
    pub fn new(master_key: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"palisade-csrf"), master_key);
        let mut key = [0u8; 32];
        let _ = hk.expand(b"palisade synchronizer tokens v1", &mut key);
        Self { key }
    }

    fn mac(&self, binding: Binding<'_>) -> Option<Hmac<Sha256>> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        let (kind, value) = match binding {
            Binding::Session(v) => ("session", v),
            Binding::Visitor(v) => ("visitor", v),
        };
        m.update(kind.as_bytes());
        m.update(b"\0");
        m.update(value.as_bytes());
        Some(m)
    }

    /// The token forms carry for `binding` (hex).
    #[must_use]
    pub fn token(&self, binding: Binding<'_>) -> String {
        self.mac(binding).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default()
    }

    /// Whether `token` is the token for `binding` (constant-time comparison of the MAC).
    #[must_use]
    pub fn verify(&self, binding: Binding<'_>, token: &str) -> bool {
        let Ok(tag) = hex::decode(token.trim()) else { return false };
        self.mac(binding).is_some_and(|m| m.verify_slice(&tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hold_only_for_their_binding_and_key() {
        let s = CsrfSigner::new(&[7u8; 32]);
        let t = s.token(Binding::Session("abc"));
        assert!(s.verify(Binding::Session("abc"), &t));
        assert!(!s.verify(Binding::Session("abd"), &t));
        assert!(!s.verify(Binding::Visitor("abc"), &t), "a session token is not a visitor token");
        assert!(!CsrfSigner::new(&[8u8; 32]).verify(Binding::Session("abc"), &t));
        assert!(!s.verify(Binding::Session("abc"), ""));
        assert!(!s.verify(Binding::Session("abc"), "zz"));
    }
}
