//! The idempotency key of a checkout (the API's `Idempotency-Key` header, the payment page's hidden field),
//! parsed once at the edge.

use std::fmt;

/// Longest key, in bytes.
pub const MAX_LEN: usize = 100;

/// A client's idempotency key: trimmed, 1–100 bytes, visible characters only (no control characters or inner
/// whitespace, so what is logged and stored is what was sent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    #[error("the idempotency key is empty")]
    Empty,
    #[error("the idempotency key is at most {MAX_LEN} bytes")]
    TooLong,
    #[error("the idempotency key may contain only visible characters (no spaces or control characters)")]
    BadCharacters,
}

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, IdempotencyKeyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(IdempotencyKeyError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(IdempotencyKeyError::TooLong);
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(IdempotencyKeyError::BadCharacters);
        }
        Ok(Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_bounded_and_visible() {
        assert_eq!(IdempotencyKey::parse(" 0f3a-9b ").unwrap().as_str(), "0f3a-9b");
        assert_eq!(IdempotencyKey::parse("  "), Err(IdempotencyKeyError::Empty));
        assert_eq!(IdempotencyKey::parse(&"k".repeat(MAX_LEN + 1)), Err(IdempotencyKeyError::TooLong));
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_LEN)).is_ok());
        for bad in ["a b", "a\tb", "a\u{0}b", "a\u{1b}[31m"] {
            assert_eq!(IdempotencyKey::parse(bad), Err(IdempotencyKeyError::BadCharacters), "{bad:?}");
        }
    }
}
