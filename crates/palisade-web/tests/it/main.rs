//! HTTP integration tests: the real router on a real socket over a real database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

mod admin;
mod backups;
mod baseline;
mod browser;
mod console;
mod identity;
mod limits;
mod matrix_api;
mod orders;
mod shield;
mod storefront;
mod support;
