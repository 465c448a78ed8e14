#![doc = include_str!("../README.md")]

pub mod chunker;
pub mod controls;
pub mod drill;
pub mod dump;
pub mod error;
pub mod export;
pub mod format;
pub mod import_check;
pub mod import_rules;
pub mod indexes;
pub mod keys;
pub mod load;
pub mod progress;
pub mod read;
pub mod repo;
pub mod restore;
pub mod retention;
pub mod runs;
pub mod s3;
pub mod snapshot;
pub mod store_exports;
pub mod tombstones;
pub mod tracking;
pub mod verify;

pub use error::{BackupError, Result};
pub use keys::{ChunkKey, Identity, Recipients};
pub use progress::{Progress, Quiet, Unit};
pub use repo::{Repository, Target};
