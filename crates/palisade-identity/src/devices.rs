//! Device cookies (OWASP's defence against lockout abuse): after a successful sign-in the browser gets a signed
//! cookie naming the account. A later attempt carrying it is throttled per device, not per account, so an
//! attacker hammering someone's account cannot lock its owner out of their own laptop; and its password checks
//! use a reserved hashing lane, so a flood of strangers' attempts does not queue in front of it.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use palisade_core::AccountId;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "palisade_device";

/// Signs and checks device cookies with a key derived from the master key.
pub struct DeviceSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for DeviceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSigner([redacted])")
    }
}

impl DeviceSigner {
    #[must_use]
    pub fn new(master_key: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"palisade-device"), master_key);
        let mut key = [0u8; 32];
        let _ = hk.expand(b"palisade device cookie v1", &mut key);
        Self { key }
    }

    fn mac(&self, account: &str, nonce: &str) -> Option<Hmac<Sha256>> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        m.update(account.as_bytes());
        m.update(b".");
        m.update(nonce.as_bytes());
        Some(m)
    }

    /// A fresh cookie value for `account`: `account.nonce.mac`.
    #[must_use]
    pub fn issue(&self, account: AccountId) -> String {
        let mut n = [0u8; 16];
        rand::rng().fill_bytes(&mut n);
        let nonce = hex::encode(n);
        let acct = account.to_string();
        let tag = self.mac(&acct, &nonce).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default();
        format!("{acct}.{nonce}.{tag}")
    }

    /// The account a cookie was issued for, if its signature holds (constant-time check).
    #[must_use]
    pub fn verify(&self, cookie: &str) -> Option<AccountId> {
        let mut parts = cookie.split('.');
        let (acct, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let tag = hex::decode(tag).ok()?;
        self.mac(acct, nonce)?.verify_slice(&tag).ok()?;
        acct.parse().ok()
    }

    /// The throttle key of one device.
    #[must_use]
    pub fn throttle_key(cookie: &str) -> String {
        format!("device:{}", hex::encode(Sha256::digest(cookie.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_verify_only_with_the_right_key_and_unaltered() {
        let s = DeviceSigner::new(&[1u8; 32]);
        let a = AccountId::new();
        let c = s.issue(a);
        assert_eq!(s.verify(&c), Some(a));
        assert_eq!(DeviceSigner::new(&[2u8; 32]).verify(&c), None);
        let other = AccountId::new();
        let forged = c.replacen(&a.to_string(), &other.to_string(), 1);
        assert_eq!(s.verify(&forged), None);
        assert_eq!(s.verify("garbage"), None);
    }
}
