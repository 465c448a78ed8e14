//! What a store's staff use: the store's home dashboard ([`home`]), the store admin ([`merchant`], [`orders`]),
//! the Security Center ([`security_center`] with its tabs in [`security_tabs`], [`backups`]) and the same
//! features as JSON for scripts ([`staff_api`], [`firewall_api`]). Every route checks its permission on the
//! server. [`sell`] is where people apply to become a store's owner.

pub mod backups;
pub mod compliance;
pub mod data_requests;
pub mod digest;
pub mod extensions;
pub mod firewall_api;
pub mod fraud;
pub mod home;
pub mod merchant;
pub mod messages;
pub mod orders;
pub mod phishing;
pub mod phishing_landing;
pub mod product_import;
pub mod scans;
pub mod security_center;
pub mod security_tabs;
pub mod sell;
pub mod staff_api;
pub mod training;
pub mod trust_api;
pub mod verification;
