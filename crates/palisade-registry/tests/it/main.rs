//! The registry's black-box tests: packages and their abuse, release signatures, and one test per attack on the
//! signed catalog metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

mod metadata;
mod package;
mod scopes;
mod signing;
mod support;
