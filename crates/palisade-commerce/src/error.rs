//! The commerce error type: each variant is a clear, stable refusal.

use palisade_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommerceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("only {available} left in stock")]
    OutOfStock { available: i64 },
    #[error("not enough funds in {account}")]
    InsufficientFunds { account: String },
    #[error("currency mismatch: {0}")]
    CurrencyMismatch(String),
    /// An idempotency key sent again by another sender or with another request: refused, and nothing about the
    /// order it was first used for is given back.
    #[error("this idempotency key was already used for another request")]
    IdempotencyKeyReused,
}

impl From<sqlx::Error> for CommerceError {
    fn from(e: sqlx::Error) -> Self {
        CommerceError::Store(StoreError::from(e))
    }
}

pub type Result<T, E = CommerceError> = std::result::Result<T, E>;
