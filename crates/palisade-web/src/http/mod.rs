//! The HTTP baseline: middleware, errors and authentication extractors.

pub mod access;
pub mod auth;
pub mod canonical;
pub mod challenge;
pub mod client;
pub mod csrf;
pub mod error;
pub mod form;
pub mod geoip;
pub mod headers;
pub mod id_path;
pub mod json;
pub mod layers;
pub mod limits;
pub mod metrics;
pub mod rules;
pub mod session;
pub mod shedding;
pub mod shield;

pub use error::{ApiError, PageError};

/// Whether `next` may be a redirect target: a path on this site only. Browsers read `//host` and `/\host` as
/// another site and drop tabs and newlines from URLs, so those are refused too (no open redirects).
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control)
}
