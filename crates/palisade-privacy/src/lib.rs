#![doc = include_str!("../README.md")]

pub mod breach;
pub mod calendar;
pub mod envelope;
pub mod inventory;
mod inventory_registry;
pub mod lookup;
pub mod pdpc;
pub mod request;
pub mod rotation;

pub use envelope::{CryptoError, DataKey, DekVersion, FieldRef, KekVersion, KeyEncryptionKeys, LocalKeks, WrappedDek};
pub use rotation::{Census, Progress, RetireRefusal, RetirementPermit, Rewrap, Rotation, rewrap};
