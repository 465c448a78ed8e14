//! HTTP integration tests: the real router on a real socket over a real database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

mod account_safety;
mod admin;
mod admin_times;
mod api_doc;
mod api_errors;
mod backups;
mod baseline;
mod browser;
mod browser_journeys;
mod buyer_account;
mod checkout_page;
mod client_address;
mod console;
mod fail_closed;
mod identity;
mod import_guard;
mod limits;
mod matrix_api;
mod merchant_abuse;
mod money;
mod orders;
mod outsider;
mod page_cache;
mod password_reset;
mod permission_algebra;
mod product_csv;
mod security_center;
mod sell;
mod sensitive;
mod shield;
mod staff_api;
mod storefront;
mod support;
mod typed_ids;
mod work_queue;
