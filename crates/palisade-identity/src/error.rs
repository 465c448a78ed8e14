//! The identity error type.

use palisade_store::StoreError;

use crate::password::{PasswordError, PolicyViolation};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Policy(#[from] PolicyViolation),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("that code is not valid (wrong, expired or already used)")]
    InvalidCode,
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("sign-in is busy; try again in a moment")]
    Busy,
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
