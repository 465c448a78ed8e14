//! App plumbing: the middleware stack (`layers`), errors, sessions, access, CSRF tokens, security headers, metrics
//! and the extractors. The edge (limits, shedding, challenge, rules, shield, accept loop) is [`crate::edge`].

pub mod access;
pub mod auth;
pub mod client;
pub mod csrf;
pub mod error;
pub mod form;
pub mod headers;
pub mod id_path;
pub mod json;
pub mod layers;
pub mod metrics;
pub mod notice;
pub mod session;

pub use error::{ApiError, PageError};

/// Whether `next` may be a redirect target: a path on this site only. Browsers read `//host` and `/\host` as
/// another site and drop tabs and newlines from URLs, so those are refused too (no open redirects).
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control)
}
