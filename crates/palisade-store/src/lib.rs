#![doc = include_str!("../README.md")]

pub mod audit;
pub mod audit_view;
pub mod bans;
pub mod changes;
pub mod controls;
pub mod db;
pub mod digest;
pub mod error;
pub mod extensions;
pub mod firewall;
pub mod jobs;
pub mod matrix;
pub mod migrate;
pub mod objects;
pub mod outbound;
pub mod outbox;
pub mod permissions;
pub mod phishing;
pub mod posture;
pub mod scans;
pub mod scope;
pub mod seal;
pub mod secrets;
pub mod settings;
pub mod shield_events;
pub mod storefront;
pub mod tenancy;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub mod training;

pub use db::{Backend, Db, DbOptions, WriteTx};
pub use error::StoreError;
pub use objects::Objects;
pub use scope::{StaffScope, StoreScope};
