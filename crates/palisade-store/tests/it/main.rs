//! Storage integration tests. Each test gets its own real database: a temp SQLite file, or a PostgreSQL
//! schema when PALISADE_TEST_DATABASE_URL is set (CI runs the suite both ways).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

mod audit;
mod digest;
mod jobs;
mod matrix;
mod migrations;
mod phishing;
mod shield_events;
mod support;
mod tenancy;
mod tokens;
mod training;
