//! HTTP integration tests: the real router on a real socket over a real database.

mod baseline;
mod console;
mod matrix_api;
mod support;
