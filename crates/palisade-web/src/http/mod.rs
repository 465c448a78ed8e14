//! The HTTP baseline: middleware, errors and authentication extractors.

pub mod access;
pub mod auth;
pub mod challenge;
pub mod error;
pub mod geoip;
pub mod headers;
pub mod json;
pub mod layers;
pub mod limits;
pub mod metrics;
pub mod rules;
pub mod session;
pub mod shedding;
pub mod shield;

pub use error::{ApiError, PageError};
