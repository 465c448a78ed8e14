#![doc = include_str!("../README.md")]

pub mod checks;
pub mod crawl;
pub mod fetched;
pub mod finding;
pub mod html;
pub mod observatory;
pub mod report;
pub mod scan;

pub use fetched::{Fetched, RedirectProbe};
pub use finding::{Finding, Location, Severity};

/// Errors of the scan engine. Bad input is an error value, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The start URL of a crawl (or a page's own URL) is not an absolute http(s) URL.
    #[error("not an absolute http(s) URL: {0}")]
    BadUrl(String),
    /// A report could not be serialised.
    #[error("report serialisation failed: {0}")]
    Serialise(#[from] serde_json::Error),
}
