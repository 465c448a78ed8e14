//! TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, accepted one step either side of now.
//!
//! Each account remembers the last step it accepted; a code for that step or an earlier one is refused, so an
//! observed code cannot be replayed even within its validity window.

use palisade_core::time::Timestamp;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;

/// A fresh 160-bit secret (the RFC 4226 recommendation).
#[must_use]
pub fn generate_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rng().fill_bytes(&mut s);
    s
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Option<TOTP> {
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_SECS, secret.to_vec(), Some(issuer.to_owned()), account.to_owned()).ok()
}

/// The secret in base32, for manual entry.
#[must_use]
pub fn secret_base32(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` URL authenticator apps scan.
#[must_use]
pub fn provisioning_url(secret: &[u8], issuer: &str, account: &str) -> Option<String> {
    totp(secret, issuer, account).map(|t| t.get_url())
}

/// The code for the step containing `at` (for tests and the software authenticator).
#[must_use]
pub fn code_at(secret: &[u8], at: Timestamp) -> Option<String> {
    let secs = u64::try_from(at.0 / 1000).ok()?;
    totp(secret, "x", "x").map(|t| t.generate(secs))
}

/// Checks `code` at `now`; returns the accepted step if it is valid and newer than `last_step`.
#[must_use]
pub fn verify(secret: &[u8], code: &str, now: Timestamp, last_step: i64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "x", "x")?;
    let now_step = now.0.div_euclid(1000) / i64::try_from(STEP_SECS).ok()?;
    let mut accepted = None;
    // Check every candidate (no early exit) so timing does not reveal which step matched.
    for step in [now_step - 1, now_step, now_step + 1] {
        let secs = u64::try_from(step).ok()?.checked_mul(STEP_SECS)?;
        let expected = t.generate(secs);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && step > last_step {
            accepted = Some(step);
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
    #[test]
    fn rfc_6238_vectors() {
        let seed = b"12345678901234567890";
        for (secs, code) in [
            (59_i64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(seed, Timestamp(secs * 1000)).unwrap(), code, "t={secs}");
        }
    }

    #[test]
    fn accepts_one_step_either_side_and_never_twice() {
        let seed = b"12345678901234567890";
        let now = Timestamp(1_111_111_111_000);
        let code = code_at(seed, now).unwrap();
        let step = verify(seed, &code, now, 0).expect("current code accepted");
        assert!(verify(seed, &code, now, step).is_none(), "replay refused");
        let earlier = code_at(seed, Timestamp(now.0 - 30_000)).unwrap();
        assert!(verify(seed, &earlier, now, step).is_none(), "older step refused after a newer one");
        let prev = code_at(seed, Timestamp(now.0 - 30_000)).unwrap();
        assert!(verify(seed, &prev, now, 0).is_some(), "previous step accepted");
        let next = code_at(seed, Timestamp(now.0 + 30_000)).unwrap();
        assert!(verify(seed, &next, now, 0).is_some(), "next step accepted");
        let old = code_at(seed, Timestamp(now.0 - 90_000)).unwrap();
        assert!(verify(seed, &old, now, 0).is_none(), "two steps back refused");
        assert!(verify(seed, "12345", now, 0).is_none());
        assert!(verify(seed, "abcdef", now, 0).is_none());
    }
}
