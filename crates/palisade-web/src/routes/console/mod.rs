//! What the platform operator uses: the console's pages ([`pages`]) and the operator's JSON API
//! ([`platform_api`]).

pub mod applications;
pub mod assessment;
pub mod pages;
pub mod platform_api;
pub mod reports;
pub mod tsr;
pub mod updates;
pub mod verification;
