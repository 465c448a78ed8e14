#![doc = include_str!("../README.md")]

pub mod advisory;
pub mod db;
pub mod ingest;
pub mod matcher;
mod quote;
pub mod range;
mod schema;
pub mod severity;
pub mod version;

pub use advisory::{Advisory, Affected, CORE_PACKAGE, Ecosystem, Package, Problem, RecordError};
pub use db::{AdvisoryDb, Upsert};
pub use ingest::{DEFAULT_MAX_FILE_BYTES, FileReport, IngestError, IngestReport, ingest_dir};
pub use matcher::{Install, InstallIndex, Match, match_advisory, match_install, rematch_all};
pub use range::{Event, EventKind, Introduced, Limit, OrderedKind, OrderedRange, Range, RawEvent};
pub use severity::{Rating, Score, Severity, SeverityError, SeverityKind};
pub use version::{Version, VersionError};
