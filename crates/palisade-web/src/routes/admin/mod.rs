//! What a store's staff use: the store admin ([`merchant`]), the Security Center ([`security_center`],
//! [`backups`]) and the same features as JSON for scripts ([`staff_api`], [`firewall_api`]). Every route checks
//! its permission on the server.

pub mod backups;
pub mod firewall_api;
pub mod merchant;
pub mod security_center;
pub mod security_tabs;
pub mod staff_api;
