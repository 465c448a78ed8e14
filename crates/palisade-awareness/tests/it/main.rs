//! The crate's one integration-test binary (house convention): the public API as a caller uses it.
// Test helpers may panic, and table helpers take a `passed`/`trusted` flag for brevity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::fn_params_excessive_bools)]

mod cert;
mod classify;
mod export;
mod metrics;
mod phish_dev;
mod phish_heldout;
mod quiz;
