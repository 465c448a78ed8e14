#![doc = include_str!("../README.md")]

pub mod catalog;
pub mod error;
pub mod inventory;
pub mod ledger;
pub mod orders;
pub mod payments;

pub use error::CommerceError;
