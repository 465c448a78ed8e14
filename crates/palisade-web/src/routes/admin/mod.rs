//! What a store's staff use (and, at `/sell`, those who apply to become one): the store admin ([`merchant`]), the Security Center ([`security_center`],
//! [`backups`]) and the same features as JSON for scripts ([`staff_api`], [`firewall_api`]). Every route checks
//! its permission on the server.

pub mod backups;
pub mod firewall_api;
pub mod merchant;
pub mod security_center;
pub mod sell;
pub mod staff_api;
