#![doc = include_str!("../README.md")]

pub mod access;
pub mod address;
pub mod cart;
pub mod catalog;
pub mod controls;
pub mod disputes;
pub mod error;
pub mod figures;
pub mod fulfilment;
pub mod idempotency;
pub mod images;
pub mod inventory;
pub mod ledger;
pub mod listing;
pub mod notify;
pub mod orders;
pub mod payment_page;
pub mod payments;
pub mod payouts;
pub mod policy;
pub mod reviews;
pub mod rich_text;
pub mod theme_output;
pub mod themes;

pub use error::CommerceError;
