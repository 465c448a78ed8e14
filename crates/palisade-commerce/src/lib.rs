#![doc = include_str!("../README.md")]

pub mod catalog;
pub mod error;
pub mod inventory;
pub mod ledger;

pub use error::CommerceError;
