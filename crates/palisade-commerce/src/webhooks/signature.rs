//! The `Palisade-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//!
//! The same shape as Stripe's, so receivers' existing habits carry over: the timestamp is signed with the body,
//! so a captured delivery replayed later fails the receiver's window check, and a receiver that also remembers
//! `Palisade-Delivery` ids inside the window refuses exact replays. The key is the secret's UTF-8 bytes as shown
//! at install, prefix included. Several `v1=` entries may appear (a future key rotation); any one matching is
//! enough. See the crate README, "Webhooks", which is what a receiver is written from.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "palisade-signature";
/// How far a delivery's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery's signature was not accepted. The variants name the check that failed, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the timestamp is outside the {TOLERANCE_SECS} s window")]
    OutsideWindow,
    #[error("no signature matches")]
    Mismatch,
}

/// The MAC over `"<t>.<body>"`. HMAC takes keys of every length, so `None` does not happen in practice.
fn mac(secret: &SecretString, timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The header value for `body` sent at `timestamp` (unix seconds).
#[must_use]
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default();
    format!("t={timestamp},v1={tag}")
}

/// Checks a received header against `body`, at `now` (unix seconds): the timestamp within
/// [`TOLERANCE_SECS`] either way, and a `v1` tag equal to ours, compared in constant time.
pub fn verify(secret: &SecretString, header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
    if header.len() > 2048 {
        return Err(VerifyError::Malformed);
    }
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(VerifyError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => {
                let t: i64 = value.parse().map_err(|_| VerifyError::Malformed)?;
                timestamp = Some(t);
            }
            "t" => return Err(VerifyError::Malformed),
            "v1" => tags.push(hex::decode(value).map_err(|_| VerifyError::Malformed)?),
            _ => {} // other schemes are ignored, as the documentation says
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if tags.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(VerifyError::OutsideWindow);
    }
    // `verify_slice` compares in constant time.
    if tags.iter().any(|tag| mac(secret, timestamp, body).is_some_and(|m| m.verify_slice(tag).is_ok())) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("pal_whsec_test")
    }

    #[test]
    fn a_signature_verifies_inside_the_window_only() {
        let header = sign(&secret(), 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify(&secret(), &header, b"{\"a\":1}", 1_700_000_000), Ok(()));
        assert_eq!(verify(&secret(), &header, b"{\"a\":1}", 1_700_000_300), Ok(()));
        assert_eq!(verify(&secret(), &header, b"{\"a\":1}", 1_700_000_301), Err(VerifyError::OutsideWindow));
        assert_eq!(verify(&secret(), &header, b"{\"a\":1}", 1_699_999_699), Err(VerifyError::OutsideWindow));
    }

    #[test]
    fn altered_body_timestamp_or_key_is_refused() {
        let header = sign(&secret(), 1_700_000_000, b"{\"a\":1}");
        assert_eq!(verify(&secret(), &header, b"{\"a\":2}", 1_700_000_000), Err(VerifyError::Mismatch));
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify(&secret(), &moved, b"{\"a\":1}", 1_700_000_000), Err(VerifyError::Mismatch));
        let other = SecretString::from("pal_whsec_other");
        assert_eq!(verify(&other, &header, b"{\"a\":1}", 1_700_000_000), Err(VerifyError::Mismatch));
    }

    #[test]
    fn malformed_headers_are_refused_without_panicking() {
        for h in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,t=1,v1=00", "t=1,v1=zz", "garbage", &"a".repeat(5000)] {
            assert_eq!(verify(&secret(), h, b"", 1), Err(VerifyError::Malformed), "{h}");
        }
        // Another scheme beside a matching v1 is ignored.
        let header = format!("{},v0=abc", sign(&secret(), 10, b"x"));
        assert_eq!(verify(&secret(), &header, b"x", 10), Ok(()));
    }
}
