#![doc = include_str!("../README.md")]

pub mod applications;
pub mod controls;
pub mod csrf;
pub mod devices;
pub mod error;
pub mod invitations;
pub mod links;
pub mod passkeys;
pub mod password;
pub mod policy;
pub mod recovery;
pub mod resets;
pub mod service;
pub mod sessions;
pub mod throttle;
pub mod totp;

pub use error::IdentityError;
pub use service::{Identity, LoginOutcome, Registration, StepUp};
